//! The load generator behind `fundledger load`: sets up the ledger state it needs through the
//! API (budget, collection, transfer, a reviewed and allocated plan), then fires `RecordPayment`
//! commands, one per call from many concurrent clients or many per `ExecuteBatch` call, and
//! reports throughput and latency percentiles. Loopback targets only: it is a measuring tool,
//! not a way to flood someone else's server.

// Limits are lower snake case with their unit, as in `limits`.
#![allow(non_upper_case_globals)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fundledger_domain::{Money, Period, Role};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::pb;
use crate::pb::ledger_commands_client::LedgerCommandsClient;

/// Most commands one run may send.
pub const load_commands_max: u64 = 10_000_000;
/// Longest one run may take.
pub const load_duration_max: Duration = Duration::from_secs(600);
/// Concurrent unary clients share this many HTTP/2 connections (one per this many clients).
const clients_per_connection: usize = 8;
/// Each payment is for this many fen (1.00 yuan), so the plan line is the count in yuan.
const payment_fen: i64 = 100;

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// One `RecordPayment` per call, from `clients` concurrent clients.
    UnaryPayment { clients: usize },
    /// `commands_per_call` payments per `ExecuteBatch`, from `clients` concurrent clients.
    Batch { commands_per_call: usize, clients: usize },
}

/// How the generator authenticates: a token per role it needs, or claimed roles on an
/// `--insecure-no-auth` server.
#[derive(Debug, Clone)]
pub enum LoadAuth {
    Tokens(HashMap<Role, String>),
    InsecureClaims,
}

impl LoadAuth {
    /// Reads a tokens file as `demo_principals` writes it: `role region token` per line; for
    /// region roles only the line for `region` is used.
    pub fn from_tokens_file(path: &Path, region: &str) -> Result<LoadAuth, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| LoadError::Setup(format!("{}: {e}", path.display())))?;
        let mut tokens = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [role, line_region, token] = fields[..] else { continue };
            let Some(role) = Role::parse(role) else { continue };
            if !role.is_regional() || line_region == region {
                tokens.insert(role, token.to_string());
            }
        }
        Ok(LoadAuth::Tokens(tokens))
    }
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://127.0.0.1:PORT` (loopback only).
    pub url: String,
    pub auth: LoadAuth,
    pub mode: LoadMode,
    /// Payments to send (at most [`load_commands_max`]).
    pub commands: u64,
    /// Stop sending after this long, whatever was sent (at most [`load_duration_max`]).
    pub duration_max: Duration,
    /// The region whose agency pays.
    pub region: String,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub mode: LoadMode,
    /// Commands accepted.
    pub commands: u64,
    /// Calls that failed (each counts its commands as not accepted).
    pub failed_calls: u64,
    pub elapsed: Duration,
    pub commands_per_second: f64,
    /// Per-call latency percentiles.
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:?}: {} commands in {:.2} s = {:.0} commands/s; per call p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} failed calls",
            self.mode,
            self.commands,
            self.elapsed.as_secs_f64(),
            self.commands_per_second,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            self.failed_calls
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the load generator targets loopback addresses only, not {0}")]
    NotLoopback(String),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("cannot connect to {url}: {message}")]
    Connect { url: String, message: String },
    #[error("setting up the ledger for the run: {0}")]
    Setup(String),
}

#[derive(Clone)]
struct Claims(Vec<(&'static str, MetadataValue<Ascii>)>);

impl tonic::service::Interceptor for Claims {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        for (name, value) in &self.0 {
            request.metadata_mut().insert(*name, value.clone());
        }
        Ok(request)
    }
}

type Client = LedgerCommandsClient<InterceptedService<Channel, Claims>>;

fn client(channel: Channel, auth: &LoadAuth, role: Role, region: &str) -> Result<Client, LoadError> {
    let value = |text: &str| text.parse::<MetadataValue<Ascii>>().map_err(|e| LoadError::Config(e.to_string()));
    let claims = match auth {
        LoadAuth::Tokens(tokens) => {
            let token =
                tokens.get(&role).ok_or_else(|| LoadError::Config(format!("no token for role {}", role.as_str())))?;
            vec![("authorization", value(&format!("Bearer {token}"))?)]
        }
        LoadAuth::InsecureClaims => {
            let mut claims = vec![(crate::auth::INSECURE_ROLE_HEADER, value(role.as_str())?)];
            if role.is_regional() {
                claims.push((crate::auth::INSECURE_REGION_HEADER, value(region)?));
            }
            claims
        }
    };
    Ok(LedgerCommandsClient::with_interceptor(channel, Claims(claims))
        .max_encoding_message_size(crate::limits::message_bytes_max))
}

fn check_loopback(url: &str) -> Result<(), LoadError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| LoadError::NotLoopback(url.into()))?;
    let host = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback { Ok(()) } else { Err(LoadError::NotLoopback(url.into())) }
}

