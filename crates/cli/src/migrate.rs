//! `fundledger migrate --from <data-dir | esdb://…> --to <data-dir | esdb://…>`: copies a ledger's
//! history between backends (embedded file log and EventStoreDB, either way), positions, recorded
//! times and payloads unchanged, so every hash comes out the same.
//!
//! Resumable: the copy starts from the target's head, after checking that the target's hash there
//! equals the source's (the target holds a prefix of the same history, not another one). An
//! interrupted run is simply run again. It finishes by comparing the target's head hash with the
//! source's. Appends to the target use the target's fence, so a ledger being written by a server
//! meanwhile is never overwritten: the copy stops with a conflict instead.

// Limits are named in lower snake case with their unit, as in the rest of the workspace.
#![allow(non_upper_case_globals)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fundledger_store::chain::hex;
use fundledger_store::{
    AppendBatch, EventLog, FileLog, FileOptions, Head, Position, RecordBatch, StoreError, block_on,
};
use fundledger_store_esdb::{EsdbLog, EsdbOptions};

use crate::data::DataDir;
use crate::error::CliError;

/// Most records copied per append to the target (also bounded by the store's byte limit). Large
/// enough to amortise a network round trip, small enough that a retry re-sends little.
pub const migrate_batch_records_max: usize = 4_096;

/// Where a ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A data directory with the embedded file log.
    Dir(PathBuf),
    /// An EventStoreDB / KurrentDB connection string.
    Esdb(String),
}

impl Endpoint {
    /// An `esdb://` or `esdb+discover://` URL, else a directory path.
    pub fn parse(text: &str) -> Endpoint {
        if fundledger_store_esdb::is_esdb_url(text) {
            Endpoint::Esdb(text.to_string())
        } else {
            Endpoint::Dir(PathBuf::from(text))
        }
    }

    /// For messages: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Dir(path) => path.display().to_string(),
            Endpoint::Esdb(url) => fundledger_store_esdb::redact_url(url),
        }
    }
}

/// How to migrate.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The fund whose ledger is copied (from the policy).
    pub fund_id: String,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub show_progress: bool,
    /// Options of the EventStoreDB side(s).
    pub esdb: EsdbOptions,
    /// Stop after copying this many records in this run (the rest on a later run). `None`: all.
    pub records_max: Option<u64>,
}

