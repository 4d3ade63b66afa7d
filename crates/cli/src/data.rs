//! The layout of a data directory: `log/` (the segment files), `snapshots/`, and whatever the
//! server writes beside them (demo tokens). One place decides the names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fundledger_domain::Policy;
use fundledger_engine::{Core, CoreOptions, HashIds, ManualClock, SystemClock};
use fundledger_store::{EventLog, FileLog, FileOptions, RecoveryReport};

use crate::error::CliError;

/// A data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// Whether the directory holds no ledger yet.
    pub fn is_empty_ledger(&self) -> bool {
        std::fs::read_dir(self.log_dir()).map_or(true, |mut entries| entries.next().is_none())
    }

    /// Opens (or creates) the log, reporting what recovery did.
    pub fn open_log(&self, policy: &Policy) -> Result<Arc<FileLog>, CliError> {
        std::fs::create_dir_all(&self.root).map_err(|source| CliError::Io {
            what: "creating data directory",
            path: self.root.clone(),
            source,
        })?;
        let (log, report) = FileLog::open(self.log_dir(), &policy.fund_id, FileOptions::default())
            .map_err(|e| CliError::from_store(&self.root, e))?;
        report_recovery(&self.root, &report);
        Ok(Arc::new(log))
    }

    /// Opens the engine's core on this directory's log with the system clock (serving).
    pub fn open_core(&self, policy: Arc<Policy>, snapshot_every_records: u64) -> Result<Core<FileLog>, CliError> {
        let log = self.open_log(&policy)?;
        self.open_core_on(log, policy, snapshot_every_records)
    }

    /// Opens the engine's core on any log (the file log, or EventStoreDB), with this directory's
    /// snapshots and the system clock.
    pub fn open_core_on<L: EventLog>(
        &self,
        log: Arc<L>,
        policy: Arc<Policy>,
        snapshot_every_records: u64,
    ) -> Result<Core<L>, CliError> {
        let seed = format!("{}-{}", std::process::id(), SystemClock.now_micros_for_seed());
        let (core, report) = Core::open(
            log,
            policy,
            CoreOptions { snapshot_dir: Some(self.snapshot_dir()), snapshot_every_records },
            Box::new(SystemClock),
            Box::new(HashIds::new(seed.as_bytes())),
            &mut |_, _| {},
        )?;
        tracing::info!(
            head = report.head,
            snapshot = ?report.snapshot_position,
            replayed = report.replayed_records,
            "ledger opened"
        );
        Ok(core)
    }

    /// Opens the core for an import whose commands carry their own recorded times.
    pub fn open_core_for_import(&self, policy: Arc<Policy>, seed: &[u8]) -> Result<Core<FileLog>, CliError> {
        let log = self.open_log(&policy)?;
        let (core, _) = Core::open(
            log,
            policy,
            CoreOptions { snapshot_dir: Some(self.snapshot_dir()), snapshot_every_records: u64::MAX },
            Box::new(ManualClock::new(i64::MIN)),
            Box::new(HashIds::new(seed)),
            &mut |_, _| {},
        )?;
        Ok(core)
    }
}

fn report_recovery(dir: &Path, report: &RecoveryReport) {
    if let Some(torn) = &report.truncated {
        tracing::warn!(
            dir = %dir.display(),
            segment = torn.segment,
            offset = torn.offset,
            first_dropped_position = torn.first_dropped_position,
            reason = %torn.reason,
            "a torn tail (an unacknowledged partial batch) was truncated"
        );
    }
    for (segment, why) in &report.scanned_segments {
        tracing::warn!(segment, reason = %why, "segment summary missing or damaged; segment rescanned");
    }
}

/// A seed for event ids that differs between runs.
trait SeedClock {
    fn now_micros_for_seed(&self) -> i64;
}

impl SeedClock for SystemClock {
    fn now_micros_for_seed(&self) -> i64 {
        use fundledger_engine::Clock;
        self.now_micros()
    }
}
