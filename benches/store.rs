//! The store benchmark: fundledger's file log against its peers on the same workload in the same
//! run (SQLite in WAL mode with synchronous=FULL, and the raw-file floor), printing a table of
//! medians and ratios. Run with `cargo bench --bench store`; figures go to docs/PERFORMANCE.md.
//!
//! Workload: records of ~200 B shaped like encoded fund events (ids, region codes, periods,
//! amounts in fen; deterministic, not random bytes), one durable sync per batch for every store.
//! Temporary files live under `$FUNDLEDGER_BENCH_DIR` (default: the system temp dir).
//! `FUNDLEDGER_BENCH_RUNS` overrides the number of runs per figure (default 3; the median is kept).
//! Sections can be chosen by name: `cargo bench --bench store -- append read verify`.

#![allow(non_upper_case_globals)] // sizes named with their unit, as in crates/store

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fundledger_store::chain::{self, verify_batch};
use fundledger_store::file::{FileOptions, Preallocation};
use fundledger_store::frame::frame_overhead_bytes;
use fundledger_store::{AppendBatch, EventLog, FileLog, RecordBatch, block_on};

const fund_id: &str = "CN-620000-work-injury";
const payload_bytes_typical: usize = 200;
/// (batch size, records appended per run). Batch 1 is slow (one sync per record): few records.
const append_workloads: [(usize, usize); 4] = [(1, 300), (100, 20_000), (1_000, 200_000), (10_000, 500_000)];
/// Records in the log that the read and verification figures scan.
const read_records: usize = 2_000_000;
const read_write_batch_records: usize = 10_000;

/// Deterministic event-like payloads of about 200 bytes.
fn payloads(count: usize) -> Vec<Vec<u8>> {
    let kinds = ["collection", "transfer", "plan", "allocation", "benefit-payment"];
    (0..count)
        .map(|index| {
            let region = 620_100 + (index % 16) * 100;
            let kind = kinds[index % kinds.len()];
            let mut payload = format!(
                "{{\"event_id\":\"evt-{index:012}\",\"command_id\":\"cmd-{:012}\",\"kind\":\"{kind}\",\
                 \"region\":\"{region}\",\"period\":\"20{:02}-{:02}\",\"amount_fen\":{},\"actor\":\"clerk-{}\"",
                index / 3,
                20 + index % 6,
                1 + index % 12,
                (index as u64).wrapping_mul(7_919) % 100_000_000,
                index % 97,
            )
            .into_bytes();
            payload.resize(payload_bytes_typical - 1, b' ');
            payload.push(b'}');
            payload
        })
        .collect()
}

fn runs() -> usize {
    std::env::var("FUNDLEDGER_BENCH_RUNS").ok().and_then(|runs| runs.parse().ok()).unwrap_or(3)
}

struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(label: &str) -> Scratch {
        let base = std::env::var_os("FUNDLEDGER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let path = base.join(format!("fundledger-bench-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("bench dir");
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median records per second over `runs()` runs of `run`, which returns (records, elapsed).
fn measure(mut run: impl FnMut(usize) -> (usize, Duration)) -> f64 {
    median(
        (0..runs())
            .map(|index| {
                let (records, elapsed) = run(index);
                records as f64 / elapsed.as_secs_f64()
            })
            .collect(),
    )
}

fn append_batch(payloads: &[Vec<u8>], batch_records: usize) -> AppendBatch {
    let mut batch = AppendBatch::new();
    for (index, payload) in payloads.iter().cycle().take(batch_records).enumerate() {
        batch.push(1_767_225_600_000_000 + index as i64, payload);
    }
    batch
}

fn fundledger_append(dir: &Path, batch: &AppendBatch, records: usize, options: FileOptions) -> (usize, Duration) {
    let (log, _) = FileLog::open(dir, fund_id, options).expect("open");
    let started = Instant::now();
    let mut head = 0;
    while (head as usize) < records {
        head = block_on(log.append(head, batch)).expect("append").head.position;
    }
    (head as usize, started.elapsed())
}

/// The same bytes as the log writes (payloads plus 60 B of framing per record), with a plain
/// `write` + `fdatasync` per batch: preallocated (zero-filled before the clock starts,
/// overwritten in place) or growing (appended, so each sync also commits the new size).
fn raw_append(path: &Path, batch_bytes: usize, batches: usize, preallocate: bool) -> Duration {
    let buffer: Vec<u8> = (0..batch_bytes).map(|index| (index % 251) as u8).collect();
    let mut file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(path).expect("raw");
    if preallocate {
        let zeros = vec![0u8; 1 << 20];
        let total = batch_bytes * batches;
        let mut written = 0;
        while written < total {
            let len = zeros.len().min(total - written);
            file.write_all(&zeros[..len]).expect("zero-fill");
            written += len;
        }
        file.sync_all().expect("sync");
    }
    let started = Instant::now();
    for index in 0..batches {
        if preallocate {
            file.write_all_at(&buffer, (index * batch_bytes) as u64).expect("write");
        } else {
            file.write_all(&buffer).expect("write");
        }
        file.sync_data().expect("sync");
    }
    started.elapsed()
}

fn sqlite_open(path: &Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).expect("sqlite");
    connection.pragma_update(None, "journal_mode", "WAL").expect("wal");
    connection.pragma_update(None, "synchronous", "FULL").expect("synchronous");
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS events (position INTEGER PRIMARY KEY, recorded_time INTEGER NOT NULL, \
             payload BLOB NOT NULL)",
        )
        .expect("table");
    connection
}

