//! `fundledger verify`: the offline audit of a data directory. Opening the log checks the tail
//! segment; the verification pass reads every record (checking its CRC and gapless position),
//! checks every hash-chain link in parallel, and decodes every payload.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_domain::Policy;
use fundledger_store::chain::{hex, verify_log};

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
pub fn run(data: &DataDir, policy: Arc<Policy>, threads: usize) -> Result<VerifySummary, CliError> {
    let started = Instant::now();
    if data.is_empty_ledger() {
        return Err(CliError::Config(format!("{} holds no ledger to verify", data.root().display())));
    }
    let log = data.open_log(&policy)?;
    let verified = verify_log(&*log, threads.max(1)).map_err(|e| CliError::from_store(data.root(), e))?;
    Ok(VerifySummary {
        records: verified.head.position,
        head_hash_hex: hex(&verified.head.hash),
        elapsed: started.elapsed(),
    })
}
