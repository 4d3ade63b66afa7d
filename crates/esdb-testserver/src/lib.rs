//! An in-process server speaking EventStoreDB's gRPC protocol (append, read, subscribe), with fault
//! injection, so tests drive `fundledger-store-esdb` through the real `eventstore` client.
//!
//! **It does not stand in for a real cluster.** It keeps streams in memory, has no durability, no
//! replication, no quorum, no authentication, no TLS, no `$all` stream and no idempotency window.
//! It exists so CI exercises the backend's own logic (event mapping, paging, the revision fence,
//! retry, resolution of ambiguous appends) over the real wire protocol; the contract suite runs
//! against a real EventStoreDB/KurrentDB whenever `FUNDLEDGER_ESDB_URL` is set.
//!
//! Shape: each [`TestServer`] is one "node" on `127.0.0.1:<ephemeral>` with its own small tokio
//! runtime. Nodes made with [`TestServer::start_replica_of`] share the same in-memory streams, which
//! is how a leader change is simulated: the old leader answers `NotLeader` pointing at the new one,
//! exactly as a real follower does, and the client reconnects there. Every accepted TCP connection
//! passes through an in-process relay, so [`TestServer::drop_connections`] can cut every
//! connection at once, the way a crashed node or a network partition does.
//!
//! Implemented: `Streams.Append` (client-streaming: options, then proposed messages; expected
//! revision `revision`/`no_stream`/`any`/`stream_exists`), `Streams.Read` (forwards/backwards,
//! from a revision/start/end, count limit, structured or string UUIDs; and the subscription mode:
//! confirmation, catch-up events, caught-up, then live events), and
//! `ServerFeatures.GetSupportedMethods` (called by the client when it connects). Everything else
//! answers `UNIMPLEMENTED`.

// Limits are named in lower snake case with their unit, as in the rest of the workspace.
#![allow(non_upper_case_globals)]

// Generated code is what it is; lints are for the code written here.
#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub mod pb {
    pub mod event_store {
        pub mod client {
            tonic::include_proto!("event_store.client");
            pub mod streams {
                tonic::include_proto!("event_store.client.streams");
            }
            pub mod server_features {
                tonic::include_proto!("event_store.client.server_features");
            }
        }
    }
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
}

mod relay;
mod service;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use state::StoredEvent;

use crate::relay::Relay;
use crate::state::{Node, Shared};

/// What the next append reaching a node suffers (each injected fault applies to one append).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendFault {
    /// Every connection of the node is cut after the request arrived and before anything is
    /// stored: the client sees a transport error, and nothing was written.
    DropBeforeStore,
    /// The append is stored, then every connection is cut before the acknowledgement is sent: the
    /// client sees a transport error although the events are there (the ambiguous case).
    StoreThenDrop,
    /// The append is stored and acknowledged only after `delay`: with a shorter client deadline
    /// the client sees `DeadlineExceeded` although the events are there.
    StoreThenDelay(Duration),
    /// Answered `NotLeader` naming `leader` (nothing stored), as a follower does.
    NotLeader { leader: SocketAddr },
}

/// One node of the protocol test server. Dropping it stops it.
pub struct TestServer {
    addr: SocketAddr,
    node: Arc<Node>,
    relay: Arc<Relay>,
    // Dropped last (declared last): stops the server's tasks.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Worker threads of each node's runtime: the server does little work per request, and the
/// machines running the tests are small.
const server_worker_threads: usize = 1;

impl TestServer {
    /// Starts a node with empty storage on `127.0.0.1:0`.
    pub fn start() -> TestServer {
        TestServer::start_on(Arc::new(Shared::default()))
    }

    /// Starts a second node sharing `other`'s storage (a replica that sees every write at once).
    /// It starts as a follower that names `other` as the leader.
    pub fn start_replica_of(other: &TestServer) -> TestServer {
        let server = TestServer::start_on(Arc::clone(&other.node.shared));
        server.follow(other.addr);
        server
    }

    fn start_on(shared: Arc<Shared>) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(server_worker_threads)
            .thread_name("esdb-testserver")
            .enable_all()
            .build()
            .expect("test server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
            .expect("bind 127.0.0.1:0 for the test server");
        let addr = listener.local_addr().expect("local address");
        let node = Arc::new(Node::new(shared));
        let relay = Arc::new(Relay::default());
        let incoming = relay::accept(listener, Arc::clone(&relay), runtime.handle().clone());
        let streams = service::StreamsService::new(Arc::clone(&node), Arc::clone(&relay));
        let features = service::FeaturesService;
        runtime.spawn(async move {
            let result = tonic::transport::Server::builder()
                .add_service(pb::event_store::client::streams::streams_server::StreamsServer::new(streams))
                .add_service(
                    pb::event_store::client::server_features::server_features_server::ServerFeaturesServer::new(
                        features,
                    ),
                )
                .serve_with_incoming(incoming)
                .await;
            if let Err(err) = result {
                eprintln!("esdb test server stopped: {err}");
            }
        });
        TestServer { addr, node, relay, runtime: Some(runtime) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connection string of this node: single node, plaintext, short discovery so that a test
    /// of a node that went away fails fast.
    pub fn url(&self) -> String {
        format!("esdb://{}?tls=false&maxDiscoverAttempts=3&discoveryInterval=50&gossipTimeout=1000", self.addr)
    }

    /// Injects `fault` into the next append this node receives (faults queue up in order).
    pub fn inject(&self, fault: AppendFault) {
        self.node.faults.lock().expect("faults").push_back(fault);
    }

    /// Faults injected and not yet used.
    pub fn pending_faults(&self) -> usize {
        self.node.faults.lock().expect("faults").len()
    }

    /// From now on this node is a follower: every append is answered `NotLeader` naming `leader`.
    pub fn follow(&self, leader: SocketAddr) {
        *self.node.leader.lock().expect("leader") = Some(leader);
    }

    /// From now on this node is the leader and accepts appends.
    pub fn lead(&self) {
        *self.node.leader.lock().expect("leader") = None;
    }

    /// Cuts every open connection of this node now (in-flight calls fail on the client side).
    pub fn drop_connections(&self) {
        let relay = Arc::clone(&self.relay);
        self.runtime.as_ref().expect("running").block_on(async move { relay.cut_all().await });
    }

    /// How many connections this node has accepted so far (to see that a client reconnected).
    pub fn connections_accepted(&self) -> u64 {
        self.relay.accepted()
    }

    /// How many append requests reached this node (including refused and faulted ones).
    pub fn appends_received(&self) -> u64 {
        self.node.appends_received.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Every event of `stream`, in revision order (empty if the stream does not exist).
    pub fn events(&self, stream: &str) -> Vec<StoredEvent> {
        self.node.shared.events(stream.as_bytes())
    }

    /// Writes events directly into storage, bypassing the protocol (to build damaged or foreign
    /// streams for tests). They get fresh global positions and wake subscribers.
    pub fn put(&self, stream: &str, events: Vec<StoredEvent>) {
        self.node.shared.put(stream.as_bytes(), events);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Not `drop(runtime)`: a test may drop the server from inside another runtime.
            runtime.shutdown_background();
        }
    }
}
