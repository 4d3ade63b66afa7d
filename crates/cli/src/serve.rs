//! `fundledger serve`: the gRPC server on the embedded store. Opens the ledger (snapshot, then the
//! log's tail), starts the writer, serves until SIGINT or SIGTERM, then lets in-flight commands
//! finish, writes a snapshot and returns. With `demo`, an empty data directory is first seeded
//! with the demo history and demo tokens are written beside it.

use std::path::PathBuf;
use std::sync::Arc;

use fundledger_api::{Auth, Principals, ServeConfig, TlsConfig};
use fundledger_demo::DemoConfig;
use fundledger_domain::Policy;
use fundledger_engine::{Core, Engine, EngineConfig};
use fundledger_store::EventLog;

use crate::config::Settings;
use crate::data::DataDir;
use crate::error::CliError;

/// How long in-flight calls may run after a shutdown signal before connections are closed.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The demo tokens' folder inside the data directory.
pub const DEMO_TOKENS_DIR: &str = "demo-tokens";

/// How to serve, beyond the resolved settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub insecure_no_auth: bool,
    /// Seed demo data into an empty data directory and serve with demo tokens.
    pub demo: bool,
}

/// Runs the server until a shutdown signal; returns after the final snapshot.
pub fn run(settings: Settings, policy: Arc<Policy>, options: ServeOptions) -> Result<(), CliError> {
    let data = DataDir::new(settings.data_dir.0.clone());
    if let Some(url) = settings.store.clone() {
        if !fundledger_store_esdb::is_esdb_url(&url) {
            return Err(CliError::Config(format!(
                "store {url:?} is not an esdb:// connection string; omit --store for the embedded file store"
            )));
        }
        if options.demo {
            return Err(CliError::Config("--demo seeds the embedded store only; migrate a demo ledger instead".into()));
        }
        // Connect before any other TLS set-up: the EventStoreDB client installs its own rustls
        // crypto provider process-wide (see docs/deploy-eventstoredb.md).
        let log = fundledger_store_esdb::EsdbLog::connect(&url, &policy.fund_id, Default::default())
            .map_err(|e| CliError::Config(format!("cannot open {}: {e}", fundledger_store_esdb::redact_url(&url))))?;
        let core = data.open_core_on(Arc::new(log), policy, settings.snapshot_every_records.0)?;
        return serve_core(core, &settings, &data, &options);
    }
    if options.demo && data.is_empty_ledger() {
        eprintln!("fundledger: {} is empty; writing the demo history first (seed 1, 3 years)", data.root().display());
        let summary = crate::demo::run(&data, policy.clone(), DemoConfig::default(), true)?;
        eprintln!("fundledger: demo history written: {} events, head {}", summary.events, summary.head_hash_hex);
    }
    let core = data.open_core(policy, settings.snapshot_every_records.0)?;
    serve_core(core, &settings, &data, &options)
}

fn serve_core<L: EventLog + 'static>(
    core: Core<L>,
    settings: &Settings,
    data: &DataDir,
    options: &ServeOptions,
) -> Result<(), CliError> {
    let auth = auth_for(settings, data, options)?;
    let tls = settings.tls_cert.clone().zip(settings.tls_key.clone()).map(|(cert, key)| TlsConfig {
        cert_pem_path: cert,
        key_pem_path: key,
        client_ca_pem_path: settings.tls_client_ca.clone(),
    });
    let listen = settings.listen.0;
    let head = core.head().position;
    let engine = Arc::new(Engine::start(core, EngineConfig::default()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("fundledger-api")
        .build()
        .map_err(|e| CliError::Config(format!("cannot start the async runtime: {e}")))?;
    let config = ServeConfig { listen, auth, tls };
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::Config(format!("cannot listen on {listen}: {e}")))?;
        let bound = listener.local_addr().map_err(|e| CliError::Config(format!("cannot listen on {listen}: {e}")))?;
        if options.demo {
            print_demo_help(data, bound);
        }
        // Scripts and tests wait for this line: from here on the port accepts connections.
        tracing::info!(listen = %bound, head, tls = config.tls.is_some(), "serving");
        // After the signal, in-flight calls get a grace period; clients that keep connections
        // open beyond it (idle channels, long streams) do not hold the shutdown forever.
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: no new calls; in-flight calls may finish");
            let _ = signalled_tx.send(());
        };
        let grace_over = async move {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = fundledger_api::serve_on(engine.clone(), config, listener, signal) => {
                served.map_err(|e| CliError::Config(e.to_string()))
            }
            () = grace_over => {
                tracing::warn!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "connections still open after the grace period; closing them");
                Ok(())
            }
        }
    });
    tracing::info!("stopping: finishing queued commands and writing a snapshot");
    let stopped = engine.shutdown();
    served?;
    stopped?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn auth_for(settings: &Settings, data: &DataDir, options: &ServeOptions) -> Result<Auth, CliError> {
    if options.insecure_no_auth {
        return Ok(Auth::InsecureNoAuth);
    }
    if let Some((path, _)) = &settings.principals {
        return Principals::load(path).map(Auth::Tokens).map_err(|e| CliError::Config(e.to_string()));
    }
    if options.demo {
        let dir = data.root().join(DEMO_TOKENS_DIR);
        let principals_path = dir.join("principals.toml");
        let principals = if principals_path.exists() {
            Principals::load(&principals_path)
        } else {
            fundledger_api::demo_principals(&dir).map(|(p, _)| p)
        };
        return principals.map(Auth::Tokens).map_err(|e| CliError::Config(e.to_string()));
    }
    Err(CliError::Config(
        "no principals file: pass --principals FILE (mint tokens with `fundledger token`), \
         or --insecure-no-auth on a loopback address"
            .into(),
    ))
}

fn print_demo_help(data: &DataDir, listen: std::net::SocketAddr) {
    let tokens: PathBuf = data.root().join(DEMO_TOKENS_DIR).join("tokens.txt");
    let t = tokens.display();
    println!();
    println!("fundledger is serving the demo ledger on {listen} (plaintext, loopback only).");
    println!("Demo tokens, one per role: {t}");
    println!();
    println!("Ask for the two-lines view of Lanzhou as an auditor:");
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $(awk '$1==\"auditor\"{{print $3}}' {t})\" \\\n    -d '{{\"filter\": {{\"region\": \"620100\"}}}}' {listen} fundledger.v1.LedgerQueries/GetTwoLines"
    );
    println!("Read the report and draw the charts (in another terminal; the server keeps running):");
    println!(
        "  ./target/release/fundledger report --server http://{listen} --token \"$(awk '$1==\"auditor\"{{print $3}}' {t})\" --charts charts"
    );
    println!("Stop with Ctrl-C: queued commands finish and a snapshot is written.");
    println!();
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
