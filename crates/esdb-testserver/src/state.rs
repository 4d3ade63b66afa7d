//! The node's state: the in-memory streams (shared by replicas), the node's role, and its queue of
//! injected faults.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use crate::AppendFault;

/// One stored event, as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: uuid::Uuid,
    /// The system metadata the client sent (`type`, `content-type`).
    pub metadata: HashMap<String, String>,
    pub custom_metadata: Vec<u8>,
    pub data: Vec<u8>,
    /// Position in the server's global log (what `$all` would order by).
    pub commit_position: u64,
}

/// What an append did to a stream.
pub(crate) enum AppendOutcome {
    /// The stream's revision after the append, and the global position of its last event.
    Written { revision: u64, commit_position: u64 },
    /// An append of no events to a stream that does not exist (allowed by the protocol).
    NothingWritten,
    /// The expected revision did not hold; `current` is the stream's last revision (`None`: no stream).
    WrongExpectedVersion { current: Option<u64> },
}

/// The expected revision of an append, as the protocol states it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expected {
    Revision(u64),
    NoStream,
    Any,
    StreamExists,
}

#[derive(Default)]
struct Streams {
    streams: HashMap<Vec<u8>, Vec<Arc<StoredEvent>>>,
    /// Global positions handed out so far.
    commit_position: u64,
}

/// Storage shared by the nodes of one simulated cluster.
pub(crate) struct Shared {
    streams: Mutex<Streams>,
    /// Bumped after every write; live subscriptions wait on it.
    written: tokio::sync::watch::Sender<u64>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared { streams: Mutex::new(Streams::default()), written: tokio::sync::watch::channel(0).0 }
    }
}

impl Shared {
    pub(crate) fn append(&self, stream: &[u8], expected: Expected, events: Vec<StoredEvent>) -> AppendOutcome {
        let outcome = {
            let mut state = self.streams.lock().expect("streams");
            let Streams { streams, commit_position } = &mut *state;
            let current = streams.get(stream).filter(|events| !events.is_empty()).map(|events| events.len() as u64 - 1);
            let holds = match expected {
                Expected::Revision(revision) => current == Some(revision),
                Expected::NoStream => current.is_none(),
                Expected::Any => true,
                Expected::StreamExists => current.is_some(),
            };
            if !holds {
                return AppendOutcome::WrongExpectedVersion { current };
            }
            let list = streams.entry(stream.to_vec()).or_default();
            for mut event in events {
                *commit_position += 1;
                event.commit_position = *commit_position;
                list.push(Arc::new(event));
            }
            match list.last() {
                Some(last) => {
                    AppendOutcome::Written { revision: list.len() as u64 - 1, commit_position: last.commit_position }
                }
                None => AppendOutcome::NothingWritten,
            }
        };
        self.written.send_modify(|count| *count += 1);
        outcome
    }

    /// Events `[from, to)` of `stream` (clamped), or `None` if the stream does not exist.
    pub(crate) fn range(&self, stream: &[u8], from: u64, to: u64) -> Option<Vec<Arc<StoredEvent>>> {
        let state = self.streams.lock().expect("streams");
        let events = state.streams.get(stream)?;
        let to = (to as usize).min(events.len());
        let from = (from as usize).min(to);
        Some(events[from..to].to_vec())
    }

    /// Number of events in `stream`, or `None` if it does not exist.
    pub(crate) fn len(&self, stream: &[u8]) -> Option<u64> {
        self.streams.lock().expect("streams").streams.get(stream).map(|events| events.len() as u64)
    }

    pub(crate) fn subscribe_writes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.written.subscribe()
    }

    pub(crate) fn events(&self, stream: &[u8]) -> Vec<StoredEvent> {
        let state = self.streams.lock().expect("streams");
        state
            .streams
            .get(stream)
            .map(|events| events.iter().map(|event| (**event).clone()).collect())
            .unwrap_or_default()
    }

    pub(crate) fn put(&self, stream: &[u8], events: Vec<StoredEvent>) {
        let mut state = self.streams.lock().expect("streams");
        let Streams { streams, commit_position } = &mut *state;
        let list = streams.entry(stream.to_vec()).or_default();
        for mut event in events {
            *commit_position += 1;
            event.commit_position = *commit_position;
            list.push(Arc::new(event));
        }
        drop(state);
        self.written.send_modify(|count| *count += 1);
    }
}

/// One node: shared storage plus what is particular to this node.
pub(crate) struct Node {
    pub(crate) shared: Arc<Shared>,
    /// `Some(leader)` while this node is a follower.
    pub(crate) leader: Mutex<Option<SocketAddr>>,
    pub(crate) faults: Mutex<VecDeque<AppendFault>>,
    pub(crate) appends_received: AtomicU64,
}

impl Node {
    pub(crate) fn new(shared: Arc<Shared>) -> Node {
        Node {
            shared,
            leader: Mutex::new(None),
            faults: Mutex::new(VecDeque::new()),
            appends_received: AtomicU64::new(0),
        }
    }
}
