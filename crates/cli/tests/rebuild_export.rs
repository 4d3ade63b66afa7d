//! `rebuild` and `export` against a real ledger: the first months of the seed-1 demo history,
//! written through the engine core, with the live views captured halfway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::Days;
use fundledger_cli::DataDir;
use fundledger_cli::rebuild::{self, OutputFormat};
use fundledger_demo::DemoConfig;
use fundledger_domain::Policy;
use fundledger_engine::{Outcome, Submission};
use fundledger_projections::{AsOf, Views};
use fundledger_store::chain::{genesis, hex, link};
use fundledger_store::testing::process_scratch_dir;
use serde_json::Value;

/// Days of demo history the ledger holds (the first month and its closes), and the day the live
/// views are captured; small, so a debug build writes and re-reads it in seconds.
const HISTORY_DAYS: u64 = 45;
const MIDPOINT_DAYS: u64 = 20;
const BATCH_COMMANDS: usize = 4_096;

struct Ledger {
    /// See [`ledger_dir`].
    dir: PathBuf,
    policy: Arc<Policy>,
    head: u64,
    /// A position inside the history and the live views' JSON documents there.
    mid_position: u64,
    mid_views: Vec<(&'static str, Value)>,
    /// The live views at the head.
    head_views: Views,
    /// The whole log exported with payloads, parsed: one value per line.
    lines: Vec<Value>,
    /// The log allows one open handle per directory: tests take turns.
    turn: Mutex<()>,
}

impl Ledger {
    fn data(&self) -> DataDir {
        DataDir::new(&self.dir)
    }

