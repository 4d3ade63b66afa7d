//! Closed-loop load: callers that each submit one command and wait for its answer before sending
//! the next, as agency systems calling the API one payment at a time do. The engine benchmark's
//! throughput figure and the `closed_loop` example run it.
//!
//! [`PipelineFloor`] is the same-run peer of that figure: the engine's hand-offs (a queue, a
//! writer thread that takes everything queued, one write and one `fdatasync` per batch, a
//! responder thread answering through one-shot channels) with nothing decided, encoded, framed,
//! chained or folded into views. What it reaches on a machine is the most this shape of pipeline can give its callers
//! there; the engine's figure is read as a fraction of it.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
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

/// How the stand-in pipeline makes a batch durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorShape {
    /// As the engine does: the writer writes and syncs each batch, then hands it to the
    /// responder and takes the next.
    Serial,
    /// The writer writes each batch and goes straight on to the next; a syncer thread syncs
    /// once for everything written so far, then answers it (one design the engine could take).
    SyncBehind,
}

/// The engine's pipeline with nothing in it, writing pre-built records to one preallocated file.
pub struct PipelineFloor {
    tx: Option<mpsc::Sender<(Vec<u8>, oneshot::Sender<()>)>>,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
    syncs: Arc<AtomicU64>,
    path: PathBuf,
}

impl PipelineFloor {
    /// Creates `dir/pipeline-floor.bin`, zero-filled to `capacity_bytes` and synced before
    /// anything is timed (as the file store preallocates its segments), and starts the threads.
    /// `work_per_command` is spent spinning on the writer for every command, standing in for
    /// deciding, encoding and chaining it (zero for the floor itself).
    pub fn start(
        dir: &Path,
        capacity_bytes: u64,
        shape: FloorShape,
        work_per_command: Duration,
    ) -> std::io::Result<Self> {
        let path = dir.join("pipeline-floor.bin");
        let file = std::fs::File::create(&path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut offset = 0;
        while offset < capacity_bytes {
            let n = (capacity_bytes - offset).min(zeros.len() as u64);
            file.write_all_at(&zeros[..n as usize], offset)?;
            offset += n;
        }
        file.sync_all()?;
        let file = Arc::new(file);
        let syncs = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel::<(Vec<u8>, oneshot::Sender<()>)>();
        let (done_tx, done_rx) = mpsc::channel::<Vec<oneshot::Sender<()>>>();
        let written = {
            let (file, syncs) = (file.clone(), syncs.clone());
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
                    file.write_all_at(&buf, offset)?;
                    offset += buf.len() as u64;
                    buf.clear();
                    if shape == FloorShape::Serial {
                        file.sync_data()?;
                        syncs.fetch_add(1, Ordering::Relaxed);
                    }
                    if done_tx.send(std::mem::take(&mut replies)).is_err() {
                        break;
                    }
                }
                Ok(())
            })
        };
        // The responder, or for `SyncBehind` the syncer that also answers.
        let answered = std::thread::spawn({
            let syncs = syncs.clone();
            move || {
                while let Ok(mut replies) = done_rx.recv() {
                    if shape == FloorShape::SyncBehind {
                        while let Ok(more) = done_rx.try_recv() {
                            replies.extend(more);
                        }
                        file.sync_data()?;
                        syncs.fetch_add(1, Ordering::Relaxed);
                    }
                    for reply in replies {
                        let _ = reply.send(());
                    }
                }
                Ok(())
            }
        });
        Ok(PipelineFloor { tx: Some(tx), threads: vec![written, answered], syncs, path })
    }

    /// Runs the closed loop over it: each caller's records in order, each sent once the one
    /// before it is durable and answered.
    pub fn closed_loop(&self, work: Vec<Vec<Vec<u8>>>, callers: Callers) -> Result<Duration, String> {
        let tx = self.tx.clone().ok_or("the pipeline is stopped")?;
        let enqueue = move |record: Vec<u8>| {
            let (reply, rx) = oneshot::channel();
            tx.send((record, reply)).map_err(|_| "not answered: the writer stopped".to_string())?;
            Ok(rx)
        };
        drive(work, callers, Arc::new(enqueue), |()| Ok(()))
    }

    /// Syncs made so far (for commands per sync).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Stops the threads, reports the first write or sync error, and removes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.tx = None;
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let joined = thread.join().unwrap_or_else(|_| Err(std::io::Error::other("a floor thread panicked")));
            result = result.and(joined);
        }
        std::fs::remove_file(&self.path).and(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every caller's records reach the file, each once and whole, in its caller's order, and
    /// every one is answered, in both shapes and from both kinds of caller.
    #[test]
    fn the_floor_writes_every_record_once_and_answers_it() {
        for shape in [FloorShape::Serial, FloorShape::SyncBehind] {
            for callers in [Callers::Threads, Callers::Tasks] {
                let dir = tempfile::tempdir().unwrap();
                let record = |c: usize, i: usize| format!("<{c:02}:{i:03}>").into_bytes();
                let work: Vec<Vec<Vec<u8>>> = (0..8).map(|c| (0..40).map(|i| record(c, i)).collect()).collect();
                let total: usize = work.iter().flatten().map(Vec::len).sum();
                let floor = PipelineFloor::start(dir.path(), total as u64 + 4096, shape, Duration::ZERO).unwrap();
                floor.closed_loop(work, callers).unwrap();
                let syncs = floor.syncs();
                assert!((1..=320).contains(&syncs), "{shape:?} {callers:?}: {syncs} syncs");
                let bytes = std::fs::read(dir.path().join("pipeline-floor.bin")).unwrap();
                floor.finish().unwrap();
                assert!(!dir.path().join("pipeline-floor.bin").exists(), "the file is removed");
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

    #[test]
    fn a_stopped_floor_refuses_callers() {
        let dir = tempfile::tempdir().unwrap();
        let mut floor = PipelineFloor::start(dir.path(), 4096, FloorShape::Serial, Duration::ZERO).unwrap();
        floor.tx = None;
        let why = floor.closed_loop(vec![vec![b"x".to_vec()]], Callers::Tasks).unwrap_err();
        assert!(why.contains("stopped"), "{why}");
        floor.finish().unwrap();
    }
}
