//! The engine benchmark: full rebuild of every view, command throughput through the writer's
//! queue with group commit, start-up time and resident memory, each against a peer measured in
//! the same run (SQLite, bundled, WAL). Run with `cargo bench --bench engine`; figures go to the
//! `## Engine` section of docs/PERFORMANCE.md.
//!
//! The ledger is the demo generator's realistic Gansu history (16 regions, 3 years, scaled up),
//! imported once through `Core::execute` and reused by every read-side figure.
//! Environment: `FUNDLEDGER_BENCH_EVENTS` (history size in commands, default 10,000,000),
//! `FUNDLEDGER_BENCH_COMMANDS` (payments in the throughput figure, default 400,000),
//! `FUNDLEDGER_BENCH_RUNS` (runs per figure, default 3; the median is kept),
//! `FUNDLEDGER_BENCH_DIR` (scratch directory, default the system temp dir; removed afterwards).

#![allow(non_upper_case_globals)] // sizes named with their unit, as in crates/store

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_demo::DemoConfig;
use fundledger_domain::{
    Actor, Command, ExpenditureCategory, IncomeCategory, Money, Period, Policy, RegionCode, TaxBatchRef,
};
use fundledger_engine::load::{Callers, EmptyPipeline, PipelineShape, closed_loop, preallocate, share_out};
use fundledger_engine::{Core, CoreOptions, Engine, EngineConfig, HashIds, ManualClock, Submission, SystemClock};
use fundledger_projections::AsOf;
use fundledger_store::{EventLog, FileLog, FileOptions, RecordBatch, block_on, for_each_batch};

const events_default: u64 = 10_000_000;
const payments_default: u64 = 400_000;
const runs_default: usize = 3;
/// Commands per `Core::execute` while importing the history (as `fundledger demo` does).
const import_batch_commands: usize = 8_192;
/// Demo commands per unit of scale over three years.
const demo_commands_per_scale: u64 = 634_514;
const demo_years: u16 = 3;
/// Rows per SQLite transaction when filling the read peer (not timed).
const sqlite_fill_rows_per_tx: usize = 10_000;
/// Concurrent submitters in the throughput figure.
const submitters: usize = 64;
/// Targets.
const rebuild_events_per_s_target: f64 = 5_000_000.0;
const commands_per_s_target: f64 = 200_000.0;
const startup_with_snapshot_s_target: f64 = 1.0;
const rss_mib_per_million_events_target: f64 = 100.0;
/// The env var that makes this binary the memory-measuring child.
const child_env: &str = "FUNDLEDGER_BENCH_ENGINE_CHILD";
const mib: f64 = 1024.0 * 1024.0;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(label: &str) -> Scratch {
        let base = std::env::var_os("FUNDLEDGER_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let path = base.join(format!("fundledger-bench-engine-{label}-{}", std::process::id()));
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

fn open_log(dir: &Path, policy: &Policy) -> Arc<FileLog> {
    Arc::new(FileLog::open(dir.join("log"), &policy.fund_id, FileOptions::default()).expect("open log").0)
}

fn open_core(dir: &Path, policy: &Arc<Policy>, snapshots: bool) -> (Core<FileLog>, fundledger_engine::StartupReport) {
    let options =
        CoreOptions { snapshot_dir: snapshots.then(|| dir.join("snapshots")), snapshot_every_records: u64::MAX };
    Core::open(
        open_log(dir, policy),
        policy.clone(),
        options,
        Box::new(ManualClock::new(i64::MIN)),
        Box::new(HashIds::new(b"bench")),
        &mut |_, _| {},
    )
    .expect("open core")
}

/// What the imported history holds, for the memory estimate.
#[derive(Default)]
struct HistoryCounts {
    commands: u64,
    payments: u64,
    periodic_payments: u64,
    tax_batches: u64,
}

fn import(dir: &Path, policy: &Arc<Policy>, commands: u64) -> (HistoryCounts, Duration) {
    let scale = commands.div_ceil(demo_commands_per_scale).clamp(1, 400 / u64::from(demo_years)) as u32;
    let config = DemoConfig { seed: 1, years: demo_years, scale };
    let started = Instant::now();
    let (mut core, _) = open_core(dir, policy, true);
    let mut counts = HistoryCounts::default();
    let mut batch = Vec::with_capacity(import_batch_commands);
    let generator = fundledger_demo::generate(policy, &config).expect("demo config").take(commands as usize);
    for generated in generator {
        match &generated.command {
            Command::RecordPayment { benefit, .. } => {
                counts.payments += 1;
                counts.periodic_payments += u64::from(benefit.is_periodic());
            }
            Command::RecordCollection { .. } => counts.tax_batches += 1,
            _ => {}
        }
        counts.commands += 1;
        let mut s = Submission::new(generated.command_id, generated.actor, generated.command);
        s.recorded_at_micros = Some(generated.recorded_at_micros);
        batch.push(s);
        if batch.len() == import_batch_commands {
            for r in core.execute(&batch) {
                r.expect("demo commands are answered");
            }
            batch.clear();
        }
    }
    for r in core.execute(&batch) {
        r.expect("demo commands are answered");
    }
    core.snapshot_now().expect("snapshot");
    core.wait_for_snapshots();
    (counts, started.elapsed())
}

/// Read + CRC only (the store's read path): returns records read.
fn scan_read(log: &FileLog) -> u64 {
    for_each_batch(log, 1, |_| {}).expect("read")
}

/// Read + CRC + `decode_for_views` (the rebuild's decoder), no apply: returns events decoded.
fn scan_decode(log: &FileLog) -> u64 {
    let mut events = 0u64;
    for_each_batch(log, 1, |batch| {
        for view in batch.iter() {
            events += u64::from(is_event(&fundledger_wire::decode_for_views(view.payload()).expect("decode")));
        }
    })
    .expect("read");
    events
}

/// Whether a decoded record is an event (not a refusal): what the scans count.
fn is_event(record: &fundledger_wire::ForViews<'_>) -> bool {
    !matches!(record, fundledger_wire::ForViews::Rejected)
}

fn sqlite_open(path: &Path, synchronous_full: bool) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(path).expect("sqlite open");
    db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    db.pragma_update(None, "synchronous", if synchronous_full { "FULL" } else { "NORMAL" }).expect("sync");
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS events(position INTEGER PRIMARY KEY, recorded_at INTEGER, payload BLOB)",
    )
    .expect("create");
    db
}