async fn connect(url: &str) -> Result<Channel, LoadError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| LoadError::Connect { url: url.into(), message: e.to_string() })?;
    endpoint
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| LoadError::Connect { url: url.into(), message: e.to_string() })
}

fn setup_error(step: &str, status: tonic::Status) -> LoadError {
    LoadError::Setup(format!("{step}: {} {}", crate::errors::code_name(status.code()), status.message()))
}

/// The state payments need: a budget, income collected and transferred, and a reviewed plan
/// allocated in full with a medical line covering every payment. Returns the period used.
async fn set_up(channel: &Channel, config: &LoadConfig, run: &str) -> Result<Period, LoadError> {
    let region = config.region.as_str();
    let c = |role| client(channel.clone(), &config.auth, role, region);
    let total = Money::from_fen(payment_fen * config.commands as i64).map_err(|e| LoadError::Config(e.to_string()))?;
    let amount = total.to_string();
    // A fresh period per run: a region has one open plan per period. Runs are told apart by
    // the wall-clock second they start in, mapped onto months after the reform.
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let period = Period::from_index(Period::new(2030, 1).expect("valid").index() + (seconds % 1_200) as u32)
        .ok_or_else(|| LoadError::Config("no period left".into()))?;
    let id = |what: &str| format!("load-{run}-{what}");
    let trace = || None;
    c(Role::ProvincialHrss)?
        .adopt_budget(pb::AdoptBudgetRequest {
            command_id: id("budget"),
            region: region.into(),
            year: u32::from(period.year()),
            income: vec![],
            expenditure: vec![pb::ExpenditureAmount {
                category: pb::ExpenditureCategory::Medical as i32,
                amount: "100000000000.00".into(),
            }],
            trace: trace(),
        })
        .await
        .or_else(|s| {
            if crate::errors::error_info(&s).is_some_and(|(r, _)| r == "BUDGET_ALREADY_ADOPTED") {
                Ok(tonic::Response::new(Default::default()))
            } else {
                Err(s)
            }
        })
        .map_err(|s| setup_error("budget", s))?;
    c(Role::RegionTaxBureau)?
        .record_collection(pb::RecordCollectionRequest {
            command_id: id("collect"),
            region: region.into(),
            period: period.to_string(),
            category: pb::IncomeCategory::Premium as i32,
            amount: amount.clone(),
            tax_batch: id("tb"),
            trace: trace(),
        })
        .await
        .map_err(|s| setup_error("collection", s))?;
    c(Role::RegionFinance)?
        .record_transfer(pb::RecordTransferRequest {
            command_id: id("transfer"),
            region: region.into(),
            period: period.to_string(),
            amount: amount.clone(),
            trace: trace(),
        })
        .await
        .map_err(|s| setup_error("transfer", s))?;
    let plan_id = id("plan");
    c(Role::RegionAgency)?
        .submit_plan(pb::SubmitPlanRequest {
            command_id: id("submit"),
            plan_id: plan_id.clone(),
            region: region.into(),
            period: period.to_string(),
            lines: vec![pb::ExpenditureAmount {
                category: pb::ExpenditureCategory::Medical as i32,
                amount: amount.clone(),
            }],
            trace: trace(),
        })
        .await
        .map_err(|s| setup_error("plan", s))?;
    c(Role::ProvincialHrss)?
        .approve_plan(pb::ApprovePlanRequest { command_id: id("approve"), plan_id: plan_id.clone(), trace: trace() })
        .await
        .map_err(|s| setup_error("approval", s))?;
    c(Role::ProvincialFinance)?
        .review_plan(pb::ReviewPlanRequest { command_id: id("review"), plan_id: plan_id.clone(), trace: trace() })
        .await
        .map_err(|s| setup_error("review", s))?;
    c(Role::ProvincialAgency)?
        .allocate_funds(pb::AllocateFundsRequest { command_id: id("allocate"), plan_id, amount, trace: trace() })
        .await
        .map_err(|s| setup_error("allocation", s))?;
    Ok(period)
}

