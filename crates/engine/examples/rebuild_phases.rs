//! The full rebuild taken apart on an existing ledger: read+CRC alone, read+CRC+decode (the
//! rebuild's `decode_for_views`), and the whole rebuild (read, CRC, decode, fold into every
//! view), each timed in the same process, so their differences give each phase's cost per
//! record. Profile it with `perf record`.
//!
//! ```sh
//! cargo build --release -p fundledger-engine --example rebuild_phases
//! target/release/fundledger demo --data-dir /tmp/d10m --scale 16     # 10 M records
//! target/release/examples/rebuild_phases /tmp/d10m 3                 # phases, 3 runs each
//! target/release/examples/rebuild_phases /tmp/d10m 3 rebuild         # only the rebuild
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use fundledger_domain::Policy;
use fundledger_projections::AsOf;
use fundledger_store::{EventLog, FileLog, FileOptions, block_on, for_each_batch};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: rebuild_phases DATA_DIR [RUNS] [read|decode|rebuild]"));
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let only = args.next();
    let policy = Arc::new(Policy::gansu());
    let log = FileLog::open(dir.join("log"), &policy.fund_id, FileOptions::default()).expect("open log").0;
    let head = block_on(log.head()).expect("head").position;
    let wanted = |phase: &str| only.as_deref().is_none_or(|o| o == phase);
    for run in 1..=runs {
        let mut line = format!("run {run}:");
        if wanted("read") {
            let started = Instant::now();
            let n = scan(&log, |_| {});
            assert_eq!(n, head);
            line += &rate("read+CRC", head, started);
        }
        if wanted("decode") {
            let started = Instant::now();
            let mut events = 0u64;
            scan(&log, |payload| {
                let record = fundledger_wire::decode_for_views(payload).expect("decode");
                events += u64::from(!matches!(record, fundledger_wire::ForViews::Rejected));
            });
            std::hint::black_box(events);
            line += &rate("read+CRC+decode", head, started);
        }
        if wanted("rebuild") {
            let started = Instant::now();
            let (views, summary) =
                fundledger_engine::rebuild(&log, policy.clone(), AsOf::Head, &mut |_, _| {}).expect("rebuild");
            assert_eq!(summary.records, head);
            line += &rate("rebuild", head, started);
            drop(views);
        }
        println!("{line}");
    }
}

fn scan(log: &FileLog, mut each: impl FnMut(&[u8])) -> u64 {
    for_each_batch(log, 1, |batch| batch.iter().for_each(|view| each(view.payload()))).expect("read")
}

fn rate(phase: &str, records: u64, started: Instant) -> String {
    let s = started.elapsed().as_secs_f64();
    format!("  {phase} {:.2} M/s ({:.0} ns/record)", records as f64 / s / 1e6, s * 1e9 / records as f64)
}
