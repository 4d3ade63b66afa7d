//! The engine's closed-loop throughput, as the engine benchmark measures it, with the CPU the
//! process used: `submitters` callers (default 64) each submit one payment and wait for its
//! answer, `n` payments in all (default 400,000), over the file store in a temporary directory.
//! `tasks` runs the callers as tokio tasks on one runtime thread (as the API's handlers are),
//! `threads` as OS threads.
//!
//! Then, in the same run, the same callers send the same records (framed size) through the
//! engine's pipeline with nothing in it ([`EmptyPipeline`]), in the engine's shape and with a
//! sync-behind syncer. An optional fourth argument, nanoseconds, is spent spinning on the
//! empty pipeline's writer for every command, standing in for deciding, encoding and chaining it.
//!
//! ```sh
//! cargo build --release -p fundledger-engine --example closed_loop
//! target/release/examples/closed_loop tasks 400000 64
//! target/release/examples/closed_loop tasks 400000 64 1000
//! ```

use std::sync::Arc;
use std::time::Duration;

use fundledger_domain::{Actor, ExpenditureCategory, Money, Period, Policy, RegionCode};
use fundledger_engine::load::{Callers, EmptyPipeline, PipelineShape, closed_loop, share_out};
use fundledger_engine::{Core, CoreOptions, Engine, EngineConfig, HashIds, Submission, SystemClock};
use fundledger_store::{EventLog, FileLog, FileOptions, block_on, for_each_batch};

fn payment(i: usize, regions: &[RegionCode]) -> Submission {
    let period = Period::new(2024, 3).expect("period");
    let (id, command) =
        fundledger_demo::medical_payment(&i.to_string(), &(i % 50_000).to_string(), regions[i % regions.len()], period);
    Submission::new(id, Actor::system(), command)
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "tasks".into());
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(400_000);
    let submitters: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(64);
    let stand_in = Duration::from_nanos(std::env::args().nth(4).and_then(|a| a.parse().ok()).unwrap_or(0));
    let policy = Arc::new(Policy::gansu());
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Arc::new(FileLog::open(dir.path().join("log"), &policy.fund_id, FileOptions::default()).expect("log").0);
    let options = CoreOptions { snapshot_dir: None, snapshot_every_records: u64::MAX };
    let (mut core, _) =
        Core::open(log, policy.clone(), options, Box::new(SystemClock), Box::new(HashIds::new(b"p")), &mut |_, _| {})
            .expect("core");
    let period = Period::new(2024, 3).expect("period");
    let amount = Money::from_fen(50_000_000_000).expect("money");
    let setup: Vec<Submission> = fundledger_demo::ready_to_pay(&policy, period, ExpenditureCategory::Medical, amount)
        .into_iter()
        .map(|(id, command)| Submission::new(id, Actor::system(), command))
        .collect();
    for r in core.execute(&setup) {
        assert!(r.expect("setup").is_accepted());
    }
    let regions: Vec<RegionCode> = policy.units.iter().map(|u| u.code).collect();
    let per = n / submitters;
    let work: Vec<Vec<Submission>> =
        (0..submitters).map(|s| (0..per).map(|i| payment(s * per + i, &regions)).collect()).collect();
    let setup_head = core.head().position;
    let engine = Arc::new(Engine::start(core, EngineConfig::default()));
    let cpu_before = process_cpu_seconds();
    let callers = if mode == "threads" { Callers::Threads } else { Callers::Tasks };
    let seconds = closed_loop(&engine, work, callers).expect("every payment is accepted").as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    let done = per * submitters;
    println!(
        "{mode}: {done} payments from {submitters} submitters in {seconds:.2} s = {:.0} commands/s; median batch {}; \
         process CPU {:.2} us/command ({:.2} cores busy)",
        done as f64 / seconds,
        engine.stats().median_batch_commands().unwrap_or(0),
        cpu * 1e6 / done as f64,
        cpu / seconds,
    );
    let log = engine.log().clone();
    drop(engine);
    // The same records, framed size, shared out among the same callers.
    let mut records: Vec<Vec<u8>> = Vec::with_capacity(done);
    for_each_batch(&*log, setup_head + 1, |batch| {
        records.extend(batch.iter().map(|view| EmptyPipeline::record_for(view.payload())))
    })
    .expect("read the payments back");
    assert_eq!(records.len(), done, "{:?}", block_on(log.head()));
    for shape in [PipelineShape::Serial, PipelineShape::SyncBehind] {
        let work = share_out(records.clone(), submitters);
        let pipeline = EmptyPipeline::start(dir.path(), &work, shape, stand_in).expect("pipeline file");
        let cpu_before = process_cpu_seconds();
        let empty_seconds = pipeline.closed_loop(work, callers).expect("every record is answered").as_secs_f64();
        let cpu = process_cpu_seconds() - cpu_before;
        let syncs = pipeline.syncs();
        pipeline.finish().expect("the empty pipeline wrote and synced");
        println!(
            "  empty pipeline, {shape:?}, {} ns stand-in per command: {:.0} commands/s (the engine reaches {:.2}x of it); \
             {:.1} commands per sync; process CPU {:.2} us/command",
            stand_in.as_nanos(),
            done as f64 / empty_seconds,
            empty_seconds / seconds,
            done as f64 / syncs.max(1) as f64,
            cpu * 1e6 / done as f64,
        );
    }
}

/// CPU seconds (user + system) of the whole process so far (Linux; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    let Some(close) = stat.rfind(')') else { return 0.0 };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 (11 and 12 after the command name), in ticks of 1/100 s.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
