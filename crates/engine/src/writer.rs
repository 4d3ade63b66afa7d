//! The writer thread and its bounded queue: the only path by which commands reach the log while
//! the ledger serves.
//!
//! Callers submit from any thread or task; admission is bounded in commands (an atomic count, so
//! an over-full queue answers `Overloaded` at once and never grows). One thread takes every
//! queued job up to `batch_commands_max` commands, executes them as one batch with one append,
//! and answers each caller through a one-shot channel.
//!
//! Updating the views and answering are handed to a second thread, the responder: folding a
//! batch into every view costs about a sixth of the writer's time per command, and waking a
//! caller a few microseconds of futex work, and both would otherwise keep the writer from taking
//! the next batch. The writer hands a batch over only once it is durable; the responder takes
//! batches in the order they were written, applies each batch's view update, and only then
//! answers its callers, so a caller that has its answer reads views that include it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use fundledger_store::EventLog;
use tokio::sync::oneshot;

use crate::core::{Core, ViewUpdate};
use crate::outcome::{EngineError, Outcome, Submission};
use crate::shared::Shared;

/// Knobs of the writer.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most commands waiting in the queue; beyond it callers get `Overloaded`.
    pub queue_commands_max: usize,
    /// Most commands the writer takes into one batch (one append, one sync).
    pub batch_commands_max: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig { queue_commands_max: 65_536, batch_commands_max: 8_192 }
    }
}

type Reply = oneshot::Sender<Vec<Result<Outcome, EngineError>>>;

enum Job {
    Commands(Vec<Submission>, Reply),
    Shutdown,
}

/// Batch statistics, for benchmarks and monitoring.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub commands: AtomicU64,
    /// Commands per batch of the most recent batches (bounded), for medians.
    recent_batch_sizes: Mutex<std::collections::VecDeque<u32>>,
}

/// Batch sizes kept for [`WriterStats::median_batch_commands`].
pub const RECENT_BATCHES_KEPT: usize = 100_000;

impl WriterStats {
    fn record(&self, commands: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.commands.fetch_add(commands as u64, Ordering::Relaxed);
        let mut recent = self.recent_batch_sizes.lock().expect("stats lock poisoned");
        if recent.len() == RECENT_BATCHES_KEPT {
            recent.pop_front();
        }
        recent.push_back(commands as u32);
    }

    /// The median number of commands per batch (per sync) over the recent batches.
    pub fn median_batch_commands(&self) -> Option<u32> {
        let mut sizes: Vec<u32> =
            self.recent_batch_sizes.lock().expect("stats lock poisoned").iter().copied().collect();
        if sizes.is_empty() {
            return None;
        }
        sizes.sort_unstable();
        Some(sizes[sizes.len() / 2])
    }
}

/// The running ledger: a writer thread over a [`Core`].
pub struct Engine<L: EventLog + 'static> {
    tx: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    closing: Arc<AtomicBool>,
    config: EngineConfig,
    shared: Arc<Shared>,
    log: Arc<L>,
    policy: Arc<fundledger_domain::Policy>,
    stats: Arc<WriterStats>,
    thread: Mutex<Option<JoinHandle<Core<L>>>>,
}

impl<L: EventLog + 'static> Engine<L> {
    /// Starts the writer thread over an opened core.
    pub fn start(core: Core<L>, config: EngineConfig) -> Engine<L> {
        assert!(config.batch_commands_max > 0 && config.queue_commands_max > 0);
        let (tx, rx) = mpsc::channel::<Job>();
        let queued = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(WriterStats::default());
        let shared = core.shared().clone();
        let log = core.log().clone();
        let policy = core.policy().clone();
        let thread = {
            let (queued, stats, batch_max) = (queued.clone(), stats.clone(), config.batch_commands_max);
            std::thread::Builder::new()
                .name("fundledger-writer".into())
                .spawn(move || writer_loop(core, rx, queued, stats, batch_max))
                .expect("spawn writer thread")
        };
        Engine {
            tx,
            queued,
            closing: Arc::new(AtomicBool::new(false)),
            config,
            shared,
            log,
            policy,
            stats,
            thread: Mutex::new(Some(thread)),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn log(&self) -> &Arc<L> {
        &self.log
    }

    pub fn policy(&self) -> &Arc<fundledger_domain::Policy> {
        &self.policy
    }

    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Queues commands (answered together, each with its own result). Refuses at once when the
    /// queue cannot take them all.
    pub fn enqueue(
        &self,
        submissions: Vec<Submission>,
    ) -> Result<oneshot::Receiver<Vec<Result<Outcome, EngineError>>>, EngineError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        if let Some(why) = self.shared.stopped() {
            return Err(EngineError::Stopped(why));
        }
        let n = submissions.len();
        let max = self.config.queue_commands_max;
        let admitted =
            self.queued.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |q| (q + n <= max).then_some(q + n));
        if admitted.is_err() {
            return Err(EngineError::Overloaded { queue_max: max });
        }
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Job::Commands(submissions, reply)).is_err() {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err(EngineError::ShuttingDown);
        }
        Ok(rx)
    }

    /// Submits one command and waits (asynchronously) for its outcome.
    pub async fn submit(&self, submission: Submission) -> Result<Outcome, EngineError> {
        let rx = self.enqueue(vec![submission])?;
        first(rx.await)
    }

    /// Submits several commands; each gets its own result, and a refusal does not stop the others.
    pub async fn submit_many(
        &self,
        submissions: Vec<Submission>,
    ) -> Result<Vec<Result<Outcome, EngineError>>, EngineError> {
        let rx = self.enqueue(submissions)?;
        rx.await.map_err(|_| EngineError::ShuttingDown)
    }

    /// Submits one command and blocks this thread until it is answered.
    pub fn submit_blocking(&self, submission: Submission) -> Result<Outcome, EngineError> {
        let rx = self.enqueue(vec![submission])?;
        first(rx.blocking_recv())
    }

    /// Stops taking commands, lets every queued one finish, writes a snapshot, and returns the
    /// core (so a test can inspect it or a caller can reopen the log).
    pub fn shutdown(&self) -> Result<Option<Core<L>>, EngineError> {
        self.closing.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Job::Shutdown);
        let Some(thread) = self.thread.lock().expect("thread lock poisoned").take() else { return Ok(None) };
        let mut core = thread.join().map_err(|_| EngineError::Stopped("the writer thread panicked".into()))?;
        if core.stopped().is_none() {
            core.snapshot_now()?;
        }
        core.wait_for_snapshots();
        Ok(Some(core))
    }
}

