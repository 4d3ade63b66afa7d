//! Closed-loop load: callers that each submit one command and wait for its answer before sending
//! the next, as agency systems calling the API one payment at a time do. The engine benchmark's
//! throughput figure and the `closed_loop` example run it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fundledger_store::EventLog;

use crate::outcome::{Outcome, Submission};
use crate::writer::Engine;

/// How the callers wait for their answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// One OS thread per caller, blocked on `Engine::submit_blocking`.
    Threads,
    /// One tokio task per caller, all on one runtime thread, awaiting `Engine::submit` (as the
    /// API's handlers do).
    Tasks,
}

/// Runs each caller's commands in order, each submitted once the one before it is answered, and
/// returns the time it took; or the first command that was not accepted, and why.
pub fn closed_loop<L: EventLog + 'static>(
    engine: &Arc<Engine<L>>,
    work: Vec<Vec<Submission>>,
    callers: Callers,
) -> Result<Duration, String> {
    let started = Instant::now();
    let results: Vec<Result<(), String>> = match callers {
        Callers::Threads => {
            let handles: Vec<_> = work
                .into_iter()
                .map(|subs| {
                    let engine = engine.clone();
                    std::thread::spawn(move || subs.into_iter().try_for_each(|s| accepted(engine.submit_blocking(s))))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a caller panicked".into()))).collect()
        }
        Callers::Tasks => {
            let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let tasks: Vec<_> = work
                    .into_iter()
                    .map(|subs| {
                        let engine = engine.clone();
                        tokio::spawn(async move {
                            for s in subs {
                                accepted(engine.submit(s).await)?;
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

fn accepted(result: Result<Outcome, crate::EngineError>) -> Result<(), String> {
    match result {
        Ok(outcome) if outcome.is_accepted() => Ok(()),
        Ok(outcome) => Err(format!("not accepted: {outcome:?}")),
        Err(err) => Err(format!("not answered: {err}")),
    }
}
