//! Accepts TCP connections and relays each through an in-process pipe to the gRPC server, so the
//! test can cut every connection at once (a crashed node, a partition) without stopping the node.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

/// Bytes buffered in each direction of a relayed connection (HTTP/2 frames are at most 16 KiB by
/// default, so a few frames fit).
const relay_buffer_bytes: usize = 64 << 10;
/// Accepted connections waiting to be picked up by the gRPC server.
const accept_queue_connections_max: usize = 16;

/// The live relays of one node.
#[derive(Default)]
pub(crate) struct Relay {
    live: Mutex<HashMap<u64, JoinHandle<()>>>,
    accepted: AtomicU64,
}

impl Relay {
    /// Cuts every live connection, and returns once each relay task is gone (so its socket is
    /// closed and nothing more can reach the client through it).
    pub(crate) async fn cut_all(&self) {
        let tasks: Vec<JoinHandle<()>> = self.live.lock().expect("relays").drain().map(|(_, task)| task).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The server's end of a relayed connection.
pub(crate) struct Conn(DuplexStream);

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Conn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Accepts connections on `listener` forever, relaying each; the returned stream feeds the server.
pub(crate) fn accept(
    listener: TcpListener,
    relay: std::sync::Arc<Relay>,
    runtime: tokio::runtime::Handle,
) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(accept_queue_connections_max);
    let spawner = runtime.clone();
    runtime.spawn(async move {
        let mut next_id: u64 = 0;
        loop {
            let (mut socket, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Transient (e.g. out of descriptors): report to the server and keep going.
                    if tx.send(Err(err)).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let (mut ours, theirs) = tokio::io::duplex(relay_buffer_bytes);
            let id = next_id;
            next_id += 1;
            {
                // Registered under the lock before it runs, so a cut never misses a connection.
                let mut live = relay.live.lock().expect("relays");
                let task = spawner.spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut ours).await;
                });
                live.insert(id, task);
                live.retain(|_, task| !task.is_finished());
            }
            relay.accepted.fetch_add(1, Ordering::SeqCst);
            if tx.send(Ok(Conn(theirs))).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}
