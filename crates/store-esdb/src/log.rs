//! [`EsdbLog`]: the [`EventLog`] contract on one EventStoreDB stream, with the fence, paged reads,
//! the catch-up subscription and the retry rules (which failures are retried, and how an append of
//! unknown outcome is resolved without ever writing twice).

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use eventstore::{
    AppendToStreamOptions, Client, ClientSettings, CurrentRevision, ExpectedRevision, ReadStreamOptions,
    StreamPosition, SubscribeToStreamOptions, SubscriptionEvent,
};
use fundledger_store::chain::{Hash, genesis, link};
use fundledger_store::memory::validate_fund_id;
use fundledger_store::{
    AppendBatch, Appended, Corruption, EventLog, Head, HeadNotifier, HeadWatch, Position, RecordBatch, StoreError,
    block_on,
};

use crate::codec::{self, ChainFields, Outgoing};
use crate::options::EsdbOptions;

/// Set once an `eventstore` client has been created in this process (it then has installed its
/// rustls crypto provider, see [`check_crypto_provider`]).
static client_created: AtomicBool = AtomicBool::new(false);

/// The log of one fund on an EventStoreDB / KurrentDB server or cluster.
///
/// Calls may come from any thread and any executor (or none: `fundledger_store::block_on`); each
/// runs on the log's own runtime. One writer per fund is assumed, as everywhere; a second writer
/// is refused by the revision fence with [`StoreError::Conflict`].
pub struct EsdbLog {
    inner: Arc<Inner>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Inner {
    fund_id: String,
    genesis: Hash,
    stream: String,
    settings: ClientSettings,
    /// The connection string without its password, for messages.
    url_redacted: String,
    options: EsdbOptions,
    runtime: tokio::runtime::Handle,
    /// Replaced when the client gives up on its connection for good (it then refuses every call).
    client: Mutex<Client>,
    /// The newest head seen (own appends, reads of the tail, the subscription). Only moves forward.
    head: Mutex<Head>,
    notifier: HeadNotifier,
    /// This process's append in flight, so that the subscription does not publish a batch's
    /// head record by record (watchers see whole batches, as the contract asks).
    in_flight: Mutex<InFlight>,
}

/// The positions of the append in flight, and the newest head of them the subscription saw.
#[derive(Default)]
struct InFlight {
    range: Option<(Position, Position)>,
    deferred: Option<Head>,
}

/// Clears the in-flight range when an append ends, however it ends; a head the subscription
/// deferred is then published (after a success, the append's own head already was).
struct InFlightGuard<'a>(&'a Inner);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let deferred = {
            let mut in_flight = self.0.in_flight.lock().expect("in-flight poisoned");
            in_flight.range = None;
            in_flight.deferred.take()
        };
        if let Some(head) = deferred {
            self.0.advance(head);
        }
    }
}

/// How a failed call is treated.
enum Failure {
    /// Not retried: configuration, permissions, a deleted stream, a protocol mismatch.
    Fatal(StoreError),
    /// Certainly not applied (e.g. the node is not the leader): retry as is.
    NotApplied(String),
    /// Maybe applied (timeout, connection lost after sending): an append must be resolved by
    /// reading back before it is re-sent.
    Unknown(String),
}

/// What reading back the stream after an append of unknown outcome found.
enum Resolution {
    /// Every record of the batch is there, with the expected ids and hashes.
    Landed,
    /// Nothing after the expected head: the append did not happen (yet).
    Absent,
    /// Other records follow the expected head: another writer got there.
    Foreign { head: Position },
}

impl EsdbLog {
    /// Connects to the server named by `url` (an `esdb://` or `esdb+discover://` connection string,
    /// with TLS and credentials in it) and opens `fund_id`'s stream, reading its head.
    ///
    /// Blocks the calling thread until the head is read (bounded by the retry options). From an
    /// async context use [`EsdbLog::connect_async`].
    pub fn connect(url: &str, fund_id: &str, options: EsdbOptions) -> Result<EsdbLog, StoreError> {
        let (log, opened) = EsdbLog::start(url, fund_id, options)?;
        let head = block_on(opened);
        EsdbLog::finish(log, head)
    }

    /// [`EsdbLog::connect`] for async callers (any executor).
    pub async fn connect_async(url: &str, fund_id: &str, options: EsdbOptions) -> Result<EsdbLog, StoreError> {
        let (log, opened) = EsdbLog::start(url, fund_id, options)?;
        let head = opened.await;
        EsdbLog::finish(log, head)
    }