/// Copies the log's payloads into SQLite, `rows_per_tx` rows per transaction; returns rows.
fn sqlite_fill_from_log(db: &mut rusqlite::Connection, log: &FileLog, rows_per_tx: usize) -> u64 {
    let (mut batch, mut next, mut rows) = (RecordBatch::new(), 1, 0u64);
    let mut tx = db.transaction().expect("tx");
    loop {
        batch = block_on(log.read(next, batch)).expect("read");
        if batch.is_empty() {
            break;
        }
        for view in batch.iter() {
            tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3)")
                .expect("prepare")
                .execute(rusqlite::params![view.position() as i64, view.recorded_time_us(), view.payload()])
                .expect("insert");
            rows += 1;
            if rows.is_multiple_of(rows_per_tx as u64) {
                tx.commit().expect("commit");
                tx = db.transaction().expect("tx");
            }
        }
        next = batch.last_position() + 1;
    }
    tx.commit().expect("commit");
    rows
}

fn sqlite_scan(db: &rusqlite::Connection, decode: bool) -> u64 {
    let mut stmt = db.prepare("SELECT position, recorded_at, payload FROM events ORDER BY position").expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    let (mut n, mut bytes) = (0u64, 0u64);
    while let Some(row) = rows.next().expect("row") {
        let _position: i64 = row.get(0).expect("position");
        let _time: i64 = row.get(1).expect("time");
        let payload = row.get_ref(2).expect("payload").as_blob().expect("blob");
        bytes += payload.len() as u64;
        if decode {
            n += u64::from(is_event(&fundledger_wire::decode_for_views(payload).expect("decode")));
        } else {
            n += 1;
        }
    }
    std::hint::black_box(bytes);
    n
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed().as_secs_f64())
}

