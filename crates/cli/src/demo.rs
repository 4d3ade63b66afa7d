//! `fundledger demo`: writes a realistic, deterministic multi-year history into an empty data
//! directory, through the same engine core (decide, apply, group commit) as live commands.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_demo::DemoConfig;
use fundledger_domain::Policy;
use fundledger_engine::{Outcome, Submission};
use fundledger_store::chain::hex;

use crate::data::DataDir;
use crate::error::CliError;
use crate::progress;

/// Commands per group commit while importing.
pub const DEMO_BATCH_COMMANDS: usize = 8_192;

/// What the demo wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    pub events: u64,
    pub head_hash_hex: String,
    pub elapsed: Duration,
}

/// Generates the history for `config` under `policy` into `data`, which must hold no ledger.
pub fn run(
    data: &DataDir,
    policy: Arc<Policy>,
    config: DemoConfig,
    show_progress: bool,
) -> Result<DemoSummary, CliError> {
    let started = Instant::now();
    let generator = fundledger_demo::generate(&policy, &config).map_err(|e| CliError::Config(e.to_string()))?;
    let seed = format!("demo-{}-{}-{}", config.seed, config.years, config.scale);
    let mut core = data.open_core_for_import(policy.clone(), seed.as_bytes())?;
    if core.head().position > 0 {
        return Err(CliError::NotEmpty { dir: data.root().to_path_buf(), events: core.head().position });
    }
    let total = fundledger_demo::estimate_commands(&policy, &config);
    let bar = show_progress.then(|| progress::bar(total, "demo history"));
    let mut batch: Vec<Submission> = Vec::with_capacity(DEMO_BATCH_COMMANDS);
    let mut index = 0u64;
    let mut flush = |core: &mut fundledger_engine::Core<_>, batch: &mut Vec<Submission>| -> Result<(), CliError> {
        for (i, result) in core.execute(batch).into_iter().enumerate() {
            match result? {
                Outcome::Accepted { .. } => {}
                Outcome::Rejected { rejection, .. } => {
                    return Err(CliError::DemoRefused { index: index + i as u64, detail: rejection.to_string() });
                }
            }
        }
        index += batch.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(index.min(total));
        }
        batch.clear();
        Ok(())
    };
    for generated in generator {
        let mut submission = Submission::new(generated.command_id, generated.actor, generated.command);
        submission.recorded_at_micros = Some(generated.recorded_at_micros);
        batch.push(submission);
        if batch.len() == DEMO_BATCH_COMMANDS {
            flush(&mut core, &mut batch)?;
        }
    }
    flush(&mut core, &mut batch)?;
    core.snapshot_now()?;
    core.wait_for_snapshots();
    let head = core.head();
    Ok(DemoSummary { events: head.position, head_hash_hex: hex(&head.hash), elapsed: started.elapsed() })
}
