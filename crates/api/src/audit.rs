//! The `LedgerAudit` service: the log itself, for auditors. Reads, subscriptions, chain checks,
//! digests and rebuilds.
//!
//! Log reads block (the store reads files), so every read of stored history runs on a blocking
//! thread in chunks of [`limits::stream_chunk_records_max`] records, and hands them to the
//! client through a bounded channel: a slow client slows its own reader, never the runtime or
//! the writer. Live subscriptions wait on the log's head watch asynchronously.

use std::sync::Arc;

use fundledger_engine::{Engine, LogReader, StoredRecord, Subscription};
use fundledger_store::{EventLog, RecordBatch, chain};
use prost::Message;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::principal_of;
use crate::errors::ApiError;
use crate::limits;
use crate::pb;
use crate::pb::ledger_audit_server::LedgerAudit;
use crate::queries::{Filter, health_reply, provincial_reply, rebuild_views, time_micros, two_lines_reply};

/// The audit service over a running engine.
pub struct Audit<L: EventLog + 'static> {
    engine: Arc<Engine<L>>,
    rebuilds: Arc<Semaphore>,
    /// Becomes true when the server shuts down: live subscriptions end then, since a graceful
    /// shutdown would otherwise wait for them until their time limit.
    closing: tokio::sync::watch::Receiver<bool>,
}

impl<L: EventLog + 'static> Audit<L> {
    pub fn new(
        engine: Arc<Engine<L>>,
        rebuilds: Arc<Semaphore>,
        closing: tokio::sync::watch::Receiver<bool>,
    ) -> Audit<L> {
        Audit { engine, rebuilds, closing }
    }

    /// A log reader whose first record is `from_position` (0 means 1), and the head it was
    /// opened against; past the head + 1 is OUT_OF_RANGE naming the field.
    async fn reader_from(&self, from_position: u64) -> Result<(LogReader<L>, u64), Status> {
        let from = from_position.max(1);
        let log = self.engine.log().clone();
        let head = log.head().await.map_err(|e| ApiError::from(fundledger_engine::EngineError::Store(e)))?.position;
        if from > head + 1 {
            return Err(ApiError::new(
                tonic::Code::OutOfRange,
                "BEYOND_HEAD",
                format!("from_position {from} is past the head {head}"),
            )
            .with("field", "from_position")
            .into());
        }
        let reader = tokio::task::spawn_blocking(move || LogReader::new(log, from))
            .await
            .map_err(|e| ApiError::internal("INTERNAL", e.to_string()))?
            .map_err(ApiError::from)?;
        Ok((reader, head))
    }
}

type Stream<T> = ReceiverStream<Result<T, Status>>;

/// A stored record as sent: the raw payload and its decoding side by side.
pub fn log_record(record: StoredRecord) -> pb::LogRecord {
    // Decoding the stored bytes again (rather than re-encoding the domain value) sends exactly
    // what is on disk, field for field.
    let decoded = fundledger_wire::pb::StoredRecord::decode(record.payload.as_slice()).ok();
    pb::LogRecord {
        position: record.position,
        recorded_time_us: record.recorded_time_us,
        prev_hash: record.prev_hash.to_vec(),
        hash: record.hash.to_vec(),
        payload: record.payload,
        record: decoded,
    }
}

/// Reads up to one chunk of records at or below `to` on a blocking thread.
async fn read_chunk<L: EventLog + 'static>(
    mut reader: LogReader<L>,
    to: u64,
) -> Result<(LogReader<L>, Vec<StoredRecord>), ApiError> {
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::new();
        while chunk.len() < limits::stream_chunk_records_max {
            match reader.next_up_to(to)? {
                Some(record) => chunk.push(record),
                None => break,
            }
        }
        Ok((reader, chunk))
    })
    .await
    .map_err(|e| ApiError::internal("INTERNAL", format!("log reader task failed: {e}")))?
}

fn stream_time_limit(next_position: u64) -> Status {
    ApiError::new(
        tonic::Code::DeadlineExceeded,
        "STREAM_DURATION_LIMIT",
        "the stream reached its time limit; continue from next_position",
    )
    .with("next_position", next_position)
    .into()
}

