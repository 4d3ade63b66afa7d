//! Decode micro-benchmark: ns per record for the full `decode_record` versus the fast path
//! `decode_event_only` and the rebuild's `decode_for_views`, over a realistic mix of records (payments dominate a mature fund's
//! log). A plain timing loop, best of several rounds, so it needs no bench framework.
//!
//! `cargo bench -p fundledger-wire --bench decode` measures; under `cargo test --all-targets`
//! (no `--bench` argument) it runs one small round as a smoke test and checks both paths agree.

#[allow(dead_code)] // shared with the tests, which use more of it
#[path = "../tests/samples/mod.rs"]
mod samples;

use std::hint::black_box;
use std::time::{Duration, Instant};

use fundledger_domain::{Event, RecordBody, Recorded};
use fundledger_wire::{
    decode_event_only, decode_event_only_reference, decode_for_views, decode_record, encode_record_into, pb,
};
use prost::Message;

/// Records in the measured log.
const RECORDS_COUNT: u32 = 20_000;
/// Timed rounds per decoder; the best (least disturbed) one is reported.
const ROUNDS_COUNT: usize = 15;

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (records, rounds) = if measuring { (RECORDS_COUNT, ROUNDS_COUNT) } else { (200, 1) };
    let log = realistic_log(records);
    let mut buf = Vec::new();
    let mut spans = Vec::with_capacity(log.len());
    for rec in &log {
        let start = buf.len();
        encode_record_into(rec, &mut buf);
        spans.push(start..buf.len());
    }
    let payloads: Vec<&[u8]> = spans.iter().map(|s| &buf[s.clone()]).collect();

    // Both paths must agree before either is worth timing.
    for (rec, bytes) in log.iter().zip(&payloads) {
        assert_eq!(&decode_record(bytes).unwrap(), rec);
        let lite = decode_event_only(bytes).unwrap();
        match &rec.body {
            RecordBody::Event(event) => assert_eq!(lite.map(|l| l.event).as_ref(), Some(event)),
            RecordBody::Rejected { .. } => assert_eq!(lite, None),
        }
    }

    let prost_only = best_of(rounds, &payloads, |b| {
        black_box(pb::StoredRecord::decode(b).unwrap());
    });
    let full = best_of(rounds, &payloads, |b| {
        black_box(decode_record(b).unwrap());
    });
    let lite = best_of(rounds, &payloads, |b| {
        black_box(decode_event_only(b).unwrap());
    });
    let reference = best_of(rounds, &payloads, |b| {
        black_box(decode_event_only_reference(b).unwrap());
    });
    let payments: Vec<&[u8]> = log
        .iter()
        .zip(&payloads)
        .filter(|(rec, _)| matches!(&rec.body, RecordBody::Event(Event::BenefitPaid { .. })))
        .map(|(_, bytes)| *bytes)
        .collect();
    let payments_fast = best_of(rounds, &payments, |b| {
        black_box(decode_event_only(b).unwrap());
    });
    let payments_reference = best_of(rounds, &payments, |b| {
        black_box(decode_event_only_reference(b).unwrap());
    });
    let payments_for_views = best_of(rounds, &payments, |b| {
        black_box(decode_for_views(b).unwrap());
    });

    let per = |d: Duration| d.as_nanos() as f64 / payloads.len() as f64;
    println!(
        "decode: {} records, {} bytes ({:.0} B/record), best of {rounds} rounds",
        payloads.len(),
        buf.len(),
        buf.len() as f64 / payloads.len() as f64
    );
    println!("  prost StoredRecord only      {:>8.1} ns/record", per(prost_only));
    println!("  decode_record (full)         {:>8.1} ns/record", per(full));
    println!("  decode_event_only (lite)     {:>8.1} ns/record", per(lite));
    println!("  lite, prost reference        {:>8.1} ns/record", per(reference));
    println!("  lite / full                  {:>8.2}", per(lite) / per(full));
    let per_payment = |d: Duration| d.as_nanos() as f64 / payments.len() as f64;
    println!(
        "  payments only: lite {:.1} ns, for views (no event) {:.1} ns, prost reference {:.1} ns",
        per_payment(payments_fast),
        per_payment(payments_for_views),
        per_payment(payments_reference)
    );
}

fn best_of(rounds: usize, payloads: &[&[u8]], decode: impl Fn(&[u8])) -> Duration {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for bytes in payloads {
                decode(black_box(bytes));
            }
            start.elapsed()
        })
        .min()
        .expect("at least one round")
}

/// Seven in ten records are benefit payments, the rest every other kind in turn plus an
/// occasional refusal: roughly the shape of a year of a region's traffic.
fn realistic_log(count: u32) -> Vec<Recorded> {
    let others: Vec<Event> = samples::one_of_each_kind();
    (0..count)
        .map(|n| match n % 10 {
            0..=6 => samples::recorded(n, samples::nursing_payment(n % 100_000)),
            9 if n % 50 == 9 => samples::rejected(n),
            _ => samples::recorded(n, others[(n as usize / 10) % others.len()].clone()),
        })
        .collect()
}