    fn turn(&self) -> MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn micros_at(date: chrono::NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros()
}

/// Where the shared ledger lives. It is kept in a static for the whole test process, and
/// statics are never dropped, so a `TempDir` would be left in the system's temporary directory
/// after every run (64 MiB each). This directory is under Cargo's scratch directory for
/// integration tests instead, owned by this process so that two runs at once do not meet;
/// earlier runs' directories are removed once their process is gone.
fn ledger_dir() -> PathBuf {
    process_scratch_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "rebuild-export", "ledger").unwrap()
}

fn ledger() -> &'static Ledger {
    static LEDGER: OnceLock<Ledger> = OnceLock::new();
    LEDGER.get_or_init(|| {
        let dir = ledger_dir();
        let policy = Arc::new(Policy::gansu());
        let data = DataDir::new(&dir);
        let mut core = data.open_core_for_import(policy.clone(), b"rebuild-export-test").unwrap();
        let config = DemoConfig { seed: 1, years: 1, scale: 1 };
        let mid_time = micros_at(policy.reform_date + Days::new(MIDPOINT_DAYS));
        let end_time = micros_at(policy.reform_date + Days::new(HISTORY_DAYS));
        let mut batch = Vec::with_capacity(BATCH_COMMANDS);
        let mut mid = None;
        let flush = |core: &mut fundledger_engine::Core<_>, batch: &mut Vec<Submission>| {
            for outcome in core.execute(batch) {
                assert!(matches!(outcome.unwrap(), Outcome::Accepted { .. }), "the demo history is accepted");
            }
            batch.clear();
        };
        for generated in fundledger_demo::generate(&policy, &config).unwrap() {
            if generated.recorded_at_micros >= end_time {
                break;
            }
            if mid.is_none() && generated.recorded_at_micros >= mid_time {
                flush(&mut core, &mut batch);
                mid = Some((core.head().position, rebuild::views_json(&core.shared().views_clone())));
            }
            let mut submission = Submission::new(generated.command_id, generated.actor, generated.command);
            submission.recorded_at_micros = Some(generated.recorded_at_micros);
            batch.push(submission);
            if batch.len() == BATCH_COMMANDS {
                flush(&mut core, &mut batch);
            }
        }
        flush(&mut core, &mut batch);
        let head = core.head().position;
        let head_views = core.shared().views_clone();
        drop(core);
        let (mid_position, mid_views) = mid.expect("the history reaches its midpoint");
        assert!(mid_position > 1000 && head > mid_position + 1000, "mid {mid_position}, head {head}");
        let lines = export_all(&data, &policy);
        Ledger { dir, policy, head, mid_position, mid_views, head_views, lines, turn: Mutex::new(()) }
    })
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The whole log exported with payloads, one parsed value per line.
fn export_all(data: &DataDir, policy: &Arc<Policy>) -> Vec<Value> {
    let mut out = Vec::new();
    let n = fundledger_cli::export::run(data, policy.clone(), 1, None, true, &mut out, false).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(n, lines.len() as u64);
    lines
}

#[test]
fn rebuild_as_of_a_position_equals_the_live_views_there() {
    let l = ledger();
    let _turn = l.turn();
    let out = tempfile::tempdir().unwrap();
    let result = rebuild::run(
        &l.data(),
        l.policy.clone(),
        AsOf::Position(l.mid_position),
        OutputFormat::Json,
        out.path(),
        false,
    )
    .unwrap();
    assert_eq!(result.summary.through_position, l.mid_position);
    assert_eq!(result.files.len(), l.mid_views.len() + 1, "one document per view and the manifest");
    for (name, live) in &l.mid_views {
        let rebuilt = read_json(&out.path().join(format!("{name}.json")));
        assert_eq!(&rebuilt, live, "view {name} rebuilt as of {} differs from the live one", l.mid_position);
    }
    // The point matters: at the head the same views say something else.
    let at_head = rebuild::views_json(&l.head_views);
    assert_ne!(at_head[0].1, l.mid_views[0].1, "the provincial view moves between the midpoint and the head");

    let manifest = read_json(&out.path().join("manifest.json"));
    assert_eq!(manifest["as_of"], serde_json::json!({ "position": l.mid_position }));
    assert_eq!(manifest["through_position"], l.mid_position);
    assert_eq!(manifest["log_head_position"], l.head);
    assert_eq!(manifest["format"], "json");
    assert_eq!(manifest["records"], l.mid_position);
    let lines = &l.lines;
    let mid_line = &lines[(l.mid_position - 1) as usize];
    assert_eq!(manifest["through_hash"], mid_line["hash"], "the manifest names the chain hash at its position");
    let events = lines[..l.mid_position as usize].iter().filter(|line| line["record"].get("event").is_some()).count();
    assert_eq!(manifest["events"], events as u64);
    // Amounts are decimal strings, never JSON numbers.
    let pooled = read_json(&out.path().join("provincial.json"))["pooled_balance"].clone();
    assert!(pooled.as_str().is_some_and(|s| s.contains('.')), "pooled balance {pooled}");
}

#[test]
fn rebuild_as_of_a_time_folds_what_was_recorded_by_then() {
    let l = ledger();
    let _turn = l.turn();
    let lines = &l.lines;
    let mid_time = lines[(l.mid_position - 1) as usize]["recorded_at_micros"].as_i64().unwrap();
    let text = lines[(l.mid_position - 1) as usize]["recorded_at"].as_str().unwrap().to_string();
    let as_of = rebuild::parse_as_of(&text).unwrap();
    assert_eq!(as_of, AsOf::Time(mid_time));
    let rebuilt = rebuild::rebuild_views(&l.data(), l.policy.clone(), as_of, false).unwrap();
    let through = rebuilt.summary.through_position;
    // Everything at or before the time, nothing after: records of one batch share a time.
    assert!(through >= l.mid_position);
    assert!(lines[..through as usize].iter().all(|line| line["recorded_at_micros"].as_i64().unwrap() <= mid_time));
    assert!(lines[through as usize]["recorded_at_micros"].as_i64().unwrap() > mid_time);
    assert_eq!(hex(&rebuilt.through_hash), lines[(through - 1) as usize]["hash"].as_str().unwrap());

    let err = rebuild::parse_as_of("30/06/2025").unwrap_err().to_string();
    assert!(err.contains("RFC 3339"), "{err}");
}

#[test]
fn csv_files_have_their_headers_and_the_views_figures() {
    let l = ledger();
    let _turn = l.turn();
    let out = tempfile::tempdir().unwrap();
    rebuild::run(&l.data(), l.policy.clone(), AsOf::Head, OutputFormat::Csv, out.path(), false).unwrap();
    let read = |name: &str| std::fs::read_to_string(out.path().join(name)).unwrap();
    let headers = [
        (
            "two_lines.csv",
            "region,period,collected,refunded,transferred,untransferred,allocated,paid,reversed,balance,closed_at,flags",
        ),
        ("region_expenditure.csv", "region,period,category,planned,approved,reviewed,paid,reversed,net_paid"),
        (
            "provincial_pooled.csv",
            "period,transfers_in,provincial_income,consolidated,allocated,net_change,closing_balance",
        ),
        (
            "fund_health.csv",
            "period,fund_balance,average_monthly_expenditure,payable_months,payable_months_rounded,warning,rate_signal",
        ),
        (
            "supervision_reversals.csv",
            "payment_id,region,period,paid_period,benefit,amount,reason,payment_position,reversal_position",
        ),
        ("supervision_outliers.csv", "payment_id,region,period,benefit,amount,median_upper,samples,position"),
        ("supervision_late_closes.csv", "region,period,position,recorded_at,days_after_end"),
        ("supervision_multi_region.csv", "beneficiary,period,payments"),
        ("plans.csv", "plan_id,region,period,status,total,allocated,tranches,lines"),
        ("reconciliations.csv", "name,lhs,rhs,difference,reconciled"),
    ];
    for (file, header) in headers {
        assert_eq!(read(file).lines().next(), Some(header), "{file}");
    }
    // Compared with the live views: the CSV of a rebuild at the head shows what the engine showed.
    let views = &l.head_views;

    // A known row: Lanzhou's first period, every figure as the view has it.
    let rows = views.two_lines().rows();
    let row = rows.iter().find(|r| r.region.get() == 620100).expect("Lanzhou has activity");
    assert!(row.income.collected.is_positive());
    let csv = read("two_lines.csv");
    let line = csv.lines().find(|line| line.starts_with(&format!("{},{},", row.region, row.period))).unwrap();
    let fields: Vec<&str> = line.split(',').collect();
    let expected = [
        row.income.collected,
        row.income.refunded,
        row.income.transferred,
        row.income.untransferred,
        row.expenditure.allocated,
        row.expenditure.paid,
        row.expenditure.reversed,
        row.expenditure.balance,
    ]
    .map(|m| m.to_string());
    assert_eq!(fields[2..10], expected[..]);
    assert_eq!(csv.lines().count(), rows.len() + 1);

    // The pooled fund's last closing balance is the view's balance.
    let pooled = read("provincial_pooled.csv");
    let last: Vec<&str> = pooled.lines().last().unwrap().split(',').collect();
    assert_eq!(last[6], views.provincial().pooled_balance().to_string());
    // Every identity reconciles on a history the rules accepted.
    assert!(read("reconciliations.csv").lines().skip(1).all(|line| line.ends_with(",true")));
    let manifest = read_json(&out.path().join("manifest.json"));
    assert_eq!(manifest["through_position"], l.head);
    assert_eq!(manifest["as_of"], serde_json::json!({ "head": true }));
}

#[test]
fn export_lines_rehash_to_their_stored_hashes() {
    let l = ledger();
    let _turn = l.turn();
    let lines = &l.lines;
    assert_eq!(lines.len() as u64, l.head);
    let mut prev = hex(&genesis(&l.policy.fund_id));
    let mut kinds = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let position = line["position"].as_u64().unwrap();
        assert_eq!(position, i as u64 + 1);
        assert_eq!(line["prev_hash"].as_str().unwrap(), prev, "line {position} links to the line before");
        let micros = line["recorded_at_micros"].as_i64().unwrap();
        assert_eq!(rebuild::parse_as_of_time(line["recorded_at"].as_str().unwrap()).unwrap(), micros);
        let payload = unhex(line["payload_hex"].as_str().unwrap());
        let prev_hash: [u8; 32] = unhex(&prev).try_into().unwrap();
        let hash = hex(&link(&prev_hash, position, micros, &payload));
        assert_eq!(line["hash"].as_str().unwrap(), hash, "line {position} re-hashes to its stored hash");
        let record = &line["record"];
        assert_eq!(record["meta"]["recorded_at_micros"].as_i64(), Some(micros));
        assert_eq!(record["meta"]["event_id"].as_str().map(str::len), Some(32));
        let kind = match (record.get("event"), record.get("rejected")) {
            (Some(event), None) => event["event"].as_str().unwrap().to_string(),
            (None, Some(rejected)) => format!("rejected:{}", rejected["reason"]),
            other => panic!("line {position} holds {other:?}"),
        };
        *kinds.entry(kind).or_insert(0u64) += 1;
        prev = hash;
    }
    for kind in ["collection_recorded", "benefit_paid", "funds_allocated", "period_closed"] {
        assert!(kinds.contains_key(kind), "the export holds {kind} events: {kinds:?}");
    }

    // A range starts with the hash of the record before it, and payloads are opt-in.
    let mut out = Vec::new();
    let n = fundledger_cli::export::run(&l.data(), l.policy.clone(), 10, Some(20), false, &mut out, false).unwrap();
    let range: Vec<Value> = String::from_utf8(out).unwrap().lines().map(|s| serde_json::from_str(s).unwrap()).collect();
    assert_eq!((n, range.len()), (11, 11));
    assert_eq!(range[0]["prev_hash"], lines[8]["hash"]);
    assert_eq!(range[10]["hash"], lines[19]["hash"]);
    assert!(range[0].get("payload_hex").is_none());
}

#[test]
fn export_refuses_a_range_beyond_the_head() {
    let l = ledger();
    let _turn = l.turn();
    let mut out = Vec::new();
    let err = fundledger_cli::export::run(&l.data(), l.policy.clone(), 1, Some(l.head + 1), false, &mut out, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("beyond the head"), "{err}");
    assert!(out.is_empty());
    // From the head + 1: an up-to-date incremental export writes nothing, successfully.
    let n = fundledger_cli::export::run(&l.data(), l.policy.clone(), l.head + 1, None, false, &mut out, false).unwrap();
    assert_eq!(n, 0);
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}
