//! The server: binds, checks that the configuration is safe, and serves the three ledger
//! services (authenticated), gRPC health checking and server reflection (unauthenticated: probes
//! and tools need no token, and neither reveals ledger data).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use fundledger_engine::Engine;
use fundledger_store::EventLog;
use tokio::sync::Semaphore;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;

use crate::audit::Audit;
use crate::auth::{Auth, Authenticator};
use crate::commands::{Commands, EncodedReply};
use crate::errors::ApiError;
use crate::limits;
use crate::pb::ledger_audit_server::LedgerAuditServer;
use crate::pb::ledger_commands_server::LedgerCommandsServer;
use crate::pb::ledger_queries_server::LedgerQueriesServer;
use crate::queries::Queries;

/// Certificate and key files for TLS, and optionally the CA that client certificates must chain
/// to (then clients without a valid certificate are refused at the handshake).
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_pem_path: PathBuf,
    pub key_pem_path: PathBuf,
    pub client_ca_pem_path: Option<PathBuf>,
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub auth: Auth,
    pub tls: Option<TlsConfig>,
}

/// Why the server would not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve without authentication on {addr}: --insecure-no-auth is allowed only on a loopback address (127.0.0.1, ::1)"
    )]
    InsecureNotLoopback { addr: SocketAddr },
    #[error(
        "refusing to serve bearer tokens over plaintext on {addr}: anyone on the network could read them; configure TLS (certificate and key) or listen on a loopback address"
    )]
    PlaintextNotLoopback { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot read {what} {path}: {source}")]
    ReadPem { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("reflection descriptors: {0}")]
    Reflection(String),
    #[error("server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Checks that a configuration is safe for the address it will serve on.
pub fn check_config(config: &ServeConfig, addr: SocketAddr) -> Result<(), ServeError> {
    let loopback = addr.ip().is_loopback();
    match (&config.auth, &config.tls) {
        (Auth::InsecureNoAuth, _) if !loopback => Err(ServeError::InsecureNotLoopback { addr }),
        (Auth::Tokens(_), None) if !loopback => Err(ServeError::PlaintextNotLoopback { addr }),
        _ => Ok(()),
    }
}

/// Binds `config.listen` and serves until `shutdown` completes.
pub async fn serve<L: EventLog + 'static>(
    engine: Arc<Engine<L>>,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    check_config(&config, config.listen)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    serve_on(engine, config, listener, shutdown).await
}

/// Serves on an already bound listener (tests bind 127.0.0.1:0 and read the port first).
/// `config.listen` is ignored; the listener's address is what the safety checks look at.
pub async fn serve_on<L: EventLog + 'static>(
    engine: Arc<Engine<L>>,
    config: ServeConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    check_config(&config, addr)?;

    let mut builder = Server::builder();
    if let Some(tls) = &config.tls {
        install_crypto_provider();
        let read = |what, path: &PathBuf| {
            std::fs::read(path).map_err(|source| ServeError::ReadPem { what, path: path.clone(), source })
        };
        let identity = Identity::from_pem(read("certificate", &tls.cert_pem_path)?, read("key", &tls.key_pem_path)?);
        let mut tls_config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &tls.client_ca_pem_path {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(read("client CA", ca)?));
        }
        builder = builder.tls_config(tls_config).map_err(|e| ServeError::Tls(e.to_string()))?;
    }

    let rebuilds = Arc::new(Semaphore::new(limits::rebuilds_concurrent_max));
    let authenticator = Authenticator::new(config.auth.clone());
    let commands = CommandRoutes::new(Arc::new(Commands::new(engine.clone())));
    let queries = LedgerQueriesServer::new(Queries::new(engine.clone(), rebuilds.clone()))
        .max_decoding_message_size(limits::message_bytes_max)
        .max_encoding_message_size(limits::reply_bytes_max);
    let (closing_tx, closing) = tokio::sync::watch::channel(false);
    let audit = LedgerAuditServer::new(Audit::new(engine.clone(), rebuilds, closing))
        .max_decoding_message_size(limits::message_bytes_max)
        .max_encoding_message_size(limits::reply_bytes_max);

    let (health_reporter, health) = tonic_health::server::health_reporter();
    let names = [
        crate::pb::ledger_commands_server::SERVICE_NAME,
        crate::pb::ledger_queries_server::SERVICE_NAME,
        crate::pb::ledger_audit_server::SERVICE_NAME,
        "",
    ];
    for name in names {
        health_reporter.set_service_status(name, ServingStatus::Serving).await;
    }
    // NOT_SERVING once the engine stops (a storage failure, fencing): the applied-head watch
    // is poked when that happens.
    let watcher = {
        let (reporter, shared) = (health_reporter.clone(), engine.shared().clone());
        tokio::spawn(async move {
            let mut applied = shared.subscribe_applied();
            while shared.stopped().is_none() {
                if applied.changed().await.is_err() {
                    break;
                }
            }
            for name in names {
                reporter.set_service_status(name, ServingStatus::NotServing).await;
            }
        })
    };

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::LEDGER_DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::LEDGER_DESCRIPTOR)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    let incoming = incoming(listener);
    let served = builder
        .layer(tower::layer::layer_fn(MessageTooLarge))
        .add_service(InterceptedService::new(commands, authenticator.clone()))
        .add_service(InterceptedService::new(queries, authenticator.clone()))
        .add_service(InterceptedService::new(audit, authenticator))
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            closing_tx.send_replace(true);
            for name in names {
                health_reporter.set_service_status(name, ServingStatus::NotServing).await;
            }
        })
        .await;
    watcher.abort();
    served.map_err(ServeError::from)
}

