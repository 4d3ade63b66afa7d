//! The gRPC services: `Streams` (append, read, subscribe) and `ServerFeatures`, answering as an
//! EventStoreDB node does for the calls the `eventstore` client makes.

// Handlers answer with `tonic::Status` (the protocol's error); boxing it in helpers would only be
// undone at the handler.
#![allow(clippy::result_large_err)]

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::AppendFault;
use crate::pb::event_store::client::server_features::{
    SupportedMethod, SupportedMethods, server_features_server::ServerFeatures,
};
use crate::pb::event_store::client::streams::{
    AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, DeleteReq, DeleteResp, ReadReq, ReadResp, TombstoneReq,
    TombstoneResp, append_req, append_resp, read_req, read_resp, streams_server::Streams,
};
use crate::pb::event_store::client::{Empty, StreamIdentifier, Uuid as PbUuid, uuid as pb_uuid};
use crate::relay::Relay;
use crate::state::{AppendOutcome, Expected, Node, StoredEvent};

/// Responses buffered per read or subscription before the server waits for the client.
const read_buffer_responses: usize = 256;
/// Events copied out of storage per lock taken while serving a read.
const read_chunk_events: u64 = 1_024;
/// The version the node reports (a recent EventStoreDB; the client only parses it).
const server_version: &str = "24.10.0";

type ReadResponses = Pin<Box<dyn Stream<Item = Result<ReadResp, Status>> + Send + 'static>>;

pub(crate) struct StreamsService {
    node: Arc<Node>,
    relay: Arc<Relay>,
}

impl StreamsService {
    pub(crate) fn new(node: Arc<Node>, relay: Arc<Relay>) -> Self {
        StreamsService { node, relay }
    }
}

/// The status a follower answers a write with: the client reconnects to the named leader.
fn not_leader(leader: std::net::SocketAddr) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert("exception", "not-leader".parse().expect("ascii"));
    metadata.insert("leader-endpoint-host", leader.ip().to_string().parse().expect("ascii"));
    metadata.insert("leader-endpoint-port", leader.port().to_string().parse().expect("ascii"));
    Status::with_metadata(Code::NotFound, "Leader info available", metadata)
}

fn uuid_from_pb(id: Option<PbUuid>) -> Result<uuid::Uuid, Status> {
    match id.and_then(|id| id.value) {
        Some(pb_uuid::Value::Structured(s)) => {
            let value = ((s.most_significant_bits as u64 as u128) << 64) | (s.least_significant_bits as u64 as u128);
            Ok(uuid::Uuid::from_u128(value))
        }
        Some(pb_uuid::Value::String(s)) => s.parse().map_err(|_| Status::invalid_argument("event id is not a UUID")),
        None => Err(Status::invalid_argument("proposed message without an id")),
    }
}

fn uuid_to_pb(id: uuid::Uuid, structured: bool) -> PbUuid {
    let value = if structured {
        let bits = id.as_u128();
        pb_uuid::Value::Structured(pb_uuid::Structured {
            most_significant_bits: (bits >> 64) as u64 as i64,
            least_significant_bits: bits as u64 as i64,
        })
    } else {
        pb_uuid::Value::String(id.hyphenated().to_string())
    };
    PbUuid { value: Some(value) }
}

fn read_event(stream: &[u8], revision: u64, event: &StoredEvent, structured: bool) -> ReadResp {
    let recorded = read_resp::read_event::RecordedEvent {
        id: Some(uuid_to_pb(event.id, structured)),
        stream_identifier: Some(StreamIdentifier { stream_name: stream.to_vec() }),
        stream_revision: revision,
        prepare_position: event.commit_position,
        commit_position: event.commit_position,
        metadata: event.metadata.clone(),
        custom_metadata: event.custom_metadata.clone(),
        data: event.data.clone(),
    };
    let event = read_resp::ReadEvent {
        event: Some(recorded),
        link: None,
        position: Some(read_resp::read_event::Position::CommitPosition(event.commit_position)),
    };
    ReadResp { content: Some(read_resp::Content::Event(event)) }
}