#[tonic::async_trait]
impl<L: EventLog + 'static> LedgerAudit for Audit<L> {
    type ReadEventsStream = Stream<pb::LogRecord>;
    type SubscribeStream = Stream<pb::LogRecord>;
    type RebuildStream = Stream<pb::RebuildUpdate>;

    async fn read_events(
        &self,
        request: Request<pb::ReadEventsRequest>,
    ) -> Result<Response<Self::ReadEventsStream>, Status> {
        principal_of(&request)?.require_province_wide("the log")?;
        let r = request.get_ref();
        let (reader, head) = self.reader_from(r.from_position).await?;
        let to = if r.to_position == 0 { head } else { r.to_position.min(head) };
        let (tx, rx) = mpsc::channel(limits::stream_buffer_messages_max);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + limits::read_events_duration_max;
            let mut reader = reader;
            loop {
                let next = reader.next_position();
                if next > to {
                    return;
                }
                if tokio::time::Instant::now() >= deadline {
                    let _ = tx.send(Err(stream_time_limit(next))).await;
                    return;
                }
                match read_chunk(reader, to).await {
                    Ok((back, chunk)) => {
                        if chunk.is_empty() {
                            return;
                        }
                        reader = back;
                        for record in chunk {
                            if tx.send(Ok(log_record(record))).await.is_err() {
                                return; // the client went away
                            }
                        }
                    }
                    Err(error) => {
                        let _ = tx.send(Err(error.into())).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        principal_of(&request)?.require_province_wide("the log")?;
        // Catch-up runs as chunked reads on blocking threads up to the head seen at the start;
        // the subscription then continues from exactly the next position, so nothing is
        // skipped or repeated between the two phases.
        let (reader, head) = self.reader_from(request.get_ref().from_position).await?;
        let log = self.engine.log().clone();
        let (tx, rx) = mpsc::channel(limits::stream_buffer_messages_max);
        let mut closing = self.closing.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + limits::subscribe_duration_max;
            let mut reader = reader;
            loop {
                match read_chunk(reader, head).await {
                    Ok((back, chunk)) => {
                        reader = back;
                        if chunk.is_empty() {
                            break;
                        }
                        for record in chunk {
                            if tx.send(Ok(log_record(record))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        let _ = tx.send(Err(error.into())).await;
                        return;
                    }
                }
            }
            let next = reader.next_position();
            drop(reader);
            let mut live = match Subscription::new(log, next, limits::subscriber_lag_records_max) {
                Ok(live) => live,
                Err(error) => {
                    let _ = tx.send(Err(ApiError::from(error).into())).await;
                    return;
                }
            };
            let mut next = next;
            loop {
                tokio::select! {
                    record = live.next() => match record {
                        Ok(record) => {
                            next = record.position + 1;
                            if tx.send(Ok(log_record(record))).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            let _ = tx.send(Err(ApiError::from(error).into())).await;
                            return;
                        }
                    },
                    _ = tx.closed() => return,
                    _ = async { closing.wait_for(|closing| *closing).await.map(|_| ()) } => {
                        let shutting_down = ApiError::new(tonic::Code::Unavailable, "SHUTTING_DOWN", "the server is shutting down")
                            .with("next_position", next);
                        let _ = tx.send(Err(shutting_down.into())).await;
                        return;
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        let _ = tx.send(Err(stream_time_limit(next))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn verify_chain(
        &self,
        request: Request<pb::VerifyChainRequest>,
    ) -> Result<Response<pb::VerifyChainReply>, Status> {
        principal_of(&request)?.require_province_wide("the log")?;
        let r = *request.get_ref();
        let log = self.engine.log().clone();
        let reply = tokio::task::spawn_blocking(move || verify_range(&*log, r.from_position, r.to_position))
            .await
            .map_err(|e| ApiError::internal("INTERNAL", e.to_string()))??;
        Ok(Response::new(reply))
    }

    async fn get_digest(&self, request: Request<pb::GetDigestRequest>) -> Result<Response<pb::Digest>, Status> {
        principal_of(&request)?;
        let earlier = request.get_ref().earlier.clone();
        let log = self.engine.log().clone();
        let digest = tokio::task::spawn_blocking(move || -> Result<pb::Digest, ApiError> {
            let store = |e| ApiError::from(fundledger_engine::EngineError::Store(e));
            let head = fundledger_store::block_on(log.head()).map_err(store)?;
            let extends_earlier = match earlier {
                None => false,
                Some(earlier) if earlier.position == 0 => earlier.hash == log.genesis(),
                Some(earlier) if earlier.position > head.position => false,
                Some(earlier) => {
                    let batch =
                        fundledger_store::block_on(log.read(earlier.position, RecordBatch::new())).map_err(store)?;
                    batch
                        .iter()
                        .next()
                        .is_some_and(|r| r.position() == earlier.position && r.hash()[..] == earlier.hash[..])
                }
            };
            Ok(pb::Digest { position: head.position, hash: head.hash.to_vec(), extends_earlier })
        })
        .await
        .map_err(|e| ApiError::internal("INTERNAL", e.to_string()))??;
        Ok(Response::new(digest))
    }

    async fn rebuild(&self, request: Request<pb::RebuildRequest>) -> Result<Response<Self::RebuildStream>, Status> {
        principal_of(&request)?.require_province_wide("a rebuild")?;
        use pb::rebuild_request::AsOf as A;
        let as_of = match &request.get_ref().as_of {
            None => fundledger_projections::AsOf::Head,
            Some(A::AsOfPosition(p)) => fundledger_projections::AsOf::Position(*p),
            Some(A::AsOfTime(t)) => fundledger_projections::AsOf::Time(time_micros("as_of_time", t)?),
        };
        let (tx, rx) = mpsc::channel(limits::stream_buffer_messages_max);
        let (engine, rebuilds) = (self.engine.clone(), self.rebuilds.clone());
        let records_total = engine.log().head().await.map(|h| h.position).unwrap_or(0);
        tokio::spawn(async move {
            use pb::rebuild_update::{Done, Progress, Update};
            let _ = tx
                .send(Ok(pb::RebuildUpdate {
                    update: Some(Update::Progress(Progress { records_done: 0, records_total })),
                }))
                .await;
            let result = rebuild_views(&engine, &rebuilds, as_of).await;
            let message = match result {
                Ok((views, through)) => {
                    let all = Filter::default();
                    Ok(pb::RebuildUpdate {
                        update: Some(Update::Done(Done {
                            through_position: through,
                            records: through,
                            events: views.events_applied(),
                            provincial: Some(provincial_reply(&views, &all, None)),
                            two_lines: Some(two_lines_reply(&views, &all, false, true)),
                            health: Some(health_reply(&views, &all)),
                        })),
                    })
                }
                Err(error) => Err(error.into()),
            };
            let _ = tx.send(message).await;
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Checks the chain links of positions `from..=to` (0 = 1 and the head).
pub fn verify_range<L: EventLog + ?Sized>(log: &L, from: u64, to: u64) -> Result<pb::VerifyChainReply, ApiError> {
    let store = |e| ApiError::from(fundledger_engine::EngineError::Store(e));
    let head = fundledger_store::block_on(log.head()).map_err(store)?;
    let from = from.max(1);
    let to = if to == 0 { head.position } else { to };
    if to > head.position {
        return Err(ApiError::new(
            tonic::Code::OutOfRange,
            "BEYOND_HEAD",
            format!("to_position {to} is past the head {}", head.position),
        )
        .with("field", "to_position"));
    }
    let mut reply = pb::VerifyChainReply { ok: true, ..Default::default() };
    if from > to {
        return Ok(reply);
    }
    // The link into `from` needs the stored hash of the record before it.
    let mut prev = if from == 1 {
        log.genesis()
    } else {
        let batch = fundledger_store::block_on(log.read(from - 1, RecordBatch::new())).map_err(store)?;
        match batch.iter().next() {
            Some(record) => *record.hash(),
            None => return Err(ApiError::internal("INTERNAL", "the log returned nothing below its head")),
        }
    };
    let mut next = from;
    let mut batch = RecordBatch::new();
    while next <= to {
        batch = match fundledger_store::block_on(log.read(next, batch)) {
            Ok(batch) => batch,
            Err(error) => {
                return Ok(pb::VerifyChainReply {
                    ok: false,
                    first_bad_position: next,
                    problem: error.to_string(),
                    ..reply
                });
            }
        };
        if batch.is_empty() {
            return Ok(pb::VerifyChainReply {
                ok: false,
                first_bad_position: next,
                problem: "record missing".into(),
                ..reply
            });
        }
        for record in batch.iter() {
            let position = record.position();
            if position > to {
                break;
            }
            if position != next || !chain::links_from(&prev, &record) {
                let problem = if position != next { "gap in positions" } else { "hash does not link" };
                return Ok(pb::VerifyChainReply {
                    ok: false,
                    first_bad_position: next,
                    problem: problem.into(),
                    ..reply
                });
            }
            prev = *record.hash();
            reply.records += 1;
            reply.last_position = position;
            next = position + 1;
        }
    }
    reply.last_hash = prev.to_vec();
    Ok(reply)
}
