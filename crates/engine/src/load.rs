//! Closed-loop load: callers that each submit one command and wait for its answer before sending
//! the next, as agency systems calling the API one payment at a time do. The engine benchmark's
//! throughput figure and the `closed_loop` example run it.
//!
//! [`EmptyPipeline`] is the same-run peer of that figure: the engine's hand-offs (a queue, a
//! writer thread that takes everything queued, one write and one `fdatasync` per batch, a
//! responder thread answering through one-shot channels) with nothing decided, encoded, framed,
//! chained or folded into views. What it reaches on a machine is the most this shape of pipeline can give its callers
//! there; the engine's figure is read as a fraction of it.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fundledger_store::EventLog;
use tokio::sync::oneshot;

use crate::outcome::{EngineError, Outcome, Submission};
use crate::writer::Engine;

/// How the callers wait for their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// One OS thread per caller, blocked on its answer (as `Engine::submit_blocking` does).
    Threads,
    /// One tokio task per caller, all on one runtime thread, awaiting its answer (as the API's
    /// handlers await `Engine::submit`).
    Tasks,
}

/// Runs each caller's commands in order, each submitted once the one before it is answered, and
/// returns the time it took; or the first command that was not accepted, and why.
pub fn closed_loop<L: EventLog + 'static>(
    engine: &Arc<Engine<L>>,
    work: Vec<Vec<Submission>>,
    callers: Callers,
) -> Result<Duration, String> {
    let engine = engine.clone();
    let enqueue = move |s: Submission| engine.enqueue(vec![s]).map_err(|err| format!("not answered: {err}"));
    drive(work, callers, Arc::new(enqueue), accepted)
}

/// What a caller hands its item to: the receiving end of the item's answer, or why it was
/// refused at once.
type Enqueue<T, R> = dyn Fn(T) -> Result<oneshot::Receiver<R>, String> + Send + Sync;

