//! What handing work to another thread costs on this machine: the round trip of a value sent to
//! a parked thread and sent back (two wake-ups), through the same primitives the engine uses
//! (`std::sync::mpsc` into the writer, a tokio one-shot back to a caller), against the same
//! round trip within one thread (no wake-up). The closed-loop throughput figure is a chain of
//! such hand-offs around each sync; on a virtual machine each wake-up of a parked thread can
//! cost tens of microseconds.
//!
//! ```sh
//! cargo build --release -p fundledger-engine --example wake_latency
//! target/release/examples/wake_latency 20000
//! ```

use std::sync::mpsc;
use std::time::Instant;

fn main() {
    let rounds: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);

    // Within one thread: send and receive on the same channel (no thread is ever parked).
    let (tx, rx) = mpsc::channel::<u32>();
    let started = Instant::now();
    for i in 0..rounds {
        tx.send(i).expect("send");
        assert_eq!(rx.recv().expect("recv"), i);
    }
    let same_thread = per_round_micros(started, rounds);

    // To another thread and back over std channels: each side parks until the other sends.
    let (to_peer, peer_rx) = mpsc::channel::<u32>();
    let (to_main, main_rx) = mpsc::channel::<u32>();
    let peer = std::thread::spawn(move || {
        for value in peer_rx {
            if to_main.send(value).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    for i in 0..rounds {
        to_peer.send(i).expect("send");
        assert_eq!(main_rx.recv().expect("recv"), i);
    }
    let threads = per_round_micros(started, rounds);
    drop(to_peer);
    peer.join().expect("peer thread");

    // Into a thread over std mpsc, back over a tokio one-shot, as a command and its answer go.
    let (to_writer, writer_rx) = mpsc::channel::<(u32, tokio::sync::oneshot::Sender<u32>)>();
    let writer = std::thread::spawn(move || {
        for (value, reply) in writer_rx {
            let _ = reply.send(value);
        }
    });
    let started = Instant::now();
    for i in 0..rounds {
        let (reply, answer) = tokio::sync::oneshot::channel();
        to_writer.send((i, reply)).expect("send");
        assert_eq!(answer.blocking_recv().expect("answer"), i);
    }
    let oneshot = per_round_micros(started, rounds);
    drop(to_writer);
    writer.join().expect("writer thread");

    println!(
        "{rounds} round trips: same thread {same_thread:.2} us; to a parked thread and back {threads:.1} us \
         (mpsc both ways), {oneshot:.1} us (mpsc there, one-shot back); about half of each is one wake-up"
    );
}

fn per_round_micros(started: Instant, rounds: u32) -> f64 {
    started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}
