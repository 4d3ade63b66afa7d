//! End-to-end tests of the gRPC API, and the harness they share: a server on 127.0.0.1:0 over an
//! in-memory log, a token per role, and authenticated clients.

mod audit;
mod authz;
mod errors;
mod month;
mod serving;

use std::collections::HashMap;
use std::sync::Arc;

use fundledger_api::auth::{Auth, Principals, mint_token, token_hash};
use fundledger_api::pb;
use fundledger_api::{ServeConfig, TlsConfig};
use fundledger_domain::{Policy, RegionCode, Role};
use fundledger_engine::{Core, CoreOptions, Engine, EngineConfig, HashIds, SystemClock};
use fundledger_store::MemoryLog;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub const FUND: &str = "CN-620000-work-injury";
pub const LANZHOU: &str = "620100";
pub const JIAYUGUAN: &str = "620200";
pub const JINCHANG: &str = "620300";
/// Regions that get region-role tokens.
pub const TOKEN_REGIONS: &[&str] = &[LANZHOU, JIAYUGUAN, JINCHANG];

pub type Commands = pb::ledger_commands_client::LedgerCommandsClient<InterceptedService<Channel, Bearer>>;
pub type Queries = pb::ledger_queries_client::LedgerQueriesClient<InterceptedService<Channel, Bearer>>;
pub type AuditClient = pb::ledger_audit_client::LedgerAuditClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` (or nothing) to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// Who calls: a role, with a region for region roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Who(pub Role, pub Option<&'static str>);

pub fn tax(region: &'static str) -> Who {
    Who(Role::RegionTaxBureau, Some(region))
}
pub fn finance(region: &'static str) -> Who {
    Who(Role::RegionFinance, Some(region))
}
pub fn agency(region: &'static str) -> Who {
    Who(Role::RegionAgency, Some(region))
}
pub const HRSS: Who = Who(Role::ProvincialHrss, None);
pub const FINANCE: Who = Who(Role::ProvincialFinance, None);
pub const PROVINCIAL_AGENCY: Who = Who(Role::ProvincialAgency, None);
pub const AUDITOR: Who = Who(Role::Auditor, None);

/// Every principal the harness has a token for, region roles in Lanzhou.
pub fn everyone_in_lanzhou() -> Vec<Who> {
    Role::ALL.iter().map(|r| Who(*r, r.is_regional().then_some(LANZHOU))).collect()
}

pub struct TestServer {
    channel: Channel,
    tokens: HashMap<Who, String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<Result<(), fundledger_api::ServeError>>>,
}

pub fn new_engine(config: EngineConfig) -> Arc<Engine<MemoryLog>> {
    let log = Arc::new(MemoryLog::new(FUND).expect("memory log"));
    engine_on(log, config)
}

pub fn engine_on(log: Arc<MemoryLog>, config: EngineConfig) -> Arc<Engine<MemoryLog>> {
    let (core, _) = Core::open(
        log,
        Arc::new(Policy::gansu()),
        CoreOptions::default(),
        Box::new(SystemClock),
        Box::new(HashIds::new(b"e2e")),
        &mut |_, _| {},
    )
    .expect("open core");
    Arc::new(Engine::start(core, config))
}

/// Tokens for every role (region roles in each of [`TOKEN_REGIONS`]).
pub fn principals() -> (Principals, HashMap<Who, String>) {
    let mut principals = Principals::default();
    let mut tokens = HashMap::new();
    for role in Role::ALL {
        let regions: Vec<Option<&'static str>> =
            if role.is_regional() { TOKEN_REGIONS.iter().map(|r| Some(*r)).collect() } else { vec![None] };
        for region in regions {
            let code = region.map(|r| RegionCode::parse(r).unwrap());
            let minted = mint_token(&format!("{}-{}", role.as_str(), region.unwrap_or("all")), *role, code).unwrap();
            principals.insert(
                token_hash(&minted.token),
                fundledger_api::Principal { name: role.as_str().into(), role: *role, region: code },
            );
            tokens.insert(Who(*role, region), minted.token);
        }
    }
    (principals, tokens)
}

impl TestServer {
    /// A server with token auth over a fresh in-memory ledger.
    pub async fn start() -> TestServer {
        TestServer::start_on(new_engine(EngineConfig::default())).await
    }

    pub async fn start_on(engine: Arc<Engine<MemoryLog>>) -> TestServer {
        let (principals, tokens) = principals();
        TestServer::start_with(engine, Auth::Tokens(principals), tokens, None).await
    }

    pub async fn start_with(
        engine: Arc<Engine<MemoryLog>>,
        auth: Auth,
        tokens: HashMap<Who, String>,
        tls: Option<(TlsConfig, tonic::transport::ClientTlsConfig)>,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = ServeConfig { listen: addr, auth, tls: tls.as_ref().map(|(server, _)| server.clone()) };
        let served = tokio::spawn(fundledger_api::serve_on(engine.clone(), config, listener, async move {
            let _ = rx.await;
        }));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Channel::from_shared(format!("{scheme}://localhost:{}", addr.port())).unwrap();
        if let Some((_, client_tls)) = tls {
            endpoint = endpoint.tls_config(client_tls).expect("client tls");
        }
        // The listener is bound before serving starts, so connecting cannot race the server.
        let channel = endpoint.connect().await.expect("connect");
        TestServer { channel, tokens, shutdown: Some(tx), served: Some(served) }
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    fn bearer(&self, who: Who) -> Bearer {
        let token = self.tokens.get(&who).unwrap_or_else(|| panic!("no token for {who:?}"));
        Bearer(Some(format!("Bearer {token}").parse().unwrap()))
    }

    pub fn commands(&self, who: Who) -> Commands {
        pb::ledger_commands_client::LedgerCommandsClient::with_interceptor(self.channel(), self.bearer(who))
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    pub fn anonymous_commands(&self) -> Commands {
        pb::ledger_commands_client::LedgerCommandsClient::with_interceptor(self.channel(), Bearer(None))
            .max_encoding_message_size(64 << 20)
    }

    pub fn commands_with_token(&self, token: &str) -> Commands {
        pb::ledger_commands_client::LedgerCommandsClient::with_interceptor(
            self.channel(),
            Bearer(Some(format!("Bearer {token}").parse().unwrap())),
        )
    }

    pub fn queries(&self, who: Who) -> Queries {
        pb::ledger_queries_client::LedgerQueriesClient::with_interceptor(self.channel(), self.bearer(who))
            .max_decoding_message_size(64 << 20)
    }

    pub fn audit(&self, who: Who) -> AuditClient {
        pb::ledger_audit_client::LedgerAuditClient::with_interceptor(self.channel(), self.bearer(who))
            .max_decoding_message_size(64 << 20)
    }

    /// Calls the unary method at `path` with `body` as the request message's bytes, exactly as
    /// given (bytes no client library would send), and returns the reply message's bytes.
    pub async fn raw_call(&self, who: Who, path: &'static str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(InterceptedService::new(self.channel(), self.bearer(who)));
        grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
        Ok(grpc.unary(tonic::Request::new(body), path, RawCodec).await?.into_inner())
    }

    /// The head position and hash, as an auditor sees them.
    pub async fn digest(&self) -> (u64, Vec<u8>) {
        let digest =
            self.audit(AUDITOR).get_digest(pb::GetDigestRequest::default()).await.expect("digest").into_inner();
        (digest.position, digest.hash)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.expect("server task").expect("server result");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The ErrorInfo reason and metadata of a status (panics if it has none: every error must).
pub fn info(status: &tonic::Status) -> (String, HashMap<String, String>) {
    let (reason, metadata) =
        fundledger_api::errors::error_info(status).unwrap_or_else(|| panic!("status without ErrorInfo: {status:?}"));
    (reason, metadata)
}

/// Asserts a status's code and reason, and returns its metadata.
#[track_caller]
pub fn expect_error(status: &tonic::Status, code: tonic::Code, reason: &str) -> HashMap<String, String> {
    let (got_reason, metadata) = info(status);
    assert_eq!((status.code(), got_reason.as_str()), (code, reason), "{status:?}");
    metadata
}

// ---------------------------------------------------------------------------------------------
// Request builders: valid by default; tests change what they need.
// ---------------------------------------------------------------------------------------------

pub fn collection(id: &str, region: &str, period: &str, amount: &str, batch: &str) -> pb::RecordCollectionRequest {
    pb::RecordCollectionRequest {
        command_id: id.into(),
        region: region.into(),
        period: period.into(),
        category: pb::IncomeCategory::Premium as i32,
        amount: amount.into(),
        tax_batch: batch.into(),
        trace: None,
    }
}

pub fn refund(id: &str, region: &str, period: &str, batch: &str, amount: &str) -> pb::RefundCollectionRequest {
    pb::RefundCollectionRequest {
        command_id: id.into(),
        region: region.into(),
        period: period.into(),
        tax_batch: batch.into(),
        amount: amount.into(),
        trace: None,
    }
}

pub fn transfer(id: &str, region: &str, period: &str, amount: &str) -> pb::RecordTransferRequest {
    pb::RecordTransferRequest {
        command_id: id.into(),
        region: region.into(),
        period: period.into(),
        amount: amount.into(),
        trace: None,
    }
}

pub fn budget(
    id: &str,
    region: &str,
    year: u32,
    income: &str,
    medical: &str,
    disability: &str,
) -> pb::AdoptBudgetRequest {
    pb::AdoptBudgetRequest {
        command_id: id.into(),
        region: region.into(),
        year,
        income: vec![pb::IncomeAmount { category: pb::IncomeCategory::Premium as i32, amount: income.into() }],
        expenditure: vec![
            pb::ExpenditureAmount { category: pb::ExpenditureCategory::Medical as i32, amount: medical.into() },
            pb::ExpenditureAmount { category: pb::ExpenditureCategory::Disability as i32, amount: disability.into() },
        ],
        trace: None,
    }
}

pub fn plan(
    id: &str,
    plan_id: &str,
    region: &str,
    period: &str,
    medical: &str,
    disability: &str,
) -> pb::SubmitPlanRequest {
    pb::SubmitPlanRequest {
        command_id: id.into(),
        plan_id: plan_id.into(),
        region: region.into(),
        period: period.into(),
        lines: vec![
            pb::ExpenditureAmount { category: pb::ExpenditureCategory::Medical as i32, amount: medical.into() },
            pb::ExpenditureAmount { category: pb::ExpenditureCategory::Disability as i32, amount: disability.into() },
        ],
        trace: None,
    }
}

pub fn approve(id: &str, plan_id: &str) -> pb::ApprovePlanRequest {
    pb::ApprovePlanRequest { command_id: id.into(), plan_id: plan_id.into(), trace: None }
}

pub fn review(id: &str, plan_id: &str) -> pb::ReviewPlanRequest {
    pb::ReviewPlanRequest { command_id: id.into(), plan_id: plan_id.into(), trace: None }
}

pub fn allocate(id: &str, plan_id: &str, amount: &str) -> pb::AllocateFundsRequest {
    pb::AllocateFundsRequest { command_id: id.into(), plan_id: plan_id.into(), amount: amount.into(), trace: None }
}

pub fn payment(
    id: &str,
    payment_id: &str,
    region: &str,
    period: &str,
    benefit: pb::BenefitType,
    amount: &str,
) -> pb::RecordPaymentRequest {
    pb::RecordPaymentRequest {
        command_id: id.into(),
        payment_id: payment_id.into(),
        region: region.into(),
        period: period.into(),
        benefit: benefit as i32,
        beneficiary: format!("B-{payment_id}"),
        amount: amount.into(),
        basis: None,
        trace: None,
    }
}

pub fn reversal(id: &str, payment_id: &str, period: &str, amount: &str) -> pb::ReversePaymentRequest {
    pb::ReversePaymentRequest {
        command_id: id.into(),
        payment_id: payment_id.into(),
        period: period.into(),
        amount: amount.into(),
        reason: pb::ReversalReason::Returned as i32,
        trace: None,
    }
}

pub fn close(id: &str, region: &str, period: &str) -> pb::ClosePeriodRequest {
    pb::ClosePeriodRequest { command_id: id.into(), region: region.into(), period: period.into(), trace: None }
}

/// Funds a region and gives it a reviewed, allocated plan for `period` with `line` in each of
/// medical and disability: the state a region needs before it can pay.
pub async fn ready_to_pay(server: &TestServer, region: &'static str, period: &str, income: &str, line: &str) {
    let tag = format!("{region}-{period}");
    let mut hrss = server.commands(HRSS);
    hrss.adopt_budget(budget(&format!("budget-{tag}"), region, 2024, "100000000.00", "100000000.00", "100000000.00"))
        .await
        .expect("budget");
    server
        .commands(tax(region))
        .record_collection(collection(&format!("col-{tag}"), region, period, income, &format!("TB-{tag}")))
        .await
        .expect("collect");
    server
        .commands(finance(region))
        .record_transfer(transfer(&format!("tr-{tag}"), region, period, income))
        .await
        .expect("transfer");
    let plan_id = format!("P-{tag}");
    server
        .commands(agency(region))
        .submit_plan(plan(&format!("plan-{tag}"), &plan_id, region, period, line, line))
        .await
        .expect("plan");
    hrss.approve_plan(approve(&format!("approve-{tag}"), &plan_id)).await.expect("approve");
    server.commands(FINANCE).review_plan(review(&format!("review-{tag}"), &plan_id)).await.expect("review");
    let total =
        fundledger_domain::Money::from_fen(fundledger_domain::Money::parse(line).unwrap().to_fen() * 2).unwrap();
    server
        .commands(PROVINCIAL_AGENCY)
        .allocate_funds(allocate(&format!("alloc-{tag}"), &plan_id, &total.to_string()))
        .await
        .expect("allocate");
}

/// Sends a message's bytes as they are and returns the reply's, for [`TestServer::raw_call`].
#[derive(Debug, Clone, Copy)]
pub struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}
