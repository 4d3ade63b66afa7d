//! Measures the API on this machine, client included: starts the real server on 127.0.0.1:0 over
//! the file log in a temporary directory (fdatasync per commit, as in production), then runs the
//! load generator against it.
//!
//! `cargo run --release -p fundledger-api --example load_local -- unary 64 200000`
//! `cargo run --release -p fundledger-api --example load_local -- batch 1000 1000000 [clients]`

use std::sync::Arc;
use std::time::Duration;

use fundledger_api::auth::Auth;
use fundledger_api::load::{LoadAuth, LoadConfig, LoadMode};
use fundledger_domain::Policy;
use fundledger_engine::{Core, CoreOptions, Engine, EngineConfig, HashIds, SystemClock};
use fundledger_store::{FileLog, FileOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let mode = match args.first().map(String::as_str) {
        Some("batch") => LoadMode::Batch { commands_per_call: arg(1, 1_000) as usize, clients: arg(3, 2) as usize },
        _ => LoadMode::UnaryPayment { clients: arg(1, 64) as usize },
    };
    let commands = arg(2, 200_000);

    let dir = tempfile::tempdir()?;
    let (log, _) = FileLog::open(dir.path().join("log"), "CN-620000-work-injury", FileOptions::default())?;
    let (core, _) = Core::open(
        Arc::new(log),
        Arc::new(Policy::gansu()),
        CoreOptions::default(),
        Box::new(SystemClock),
        Box::new(HashIds::new(b"load")),
        &mut |_, _| {},
    )?;
    let engine = Arc::new(Engine::start(core, EngineConfig::default()));
    let (principals, _) = fundledger_api::demo_principals(dir.path())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = fundledger_api::ServeConfig { listen: addr, auth: Auth::Tokens(principals), tls: None };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fundledger_api::serve_on(engine.clone(), config, listener, async move {
        let _ = stopped.await;
    }));

    let report = fundledger_api::load::run(LoadConfig {
        url: format!("http://{addr}"),
        auth: LoadAuth::from_tokens_file(&dir.path().join("tokens.txt"), "620100")?,
        mode,
        commands,
        duration_max: Duration::from_secs(300),
        region: "620100".into(),
    })
    .await?;
    println!("{report}");
    if let Some(median) = engine.stats().median_batch_commands() {
        println!("writer: median {median} commands per commit (one append, one fdatasync)");
    }
    // CPU time per thread, per command: steadier than throughput on a shared machine, and it
    // shows which thread bounds the figure.
    for (name, seconds) in thread_cpu_seconds() {
        println!("cpu {name}: {seconds:.2} s, {:.2} us/command", seconds * 1e6 / commands as f64);
    }
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// CPU seconds (user + system) of this process's threads, summed by thread name (Linux; empty
/// elsewhere).
fn thread_cpu_seconds() -> Vec<(String, f64)> {
    let mut by_name: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    // Clock ticks per second: 100 on every Linux this runs on.
    const TICKS_PER_S: f64 = 100.0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        // "pid (comm) state ..."; utime and stime are fields 14 and 15.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        *by_name.entry(name).or_default() += (ticks(11) + ticks(12)) / TICKS_PER_S;
    }
    by_name.into_iter().collect()
}