    fn start(
        url: &str,
        fund_id: &str,
        options: EsdbOptions,
    ) -> Result<(EsdbLog, impl Future<Output = Result<Head, StoreError>> + Send + use<>), StoreError> {
        validate_fund_id(fund_id)?;
        let url_redacted = crate::redact_url(url);
        let settings: ClientSettings = url
            .parse()
            .map_err(|err| StoreError::Invalid(format!("EventStoreDB connection string {url_redacted}: {err}")))?;
        check_crypto_provider()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.runtime_worker_threads.max(1))
            .thread_name("fundledger-esdb")
            .enable_all()
            .build()
            .map_err(|err| StoreError::Backend(format!("starting the EventStoreDB client runtime: {err}")))?;
        // Before the client exists: its connection task may install the provider at once, and a
        // concurrent `connect` must not mistake that for someone else's provider.
        client_created.store(true, Ordering::SeqCst);
        let client = Client::with_runtime_handle(runtime.handle().clone(), settings.clone())
            .map_err(|err| StoreError::Invalid(format!("EventStoreDB client for {url_redacted}: {err}")))?;
        let genesis = genesis(fund_id);
        let empty = Head { position: 0, hash: genesis };
        let inner = Arc::new(Inner {
            fund_id: fund_id.to_owned(),
            genesis,
            stream: codec::stream_name(&options.stream_prefix, fund_id),
            settings,
            url_redacted,
            options,
            runtime: runtime.handle().clone(),
            client: Mutex::new(client),
            head: Mutex::new(empty),
            notifier: HeadNotifier::new(empty),
            in_flight: Mutex::new(InFlight::default()),
        });
        let log = EsdbLog { inner: Arc::clone(&inner), runtime: Some(runtime) };
        let opened = log.run(async move { inner.head_from_server().await });
        Ok((log, opened))
    }

    fn finish(log: EsdbLog, head: Result<Head, StoreError>) -> Result<EsdbLog, StoreError> {
        let head = head?;
        tracing::info!(
            server = %log.inner.url_redacted, stream = %log.inner.stream, head = head.position,
            "EventStoreDB log opened"
        );
        if log.inner.options.follow_appends {
            log.inner.runtime.spawn(Arc::clone(&log.inner).follow());
        }
        Ok(log)
    }

    /// The stream this log lives in.
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// The connection string, password redacted.
    pub fn url_redacted(&self) -> &str {
        &self.inner.url_redacted
    }

    /// Runs `work` on the log's runtime; the returned future only awaits its `JoinHandle`, so it
    /// can be driven by any executor, or by `block_on` on a plain thread.
    fn run<T, F>(&self, work: F) -> impl Future<Output = Result<T, StoreError>> + Send + use<T, F>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let task = self.inner.runtime.spawn(work);
        async move {
            match task.await {
                Ok(result) => result,
                Err(err) => Err(StoreError::Backend(format!("EventStoreDB call ended abnormally: {err}"))),
            }
        }
    }
}

impl Drop for EsdbLog {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Not a blocking shutdown: the log may be dropped on an async executor's thread, where
            // waiting for the runtime's tasks is not allowed. The subscription and any detached
            // call simply stop.
            runtime.shutdown_background();
        }
    }
}

impl EventLog for EsdbLog {
    fn fund_id(&self) -> &str {
        &self.inner.fund_id
    }

    fn genesis(&self) -> Hash {
        self.inner.genesis
    }

    fn append(
        &self,
        expected_head: Position,
        batch: &AppendBatch,
    ) -> impl Future<Output = Result<Appended, StoreError>> + Send {
        let checked = batch.validate().map(|()| batch.clone());
        let inner = Arc::clone(&self.inner);
        self.run(async move { inner.append(expected_head, checked?).await })
    }

    fn read(&self, from: Position, reuse: RecordBatch) -> impl Future<Output = Result<RecordBatch, StoreError>> + Send {
        let inner = Arc::clone(&self.inner);
        self.run(async move { inner.read(from, reuse).await })
    }

    fn head(&self) -> impl Future<Output = Result<Head, StoreError>> + Send {
        let inner = Arc::clone(&self.inner);
        self.run(async move { inner.head_from_server().await })
    }

    fn watch(&self) -> HeadWatch {
        self.inner.notifier.watch()
    }
}