/// The accepted connections, with Nagle's algorithm off. Replies must not wait for the peer's
/// delayed ACK: a reply that ends in a partial segment would otherwise sit up to 40 ms, which
/// showed as a p90 of 43 ms for `ExecuteBatch` calls whose p50 was 12 ms. tonic applies its own
/// `tcp_nodelay` setting only to listeners it binds itself, not to an incoming stream.
fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Maps tonic's own "decoded message length too large" refusal (OUT_OF_RANGE) to this API's
/// RESOURCE_EXHAUSTED / `MESSAGE_TOO_LARGE`, so clients see one code for every size limit.
/// tonic refuses the request before any handler runs, answering with headers only, so the
/// rewrite is of response headers.
#[derive(Debug, Clone)]
pub struct MessageTooLarge<S>(S);

impl<S, Request, Body> tower::Service<Request> for MessageTooLarge<S>
where
    S: tower::Service<Request, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let future = self.0.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            rewrite_too_large(response.headers_mut());
            Ok(response)
        })
    }
}

fn rewrite_too_large(headers: &mut http::HeaderMap) {
    let out_of_range = headers.get("grpc-status").is_some_and(|v| v.as_bytes() == b"11");
    let too_large = headers.get("grpc-message").is_some_and(|v| {
        let text = String::from_utf8_lossy(v.as_bytes());
        text.contains("too%20large") || text.contains("too large")
    });
    if !(out_of_range && too_large) {
        return;
    }
    let status = ApiError::message_too_large(format!(
        "the request message is larger than the limit of {} bytes",
        limits::message_bytes_max
    ))
    .with("message_bytes_max", limits::message_bytes_max)
    .to_status();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    let _ = status.add_header(headers);
}

/// Makes `ring` rustls's process-wide crypto provider unless one is installed already. Two
/// providers are linked into the binary (the EventStoreDB client brings aws-lc-rs), so rustls
/// cannot choose one by itself; when the EventStoreDB backend connected first, its provider stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The commands service as served: `ExecuteBatch` takes the request's bytes, which
/// [`Commands::batch_bytes`] reads in place ([`crate::batch`]), instead of a message decoded into
/// a `String` per field; every other method is the generated service's. Both have the same size
/// limits, and the same reply encoding.
struct CommandRoutes<L: EventLog + 'static> {
    generated: LedgerCommandsServer<Commands<L>>,
    commands: Arc<Commands<L>>,
}

/// The path of `ExecuteBatch`.
const EXECUTE_BATCH_PATH: &str = "/fundledger.v1.LedgerCommands/ExecuteBatch";