/// The parsed options of a `Read` on one stream.
struct StreamRead {
    stream: Vec<u8>,
    from: read_req::options::stream_options::RevisionOption,
    backwards: bool,
    /// `None`: a subscription.
    count: Option<u64>,
    structured_ids: bool,
}

fn parse_read(request: ReadReq) -> Result<StreamRead, Status> {
    use read_req::options::{CountOption, FilterOption, StreamOption, uuid_option};
    let options = request.options.ok_or_else(|| Status::invalid_argument("read without options"))?;
    let Some(StreamOption::Stream(stream)) = options.stream_option else {
        return Err(Status::unimplemented("the test server reads single streams only, not $all"));
    };
    if matches!(options.filter_option, Some(FilterOption::Filter(_))) {
        return Err(Status::unimplemented("the test server does not filter"));
    }
    let name = stream.stream_identifier.ok_or_else(|| Status::invalid_argument("read without a stream"))?;
    let from = stream.revision_option.ok_or_else(|| Status::invalid_argument("read without a revision option"))?;
    let count = match options.count_option {
        Some(CountOption::Count(count)) => Some(count),
        Some(CountOption::Subscription(_)) => None,
        None => return Err(Status::invalid_argument("read without a count or subscription option")),
    };
    let structured_ids =
        matches!(options.uuid_option.and_then(|option| option.content), Some(uuid_option::Content::Structured(_)));
    Ok(StreamRead {
        stream: name.stream_name,
        from,
        backwards: options.read_direction == read_req::options::ReadDirection::Backwards as i32,
        count,
        structured_ids,
    })
}

impl StreamsService {
    /// A read with a count: events in the asked direction, or `StreamNotFound`.
    async fn serve_read(
        node: Arc<Node>,
        read: StreamRead,
        count: u64,
        tx: tokio::sync::mpsc::Sender<Result<ReadResp, Status>>,
    ) {
        use read_req::options::stream_options::RevisionOption;
        let Some(len) = node.shared.len(&read.stream) else {
            let not_found = read_resp::StreamNotFound {
                stream_identifier: Some(StreamIdentifier { stream_name: read.stream.clone() }),
            };
            let _ = tx.send(Ok(ReadResp { content: Some(read_resp::Content::StreamNotFound(not_found)) })).await;
            return;
        };
        if read.backwards {
            // Backwards from `from` inclusive down to revision 0.
            let top = match read.from {
                RevisionOption::Revision(revision) => revision.min(len.saturating_sub(1)),
                RevisionOption::End(_) => len.saturating_sub(1),
                RevisionOption::Start(_) => 0,
            };
            if len == 0 {
                return;
            }
            let low = (top + 1).saturating_sub(count);
            let events = node.shared.range(&read.stream, low, top + 1).unwrap_or_default();
            for (offset, event) in events.iter().enumerate().rev() {
                let revision = low + offset as u64;
                if tx.send(Ok(read_event(&read.stream, revision, event, read.structured_ids))).await.is_err() {
                    return;
                }
            }
            return;
        }
        let mut next = match read.from {
            RevisionOption::Revision(revision) => revision,
            RevisionOption::Start(_) => 0,
            RevisionOption::End(_) => len,
        };
        let end = next.saturating_add(count);
        while next < end {
            let chunk_end = end.min(next + read_chunk_events);
            let events = node.shared.range(&read.stream, next, chunk_end).unwrap_or_default();
            if events.is_empty() {
                return;
            }
            for event in &events {
                if tx.send(Ok(read_event(&read.stream, next, event, read.structured_ids))).await.is_err() {
                    return;
                }
                next += 1;
            }
        }
    }