impl<L: EventLog + 'static> Drop for Engine<L> {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn first(
    received: Result<Vec<Result<Outcome, EngineError>>, oneshot::error::RecvError>,
) -> Result<Outcome, EngineError> {
    received.map_err(|_| EngineError::ShuttingDown)?.pop().unwrap_or(Err(EngineError::ShuttingDown))
}

fn writer_loop<L: EventLog>(
    mut core: Core<L>,
    rx: mpsc::Receiver<Job>,
    queued: Arc<AtomicUsize>,
    stats: Arc<WriterStats>,
    batch_max: usize,
) -> Core<L> {
    let mut jobs: Vec<(usize, Reply)> = Vec::new();
    let mut submissions: Vec<Submission> = Vec::new();
    let mut shutting_down = false;
    let (answers, answer_rx) = mpsc::channel::<Written>();
    let responder = {
        let shared = core.shared().clone();
        std::thread::Builder::new()
            .name("fundledger-respond".into())
            .spawn(move || {
                for written in answer_rx {
                    written.publish_and_answer(&shared);
                }
            })
            .expect("spawn responder thread")
    };
    while !shutting_down {
        let Ok(job) = rx.recv() else { break };
        let mut next = Some(job);
        while let Some(job) = next.take() {
            match job {
                Job::Shutdown => shutting_down = true,
                Job::Commands(subs, reply) => {
                    jobs.push((subs.len(), reply));
                    submissions.extend(subs);
                }
            }
            if submissions.len() < batch_max && !shutting_down {
                next = rx.try_recv().ok();
            }
        }
        if submissions.is_empty() {
            continue;
        }
        let (results, update) = core.execute_deferring_views(&submissions);
        stats.record(submissions.len());
        queued.fetch_sub(submissions.len(), Ordering::SeqCst);
        submissions.clear();
        let written = Written { jobs: std::mem::take(&mut jobs), results, update };
        if let Err(mpsc::SendError(written)) = answers.send(written) {
            // The responder is gone (it never stops by itself): answer here rather than drop.
            written.publish_and_answer(core.shared());
        }
        // Waits for the responder to bring the views to the head first.
        core.snapshot_if_due();
    }
    // Every written batch is answered before the core is handed back.
    drop(answers);
    let _ = responder.join();
    // Refuse whatever arrived after the shutdown request.
    while let Ok(job) = rx.try_recv() {
        if let Job::Commands(subs, reply) = job {
            queued.fetch_sub(subs.len(), Ordering::SeqCst);
            let _ = reply.send(subs.iter().map(|_| Err(EngineError::ShuttingDown)).collect());
        }
    }
    core
}

/// A batch the writer has made durable, for the responder.
struct Written {
    /// Each job's command count and reply channel, in submission order.
    jobs: Vec<(usize, Reply)>,
    results: Vec<Result<Outcome, EngineError>>,
    /// `None` when the batch wrote nothing (every command answered from the index or refused
    /// before deciding) or the append failed.
    update: Option<ViewUpdate>,
}

impl Written {
    /// Brings the views up to the batch, then hands each job its share of the results, in order.
    fn publish_and_answer(self, shared: &crate::shared::Shared) {
        if let Some(update) = self.update {
            update.apply(shared);
        }
        let mut results = self.results.into_iter();
        for (n, reply) in self.jobs {
            // A caller that gave up waiting is no reason to stop.
            let _ = reply.send(results.by_ref().take(n).collect());
        }
    }
}
