//! End-to-end tests of the `fundledger` binary itself, run in temporary directories: demo
//! determinism, verify on good and damaged logs, rebuild as of a point against the views a live
//! engine had there, report charts, configuration precedence, and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};

use fundledger_domain::Policy;
use fundledger_engine::Submission;
use fundledger_store::testing::process_scratch_dir;

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fundledger"));
    command.env_remove("FUNDLEDGER_DATA_DIR").env_remove("FUNDLEDGER_LISTEN").env("FUNDLEDGER_LOG", "warn");
    command
}

/// A fresh directory for one test, under Cargo's scratch directory for integration tests and
/// owned by this process, so that runs at the same time do not meet. Directories of earlier runs
/// whose process is gone are removed: the shared demo ledger lives in a static, which is never
/// dropped, and each run would otherwise leave a few hundred megabytes behind.
fn scratch(name: &str) -> PathBuf {
    process_scratch_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "cli", name).unwrap()
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn head_hash(stdout: &str) -> String {
    stdout.lines().find_map(|l| l.strip_prefix("head hash: ")).expect("a head hash line").trim().to_string()
}

/// One demo ledger (seed 1, one year) shared by the tests that only read copies of it.
fn demo() -> &'static (PathBuf, String) {
    static DEMO: OnceLock<(PathBuf, String)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = scratch("demo").join("data");
        let output = bin().args(["demo", "--seed", "1", "--years", "1", "--data-dir"]).arg(&dir).output().unwrap();
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "demo failed: {stderr}");
        (dir, head_hash(&stdout))
    })
}

/// A private copy of the demo ledger (each process takes the directory's writer lock).
fn demo_copy(name: &str) -> PathBuf {
    let target = scratch(name).join("data");
    copy_dir(&demo().0, &target);
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn demo_is_deterministic_and_refuses_a_non_empty_directory() {
    let (dir, hash) = demo();
    let again = scratch("demo-again").join("data");
    let output = bin().args(["demo", "--seed", "1", "--years", "1", "--data-dir"]).arg(&again).output().unwrap();
    assert!(output.status.success());
    assert_eq!(&head_hash(&text(&output).0), hash, "the same seed must give the same head hash");
    let output = bin().args(["demo", "--seed", "1", "--years", "1", "--data-dir"]).arg(&again).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).1.contains("already holds a ledger"), "{}", text(&output).1);
    assert!(dir.join("log").exists());
}

#[test]
fn verify_passes_on_a_good_log_and_names_the_position_of_damage() {
    let (_, hash) = demo();
    let data = demo_copy("verify");
    let output = bin().arg("verify").arg("--data-dir").arg(&data).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(&head_hash(&stdout), hash);
    // Flip one bit in the middle of the first segment's records.
    let segment = data.join("log").join("seg-0000000001.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let offset = 4 << 20;
    bytes[offset] ^= 0x10;
    std::fs::write(&segment, bytes).unwrap();
    let output = bin().arg("verify").arg("--data-dir").arg(&data).output().unwrap();
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "damage is the ledger saying no: {stderr}");
    assert!(stderr.contains("position"), "the error names the position: {stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
}

#[test]
fn rebuild_as_of_a_position_and_a_time_matches_the_live_views_there() {
    let root = scratch("rebuild");
    let data = fundledger_cli::DataDir::new(root.join("data"));
    let policy = Arc::new(Policy::gansu());
    let mut core = data.open_core_for_import(policy.clone(), b"rebuild-test").unwrap();
    let config = fundledger_demo::DemoConfig { seed: 3, years: 1, scale: 1 };
    let commands: Vec<_> = fundledger_demo::generate(&policy, &config).unwrap().take(12_000).collect();
    let mut checkpoint = None;
    for (i, chunk) in commands.chunks(1_000).enumerate() {
        let batch: Vec<Submission> = chunk
            .iter()
            .map(|g| {
                let mut s = Submission::new(g.command_id, g.actor.clone(), g.command.clone());
                s.recorded_at_micros = Some(g.recorded_at_micros);
                s
            })
            .collect();
        assert!(core.execute(&batch).iter().all(|r| r.as_ref().is_ok_and(|o| o.is_accepted())));
        let next_time = commands.get((i + 1) * 1_000).map(|g| g.recorded_at_micros);
        let last_time = chunk.last().unwrap().recorded_at_micros;
        // A checkpoint where the next record is later, so "as of this time" means this position.
        if i >= 5 && checkpoint.is_none() && next_time.is_some_and(|t| t > last_time) {
            checkpoint = Some((core.head().position, last_time, core.shared().views_clone()));
        }
    }
    drop(core);
    let (position, time, live) = checkpoint.expect("a checkpoint with a strictly later next record");
    let expected: Vec<(&str, serde_json::Value)> = fundledger_cli::rebuild::views_json(&live);
    let time_text = fundledger_cli::rebuild::format_micros(time);
    for (flag, value, out) in [
        ("--as-of-position", position.to_string(), root.join("by-position")),
        ("--as-of-time", time_text.clone(), root.join("by-time")),
    ] {
        let output = bin()
            .args(["rebuild", "--format", "json", flag, &value, "--data-dir"])
            .arg(data.root())
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output).1);
        for (name, view) in &expected {
            let file: serde_json::Value =
                serde_json::from_slice(&std::fs::read(out.join(format!("{name}.json"))).unwrap()).unwrap();
            assert_eq!(&file, view, "{name} rebuilt {flag} {value} differs from the live view");
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["through_position"], position, "{flag}");
    }
}