    /// A subscription: confirmation, the events after the starting point, `CaughtUp`, then every
    /// event appended from then on, until the client goes away.
    async fn serve_subscription(
        node: Arc<Node>,
        read: StreamRead,
        tx: tokio::sync::mpsc::Sender<Result<ReadResp, Status>>,
    ) {
        use read_req::options::stream_options::RevisionOption;
        // Subscribed before the first look at the stream, so no write can fall between the two.
        let mut writes = node.shared.subscribe_writes();
        static subscriptions: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let number = subscriptions.fetch_add(1, Ordering::SeqCst);
        let confirmation =
            read_resp::SubscriptionConfirmation { subscription_id: format!("test-subscription-{number}") };
        if tx.send(Ok(ReadResp { content: Some(read_resp::Content::Confirmation(confirmation)) })).await.is_err() {
            return;
        }
        // A subscription's revision is exclusive: "from revision r" delivers r + 1 onwards.
        let mut next = match read.from {
            RevisionOption::Revision(revision) => revision + 1,
            RevisionOption::Start(_) => 0,
            RevisionOption::End(_) => node.shared.len(&read.stream).unwrap_or(0),
        };
        let mut caught_up_sent = false;
        loop {
            writes.borrow_and_update();
            loop {
                let events = node.shared.range(&read.stream, next, next + read_chunk_events).unwrap_or_default();
                if events.is_empty() {
                    break;
                }
                for event in &events {
                    if tx.send(Ok(read_event(&read.stream, next, event, read.structured_ids))).await.is_err() {
                        return;
                    }
                    next += 1;
                }
            }
            if !caught_up_sent {
                caught_up_sent = true;
                let caught_up = ReadResp { content: Some(read_resp::Content::CaughtUp(read_resp::CaughtUp {})) };
                if tx.send(Ok(caught_up)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                changed = writes.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
        }
    }
}

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = ReadResponses;
    type BatchAppendStream = Pin<Box<dyn Stream<Item = Result<BatchAppendResp, Status>> + Send + 'static>>;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        let read = parse_read(request.into_inner())?;
        let (tx, rx) = tokio::sync::mpsc::channel(read_buffer_responses);
        let node = Arc::clone(&self.node);
        match read.count {
            Some(count) => tokio::spawn(StreamsService::serve_read(node, read, count, tx)),
            None => tokio::spawn(StreamsService::serve_subscription(node, read, tx)),
        };
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn append(&self, request: Request<Streaming<AppendReq>>) -> Result<Response<AppendResp>, Status> {
        let mut input = request.into_inner();
        let first = input.message().await?.and_then(|message| message.content);
        let Some(append_req::Content::Options(options)) = first else {
            return Err(Status::invalid_argument("an append must start with its options"));
        };
        let stream =
            options.stream_identifier.ok_or_else(|| Status::invalid_argument("append without a stream"))?.stream_name;
        use append_req::options::ExpectedStreamRevision as Wire;
        let expected = match options.expected_stream_revision {
            Some(Wire::Revision(revision)) => Expected::Revision(revision),
            Some(Wire::NoStream(_)) => Expected::NoStream,
            Some(Wire::Any(_)) => Expected::Any,
            Some(Wire::StreamExists(_)) => Expected::StreamExists,
            None => return Err(Status::invalid_argument("append without an expected revision")),
        };
        let mut events = Vec::new();
        while let Some(message) = input.message().await? {
            let Some(append_req::Content::ProposedMessage(proposed)) = message.content else {
                return Err(Status::invalid_argument("options sent twice in one append"));
            };
            events.push(StoredEvent {
                id: uuid_from_pb(proposed.id)?,
                metadata: proposed.metadata,
                custom_metadata: proposed.custom_metadata,
                data: proposed.data,
                commit_position: 0,
            });
        }
        self.node.appends_received.fetch_add(1, Ordering::SeqCst);

        if let Some(leader) = *self.node.leader.lock().expect("leader") {
            return Err(not_leader(leader));
        }
        let fault = self.node.faults.lock().expect("faults").pop_front();
        match fault {
            Some(AppendFault::NotLeader { leader }) => return Err(not_leader(leader)),
            Some(AppendFault::DropBeforeStore) => {
                self.relay.cut_all().await;
                return Err(Status::unavailable("connection cut before the append was stored"));
            }
            _ => {}
        }
        let outcome = self.node.shared.append(&stream, expected, events);
        match fault {
            Some(AppendFault::StoreThenDrop) => {
                self.relay.cut_all().await;
                return Err(Status::unavailable("connection cut after the append was stored"));
            }
            Some(AppendFault::StoreThenDelay(delay)) => tokio::time::sleep(delay).await,
            _ => {}
        }
        let result = match outcome {
            AppendOutcome::Written { revision, commit_position } => {
                append_resp::Result::Success(append_resp::Success {
                    current_revision_option: Some(append_resp::success::CurrentRevisionOption::CurrentRevision(
                        revision,
                    )),
                    position_option: Some(append_resp::success::PositionOption::Position(append_resp::Position {
                        commit_position,
                        prepare_position: commit_position,
                    })),
                })
            }
            AppendOutcome::NothingWritten => append_resp::Result::Success(append_resp::Success {
                current_revision_option: Some(append_resp::success::CurrentRevisionOption::NoStream(Empty {})),
                position_option: Some(append_resp::success::PositionOption::NoPosition(Empty {})),
            }),
            AppendOutcome::WrongExpectedVersion { current } => {
                use append_resp::wrong_expected_version::{
                    CurrentRevisionOption, CurrentRevisionOption2060, ExpectedRevisionOption,
                    ExpectedRevisionOption2060,
                };
                let (current_new, current_old) = match current {
                    Some(revision) => (
                        CurrentRevisionOption::CurrentRevision(revision),
                        CurrentRevisionOption2060::CurrentRevision2060(revision),
                    ),
                    None => (
                        CurrentRevisionOption::CurrentNoStream(Empty {}),
                        CurrentRevisionOption2060::NoStream2060(Empty {}),
                    ),
                };
                let (expected_new, expected_old) = match expected {
                    Expected::Revision(revision) => (
                        ExpectedRevisionOption::ExpectedRevision(revision),
                        ExpectedRevisionOption2060::ExpectedRevision2060(revision),
                    ),
                    Expected::NoStream => (
                        ExpectedRevisionOption::ExpectedNoStream(Empty {}),
                        ExpectedRevisionOption2060::Any2060(Empty {}),
                    ),
                    Expected::Any => {
                        (ExpectedRevisionOption::ExpectedAny(Empty {}), ExpectedRevisionOption2060::Any2060(Empty {}))
                    }
                    Expected::StreamExists => (
                        ExpectedRevisionOption::ExpectedStreamExists(Empty {}),
                        ExpectedRevisionOption2060::StreamExists2060(Empty {}),
                    ),
                };
                append_resp::Result::WrongExpectedVersion(append_resp::WrongExpectedVersion {
                    current_revision_option_20_6_0: Some(current_old),
                    expected_revision_option_20_6_0: Some(expected_old),
                    current_revision_option: Some(current_new),
                    expected_revision_option: Some(expected_new),
                })
            }
        };
        Ok(Response::new(AppendResp { result: Some(result) }))
    }

    async fn delete(&self, _request: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        Err(Status::unimplemented("the test server does not delete streams"))
    }

    async fn tombstone(&self, _request: Request<TombstoneReq>) -> Result<Response<TombstoneResp>, Status> {
        Err(Status::unimplemented("the test server does not tombstone streams"))
    }

    async fn batch_append(
        &self,
        _request: Request<Streaming<BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        Err(Status::unimplemented("the test server does not implement batch append"))
    }
}

pub(crate) struct FeaturesService;

#[tonic::async_trait]
impl ServerFeatures for FeaturesService {
    async fn get_supported_methods(&self, _request: Request<Empty>) -> Result<Response<SupportedMethods>, Status> {
        let method = |name: &str| SupportedMethod {
            method_name: name.to_string(),
            service_name: "event_store.client.streams.streams".to_string(),
            features: Vec::new(),
        };
        Ok(Response::new(SupportedMethods {
            methods: vec![method("read"), method("append")],
            event_store_server_version: server_version.to_string(),
        }))
    }
}