impl<L: EventLog + 'static> CommandRoutes<L> {
    fn new(commands: Arc<Commands<L>>) -> Self {
        let generated = LedgerCommandsServer::from_arc(commands.clone())
            .max_decoding_message_size(limits::message_bytes_max)
            .max_encoding_message_size(limits::reply_bytes_max);
        CommandRoutes { generated, commands }
    }
}

impl<L: EventLog + 'static> Clone for CommandRoutes<L> {
    fn clone(&self) -> Self {
        CommandRoutes { generated: self.generated.clone(), commands: self.commands.clone() }
    }
}

impl<L: EventLog + 'static> tonic::server::NamedService for CommandRoutes<L> {
    const NAME: &'static str = crate::pb::ledger_commands_server::SERVICE_NAME;
}

impl<L, B> tower::Service<http::Request<B>> for CommandRoutes<L>
where
    L: EventLog + 'static,
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != EXECUTE_BATCH_PATH {
            return self.generated.call(request);
        }
        let commands = self.commands.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(BatchBytesCodec)
                .apply_max_message_size_config(Some(limits::message_bytes_max), Some(limits::reply_bytes_max));
            Ok(grpc.unary(BatchBytes(commands), request).await)
        })
    }
}

/// `ExecuteBatch` over the request's bytes.
struct BatchBytes<L: EventLog + 'static>(Arc<Commands<L>>);

impl<L: EventLog + 'static> tonic::server::UnaryService<tonic::codegen::Bytes> for BatchBytes<L> {
    type Response = EncodedReply;
    type Future = tonic::codegen::BoxFuture<tonic::Response<Self::Response>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<tonic::codegen::Bytes>) -> Self::Future {
        let commands = self.0.clone();
        Box::pin(async move { commands.batch_bytes(request).await })
    }
}

/// Hands a request's bytes over as they are (tonic's buffer, split off without a copy), and
/// the reply's bytes, already encoded.
struct BatchBytesCodec;

impl tonic::codec::Codec for BatchBytesCodec {
    type Encode = EncodedReply;
    type Decode = tonic::codegen::Bytes;
    type Encoder = ReplyEncoder;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ReplyEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

struct ReplyEncoder;

impl tonic::codec::Encoder for ReplyEncoder {
    type Item = EncodedReply;
    type Error = tonic::Status;

    fn encode(&mut self, item: EncodedReply, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), Self::Error> {
        use prost::bytes::BufMut;
        dst.put_slice(&item.0);
        Ok(())
    }
}

struct BytesDecoder;

impl tonic::codec::Decoder for BytesDecoder {
    type Item = tonic::codegen::Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, buf: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        use prost::bytes::Buf;
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_nagle() {
        use tokio_stream::StreamExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let stream = accepted.next().await.expect("a connection").expect("accepted");
        assert!(stream.nodelay().unwrap(), "the server's side of a connection must have TCP_NODELAY set");
    }

    #[test]
    fn unsafe_configurations_are_refused_with_a_reason() {
        let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let insecure = ServeConfig { listen: any, auth: Auth::InsecureNoAuth, tls: None };
        let error = check_config(&insecure, any).unwrap_err();
        assert!(error.to_string().contains("loopback"), "{error}");
        assert!(check_config(&insecure, local).is_ok());
        let plaintext = ServeConfig { listen: any, auth: Auth::Tokens(Default::default()), tls: None };
        assert!(matches!(check_config(&plaintext, any), Err(ServeError::PlaintextNotLoopback { .. })));
        assert!(check_config(&plaintext, local).is_ok());
    }

    #[test]
    fn only_tonic_size_refusals_are_rewritten() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", "11".parse().unwrap());
        headers.insert("grpc-message", "Error,%20decoded%20message%20length%20too%20large".parse().unwrap());
        rewrite_too_large(&mut headers);
        assert_eq!(headers.get("grpc-status").unwrap(), "8");
        let mut other = http::HeaderMap::new();
        other.insert("grpc-status", "11".parse().unwrap());
        other.insert("grpc-message", "from_position%20past%20the%20head".parse().unwrap());
        rewrite_too_large(&mut other);
        assert_eq!(other.get("grpc-status").unwrap(), "11");
    }
}
