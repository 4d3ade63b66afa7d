//! The `fundledger` binary: parses arguments, wires the crates together, runs, and maps errors to
//! exit codes (0 ok, 1 the ledger says no, 2 usage or configuration error). No ledger logic
//! lives here: every command is one call into `fundledger_cli` or `fundledger_api`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use fundledger_cli::{CliError, DataDir};
use fundledger_domain::Policy;

/// fundledger: an event-sourced, hash-chained ledger for a provincially pooled work-injury
/// insurance fund.
#[derive(Debug, Parser)]
#[command(name = "fundledger", version, about, long_about = None)]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, clap::Args)]
struct PolicyArg {
    /// Policy file (TOML); the shipped Gansu policy when omitted.
    #[arg(long, env = "FUNDLEDGER_POLICY")]
    policy: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a policy file and print what it configures.
    Policy {
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Write a realistic, deterministic multi-year fund history into an empty data directory.
    Demo {
        #[arg(long, default_value = "./data", env = "FUNDLEDGER_DATA_DIR")]
        data_dir: PathBuf,
        /// Seed of the history: the same seed gives the same log and head hash.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Years of history from the reform date.
        #[arg(long, default_value_t = 3)]
        years: u16,
        /// 1 is the fund's realistic size; larger values multiply beneficiaries (benchmarks).
        #[arg(long, default_value_t = 1)]
        scale: u32,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Offline audit: check every CRC and the whole hash chain of a data directory.
    Verify {
        #[arg(long, default_value = "./data", env = "FUNDLEDGER_DATA_DIR")]
        data_dir: PathBuf,
        /// Hashing threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        policy: PolicyArg,
    },
}

fn load_policy(arg: &PolicyArg) -> Result<Arc<Policy>, CliError> {
    match &arg.policy {
        Some(path) => Policy::from_path(path).map(Arc::new).map_err(|e| CliError::Config(e.to_string())),
        None => Ok(Arc::new(Policy::gansu())),
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Policy { policy } => {
            println!("{}", load_policy(&policy)?.summary());
        }
        Command::Demo { data_dir, seed, years, scale, policy } => {
            let policy = load_policy(&policy)?;
            let config = fundledger_demo::DemoConfig { seed, years, scale };
            let summary = fundledger_cli::demo::run(&DataDir::new(data_dir), policy, config, true)?;
            println!("events: {}", summary.events);
            println!("head hash: {}", summary.head_hash_hex);
            println!("time: {:.1} s", summary.elapsed.as_secs_f64());
        }
        Command::Verify { data_dir, threads, policy } => {
            let policy = load_policy(&policy)?;
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let summary = fundledger_cli::verify::run(&DataDir::new(data_dir), policy, threads)?;
            println!("verified: {} records, every CRC and hash-chain link intact", summary.records);
            println!("head hash: {}", summary.head_hash_hex);
        }
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FUNDLEDGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fundledger: {err}");
            ExitCode::from(err.exit_code() as u8)
        }
    }
}