fn proc_status_kib(field: &str) -> u64 {
    kib_field("/proc/self/status", field)
}

/// A "Name:   123 kB" field of a file under `/proc`, in KiB (0 where there is none).
fn kib_field(path: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok()))
        .unwrap_or(0)
}

/// The child: opens the ledger (from its snapshot) and prints its memory figures.
fn child(dir: &Path) {
    let policy = Arc::new(Policy::gansu());
    let before = proc_status_kib("VmRSS:");
    let started = Instant::now();
    let (core, report) = open_core(dir, &policy, true);
    let open_micros = started.elapsed().as_micros();
    let after = proc_status_kib("VmRSS:");
    let hwm = proc_status_kib("VmHWM:");
    let (positions, indexed) =
        core.shared().read(|v| (v.supervision().positions_memory_bytes(), v.supervision().payments_indexed()));
    println!(
        "child open_micros={open_micros} rss_before_kib={before} rss_after_kib={after} hwm_kib={hwm} head={} snapshot={} idempotency_bytes={} idempotency_entries={} positions_bytes={positions} payments_indexed={indexed} payment_book_bytes={}",
        report.head,
        report.snapshot_position.unwrap_or(0),
        core.idempotency().heap_bytes(),
        core.idempotency().len(),
        core.state().payment_book().heap_bytes(),
    );
}