fn sqlite_append(
    connection: &mut rusqlite::Connection,
    payloads: &[Vec<u8>],
    batch_records: usize,
    records: usize,
) -> Duration {
    let started = Instant::now();
    let mut position = 0usize;
    while position < records {
        let transaction = connection.transaction().expect("begin");
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO events (position, recorded_time, payload) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for payload in payloads.iter().cycle().take(batch_records) {
                position += 1;
                insert.execute(rusqlite::params![position as i64, 1_767_225_600_000_000i64, payload]).expect("insert");
            }
        }
        transaction.commit().expect("commit");
    }
    started.elapsed()
}

fn ratio(numerator: f64, denominator: f64) -> String {
    format!("{:.2}x", numerator / denominator)
}

fn rate(records_per_second: f64) -> String {
    if records_per_second >= 1e6 {
        format!("{:.2} M/s", records_per_second / 1e6)
    } else {
        format!("{:.1} k/s", records_per_second / 1e3)
    }
}

/// Sections to run: all, or those named on the command line (`append`, `read`, `verify`).
fn wanted(section: &str) -> bool {
    let named: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with('-')).collect();
    named.is_empty() || named.iter().any(|name| name == section)
}

fn main() {
    if std::env::args().any(|arg| arg == "profile-append") {
        // Only our append, for a profiler: `valgrind --tool=callgrind <bench binary> profile-append`.
        let scratch = Scratch::new("profile");
        let batch_records = std::env::var("FUNDLEDGER_BENCH_PROFILE_BATCH").ok().and_then(|n| n.parse().ok());
        let batch = append_batch(&payloads(4_096), batch_records.unwrap_or(1_000));
        let mut options = FileOptions::default();
        if std::env::var_os("FUNDLEDGER_BENCH_FALLOCATE").is_some() {
            options = options.with_preallocation(Preallocation::Fallocate);
        }
        if let Some(chunk) = std::env::var("FUNDLEDGER_BENCH_CHUNK").ok().and_then(|n| n.parse().ok()) {
            options = options.with_writeback_chunk_bytes(chunk);
        }
        let (records, elapsed) = fundledger_append(&scratch.path, &batch, 500_000, options);
        println!("{records} records in {elapsed:?}");
        return;
    }
    if std::env::args().any(|arg| arg == "profile-read") {
        let scratch = Scratch::new("profile");
        let batch = append_batch(&payloads(4_096), 10_000);
        fundledger_append(&scratch.path, &batch, 200_000, FileOptions::default());
        let (log, _) = FileLog::open(&scratch.path, fund_id, FileOptions::default()).expect("open");
        for _ in 0..5 {
            let started = Instant::now();
            let mut batch = RecordBatch::new();
            let (mut next, mut records) = (1, 0usize);
            while next <= 200_000 {
                batch = block_on(log.read(next, batch)).expect("read");
                records += batch.len();
                next = batch.last_position() + 1;
            }
            println!("{records} records read in {:?}", started.elapsed());
        }
        return;
    }
    if std::env::args().any(|arg| arg == "profile-verify") {
        let scratch = Scratch::new("profile");
        let batch = append_batch(&payloads(4_096), 10_000);
        fundledger_append(&scratch.path, &batch, 200_000, FileOptions::default());
        let (log, _) = FileLog::open(&scratch.path, fund_id, FileOptions::default()).expect("open");
        for _ in 0..5 {
            let started = Instant::now();
            let verified = chain::verify_log(&log, 1).expect("verify");
            println!("{} records verified in {:?}", verified.records, started.elapsed());
        }
        return;
    }
    let threads = std::thread::available_parallelism().map_or(1, |threads| threads.get());
    let payloads = payloads(4_096);
    let record_bytes = payload_bytes_typical + frame_overhead_bytes;
    println!(
        "fundledger store bench: {payload_bytes_typical} B payloads ({record_bytes} B framed), \
         median of {} runs, {threads} hardware threads",
        runs()
    );
    println!();
    println!("durable append (one sync per batch), records/s; ratios are medians of per-run ratios");
    println!(
        "{:<12} {:>11} {:>11} {:>12} {:>12} {:>10} {:>9} {:>9} {:>9}",
        "batch",
        "fundledger",
        "(fallocate)",
        "raw prealloc",
        "raw growing",
        "SQLite",
        "/prealloc",
        "/growing",
        "/SQLite"
    );
    for (batch_records, records) in append_workloads.into_iter().filter(|_| wanted("append")) {
        let batch = append_batch(&payloads, batch_records);
        let batches = records / batch_records;
        // The machine's sync latency drifts a lot over seconds, so each run measures every store
        // back to back and the ratios are taken per run, then the median of each is reported.
        let mut samples: [Vec<f64>; 5] = Default::default();
        for run in 0..runs() {
            let scratch = Scratch::new(&format!("append-{batch_records}-{run}"));
            for (slot, preallocation) in [(0, Preallocation::ZeroFill), (1, Preallocation::Fallocate)] {
                let options = FileOptions::default().with_preallocation(preallocation);
                let dir = scratch.path.join(format!("log-{slot}"));
                let (appended, elapsed) = fundledger_append(&dir, &batch, records, options);
                samples[slot].push(appended as f64 / elapsed.as_secs_f64());
            }
            for (slot, preallocate) in [(2, true), (3, false)] {
                let path = scratch.path.join(format!("raw-{slot}"));
                let elapsed = raw_append(&path, batch_records * record_bytes, batches, preallocate);
                samples[slot].push(records as f64 / elapsed.as_secs_f64());
            }
            let mut connection = sqlite_open(&scratch.path.join("events.db"));
            let elapsed = sqlite_append(&mut connection, &payloads, batch_records, records);
            samples[4].push(records as f64 / elapsed.as_secs_f64());
        }
        let ratio_median = |peer: usize| {
            let ratios = samples[0].iter().zip(&samples[peer]).map(|(ours, theirs)| ours / theirs).collect();
            format!("{:.2}x", median(ratios))
        };
        let (vs_prealloc, vs_growing, vs_sqlite) = (ratio_median(2), ratio_median(3), ratio_median(4));
        let [ours, ours_fallocate, raw_prealloc, raw_growing, sqlite] = samples.map(median);
        println!(
            "{:<12} {:>11} {:>11} {:>12} {:>12} {:>10} {:>9} {:>9} {:>9}",
            format!("{batch_records} x{batches}"),
            rate(ours),
            rate(ours_fallocate),
            rate(raw_prealloc),
            rate(raw_growing),
            rate(sqlite),
            vs_prealloc,
            vs_growing,
            vs_sqlite,
        );
    }

    if !wanted("read") && !wanted("verify") {
        return;
    }
    // One log of `read_records` records for the read and verification figures, and the same
    // content in a raw file and in SQLite.
    let scratch = Scratch::new("read");
    let batch = append_batch(&payloads, read_write_batch_records);
    let (log, _) = FileLog::open(scratch.path.join("log"), fund_id, FileOptions::default()).expect("open");
    let mut head = 0;
    while (head as usize) < read_records {
        head = block_on(log.append(head, &batch)).expect("append").head.position;
    }

    if wanted("read") {
        let raw_path = scratch.path.join("raw");
        {
            let mut raw = File::create(&raw_path).expect("raw");
            let mut frames = Vec::new();
            let mut batch_read = RecordBatch::new();
            let mut next = 1;
            while next <= head {
                batch_read = block_on(log.read(next, batch_read)).expect("read");
                frames.clear();
                batch_read.iter().for_each(|view| frames.extend_from_slice(view.frame()));
                raw.write_all(&frames).expect("raw write");
                next = batch_read.last_position() + 1;
            }
            raw.sync_all().expect("sync");
        }
        let mut connection = sqlite_open(&scratch.path.join("events.db"));
        sqlite_append(&mut connection, &payloads, read_write_batch_records, read_records);
        println!();
        println!("full sequential read of {read_records} records (page cache warm), records/s");
        let ours = measure(|_| {
            let started = Instant::now();
            let mut batch = RecordBatch::new();
            let (mut next, mut records, mut touched) = (1, 0usize, 0usize);
            while next <= head {
                batch = block_on(log.read(next, batch)).expect("read");
                for view in batch.iter() {
                    touched = touched.wrapping_add(view.payload().len() + view.recorded_time_us() as usize);
                }
                records += batch.len();
                next = batch.last_position() + 1;
            }
            std::hint::black_box(touched);
            (records, started.elapsed())
        });
        let raw = measure(|_| {
            let started = Instant::now();
            let bytes = std::fs::read(&raw_path).expect("raw read");
            std::hint::black_box(&bytes);
            (bytes.len() / record_bytes, started.elapsed())
        });
        let raw_chunked = measure(|_| {
            let started = Instant::now();
            let file = File::open(&raw_path).expect("raw");
            let length = file.metadata().expect("stat").len() as usize;
            let mut buffer = vec![0u8; fundledger_store::read_batch_bytes_max];
            let mut offset = 0;
            while offset < length {
                let len = buffer.len().min(length - offset);
                file.read_exact_at(&mut buffer[..len], offset as u64).expect("raw read");
                std::hint::black_box(&buffer);
                offset += len;
            }
            (length / record_bytes, started.elapsed())
        });
        let sqlite = measure(|_| {
            let started = Instant::now();
            let mut statement = connection
                .prepare_cached("SELECT position, recorded_time, payload FROM events ORDER BY position")
                .expect("select");
            let mut rows = statement.query([]).expect("query");
            let (mut records, mut touched) = (0usize, 0usize);
            while let Some(row) = rows.next().expect("row") {
                let payload = row.get_ref(2).expect("payload").as_blob().expect("blob");
                touched = touched.wrapping_add(payload.len() + row.get::<_, i64>(1).expect("time") as usize);
                records += 1;
            }
            std::hint::black_box(touched);
            (records, started.elapsed())
        });
        println!("{:<34} {:>12} {:>11}", "store", "records/s", "fundledger");
        println!("{:<34} {:>12} {:>11}", "fundledger (CRC per record, 1 core)", rate(ours), "1.00x");
        println!("{:<34} {:>12} {:>11}", "raw file, one fs::read, no decode", rate(raw), ratio(ours, raw));
        println!(
            "{:<34} {:>12} {:>11}",
            "raw file, 8 MiB preads, no decode",
            rate(raw_chunked),
            ratio(ours, raw_chunked)
        );
        println!("{:<34} {:>12} {:>11}", "SQLite row scan, no decode", rate(sqlite), ratio(ours, sqlite));
    }
    if !wanted("verify") {
        return;
    }

    println!();
    println!("chain verification of {read_records} records (read + CRC + SHA-256 link per record), records/s");
    let one = measure(|_| {
        let started = Instant::now();
        let verified = chain::verify_log(&log, 1).expect("verify");
        (verified.records as usize, started.elapsed())
    });
    let all = measure(|_| {
        let started = Instant::now();
        let verified = chain::verify_log(&log, threads).expect("verify");
        (verified.records as usize, started.elapsed())
    });
    // The hashing alone, on batches already in memory: the floor under verification.
    let mut in_memory = Vec::new();
    let mut next = 1;
    while next <= head && in_memory.len() < 64 {
        let batch = block_on(log.read(next, RecordBatch::new())).expect("read");
        next = batch.last_position() + 1;
        in_memory.push(batch);
    }
    let links_only = measure(|_| {
        let started = Instant::now();
        let mut prev = log.genesis();
        let mut records = 0;
        for batch in &in_memory {
            verify_batch(&prev, batch).expect("links");
            prev = batch.last_hash();
            records += batch.len();
        }
        (records, started.elapsed())
    });
    println!("{:<34} {:>12} {:>12}", "threads", "records/s", "per core");
    println!("{:<34} {:>12} {:>12}", "1", rate(one), rate(one));
    println!("{:<34} {:>12} {:>12}", format!("{threads} (all)"), rate(all), rate(all / threads as f64));
    println!("{:<34} {:>12} {:>12}", "links only, in memory, 1 core", rate(links_only), rate(links_only));
}
