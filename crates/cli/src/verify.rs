//! `fundledger verify`: the offline audit of a data directory. Opening the log checks the tail
//! segment; the verification pass reads every record (checking its CRC and gapless position),
//! checks every hash-chain link in parallel, and decodes every payload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_domain::Policy;
use fundledger_store::chain::{hex, verify_log_with_progress};

use crate::data::DataDir;
use crate::error::CliError;

/// What a clean verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    pub records: u64,
    pub head_hash_hex: String,
    pub elapsed: Duration,
}

/// Verifies the whole log in `data` with `threads` hashing threads.
pub fn run(
    data: &DataDir,
    policy: Arc<Policy>,
    threads: usize,
    show_progress: bool,
) -> Result<VerifySummary, CliError> {
    let started = Instant::now();
    if data.is_empty_ledger() {
        return Err(CliError::Config(format!("{} holds no ledger to verify", data.root().display())));
    }
    let log = data.open_log(&policy)?;
    let head = fundledger_store::block_on(fundledger_store::EventLog::head(&*log))
        .map_err(|e| CliError::from_store(data.root(), e))?;
    let bar = show_progress.then(|| crate::progress::bar(head.position, "verifying CRCs and the hash chain"));
    let verified = verify_log_with_progress(&*log, threads.max(1), &mut |done, _| {
        if let Some(bar) = &bar {
            bar.set_position(done);
        }
    })
    .map_err(|e| CliError::from_store(data.root(), e))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(VerifySummary {
        records: verified.head.position,
        head_hash_hex: hex(&verified.head.hash),
        elapsed: started.elapsed(),
    })
}