#[test]
fn report_writes_svg_and_png_charts_with_the_expected_series() {
    let data = demo_copy("report");
    let charts = data.parent().unwrap().join("charts");
    let output = bin().arg("report").arg("--data-dir").arg(&data).arg("--charts").arg(&charts).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("Lanzhou") && stdout.contains("payable months"), "{stdout}");
    for name in ["fund_health", "income_expenditure", "budget_execution"] {
        let svg = std::fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        assert!(svg.trim_start().starts_with("<svg") || svg.contains("<svg "), "{name}.svg is not SVG");
        assert!(svg.trim_end().ends_with("</svg>"), "{name}.svg is not a whole document");
        let png = std::fs::read(charts.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png signature");
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert!(width >= 400 && height >= 300, "{name}.png is {width}x{height}");
    }
    let health = std::fs::read_to_string(charts.join("fund_health.svg")).unwrap();
    assert!(health.contains("payable months") && health.contains("amber") && health.contains("red"), "bands drawn");
    let regions = std::fs::read_to_string(charts.join("income_expenditure.svg")).unwrap();
    assert!(regions.contains("Lanzhou") && regions.contains("Gannan"), "one series per region");
}

#[test]
fn configuration_flags_beat_environment_beat_file_beat_defaults() {
    let dir = scratch("config");
    let file = dir.join("fundledger.toml");
    std::fs::write(&file, "data_dir = \"/from/file\"\nlisten = \"127.0.0.1:1111\"\nsnapshot_every_records = 77\n")
        .unwrap();
    let output = bin()
        .args(["serve", "--check-config", "--config"])
        .arg(&file)
        .args(["--data-dir", "/from/flag"])
        .env("FUNDLEDGER_LISTEN", "127.0.0.1:2222")
        .env("FUNDLEDGER_DATA_DIR", "/from/env")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("data_dir = /from/flag (flag or environment)"), "flag beats env and file:\n{stdout}");
    assert!(stdout.contains("listen = 127.0.0.1:2222 (flag or environment)"), "env beats file:\n{stdout}");
    assert!(stdout.contains("snapshot_every_records = 77 (configuration file)"), "file beats default:\n{stdout}");
    assert!(stdout.contains("policy = the shipped Gansu policy (default)"), "{stdout}");
    std::fs::write(&file, "listen = \"127.0.0.1:1111\"\nlisen = \"typo\"\n").unwrap();
    let output = bin().args(["serve", "--check-config", "--config"]).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).1.contains("line 2"), "{}", text(&output).1);
}

#[test]
fn graceful_shutdown_keeps_every_acknowledged_command() {
    use fundledger_api::pb;
    let dir = scratch("shutdown");
    let data = dir.join("data");
    let mut server = bin()
        .args(["serve", "--insecure-no-auth", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("FUNDLEDGER_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // The server logs "serving listen=ADDR" once the port accepts connections.
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server exited before serving").unwrap();
        if let Some(rest) = line.split("listen=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let acknowledged: Vec<u64> = runtime.block_on(async {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let mut client =
            pb::ledger_commands_client::LedgerCommandsClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
                r.metadata_mut().insert("x-fundledger-role", "region_tax_bureau".parse().unwrap());
                r.metadata_mut().insert("x-fundledger-region", "620100".parse().unwrap());
                Ok(r)
            });
        let mut positions = Vec::new();
        for i in 0..40 {
            let reply = client
                .record_collection(pb::RecordCollectionRequest {
                    command_id: format!("shutdown-{i}"),
                    region: "620100".into(),
                    period: "2024-03".into(),
                    category: pb::IncomeCategory::Premium as i32,
                    amount: "100.00".into(),
                    tax_batch: format!("TB-SHUT-{i}"),
                    trace: None,
                })
                .await
                .unwrap()
                .into_inner();
            positions.extend(reply.positions);
        }
        positions
    });
    assert_eq!(acknowledged, (1..=40).collect::<Vec<_>>());
    // Close the client's connection, as a finished client does.
    drop(runtime);
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());
    // Drain the log so the server never blocks on a full pipe while stopping.
    for _ in lines.by_ref() {}
    let exit = server.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    // Every acknowledged command is in the log, and a snapshot was written at the head.
    let output = bin().arg("verify").arg("--data-dir").arg(&data).output().unwrap();
    assert!(output.status.success(), "{}", text(&output).1);
    assert!(text(&output).0.contains("verified: 40 records"), "{}", text(&output).0);
    let snapshots: Vec<_> =
        std::fs::read_dir(data.join("snapshots")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        snapshots.iter().any(|n| n.to_string_lossy() == format!("snapshot-{:020}.fls", 40)),
        "a snapshot at the head: {snapshots:?}"
    );
}