fn child_field(out: &str, key: &str) -> u64 {
    out.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The commands that make 16 regions ready to pay a huge number of medical payments in one month.
fn throughput_setup(policy: &Policy) -> Vec<Submission> {
    let period = Period::new(2024, 3).expect("period");
    let amount = Money::from_fen(50_000_000_000).expect("money"); // 500 M yuan per region
    fundledger_demo::ready_to_pay(policy, period, ExpenditureCategory::Medical, amount)
        .into_iter()
        .map(|(id, command)| Submission::new(id, Actor::system(), command))
        .collect()
}

fn payment(round: usize, submitter: usize, i: u64, region: RegionCode) -> Submission {
    let period = Period::new(2024, 3).expect("period");
    let name = format!("{round}-{submitter}-{i}");
    let (id, command) = fundledger_demo::medical_payment(&name, &format!("{submitter}-{}", i % 1000), region, period);
    Submission::new(id, Actor::system(), command)
}

struct Throughput {
    commands_per_s: f64,
    median_batch: u32,
    sqlite_per_s: f64,
    disk_bound_per_s: f64,
    /// The same callers and records through the engine's pipeline with nothing in it.
    pipeline_per_s: f64,
}

/// The disk's bound for closed-loop submitters: the same records at their framed size written
/// into a preallocated plain file (zero-filled before the clock starts, then overwritten in
/// place) with one `fdatasync` per group of `group` records, nothing else. With `group` = the number of
/// submitters, this is the most any store that syncs once per commit could give them on this
/// disk, however little it computed: each submitter has one command in flight, so no commit can
/// carry more than one command from each.
fn disk_bound(dir: &Path, records: &[Vec<u8>], group: usize) -> f64 {
    use std::os::unix::fs::FileExt;
    let path = dir.join("disk-bound.bin");
    let file = preallocate(&path, records.iter().map(|r| r.len() as u64).sum()).expect("disk bound file");
    let mut buffer = Vec::new();
    let (_, seconds) = timed(|| {
        let mut offset = 0u64;
        for chunk in records.chunks(group) {
            buffer.clear();
            for record in chunk {
                buffer.extend_from_slice(record);
            }
            file.write_all_at(&buffer, offset).expect("write");
            file.sync_data().expect("fdatasync");
            offset += buffer.len() as u64;
        }
    });
    let _ = std::fs::remove_file(&path);
    records.len() as f64 / seconds
}

/// One run: a fresh ledger, the setup, then `payments` payments from 64 closed-loop submitters:
/// OS threads blocking on `submit_blocking`, or tasks awaiting `submit` on one tokio runtime
/// thread (as the API's handlers do).
fn throughput_run(policy: &Arc<Policy>, payments: u64, round: usize, submitter: Callers) -> Throughput {
    let scratch = Scratch::new(&format!("throughput-{round}-{}", submitter as u8));
    let log = open_log(&scratch.path, policy);
    let options = CoreOptions { snapshot_dir: None, snapshot_every_records: u64::MAX };
    let (mut core, _) = Core::open(
        log,
        policy.clone(),
        options,
        Box::new(SystemClock),
        Box::new(HashIds::new(b"bench-throughput")),
        &mut |_, _| {},
    )
    .expect("open");
    for r in core.execute(&throughput_setup(policy)) {
        assert!(r.expect("setup").is_accepted());
    }
    let setup_head = core.head().position;
    let engine = Arc::new(Engine::start(core, EngineConfig::default()));
    let regions: Vec<RegionCode> = policy.units.iter().map(|u| u.code).collect();
    let per_submitter = payments / submitters as u64;
    // Build the submissions before timing: the figure is the engine's, not the formatting's.
    let work: Vec<Vec<Submission>> = (0..submitters)
        .map(|s| (0..per_submitter).map(|i| payment(round, s, i, regions[(s + i as usize) % regions.len()])).collect())
        .collect();
    let seconds = closed_loop(&engine, work, submitter).expect("every payment is accepted").as_secs_f64();
    let done = per_submitter * submitters as u64;
    let median_batch = engine.stats().median_batch_commands().unwrap_or(1);
    let core = engine.shutdown().expect("shutdown").expect("core");
    let log = core.log().clone();
    assert_eq!(core.head().position, setup_head + done);
    drop(core);
    drop(engine);
    // Peer: the same payloads into SQLite (WAL, synchronous=FULL), one transaction per median batch.
    let mut payloads: Vec<(i64, Vec<u8>)> = Vec::with_capacity(done as usize);
    let read = for_each_batch(&*log, setup_head + 1, |batch| {
        payloads.extend(batch.iter().map(|view| (view.recorded_time_us(), view.payload().to_vec())));
    })
    .expect("read");
    assert_eq!(read, done, "the log holds the setup and the measured payments");
    let mut db = sqlite_open(&scratch.path.join("peer.sqlite"), true);
    let (_, sqlite_seconds) = timed(|| {
        for (chunk_index, chunk) in payloads.chunks(median_batch as usize).enumerate() {
            let tx = db.transaction().expect("tx");
            {
                let mut stmt = tx.prepare_cached("INSERT INTO events VALUES (?1, ?2, ?3)").expect("prepare");
                for (i, (time, payload)) in chunk.iter().enumerate() {
                    let position = (chunk_index * median_batch as usize + i + 1) as i64;
                    stmt.execute(rusqlite::params![position, time, payload]).expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
    });
    // The same records at their framed size, for the disk's bound and the empty pipeline.
    let records: Vec<Vec<u8>> = payloads.iter().map(|(_, p)| EmptyPipeline::record_for(p)).collect();
    Throughput {
        commands_per_s: done as f64 / seconds,
        median_batch,
        sqlite_per_s: payloads.len() as f64 / sqlite_seconds,
        disk_bound_per_s: disk_bound(&scratch.path, &records, submitters),
        pipeline_per_s: empty_pipeline(&scratch.path, records, submitter),
    }
}

/// The same records (framed size), shared out among the same callers as in the engine's run,
/// sent through [`EmptyPipeline`]: the engine's queue, writer, sync and responder hand-offs with
/// nothing decided, encoded, framed, chained or folded into views.
fn empty_pipeline(dir: &Path, records: Vec<Vec<u8>>, callers: Callers) -> f64 {
    let work = share_out(records, submitters);
    let sent: usize = work.iter().map(Vec::len).sum();
    let pipeline = EmptyPipeline::start(dir, &work, PipelineShape::Serial, Duration::ZERO).expect("pipeline file");
    let seconds = pipeline.closed_loop(work, callers).expect("every record is answered").as_secs_f64();
    pipeline.finish().expect("the empty pipeline wrote and synced");
    sent as f64 / seconds
}

struct Row {
    figure: String,
    value: String,
    target: String,
    met: &'static str,
    peer: String,
}

impl Row {
    /// A figure with no target of its own: a part of one, or a figure for context.
    fn untargeted(figure: String, value: String, peer: String) -> Row {
        Row { figure, value, target: "—".into(), met: "—", peer }
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

fn main() {
    if let Ok(dir) = std::env::var(child_env) {
        child(Path::new(&dir));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and friends: nothing to list.
    }
    let policy = Arc::new(Policy::gansu());
    let commands = env_u64("FUNDLEDGER_BENCH_EVENTS", events_default);
    let payments = env_u64("FUNDLEDGER_BENCH_COMMANDS", payments_default);
    let runs = env_u64("FUNDLEDGER_BENCH_RUNS", runs_default as u64).max(1) as usize;
    let mut rows: Vec<Row> = Vec::new();

    // Throughput first, on a quiet disk.
    eprintln!("throughput: {payments} payments from {submitters} submitters, {runs} runs");
    let results: Vec<Throughput> = (0..runs).map(|r| throughput_run(&policy, payments, r, Callers::Threads)).collect();
    let tasks: Vec<Throughput> = (0..runs).map(|r| throughput_run(&policy, payments, r, Callers::Tasks)).collect();
    let cps = median(results.iter().map(|t| t.commands_per_s).collect());
    let sqlite_cps = median(results.iter().map(|t| t.sqlite_per_s).collect());
    let batch = median(results.iter().map(|t| f64::from(t.median_batch)).collect());
    rows.push(Row {
        figure: format!("command throughput, {submitters} submitters, file store (commands/s)"),
        value: format!("{cps:.0}"),
        target: format!("≥ {commands_per_s_target:.0}"),
        met: met(cps >= commands_per_s_target),
        peer: format!("SQLite WAL FULL, tx of {batch:.0}: {sqlite_cps:.0}/s → ×{:.2}", cps / sqlite_cps),
    });
    let tasks_cps = median(tasks.iter().map(|t| t.commands_per_s).collect());
    let tasks_batch = median(tasks.iter().map(|t| f64::from(t.median_batch)).collect());
    let tasks_sqlite = median(tasks.iter().map(|t| t.sqlite_per_s).collect());
    rows.push(Row {
        figure: format!("  the same from {submitters} async submitters (tokio tasks, one runtime thread) (commands/s)"),
        value: format!("{tasks_cps:.0}"),
        target: format!("≥ {commands_per_s_target:.0}"),
        met: met(tasks_cps >= commands_per_s_target),
        peer: format!(
            "median batch {tasks_batch:.0}; SQLite WAL FULL, tx of {tasks_batch:.0}: {tasks_sqlite:.0}/s → ×{:.2}",
            tasks_cps / tasks_sqlite
        ),
    });
    let disk = median(results.iter().chain(&tasks).map(|t| t.disk_bound_per_s).collect());
    rows.push(Row::untargeted(
        format!("  bound for {submitters} closed-loop submitters on this disk (records/s)"),
        format!("{disk:.0}"),
        format!(
            "raw file, fdatasync per {submitters} records, no compute: the engine reaches ×{:.2} of it \
             from threads, ×{:.2} from tasks",
            cps / disk,
            tasks_cps / disk
        ),
    ));
    for (who, runs, engine_cps) in [("threads", &results, cps), ("async submitters", &tasks, tasks_cps)] {
        let pipeline = median(runs.iter().map(|t| t.pipeline_per_s).collect());
        let peer = format!(
            "same queue, writer, sync per batch, responder; nothing decided, encoded, chained or folded: \
             the engine reaches ×{:.2} of it",
            engine_cps / pipeline
        );
        let figure = format!("  the engine's pipeline with nothing in it, {submitters} {who} (commands/s)");
        rows.push(Row::untargeted(figure, format!("{pipeline:.0}"), peer));
    }
    rows.push(Row::untargeted("median batch per sync (commands)".into(), format!("{batch:.0}"), String::new()));

    let scratch = Scratch::new("ledger");
    eprintln!("importing up to {commands} demo commands…");
    let (counts, import_time) = import(&scratch.path, &policy, commands);
    let log = open_log(&scratch.path, &policy);
    let head = block_on(log.head()).expect("head").position;
    let millions = head as f64 / 1e6;
    eprintln!("imported {} commands, {head} records in {:.1} s", counts.commands, import_time.as_secs_f64());

    // Read side, interleaved per run so drift hits every figure alike.
    eprintln!("filling the SQLite read peer (not timed)…");
    let mut db = sqlite_open(&scratch.path.join("read-peer.sqlite"), false);
    assert_eq!(sqlite_fill_from_log(&mut db, &log, sqlite_fill_rows_per_tx), head);
    let (mut read_s, mut decode_s, mut rebuild_s, mut sq_scan_s, mut sq_decode_s) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        eprintln!("read side run {}/{runs}", run + 1);
        let (n, s) = timed(|| scan_read(&log));
        assert_eq!(n, head);
        read_s.push(s);
        let (events, s) = timed(|| scan_decode(&log));
        decode_s.push(s);
        let ((_, summary), s) =
            timed(|| fundledger_engine::rebuild(&*log, policy.clone(), AsOf::Head, &mut |_, _| {}).expect("rebuild"));
        assert_eq!(summary.records, head);
        rebuild_s.push(s);
        let (n, s) = timed(|| sqlite_scan(&db, false));
        assert_eq!(n, head);
        sq_scan_s.push(s);
        let (n, s) = timed(|| sqlite_scan(&db, true));
        assert_eq!(n, events);
        sq_decode_s.push(s);
    }
    let per_s = |seconds: &Vec<f64>| head as f64 / median(seconds.clone());
    let (read, decode, rebuilt, sq_scan, sq_decode) =
        (per_s(&read_s), per_s(&decode_s), per_s(&rebuild_s), per_s(&sq_scan_s), per_s(&sq_decode_s));
    rows.push(Row {
        figure: format!("full rebuild: read+CRC+decode+apply, 1 core, {millions:.2} M records (records/s)"),
        value: format!("{rebuilt:.0}"),
        target: format!("≥ {rebuild_events_per_s_target:.0}"),
        met: met(rebuilt >= rebuild_events_per_s_target),
        peer: format!("SQLite scan+decode {sq_decode:.0}/s → ×{:.2}", rebuilt / sq_decode),
    });
    rows.push(Row::untargeted(
        "  of which read+CRC only (records/s)".into(),
        format!("{read:.0}"),
        format!("SQLite row scan (no decode) {sq_scan:.0}/s → ×{:.2}", read / sq_scan),
    ));
    rows.push(Row::untargeted(
        "  of which read+CRC+decode, no apply (records/s)".into(),
        format!("{decode:.0}"),
        format!("SQLite scan+decode {sq_decode:.0}/s → ×{:.2}", decode / sq_decode),
    ));
    drop(db);
    // The read peer's database (gigabytes of page cache) is not needed any more. Left in place,
    // it can leave each start-up child below reclaiming page cache while it faults in its
    // memory: two runs gave 1.21 and 1.43 s with it, 0.61 s without (and a child started with
    // 2 GiB free took 1.88 s against ~0.6 s), on this 24 GiB machine.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(scratch.path.join(format!("read-peer.sqlite{suffix}")));
    }

    // Start-up from the snapshot: each run a fresh process (as a restarted server is: no memory
    // already faulted in by earlier figures), page cache warm; the median of `runs`. The last
    // child's figures also give the resident memory.
    drop(log);
    eprintln!(
        "start-up children: this process holds {} MiB; {} MiB of memory available",
        proc_status_kib("VmRSS:") / 1024,
        kib_field("/proc/meminfo", "MemAvailable:") / 1024
    );
    let mut with_snapshot = Vec::new();
    let mut out = String::new();
    for _ in 0..runs {
        let child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .env(child_env, &scratch.path)
            .output()
            .expect("child");
        assert!(child.status.success(), "start-up child failed: {}", String::from_utf8_lossy(&child.stderr));
        out = String::from_utf8_lossy(&child.stdout).to_string();
        assert_eq!(child_field(&out, "snapshot"), head, "the child started from the snapshot: {out}");
        with_snapshot.push(child_field(&out, "open_micros") as f64 / 1e6);
    }
    let with_snapshot = median(with_snapshot);
    // By full replay: once, in this process (it is long).
    let ((core, report), replay_s) = timed(|| open_core(&scratch.path, &policy, false));
    assert_eq!(report.replayed_records, head);
    drop(core);
    rows.push(Row {
        figure: format!("start-up with a snapshot, {millions:.2} M records, fresh process (s)"),
        value: format!("{with_snapshot:.2}"),
        target: format!("≤ {startup_with_snapshot_s_target:.1}"),
        met: met(with_snapshot <= startup_with_snapshot_s_target),
        peer: format!("full replay {replay_s:.1} s → ×{:.1} faster", replay_s / with_snapshot),
    });
    rows.push(Row::untargeted(
        format!("start-up by full replay, {millions:.2} M records (s, 1 run)"),
        format!("{replay_s:.1}"),
        format!("SQLite scan+decode of the same rows {:.1} s", head as f64 / sq_decode),
    ));

    // Memory: what the last start-up child held after opening.
    let rss_mib = (child_field(&out, "rss_after_kib") - child_field(&out, "rss_before_kib")) as f64 / 1024.0;
    let hwm_mib = child_field(&out, "hwm_kib") as f64 / 1024.0;
    let idempotency_mib = child_field(&out, "idempotency_bytes") as f64 / mib;
    let positions_mib = child_field(&out, "positions_bytes") as f64 / mib;
    rows.push(Row {
        figure: "resident memory after opening, per million records (MiB)".into(),
        value: format!("{:.1}", rss_mib / millions),
        target: format!("≤ {rss_mib_per_million_events_target:.0}"),
        met: met(rss_mib / millions <= rss_mib_per_million_events_target),
        peer: format!("total {rss_mib:.0} MiB; peak during open (VmHWM) {hwm_mib:.0} MiB"),
    });
    // Estimates of the state's big maps: hashbrown keeps one control byte per bucket and grows to
    // a power of two at 7/8 load.
    let map_bytes = |entries: u64, entry: usize| {
        let buckets = (entries * 8 / 7).next_power_of_two().max(1);
        (buckets * (entry as u64 + 1)) as f64 / mib
    };
    let tax_entry = std::mem::size_of::<TaxBatchRef>()
        + std::mem::size_of::<RegionCode>()
        + std::mem::size_of::<Period>()
        + std::mem::size_of::<IncomeCategory>()
        + 2 * std::mem::size_of::<Money>();
    let shares = [
        ("idempotency index (measured)", idempotency_mib),
        ("views: supervision payment positions (measured)", positions_mib),
        (
            "state: payment book incl. periodic marks and beneficiaries (measured)",
            child_field(&out, "payment_book_bytes") as f64 / mib,
        ),
        ("state: tax batches (est.)", map_bytes(counts.tax_batches, tax_entry)),
    ];
    for (what, value) in shares {
        rows.push(Row::untargeted(
            format!("  {what} (MiB per million records)"),
            format!("{:.1}", value / millions),
            format!("{value:.0} MiB"),
        ));
    }

    println!();
    println!(
        "Engine benchmark: {} demo commands (seed 1, {demo_years} years), {head} records; {payments} payments for throughput; {runs} runs, medians.",
        counts.commands
    );
    println!(
        "Import through Core::execute: {:.1} s ({:.0} commands/s).",
        import_time.as_secs_f64(),
        counts.commands as f64 / import_time.as_secs_f64()
    );
    println!(
        "History: {} payments ({} periodic), {} tax batches; idempotency entries {}.",
        counts.payments,
        counts.periodic_payments,
        counts.tax_batches,
        child_field(&out, "idempotency_entries")
    );
    println!();
    println!("| figure | value | target | met | same-run peer |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} | {} |", r.figure, r.value, r.target, r.met, r.peer);
    }
}