impl MigrateOptions {
    pub fn new(fund_id: &str) -> Self {
        MigrateOptions {
            fund_id: fund_id.to_string(),
            show_progress: true,
            esdb: EsdbOptions::default(),
            records_max: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateSummary {
    /// Records the target already held when the run started (non-zero: a resumed copy).
    pub resumed_from: Position,
    /// Records copied by this run.
    pub records_copied: u64,
    /// The source's head.
    pub source_head: Position,
    /// The target's head at the end, and its hash in hex.
    pub target_head: Position,
    pub head_hash_hex: String,
    /// Whether the target now holds the whole history (false only when `records_max` stopped it).
    pub complete: bool,
    pub elapsed: Duration,
}

/// Copies `options.fund_id`'s ledger from `from` to `to`.
pub fn run(from: &Endpoint, to: &Endpoint, options: &MigrateOptions) -> Result<MigrateSummary, CliError> {
    if from == to {
        return Err(CliError::Config(format!("migrate needs two different places, got {} twice", from.describe())));
    }
    match (open(from, options, false)?, open(to, options, true)?) {
        (Opened::File(source), Opened::File(target)) => copy(&*source, &*target, from, to, options),
        (Opened::File(source), Opened::Esdb(target)) => copy(&*source, &*target, from, to, options),
        (Opened::Esdb(source), Opened::File(target)) => copy(&*source, &*target, from, to, options),
        (Opened::Esdb(source), Opened::Esdb(target)) => copy(&*source, &*target, from, to, options),
    }
}

// Boxed: both handles are large and an `Opened` lives only while a migration runs.
enum Opened {
    File(Box<FileLog>),
    Esdb(Box<EsdbLog>),
}

fn open(endpoint: &Endpoint, options: &MigrateOptions, is_target: bool) -> Result<Opened, CliError> {
    let store_error = |err: StoreError| CliError::Config(format!("{}: {err}", endpoint.describe()));
    match endpoint {
        Endpoint::Dir(root) => {
            let data = DataDir::new(root.clone());
            if !is_target && data.is_empty_ledger() {
                return Err(CliError::Config(format!("{} holds no ledger to migrate", root.display())));
            }
            if is_target {
                std::fs::create_dir_all(root).map_err(|source| CliError::Io {
                    what: "creating data directory",
                    path: root.clone(),
                    source,
                })?;
            }
            let (log, _report) = FileLog::open(data.log_dir(), &options.fund_id, FileOptions::default())
                .map_err(|err| CliError::from_store(root, err))?;
            Ok(Opened::File(Box::new(log)))
        }
        Endpoint::Esdb(url) => {
            // The source is only read: its subscription would be wasted work.
            let esdb = EsdbOptions { follow_appends: false, ..options.esdb.clone() };
            Ok(Opened::Esdb(Box::new(EsdbLog::connect(url, &options.fund_id, esdb).map_err(store_error)?)))
        }
    }
}

fn copy<S: EventLog, T: EventLog>(
    source: &S,
    target: &T,
    from: &Endpoint,
    to: &Endpoint,
    options: &MigrateOptions,
) -> Result<MigrateSummary, CliError> {
    let started = Instant::now();
    let source_error = |err: StoreError| CliError::Config(format!("reading {}: {err}", from.describe()));
    let target_error = |err: StoreError| CliError::Config(format!("writing {}: {err}", to.describe()));
    let source_head = block_on(source.head()).map_err(source_error)?;
    let target_head = block_on(target.head()).map_err(target_error)?;
    if target.genesis() != source.genesis() {
        return Err(CliError::Config("source and target belong to different funds".into()));
    }
    if target_head.position > source_head.position {
        return Err(CliError::Config(format!(
            "{} already holds {} records, more than the {} of {}",
            to.describe(),
            target_head.position,
            source_head.position,
            from.describe()
        )));
    }
    // Resume only onto a prefix of the same history.
    if target_head.position > 0 {
        let at = block_on(source.read(target_head.position, RecordBatch::new())).map_err(source_error)?;
        let source_hash = *at.get(0).hash();
        if source_hash != target_head.hash {
            return Err(CliError::Damaged {
                dir: PathBuf::from(to.describe()),
                detail: format!(
                    "its record {} has hash {} but the source's has {}: it holds another history, not a prefix of this one",
                    target_head.position,
                    hex(&target_head.hash),
                    hex(&source_hash)
                ),
            });
        }
    }

    let bar = options.show_progress.then(|| crate::progress::bar(source_head.position, "migrating"));
    if let Some(bar) = &bar {
        bar.set_position(target_head.position);
    }
    let stop_at = options
        .records_max
        .map_or(source_head.position, |max| source_head.position.min(target_head.position.saturating_add(max)));
    let mut head: Head = target_head;
    let mut read = RecordBatch::new();
    let mut append = AppendBatch::new();
    while head.position < stop_at {
        read = block_on(source.read(head.position + 1, read)).map_err(source_error)?;
        let mut records = read.iter().take_while(|record| record.position() <= stop_at).peekable();
        while records.peek().is_some() {
            append.clear();
            let mut last_hash = head.hash;
            while let Some(record) = records.peek() {
                if append.len() == migrate_batch_records_max
                    || (!append.is_empty()
                        && append.frame_bytes() + record.frame().len() > fundledger_store::batch_bytes_max)
                {
                    break;
                }
                append.push(record.recorded_time_us(), record.payload());
                last_hash = *record.hash();
                records.next();
            }
            let appended = block_on(target.append(head.position, &append)).map_err(target_error)?;
            // Same predecessor, positions, times and payloads: the target's chain must be the source's.
            if appended.head.hash != last_hash {
                return Err(CliError::Damaged {
                    dir: PathBuf::from(to.describe()),
                    detail: format!(
                        "record {} came out with hash {} on the target but {} on the source",
                        appended.head.position,
                        hex(&appended.head.hash),
                        hex(&last_hash)
                    ),
                });
            }
            head = appended.head;
            if let Some(bar) = &bar {
                bar.set_position(head.position);
            }
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let final_head = block_on(target.head()).map_err(target_error)?;
    let complete = final_head.position == source_head.position;
    if complete && final_head.hash != source_head.hash {
        return Err(CliError::Damaged {
            dir: PathBuf::from(to.describe()),
            detail: format!("head hash {} differs from the source's {}", hex(&final_head.hash), hex(&source_head.hash)),
        });
    }
    Ok(MigrateSummary {
        resumed_from: target_head.position,
        records_copied: final_head.position - target_head.position,
        source_head: source_head.position,
        target_head: final_head.position,
        head_hash_hex: hex(&final_head.hash),
        complete,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use fundledger_esdb_testserver::TestServer;
    use fundledger_store::chain::verify_log;
    use fundledger_store::contract::{read_all, sample_batch};

    use super::*;

    const fund: &str = "CN-620000-work-injury";

    fn options(records_max: Option<u64>) -> MigrateOptions {
        MigrateOptions {
            show_progress: false,
            esdb: EsdbOptions::for_tests(),
            records_max,
            ..MigrateOptions::new(fund)
        }
    }

    /// A data directory holding `batches` batches of sample records.
    fn source_dir(root: &std::path::Path, batches: u64) -> Vec<fundledger_store::Record> {
        let data = DataDir::new(root);
        let (log, _) = FileLog::open(data.log_dir(), fund, FileOptions::default()).expect("open source");
        let mut head = 0;
        for seed in 0..batches {
            head = block_on(log.append(head, &sample_batch(seed, 1_000))).expect("append").head.position;
        }
        block_on(read_all(&log))
    }

    fn records_in_dir(root: &std::path::Path) -> Vec<fundledger_store::Record> {
        let (log, _) = FileLog::open(DataDir::new(root).log_dir(), fund, FileOptions::default()).expect("open");
        verify_log(&log, 2).expect("the copy verifies");
        block_on(read_all(&log))
    }

    #[test]
    fn file_to_eventstoredb_to_file_preserves_positions_and_hashes_and_resumes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = source_dir(&dir.path().join("source"), 9);
        let server = TestServer::start();
        let from = Endpoint::Dir(dir.path().join("source"));
        let esdb = Endpoint::Esdb(server.url());

        // Interrupted after 2,500 records, then run again: the second run resumes and completes.
        let first = run(&from, &esdb, &options(Some(2_500))).expect("first run");
        assert_eq!((first.records_copied, first.complete), (2_500, false));
        let second = run(&from, &esdb, &options(None)).expect("resumed run");
        assert_eq!((second.resumed_from, second.records_copied, second.complete), (2_500, 6_500, true));
        assert_eq!(second.head_hash_hex, hex(&original.last().expect("records").hash));
        // A third run finds nothing to do.
        let third = run(&from, &esdb, &options(None)).expect("idempotent run");
        assert_eq!((third.records_copied, third.complete), (0, true));

        // And back into a fresh directory: byte-for-byte the same history.
        let back = Endpoint::Dir(dir.path().join("back"));
        let summary = run(&esdb, &back, &options(None)).expect("back to a directory");
        assert_eq!(summary.target_head, 9_000);
        assert_eq!(records_in_dir(&dir.path().join("back")), original);
    }

    #[test]
    fn a_target_with_another_history_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        source_dir(&dir.path().join("source"), 2);
        // The target holds a different first record.
        let other = DataDir::new(dir.path().join("other"));
        let (log, _) = FileLog::open(other.log_dir(), fund, FileOptions::default()).expect("open other");
        block_on(log.append(0, &sample_batch(99, 10))).expect("append");
        drop(log);
        let from = Endpoint::Dir(dir.path().join("source"));
        match run(&from, &Endpoint::Dir(dir.path().join("other")), &options(None)) {
            Err(CliError::Damaged { detail, .. }) => assert!(detail.contains("another history"), "{detail}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