/// The `eventstore` client installs aws-lc-rs as the process's rustls crypto provider when its
/// first client starts, and fails (inside its connection task, so every call then reports a
/// closed connection) if another provider was installed first. Say so plainly instead.
///
/// The provider is read before the flag, not after: a client started by another thread sets the
/// flag before its connection task installs the provider, so a provider seen here implies the
/// flag is seen set, if that thread installed it. Read the other way round, a `connect` racing
/// another thread's could read the flag just before that thread set it and the provider just
/// after it was installed, and refuse (seen once in CI, in parallel tests).
fn check_crypto_provider() -> Result<(), StoreError> {
    let installed = rustls::crypto::CryptoProvider::get_default().is_some();
    if installed && !client_created.load(Ordering::SeqCst) {
        return Err(StoreError::Invalid(
            "a process-wide rustls crypto provider is already installed; the EventStoreDB client must be \
             created first (connect the log before setting up other TLS)"
                .into(),
        ));
    }
    Ok(())
}

/// Sorts a client error into the three treatments.
fn classify(err: eventstore::Error) -> Failure {
    use eventstore::Error as E;
    match err {
        E::NotLeaderException(leader) => {
            Failure::NotApplied(format!("node is not the leader (leader is {}:{})", leader.host, leader.port))
        }
        E::ServerError(_)
        | E::DeadlineExceeded
        | E::ConnectionClosed
        | E::GrpcConnectionError(_)
        | E::InternalClientError
        | E::IllegalStateError(_) => Failure::Unknown(err.to_string()),
        E::Grpc {
            code:
                tonic::Code::Cancelled | tonic::Code::Aborted | tonic::Code::ResourceExhausted | tonic::Code::Unavailable,
            ..
        } => Failure::Unknown(err.to_string()),
        E::AccessDenied => {
            Failure::Fatal(StoreError::Backend("EventStoreDB refused the credentials or permissions".into()))
        }
        E::ResourceDeleted => {
            Failure::Fatal(StoreError::Backend("the fund's stream was deleted in EventStoreDB".into()))
        }
        other => Failure::Fatal(StoreError::Backend(format!("EventStoreDB: {other}"))),
    }
}

/// Whether the client gave up on its connection for good and must be replaced.
fn client_is_dead(err: &eventstore::Error) -> bool {
    matches!(err, eventstore::Error::ConnectionClosed | eventstore::Error::GrpcConnectionError(_))
}

impl Inner {
    fn client(&self) -> Client {
        self.client.lock().expect("client slot poisoned").clone()
    }

    fn replace_client(&self) {
        match Client::with_runtime_handle(self.runtime.clone(), self.settings.clone()) {
            Ok(client) => *self.client.lock().expect("client slot poisoned") = client,
            Err(err) => tracing::warn!(error = %err, "could not recreate the EventStoreDB client"),
        }
    }

    /// Records a head seen on the server and wakes watchers. Never moves backwards.
    fn advance(&self, head: Head) {
        let mut current = self.head.lock().expect("head poisoned");
        if head.position > current.position {
            *current = head;
            self.notifier.publish(head);
        }
    }

    /// The subscription's way to advance: a head inside this process's append in flight is kept
    /// back until that append ends, so a batch never shows up record by record.
    fn advance_unless_in_flight(&self, head: Head) {
        {
            let mut in_flight = self.in_flight.lock().expect("in-flight poisoned");
            if let Some((first, last)) = in_flight.range
                && (first..=last).contains(&head.position)
            {
                if in_flight.deferred.is_none_or(|d| d.position < head.position) {
                    in_flight.deferred = Some(head);
                }
                return;
            }
        }
        self.advance(head);
    }

    fn cached_head(&self) -> Head {
        *self.head.lock().expect("head poisoned")
    }

    /// A typed error for an event that is not what this log wrote.
    fn damaged(&self, revision: u64, position: Position, reason: Corruption) -> StoreError {
        StoreError::Corrupt {
            path: PathBuf::from(format!("esdb:{}", self.stream)),
            segment: 0,
            offset: revision,
            position,
            reason,
        }
    }

