//! `fundledger export`: the log as JSON Lines for auditors' own tools, one line per record, with
//! everything needed to re-verify the hash chain without this program.
//!
//! # Line shape
//!
//! Each line is one JSON object, keys in this order:
//!
//! ```text
//! {
//!   "position": 42,                                  // log position, gapless from 1
//!   "recorded_at": "2024-01-31T08:00:00.000000Z",    // RFC 3339 UTC, microseconds
//!   "recorded_at_micros": 1706688000000000,          // the same, microseconds since the epoch
//!   "prev_hash": "<64 hex>",                         // the previous record's hash (genesis for 1)
//!   "hash": "<64 hex>",                              // this record's stored chain hash
//!   "payload_hex": "<hex>",                          // only with the payload option: stored bytes
//!   "record": {
//!     "meta": {
//!       "event_id": "<32 hex>", "command_id": "...", "command_digest": "<64 hex>",
//!       "actor": { "principal": "...", "role": "region_agency", "region": "620100" | null },
//!       "recorded_at_micros": 1706688000000000, "correlation_id": "...", "causation_id": "...",
//!       "effective_period": "2024-01", "index_in_command": 0, "records_in_command": 1
//!     },
//!     "event": { "event": "benefit_paid", ...fields... }      // an accepted fact, or
//!     "rejected": { "command_name": "...", "reason": "<code>", "message": "..." }  // a refusal
//!   }
//! }
//! ```
//!
//! Amounts are decimal strings ("1234.50"), periods "YYYY-MM", region codes six-digit strings.
//! To re-verify a line: `hash == SHA-256(prev_hash || position u64 LE || recorded_at_micros i64
//! LE || payload length u32 LE || payload)` (`docs/format.md`); the payload is `payload_hex`.
//! Without it, the chain can still be followed (`prev_hash` of line n+1 = `hash` of line n) and
//! the records read, but the hashes cannot be recomputed.
//!
//! Export checks every link as it reads, and stops with an error at a broken one rather than
//! hand out a chain that does not verify.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use fundledger_domain::{Actor, Event, Reason, RecordBody, Recorded};
use fundledger_engine::{LogReader, StreamError};
use fundledger_store::chain::link;
use fundledger_store::{EventLog, block_on};
use serde::Serialize;

use crate::data::DataDir;
use crate::error::CliError;
use crate::progress;
use crate::rebuild::format_micros;

/// Progress is redrawn every this many records (drawing per record would cost more than writing).
const PROGRESS_EVERY_RECORDS: u64 = 4_096;

/// Lower-case hex by table lookup: every line carries two hashes, two ids and maybe a payload,
/// and a formatting call per byte would cost more than the rest of the line.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

#[derive(Serialize)]
struct Line<'a> {
    position: u64,
    recorded_at: String,
    recorded_at_micros: i64,
    prev_hash: String,
    hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_hex: Option<String>,
    record: RecordJson<'a>,
}

#[derive(Serialize)]
struct RecordJson<'a> {
    meta: MetaJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<RejectedJson<'a>>,
}

/// `RecordMeta` with its byte fields as hex (serde would write them as arrays of numbers).
#[derive(Serialize)]
struct MetaJson<'a> {
    event_id: String,
    command_id: String,
    command_digest: String,
    actor: &'a Actor,
    recorded_at_micros: i64,
    correlation_id: &'a str,
    causation_id: &'a str,
    effective_period: String,
    index_in_command: u32,
    records_in_command: u32,
}

#[derive(Serialize)]
struct RejectedJson<'a> {
    command_name: &'a str,
    reason: &'a Reason,
    message: &'a str,
}

fn record_json(recorded: &Recorded) -> RecordJson<'_> {
    let m = &recorded.meta;
    let meta = MetaJson {
        event_id: hex(&m.event_id),
        command_id: m.command_id.to_string(),
        command_digest: hex(&m.command_digest),
        actor: &m.actor,
        recorded_at_micros: m.recorded_at_micros,
        correlation_id: &m.correlation_id,
        causation_id: &m.causation_id,
        effective_period: m.effective_period.to_string(),
        index_in_command: m.index_in_command,
        records_in_command: m.records_in_command,
    };
    match &recorded.body {
        RecordBody::Event(event) => RecordJson { meta, event: Some(event), rejected: None },
        RecordBody::Rejected { command_name, reason, message } => {
            RecordJson { meta, event: None, rejected: Some(RejectedJson { command_name, reason, message }) }
        }
    }
}

/// Writes records `from..=to` (`to` defaults to the head) of `data` to `out` as JSON Lines (see
/// the module docs), with each stored payload in hex when `include_payload`. Returns the number
/// of lines written. `from` may be the head + 1 (nothing to export yet: an incremental export
/// that is up to date).
pub fn run(
    data: &DataDir,
    policy: Arc<fundledger_domain::Policy>,
    from: u64,
    to: Option<u64>,
    include_payload: bool,
    out: &mut dyn Write,
    show_progress: bool,
) -> Result<u64, CliError> {
    if data.is_empty_ledger() {
        return Err(CliError::Config(format!("{} holds no ledger to export", data.root().display())));
    }
    if from == 0 {
        return Err(CliError::Config("log positions start at 1; --from 0 names no record".into()));
    }
    let log = data.open_log(&policy)?;
    let head = block_on(log.head()).map_err(|e| CliError::from_store(data.root(), e))?.position;
    let to = to.unwrap_or(head);
    if to > head {
        return Err(CliError::Config(format!("--to {to} is beyond the head of the log ({head})")));
    }
    if from > to + 1 {
        return Err(CliError::Config(format!("--from {from} is after --to {to}: the range is empty")));
    }
    let total = to + 1 - from;
    let bar = show_progress.then(|| progress::bar(total, "exporting records"));
    let stream_error = |e: StreamError| match e {
        StreamError::Store(e) => CliError::from_store(data.root(), e),
        other => CliError::Damaged { dir: data.root().to_path_buf(), detail: other.to_string() },
    };
    let io = |source| CliError::Io { what: "writing the export to", path: "<output>".into(), source };
    let mut reader = LogReader::new(log.clone(), from).map_err(stream_error)?;
    let mut w = BufWriter::new(out);
    let mut written = 0u64;
    while let Some(record) = reader.next_up_to(to).map_err(stream_error)? {
        if link(&record.prev_hash, record.position, record.recorded_time_us, &record.payload) != record.hash {
            return Err(CliError::Damaged {
                dir: data.root().to_path_buf(),
                detail: format!("the hash chain is broken at position {}", record.position),
            });
        }
        let line = Line {
            position: record.position,
            recorded_at: format_micros(record.recorded_time_us),
            recorded_at_micros: record.recorded_time_us,
            prev_hash: hex(&record.prev_hash),
            hash: hex(&record.hash),
            payload_hex: include_payload.then(|| hex(&record.payload)),
            record: record_json(&record.recorded),
        };
        serde_json::to_writer(&mut w, &line).map_err(|e| io(std::io::Error::other(e)))?;
        w.write_all(b"\n").map_err(io)?;
        written += 1;
        if let Some(bar) = &bar
            && written.is_multiple_of(PROGRESS_EVERY_RECORDS)
        {
            bar.set_position(written);
        }
    }
    w.flush().map_err(io)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // The reader stops at `to`, and positions are gapless: anything else is a bug here.
    assert_eq!(written, total, "export wrote {written} records of {from}..={to}");
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_matches_the_store_s() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(super::hex(&bytes), fundledger_store::chain::hex(&bytes));
    }
}
