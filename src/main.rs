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
    /// Serve the gRPC API on the embedded store.
    Serve(ServeArgs),
    /// Mint a bearer token for a role (and region) and print the principals-file line.
    Token {
        /// A name for the principal, e.g. "lanzhou-agency".
        #[arg(long)]
        name: String,
        /// One of: region_tax_bureau, region_finance, region_agency, provincial_hrss,
        /// provincial_finance, provincial_agency, auditor, admin.
        #[arg(long)]
        role: String,
        /// Six-digit region code, for region roles.
        #[arg(long)]
        region: Option<String>,
    },
    /// Copy a ledger between backends (data directory or esdb:// URL), keeping positions and
    /// hashes; resumes an interrupted copy and verifies the head hash at the end.
    Migrate {
        /// Source: a data directory or an esdb:// connection string.
        #[arg(long)]
        from: String,
        /// Target: a data directory or an esdb:// connection string.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Rebuild every view from the log (as of a position or a recorded time) and write it out.
    Rebuild {
        #[arg(long, default_value = "./data", env = "FUNDLEDGER_DATA_DIR")]
        data_dir: PathBuf,
        /// Fold records up to and including this position.
        #[arg(long, conflicts_with = "as_of_time")]
        as_of_position: Option<u64>,
        /// Fold records recorded at or before this time (RFC 3339, e.g. 2025-06-30T23:59:59+08:00).
        #[arg(long)]
        as_of_time: Option<String>,
        /// Output format: json or csv.
        #[arg(long, default_value = "json")]
        format: String,
        /// Directory to write the views into.
        #[arg(long, default_value = "./rebuild")]
        out: PathBuf,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Export records as JSON Lines (position, hashes, decoded event) for auditors' own tools.
    Export {
        #[arg(long, default_value = "./data", env = "FUNDLEDGER_DATA_DIR")]
        data_dir: PathBuf,
        /// First position to export.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last position to export (default: the head).
        #[arg(long)]
        to: Option<u64>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Include each stored payload, in hex, so the chain can be re-verified from the file.
        #[arg(long)]
        payload_hex: bool,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Print the fund's tables (two lines, health, budget execution, supervision) and draw charts.
    Report {
        /// Read a data directory (offline) ...
        #[arg(long, default_value = "./data", env = "FUNDLEDGER_DATA_DIR")]
        data_dir: PathBuf,
        /// ... or a running server (http://host:port), folding its ReadEvents stream locally.
        #[arg(long)]
        server: Option<String>,
        /// Bearer token for --server (an auditor's or a provincial role's).
        #[arg(long, env = "FUNDLEDGER_TOKEN")]
        token: Option<String>,
        /// Write the charts (SVG and PNG) into this directory.
        #[arg(long)]
        charts: Option<PathBuf>,
        /// Show this region's months in the two-lines table.
        #[arg(long)]
        region: Option<String>,
        /// Markdown tables instead of aligned text.
        #[arg(long)]
        markdown: bool,
        #[command(flatten)]
        policy: PolicyArg,
    },
    /// Load generator: drive a running server (loopback only) and report throughput and latency.
    Load {
        /// Server URL, e.g. http://127.0.0.1:50051.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// unary (one RecordPayment per call) or batch (ExecuteBatch).
        #[arg(long, default_value = "unary")]
        mode: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Commands per ExecuteBatch call (batch mode).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        /// Payments to send in all.
        #[arg(long, default_value_t = 100_000)]
        commands: u64,
        /// Stop after this many seconds, whatever was sent.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// The region whose agency pays.
        #[arg(long, default_value = "620100")]
        region: String,
        /// Tokens file (`role region token` per line, as `serve --demo` writes); without it the
        /// generator claims roles, which only an --insecure-no-auth server accepts.
        #[arg(long)]
        tokens: Option<PathBuf>,
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

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Data directory [env FUNDLEDGER_DATA_DIR; config data_dir; default ./data].
    #[arg(long, env = "FUNDLEDGER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [env FUNDLEDGER_LISTEN; config listen; default 127.0.0.1:50051].
    #[arg(long, env = "FUNDLEDGER_LISTEN")]
    listen: Option<String>,
    /// Policy file [env FUNDLEDGER_POLICY; config policy; default: the shipped Gansu policy].
    #[arg(long, env = "FUNDLEDGER_POLICY")]
    policy: Option<PathBuf>,
    /// Principals file with token hashes [env FUNDLEDGER_PRINCIPALS; config principals].
    #[arg(long, env = "FUNDLEDGER_PRINCIPALS")]
    principals: Option<PathBuf>,
    /// TLS certificate (PEM) [env FUNDLEDGER_TLS_CERT; config tls.cert].
    #[arg(long, env = "FUNDLEDGER_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) [env FUNDLEDGER_TLS_KEY; config tls.key].
    #[arg(long, env = "FUNDLEDGER_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// CA (PEM) that client certificates must chain to [env FUNDLEDGER_TLS_CLIENT_CA; config tls.client_ca].
    #[arg(long, env = "FUNDLEDGER_TLS_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
    /// Write a snapshot after this many records [env FUNDLEDGER_SNAPSHOT_EVERY; config snapshot_every_records].
    #[arg(long, env = "FUNDLEDGER_SNAPSHOT_EVERY")]
    snapshot_every: Option<u64>,
    /// Store: omit for the embedded file store, or an esdb:// URL [env FUNDLEDGER_STORE; config store].
    #[arg(long, env = "FUNDLEDGER_STORE")]
    store: Option<String>,
    /// Configuration file [env FUNDLEDGER_CONFIG; default ./fundledger.toml if present].
    #[arg(long, env = "FUNDLEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// Plaintext without tokens; refused unless the listen address is loopback.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Seed the demo history into an empty data directory and serve with demo tokens.
    #[arg(long)]
    demo: bool,
    /// Print the effective configuration, and where each value came from, then exit.
    #[arg(long)]
    check_config: bool,
}

fn serve(args: ServeArgs) -> Result<(), CliError> {
    use fundledger_cli::config;
    let file = config::read_file(args.config.as_deref())?;
    let overrides = config::Overrides {
        data_dir: args.data_dir,
        listen: args.listen,
        policy: args.policy,
        principals: args.principals,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        tls_client_ca: args.tls_client_ca,
        snapshot_every_records: args.snapshot_every,
        store: args.store,
    };
    let settings = config::resolve(overrides, file)?;
    if args.check_config {
        print!("{}", config::describe(&settings));
        return Ok(());
    }
    let policy = load_policy(&PolicyArg { policy: settings.policy.as_ref().map(|(p, _)| p.clone()) })?;
    let options = fundledger_cli::serve::ServeOptions { insecure_no_auth: args.insecure_no_auth, demo: args.demo };
    fundledger_cli::serve::run(settings, policy, options)
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
        Command::Serve(args) => serve(args)?,
        Command::Token { name, role, region } => {
            let role = fundledger_domain::Role::parse(&role)
                .ok_or_else(|| CliError::Config(format!("role {role:?} is not one of {}", role_names())))?;
            let region = region
                .map(|r| fundledger_domain::RegionCode::parse(&r).map_err(|e| CliError::Config(e.to_string())))
                .transpose()?;
            let minted =
                fundledger_api::mint_token(&name, role, region).map_err(|e| CliError::Config(e.to_string()))?;
            println!("token (give it to the principal; it is shown only once):");
            println!("{}", minted.token);
            println!();
            println!("line for the principals file:");
            print!("{}", minted.principals_line);
        }
        Command::Migrate { from, to, policy } => {
            use fundledger_cli::migrate::{Endpoint, MigrateOptions};
            let policy = load_policy(&policy)?;
            let options = MigrateOptions {
                fund_id: policy.fund_id.clone(),
                show_progress: true,
                esdb: Default::default(),
                records_max: None,
            };
            let summary = fundledger_cli::migrate::run(&Endpoint::parse(&from), &Endpoint::parse(&to), &options)?;
            println!(
                "copied {} records ({} were already there); target head {} with hash {}, equal to the source's",
                summary.records_copied, summary.resumed_from, summary.target_head, summary.head_hash_hex
            );
        }
        Command::Rebuild { data_dir, as_of_position, as_of_time, format, out, policy } => {
            use fundledger_cli::rebuild;
            let policy = load_policy(&policy)?;
            let as_of = match (as_of_position, as_of_time) {
                (Some(p), _) => fundledger_projections::AsOf::Position(p),
                (None, Some(t)) => fundledger_projections::AsOf::Time(rebuild::parse_as_of_time(&t)?),
                (None, None) => fundledger_projections::AsOf::Head,
            };
            let format: rebuild::OutputFormat = format.parse()?;
            let output = rebuild::run(&DataDir::new(data_dir), policy, as_of, format, &out, true)?;
            println!(
                "rebuilt {} events through position {} (hash {}) into {}",
                output.summary.events,
                output.summary.through_position,
                output.through_hash_hex,
                out.display()
            );
        }
        Command::Export { data_dir, from, to, out, payload_hex, policy } => {
            let policy = load_policy(&policy)?;
            let data = DataDir::new(data_dir);
            let lines = match out {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(|source| CliError::Io {
                        what: "creating export file",
                        path: path.clone(),
                        source,
                    })?;
                    let mut writer = std::io::BufWriter::new(file);
                    fundledger_cli::export::run(&data, policy, from, to, payload_hex, &mut writer, true)?
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut writer = std::io::BufWriter::new(stdout.lock());
                    fundledger_cli::export::run(&data, policy, from, to, payload_hex, &mut writer, false)?
                }
            };
            eprintln!("exported {lines} records");
        }
        Command::Report { data_dir, server, token, charts, region, markdown, policy } => {
            use fundledger_cli::report;
            let policy = load_policy(&policy)?;
            let views = match server {
                Some(url) => fundledger_cli::remote::fold_views(&url, token.as_deref(), policy.clone())?,
                None => {
                    fundledger_cli::rebuild::rebuild_views(
                        &DataDir::new(data_dir),
                        policy.clone(),
                        fundledger_projections::AsOf::Head,
                        true,
                    )?
                    .views
                }
            };
            let data = report::ReportData::from_views(&views, &policy);
            let region = region
                .map(|r| fundledger_domain::RegionCode::parse(&r).map_err(|e| CliError::Config(e.to_string())))
                .transpose()?;
            let options = report::ReportOptions { region, markdown, ..report::ReportOptions::default() };
            let stdout = std::io::stdout();
            let written = report::run_with(&data, &options, charts.as_deref(), &mut stdout.lock())?;
            for path in written {
                eprintln!("chart: {}", path.display());
            }
        }
        Command::Load { server, mode, clients, batch, commands, seconds, region, tokens } => {
            use fundledger_api::load::{LoadAuth, LoadConfig, LoadMode};
            let mode = match mode.as_str() {
                "unary" => LoadMode::UnaryPayment { clients },
                "batch" => LoadMode::Batch { commands_per_call: batch, clients },
                other => return Err(CliError::Config(format!("mode {other:?} is not unary or batch"))),
            };
            let auth = match tokens {
                Some(path) => {
                    LoadAuth::from_tokens_file(&path, &region).map_err(|e| CliError::Config(e.to_string()))?
                }
                None => LoadAuth::InsecureClaims,
            };
            let config = LoadConfig {
                url: server,
                auth,
                mode,
                commands,
                duration_max: std::time::Duration::from_secs(seconds),
                region,
            };
            let runtime = tokio_runtime()?;
            let report =
                runtime.block_on(fundledger_api::load::run(config)).map_err(|e| CliError::Config(e.to_string()))?;
            println!(
                "{} commands accepted in {:.2} s: {:.0} commands/s; latency per call p50 {:?}, p90 {:?}, p99 {:?}, max {:?}; {} failed calls",
                report.commands,
                report.elapsed.as_secs_f64(),
                report.commands_per_second,
                report.p50,
                report.p90,
                report.p99,
                report.max,
                report.failed_calls
            );
        }
        Command::Verify { data_dir, threads, policy } => {
            let policy = load_policy(&policy)?;
            let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let summary = fundledger_cli::verify::run(&DataDir::new(data_dir), policy, threads, true)?;
            println!("verified: {} records, every CRC and hash-chain link intact", summary.records);
            println!("head hash: {}", summary.head_hash_hex);
        }
    }
    Ok(())
}

fn tokio_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Config(format!("cannot start the async runtime: {e}")))
}

fn role_names() -> String {
    fundledger_domain::Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FUNDLEDGER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
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