/// The closed loop itself, for any pipeline answering through one-shot channels: `check` turns
/// an answer into success or the reason it is not one.
fn drive<T: Send + 'static, R: Send + 'static>(
    work: Vec<Vec<T>>,
    callers: Callers,
    enqueue: Arc<Enqueue<T, R>>,
    check: fn(R) -> Result<(), String>,
) -> Result<Duration, String> {
    let lost = || "not answered: the pipeline dropped the answer".to_string();
    let started = Instant::now();
    let results: Vec<Result<(), String>> = match callers {
        Callers::Threads => {
            let handles: Vec<_> = work
                .into_iter()
                .map(|items| {
                    let enqueue = enqueue.clone();
                    std::thread::spawn(move || {
                        items
                            .into_iter()
                            .try_for_each(|item| check(enqueue(item)?.blocking_recv().map_err(|_| lost())?))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a caller panicked".into()))).collect()
        }
        Callers::Tasks => {
            let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let tasks: Vec<_> = work
                    .into_iter()
                    .map(|items| {
                        let enqueue = enqueue.clone();
                        tokio::spawn(async move {
                            for item in items {
                                check(enqueue(item)?.await.map_err(|_| lost())?)?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                let mut results = Vec::with_capacity(tasks.len());
                for task in tasks {
                    results.push(task.await.unwrap_or_else(|e| Err(format!("a caller failed: {e}"))));
                }
                results
            })
        }
    };
    let elapsed = started.elapsed();
    results.into_iter().collect::<Result<(), String>>()?;
    Ok(elapsed)
}

fn accepted(mut answers: Vec<Result<Outcome, EngineError>>) -> Result<(), String> {
    match answers.pop() {
        Some(Ok(outcome)) if outcome.is_accepted() => Ok(()),
        Some(Ok(outcome)) => Err(format!("not accepted: {outcome:?}")),
        Some(Err(err)) => Err(format!("not answered: {err}")),
        None => Err("not answered: an empty answer".into()),
    }
}

/// `items` shared out among `callers` callers, an equal run of them each, in order (a remainder
/// smaller than `callers` is left out).
pub fn share_out<T>(items: Vec<T>, callers: usize) -> Vec<Vec<T>> {
    let each = items.len() / callers;
    let mut items = items.into_iter();
    (0..callers).map(|_| items.by_ref().take(each).collect()).collect()
}

/// How the empty pipeline makes a batch durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineShape {
    /// As the engine does: the writer writes and syncs each batch, then hands it to the
    /// responder and takes the next.
    Serial,
    /// The writer writes each batch and goes straight on to the next; a syncer thread syncs
    /// once for everything written so far, then answers it (a simpler form of the sync-behind
    /// design in ARCHITECTURE.md, whose syncer also wrote).
    SyncBehind,
}

type Job = (Vec<u8>, oneshot::Sender<()>);

/// The engine's pipeline with nothing in it, writing pre-built records to one preallocated file.
pub struct EmptyPipeline {
    /// Taken only when the pipeline stops (`finish` or drop).
    tx: Option<mpsc::Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    syncs: Arc<AtomicU64>,
    /// The first write or sync error of either thread, which then stops.
    failure: Arc<Mutex<Option<std::io::Error>>>,
    path: PathBuf,
}

/// Creates `path`, zero-filled to `bytes` and synced, as the file store preallocates its
/// segments, so that later writes in place need no metadata in their syncs.
pub fn preallocate(path: &Path, bytes: u64) -> std::io::Result<std::fs::File> {
    let file = std::fs::File::create(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < bytes {
        let n = (bytes - offset).min(zeros.len() as u64);
        file.write_all_at(&zeros[..n as usize], offset)?;
        offset += n;
    }
    file.sync_all()?;
    Ok(file)
}

impl EmptyPipeline {
    /// Creates `dir/empty-pipeline.bin`, preallocated to hold `work` (the records each caller
    /// will send) before anything is timed, and starts the threads. `work_per_command` is spent
    /// spinning on the writer for every command, standing in for deciding, encoding and chaining
    /// it (zero for the pipeline's own bound).
    pub fn start(
        dir: &Path,
        work: &[Vec<Vec<u8>>],
        shape: PipelineShape,
        work_per_command: Duration,
    ) -> std::io::Result<Self> {
        let path = dir.join("empty-pipeline.bin");
        // A page beyond the records: nothing is written there (the tests check it stays zero).
        let capacity = work.iter().flatten().map(|r| r.len() as u64).sum::<u64>() + 4096;
        let file = Arc::new(preallocate(&path, capacity)?);
        let syncs = Arc::new(AtomicU64::new(0));
        let failure = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Vec<oneshot::Sender<()>>>();
        let written = {
            let (file, syncs, failure) = (file.clone(), syncs.clone(), failure.clone());
            std::thread::spawn(move || {
                let (mut buf, mut replies, mut offset) = (Vec::new(), Vec::new(), 0u64);
                while let Ok(first) = rx.recv() {
                    let mut next = Some(first);
                    while let Some((record, reply)) = next.take() {
                        buf.extend_from_slice(&record);
                        replies.push(reply);
                        next = rx.try_recv().ok();
                    }
                    let spin_until = Instant::now() + work_per_command * replies.len() as u32;
                    while Instant::now() < spin_until {
                        std::hint::spin_loop();
                    }
                    let wrote = file.write_all_at(&buf, offset).and_then(|()| match shape {
                        PipelineShape::Serial => file.sync_data().map(|()| {
                            syncs.fetch_add(1, Ordering::Relaxed);
                        }),
                        PipelineShape::SyncBehind => Ok(()),
                    });
                    if let Err(err) = wrote {
                        // The replies are dropped unanswered: their callers learn of it at once.
                        failure.lock().expect("failure lock").get_or_insert(err);
                        return;
                    }
                    offset += buf.len() as u64;
                    buf.clear();
                    if done_tx.send(std::mem::take(&mut replies)).is_err() {
                        return;
                    }
                }
            })
        };
        // The responder, or for `SyncBehind` the syncer that also answers.
        let answered = {
            let (syncs, failure) = (syncs.clone(), failure.clone());
            std::thread::spawn(move || {
                while let Ok(mut replies) = done_rx.recv() {
                    if shape == PipelineShape::SyncBehind {
                        while let Ok(more) = done_rx.try_recv() {
                            replies.extend(more);
                        }
                        if let Err(err) = file.sync_data() {
                            failure.lock().expect("failure lock").get_or_insert(err);
                            return;
                        }
                        syncs.fetch_add(1, Ordering::Relaxed);
                    }
                    for reply in replies {
                        let _ = reply.send(());
                    }
                }
            })
        };
        Ok(EmptyPipeline { tx: Some(tx), threads: vec![written, answered], syncs, failure, path })
    }

    /// A record of the size the file store frames `payload` to (its payload, then zeros), for
    /// sending the engine's own records through the pipeline at their size on disk.
    pub fn record_for(payload: &[u8]) -> Vec<u8> {
        let mut record = vec![0u8; fundledger_store::frame::frame_bytes(payload.len())];
        record[..payload.len()].copy_from_slice(payload);
        record
    }

    /// Runs the closed loop over it: each caller's records in order, each sent once the one
    /// before it is durable and answered. An error names the write or sync that failed.
    pub fn closed_loop(&self, work: Vec<Vec<Vec<u8>>>, callers: Callers) -> Result<Duration, String> {
        let tx = self.tx.clone().expect("taken only when the pipeline stops");
        let enqueue = move |record: Vec<u8>| {
            let (reply, rx) = oneshot::channel();
            tx.send((record, reply)).map_err(|_| "not answered: the writer stopped".to_string())?;
            Ok(rx)
        };
        drive(work, callers, Arc::new(enqueue), |()| Ok(())).map_err(|why| match self.failure() {
            Some(cause) => format!("{why}: {cause}"),
            None => why,
        })
    }

    /// Syncs made so far (for commands per sync).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    fn failure(&self) -> Option<String> {
        self.failure.lock().expect("failure lock").as_ref().map(|err| format!("{} failed: {err}", self.path.display()))
    }

    /// Stops the threads and removes the file; the first write or sync error, if there was one.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.stop();
        let failed = self.failure.lock().expect("failure lock").take();
        let removed = std::fs::remove_file(&self.path);
        match failed {
            Some(err) => Err(err),
            None => removed,
        }
    }

    fn stop(&mut self) {
        self.tx = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for EmptyPipeline {
    /// A pipeline dropped without `finish` (a caller's panic, say) still stops its threads and
    /// removes its file.
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every caller's records reach the file, each once and whole, in its caller's order, and
    /// every one is answered, in both shapes and from both kinds of caller.
    #[test]
    fn the_empty_pipeline_writes_every_record_once_and_answers_it() {
        for shape in [PipelineShape::Serial, PipelineShape::SyncBehind] {
            for callers in [Callers::Threads, Callers::Tasks] {
                let dir = tempfile::tempdir().unwrap();
                let record = |c: usize, i: usize| format!("<{c:02}:{i:03}>").into_bytes();
                let work: Vec<Vec<Vec<u8>>> = (0..8).map(|c| (0..40).map(|i| record(c, i)).collect()).collect();
                let total: usize = work.iter().flatten().map(Vec::len).sum();
                let pipeline = EmptyPipeline::start(dir.path(), &work, shape, Duration::ZERO).unwrap();
                pipeline.closed_loop(work, callers).unwrap();
                let syncs = pipeline.syncs();
                assert!((1..=320).contains(&syncs), "{shape:?} {callers:?}: {syncs} syncs");
                let bytes = std::fs::read(dir.path().join("empty-pipeline.bin")).unwrap();
                pipeline.finish().unwrap();
                assert!(!dir.path().join("empty-pipeline.bin").exists(), "the file is removed");
                let text = std::str::from_utf8(&bytes[..total]).unwrap();
                assert!(bytes[total..].iter().all(|&b| b == 0), "nothing written past the records");
                let seen: Vec<(usize, usize)> = text
                    .split_terminator('>')
                    .map(|r| {
                        let (c, i) = r.trim_start_matches('<').split_once(':').unwrap();
                        (c.parse().unwrap(), i.parse().unwrap())
                    })
                    .collect();
                // Each caller's records in its order, interleaved with the others'.
                for c in 0..8 {
                    let mine: Vec<usize> = seen.iter().filter(|(cc, _)| *cc == c).map(|(_, i)| *i).collect();
                    assert_eq!(mine, (0..40).collect::<Vec<_>>(), "{shape:?} {callers:?}: caller {c}");
                }
                assert_eq!(seen.len(), 320, "{shape:?} {callers:?}: nothing else in the file");
            }
        }
    }

    /// With one caller every batch is one record: each answer comes only after a sync that
    /// covers it, and there is exactly one sync per record, in both shapes.
    #[test]
    fn every_answer_follows_its_sync() {
        for shape in [PipelineShape::Serial, PipelineShape::SyncBehind] {
            let dir = tempfile::tempdir().unwrap();
            let pipeline =
                EmptyPipeline::start(dir.path(), &[vec![vec![b'x'; 10]; 40]], shape, Duration::ZERO).unwrap();
            let tx = pipeline.tx.clone().unwrap();
            for k in 1..=40u64 {
                let (reply, answer) = oneshot::channel();
                tx.send((vec![b'x'; 10], reply)).unwrap();
                answer.blocking_recv().unwrap();
                assert_eq!(pipeline.syncs(), k, "{shape:?}: answer {k}");
            }
            drop(tx);
            pipeline.finish().unwrap();
        }
    }

    #[test]
    fn callers_get_equal_runs_in_order() {
        assert_eq!(share_out((0..7).collect(), 3), vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
        assert_eq!(share_out((0..2).collect::<Vec<u8>>(), 3), vec![Vec::<u8>::new(); 3]);
    }

    #[test]
    fn a_record_is_sent_at_its_framed_size() {
        let record = EmptyPipeline::record_for(b"payload");
        assert_eq!(record.len(), fundledger_store::frame::frame_bytes(7));
        assert!(record.len() > 7);
        assert_eq!(&record[..7], b"payload");
        assert!(record[7..].iter().all(|&b| b == 0));
    }
}