    /// Decodes and checks one event read from the stream: it must sit at `position`, carry ledger
    /// metadata for that position, and its hash must be the link over its own fields.
    fn check_event(&self, event: &eventstore::RecordedEvent, position: Position) -> Result<ChainFields, StoreError> {
        if event.revision + 1 != position {
            return Err(self.damaged(
                event.revision,
                position,
                Corruption::PositionGap { expected: position, found: event.revision + 1 },
            ));
        }
        let Some(fields) =
            ChainFields::decode(&event.custom_metadata).filter(|_| event.event_type == codec::event_type)
        else {
            return Err(self.damaged(
                event.revision,
                position,
                Corruption::Header(format!(
                    "event of type {:?} with {} metadata bytes is not a ledger record",
                    event.event_type,
                    event.custom_metadata.len()
                )),
            ));
        };
        if fields.position != position {
            return Err(self.damaged(
                event.revision,
                position,
                Corruption::PositionGap { expected: position, found: fields.position },
            ));
        }
        if !fields.links(&event.data) {
            return Err(StoreError::ChainBroken { position });
        }
        Ok(fields)
    }

    /// Pause before the next attempt, or give up after the last one.
    async fn pause_or_give_up(&self, attempt: u32, what: &str, last_error: &str) -> Result<(), StoreError> {
        if attempt >= self.options.retry_attempts_max {
            return Err(StoreError::Backend(format!(
                "{what} failed after {attempt} attempts against {}: {last_error}",
                self.url_redacted
            )));
        }
        let pause = self.options.backoff(attempt);
        tracing::warn!(attempt, pause_ms = pause.as_millis() as u64, error = %last_error, "{what}: retrying");
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// Runs `call` with the retry rules for idempotent calls (reads): anything not fatal is retried.
    async fn retrying<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, eventstore::Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match call(self.client()).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if client_is_dead(&err) {
                self.replace_client();
            }
            let message = match classify(err) {
                Failure::Fatal(err) => return Err(err),
                Failure::NotApplied(message) | Failure::Unknown(message) => message,
            };
            self.pause_or_give_up(attempt, what, &message).await?;
        }
    }

    /// The head as the server has it: the last event of the stream.
    async fn head_from_server(&self) -> Result<Head, StoreError> {
        let stream = self.stream.clone();
        let deadline = self.options.read_deadline();
        let last = self
            .retrying("reading the head", |client| {
                let stream = stream.clone();
                async move {
                    let options = ReadStreamOptions::default()
                        .position(StreamPosition::End)
                        .backwards()
                        .max_count(1)
                        .deadline(deadline);
                    let mut events = client.read_stream(stream, &options).await?;
                    match events.next().await {
                        Ok(Some(event)) => Ok(Some(event)),
                        Ok(None) | Err(eventstore::Error::ResourceNotFound) => Ok(None),
                        Err(err) => Err(err),
                    }
                }
            })
            .await?;
        let head = match last {
            None => Head { position: 0, hash: self.genesis },
            Some(resolved) => {
                let event = resolved.get_original_event();
                let fields = self.check_event(event, event.revision + 1)?;
                Head { position: fields.position, hash: fields.hash }
            }
        };
        self.advance(head);
        Ok(head)
    }

    /// Reads up to `count` events from `position` on (fewer at the end of the stream), checked.
    async fn read_events(&self, from: Position, count: usize) -> Result<Vec<eventstore::RecordedEvent>, StoreError> {
        let stream = self.stream.clone();
        let deadline = self.options.read_deadline();
        self.retrying("reading the stream", |client| {
            let stream = stream.clone();
            async move {
                let options = ReadStreamOptions::default()
                    .position(StreamPosition::Position(from - 1))
                    .forwards()
                    .max_count(count)
                    .deadline(deadline);
                let mut events = client.read_stream(stream, &options).await?;
                let mut out = Vec::new();
                loop {
                    match events.next().await {
                        Ok(Some(event)) => out.extend(event.event),
                        Ok(None) | Err(eventstore::Error::ResourceNotFound) => return Ok(out),
                        Err(err) => return Err(err),
                    }
                }
            }
        })
        .await
    }

    async fn read(&self, from: Position, mut batch: RecordBatch) -> Result<RecordBatch, StoreError> {
        batch.clear();
        if from == 0 {
            return Err(StoreError::Invalid("reads start at position 1 or later".into()));
        }
        let stream = self.stream.clone();
        let deadline = self.options.read_deadline();
        let page = self.options.read_page_records_max.clamp(1, fundledger_store::read_batch_records_max);
        // One attempt fills the batch from scratch, so a retry after a broken stream starts over.
        let batch = self
            .retrying("reading the stream", |client| {
                let stream = stream.clone();
                let mut batch = std::mem::take(&mut batch);
                async move {
                    batch.clear();
                    let options = ReadStreamOptions::default()
                        .position(StreamPosition::Position(from - 1))
                        .forwards()
                        .max_count(page)
                        .deadline(deadline);
                    let mut events = client.read_stream(stream, &options).await?;
                    let mut bytes = 0usize;
                    let mut prev: Option<Hash> = None;
                    loop {
                        let event = match events.next().await {
                            Ok(Some(resolved)) => resolved,
                            Ok(None) | Err(eventstore::Error::ResourceNotFound) => break,
                            Err(err) => return Err(err),
                        };
                        let event = event.get_original_event();
                        let position = from + batch.len() as Position;
                        let fields = match self.check_event(event, position) {
                            Ok(fields) => fields,
                            Err(err) => return Ok(Err(err)),
                        };
                        if prev.is_some_and(|prev| prev != fields.prev_hash) {
                            return Ok(Err(StoreError::ChainBroken { position }));
                        }
                        prev = Some(fields.hash);
                        batch.push_record(position, fields.recorded_time_us, &event.data, &fields.hash);
                        bytes += event.data.len() + codec::metadata_bytes;
                        if bytes >= fundledger_store::read_batch_bytes_max {
                            // Dropping the stream cancels the rest of the page on the server.
                            break;
                        }
                    }
                    Ok(Ok(batch))
                }
            })
            .await??;
        if batch.is_empty() {
            // Either exactly at the end, or beyond it: the contract tells them apart.
            let head = self.head_from_server().await?;
            if from > head.position + 1 {
                return Err(StoreError::BeyondHead { from, head: head.position });
            }
            if from <= head.position {
                return Err(StoreError::Backend(format!(
                    "the server returned no events from position {from} although its head is {}",
                    head.position
                )));
            }
        }
        Ok(batch)
    }

    /// The hash to link the batch's first record to, checking the caller's head against the
    /// newest head known (and the server's, when they differ) before anything is sent.
    async fn prev_hash_for(&self, expected_head: Position) -> Result<Hash, StoreError> {
        let cached = self.cached_head();
        if cached.position == expected_head {
            return Ok(cached.hash);
        }
        let head = self.head_from_server().await?;
        if head.position != expected_head {
            return Err(StoreError::Conflict { expected: expected_head, actual: head.position });
        }
        Ok(head.hash)
    }

    async fn append(&self, expected_head: Position, batch: AppendBatch) -> Result<Appended, StoreError> {
        let mut prev = self.prev_hash_for(expected_head).await?;
        let mut outgoing = Vec::with_capacity(batch.len());
        for (index, (time, payload)) in batch.iter().enumerate() {
            let position = expected_head + 1 + index as Position;
            let hash = link(&prev, position, time, payload);
            let fields = ChainFields { position, recorded_time_us: time, prev_hash: prev, hash };
            outgoing.push(Outgoing {
                id: codec::event_id(&self.fund_id, position),
                fields,
                payload: Bytes::copy_from_slice(payload),
            });
            prev = hash;
        }
        self.in_flight.lock().expect("in-flight poisoned").range =
            Some((expected_head + 1, expected_head + batch.len() as Position));
        let _in_flight = InFlightGuard(self);
        let appended = Appended {
            head: Head { position: expected_head + batch.len() as Position, hash: prev },
            first: expected_head + 1,
        };
        // The fence: the revision of the record at the expected head (position p is revision p - 1).
        let expected_revision =
            if expected_head == 0 { ExpectedRevision::NoStream } else { ExpectedRevision::Exact(expected_head - 1) };
        let options = AppendToStreamOptions::default()
            .expected_revision(expected_revision)
            .deadline(self.options.append_deadline());

        // Set once an attempt may have landed: from then on a refusal by the fence may be our own
        // earlier attempt, so it is resolved by reading back rather than reported as a conflict.
        let mut maybe_landed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let events: Vec<eventstore::EventData> = outgoing.iter().map(Outgoing::event_data).collect();
            let client = self.client();
            let err = match client.append_to_stream(self.stream.clone(), &options, events).await {
                Ok(written) => {
                    let expected_revision = appended.head.position - 1;
                    if written.next_expected_version != expected_revision {
                        return Err(StoreError::Backend(format!(
                            "EventStoreDB acknowledged the append at revision {}, expected {expected_revision}",
                            written.next_expected_version
                        )));
                    }
                    self.advance(appended.head);
                    return Ok(appended);
                }
                Err(err) => err,
            };
            if client_is_dead(&err) {
                self.replace_client();
            }
            let message = match err {
                eventstore::Error::WrongExpectedVersion { current, .. } => {
                    let actual = match current {
                        CurrentRevision::Current(revision) => revision + 1,
                        CurrentRevision::NoStream => 0,
                    };
                    if !maybe_landed {
                        return Err(StoreError::Conflict { expected: expected_head, actual });
                    }
                    return match self.resolve(expected_head, &outgoing).await? {
                        Resolution::Landed => {
                            self.advance(appended.head);
                            Ok(appended)
                        }
                        Resolution::Absent => Err(StoreError::Backend(format!(
                            "the server refused the append at head {expected_head} (its head is {actual}) but \
                             shows nothing after it"
                        ))),
                        Resolution::Foreign { head } => {
                            Err(StoreError::Conflict { expected: expected_head, actual: head })
                        }
                    };
                }
                other => match classify(other) {
                    Failure::Fatal(err) => return Err(err),
                    Failure::NotApplied(message) => message,
                    Failure::Unknown(message) => {
                        maybe_landed = true;
                        tracing::warn!(error = %message, head = expected_head, "append outcome unknown; reading back");
                        match self.resolve(expected_head, &outgoing).await? {
                            Resolution::Landed => {
                                self.advance(appended.head);
                                return Ok(appended);
                            }
                            Resolution::Foreign { head } => {
                                return Err(StoreError::Conflict { expected: expected_head, actual: head });
                            }
                            // Safe to send again: the fence refuses it if the first attempt lands late.
                            Resolution::Absent => message,
                        }
                    }
                },
            };
            let what = if maybe_landed { "append (outcome of an earlier attempt unknown)" } else { "append" };
            self.pause_or_give_up(attempt, what, &message).await?;
        }
    }

    /// Reads back what follows `expected_head` and compares it with what was sent.
    async fn resolve(&self, expected_head: Position, outgoing: &[Outgoing]) -> Result<Resolution, StoreError> {
        let found = self.read_events(expected_head + 1, outgoing.len()).await?;
        if found.is_empty() {
            return Ok(Resolution::Absent);
        }
        let ours = |event: &eventstore::RecordedEvent, sent: &Outgoing| {
            event.id == sent.id && ChainFields::decode(&event.custom_metadata) == Some(sent.fields)
        };
        let matching = found.iter().zip(outgoing).take_while(|(event, sent)| ours(event, sent)).count();
        if matching == outgoing.len() {
            return Ok(Resolution::Landed);
        }
        if matching == 0 {
            let head = self.head_from_server().await?;
            return Ok(Resolution::Foreign { head: head.position });
        }
        // An append is atomic on the server: part of a batch is damage, not a race.
        Err(StoreError::Backend(format!(
            "only {matching} of {} records of the append at head {expected_head} are on the server",
            outgoing.len()
        )))
    }

    /// Follows the stream with a catch-up subscription from the newest known head, publishing
    /// every new head (appends by other processes included). Resubscribes after any failure.
    async fn follow(self: Arc<Self>) {
        let mut failures: u32 = 0;
        loop {
            let from = self.cached_head().position;
            // A subscription's start is exclusive: from revision r it delivers r + 1 onwards.
            let start = if from == 0 { StreamPosition::Start } else { StreamPosition::Position(from - 1) };
            let options = SubscribeToStreamOptions::default().start_from(start);
            let client = self.client();
            let mut subscription = client.subscribe_to_stream(self.stream.clone(), &options).await;
            let err = loop {
                match subscription.next_subscription_event().await {
                    Ok(SubscriptionEvent::EventAppeared(resolved)) => {
                        failures = 0;
                        let event = resolved.get_original_event();
                        match self.check_event(event, event.revision + 1) {
                            Ok(fields) => {
                                self.advance_unless_in_flight(Head { position: fields.position, hash: fields.hash })
                            }
                            Err(err) => {
                                // Not published: readers will meet the same damage, typed, on read.
                                tracing::error!(error = %err, "the subscription delivered an event that is not a ledger record");
                            }
                        }
                    }
                    Ok(_) => failures = 0,
                    Err(err) => break err,
                }
            };
            if client_is_dead(&err) {
                self.replace_client();
            }
            failures = failures.saturating_add(1);
            let pause = self.options.backoff(failures);
            tracing::debug!(error = %err, pause_ms = pause.as_millis() as u64, "subscription dropped; resubscribing");
            tokio::time::sleep(pause).await;
        }
    }
}