/// The `n`th payment of a run: ids `lp-<run>-<n>`, beneficiary `LB-<n>`. Built without the
/// formatting machinery: the generator shares the machine with the server it measures, so its
/// own cost per command should be small.
fn payment(run: &str, region: &str, period: &str, amount: &str, n: u64) -> pb::RecordPaymentRequest {
    let mut id = String::with_capacity(run.len() + 24);
    id.push_str("lp-");
    id.push_str(run);
    id.push('-');
    push_decimal(&mut id, n);
    let mut beneficiary = String::with_capacity(24);
    beneficiary.push_str("LB-");
    push_decimal(&mut beneficiary, n);
    pb::RecordPaymentRequest {
        command_id: id.clone(),
        payment_id: id,
        region: region.into(),
        period: period.into(),
        benefit: pb::BenefitType::MedicalTreatment as i32,
        beneficiary,
        amount: amount.into(),
        basis: None,
        trace: None,
    }
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

/// Runs the load and reports.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    check_loopback(&config.url)?;
    if config.commands == 0 || config.commands > load_commands_max {
        return Err(LoadError::Config(format!("commands must be 1-{load_commands_max}")));
    }
    let duration_max = config.duration_max.min(load_duration_max);
    let (clients, per_call) = match config.mode {
        LoadMode::UnaryPayment { clients } => (clients, 1),
        LoadMode::Batch { commands_per_call, clients } => (clients, commands_per_call),
    };
    if clients == 0 || clients > 1_024 || per_call == 0 || per_call > crate::limits::batch_commands_max {
        return Err(LoadError::Config(format!(
            "clients must be 1-1024 and commands per call 1-{}",
            crate::limits::batch_commands_max
        )));
    }
    let first = connect(&config.url).await?;
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros()
    );
    let period = set_up(&first, &config, &run_id).await?.to_string();

    let mut channels = vec![first];
    for _ in 1..clients.div_ceil(clients_per_connection) {
        channels.push(connect(&config.url).await?);
    }
    let next = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration_max;
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let mut client =
            client(channels[i % channels.len()].clone(), &config.auth, Role::RegionAgency, &config.region)?;
        let (next, accepted, failed) = (next.clone(), accepted.clone(), failed.clone());
        let (run_id, region, period, total) = (run_id.clone(), config.region.clone(), period.clone(), config.commands);
        let amount = Money::from_fen(payment_fen).expect("small").to_string();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let start = next.fetch_add(per_call as u64, Ordering::Relaxed);
                if start >= total || Instant::now() >= deadline {
                    break;
                }
                let end = (start + per_call as u64).min(total);
                let sent = Instant::now();
                let ok = if per_call == 1 {
                    client
                        .record_payment(payment(&run_id, &region, &period, &amount, start))
                        .await
                        .map(|_| 1)
                        .unwrap_or(0)
                } else {
                    let commands = (start..end)
                        .map(|n| pb::BatchCommand {
                            command: Some(pb::batch_command::Command::RecordPayment(payment(
                                &run_id, &region, &period, &amount, n,
                            ))),
                        })
                        .collect();
                    match client.execute_batch(pb::ExecuteBatchRequest { commands }).await {
                        Ok(reply) => reply
                            .into_inner()
                            .outcomes
                            .iter()
                            .filter(|o| matches!(o.result, Some(pb::batch_outcome::Result::Accepted(_))))
                            .count() as u64,
                        Err(_) => 0,
                    }
                };
                latencies.push(sent.elapsed());
                if ok == 0 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                accepted.fetch_add(ok, Ordering::Relaxed);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.map_err(|e| LoadError::Setup(format!("a client task failed: {e}")))?);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies.get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default()
    };
    let commands = accepted.load(Ordering::Relaxed);
    Ok(LoadReport {
        mode: config.mode,
        commands,
        failed_calls: failed.load(Ordering::Relaxed),
        elapsed,
        commands_per_second: commands as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_are_numbered_in_their_ids() {
        let p = payment("r1", "620100", "2026-11", "1.00", 1_234_567_890_123);
        assert_eq!(p.command_id, "lp-r1-1234567890123");
        assert_eq!(p.payment_id, p.command_id);
        assert_eq!(p.beneficiary, "LB-1234567890123");
        assert_eq!((p.region.as_str(), p.period.as_str(), p.amount.as_str()), ("620100", "2026-11", "1.00"));
        for n in [0, 9, 10, 99, 100, u64::MAX] {
            let mut text = String::new();
            push_decimal(&mut text, n);
            assert_eq!(text, n.to_string());
        }
    }

    #[test]
    fn only_loopback_targets() {
        for ok in ["http://127.0.0.1:7000", "http://localhost:7000", "http://[::1]:7000", "https://127.0.0.2:1/"] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:7000", "http://example.com:80", "127.0.0.1:7000", "http://[2001:db8::1]:7000"] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }
}
