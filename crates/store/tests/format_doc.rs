//! Keeps `docs/format.md` honest: builds the worked example (a two-record log) and compares it
//! byte for byte with the hex printed in the doc. If the format drifts, this fails; update the
//! doc only together with a format version bump and old-file handling.

use std::sync::Arc;

use fundledger_store::chain::{canonical_bytes, genesis, hex};
use fundledger_store::file::FileOptions;
use fundledger_store::segment::{segment_header_bytes, segment_name};
use fundledger_store::testing::MemStorage;
use fundledger_store::{AppendBatch, EventLog, FileLog, RecordBatch, block_on};

const FUND_ID: &str = "CN-620000-work-injury";
/// 2026-01-01T00:00:00Z in microseconds since the Unix epoch.
const TIME_US: i64 = 1_767_225_600_000_000;

fn wrap(label: &str, bytes: &[u8]) -> String {
    let hex = hex(bytes);
    let mut out = format!("{label} ({} bytes):\n", bytes.len());
    for chunk in hex.as_bytes().chunks(64) {
        out.push_str("  ");
        out.push_str(std::str::from_utf8(chunk).expect("hex is ASCII"));
        out.push('\n');
    }
    out
}

fn worked_example() -> String {
    let storage = MemStorage::new();
    let (log, _) =
        FileLog::open_with(Arc::new(storage.clone()), FUND_ID, FileOptions::default().with_segment_bytes(1 << 16))
            .expect("open");
    let mut batch = AppendBatch::new();
    batch.push(TIME_US, b"event-1").push(TIME_US + 1, b"event-2");
    block_on(log.append(0, &batch)).expect("append");
    let records = block_on(log.read(1, RecordBatch::new())).expect("read");
    let segment = storage.contents(&segment_name(1)).expect("segment 1");

    let mut out = String::new();
    out.push_str(&format!("fund_id: {FUND_ID}\n"));
    out.push_str(&wrap("genesis = SHA-256(\"fundledger genesis v1\\0\" || fund_id)", &genesis(FUND_ID)));
    let header_used = 74 + FUND_ID.len() + 4;
    let label = format!("segment 1 header, bytes 0..{header_used} (the rest of its 4096 bytes are zero)");
    out.push_str(&wrap(&label, &segment[..header_used]));
    assert!(segment[header_used..segment_header_bytes as usize].iter().all(|&byte| byte == 0));
    for view in records.iter() {
        let position = view.position();
        let canonical = canonical_bytes(position, view.recorded_time_us(), view.payload());
        out.push_str(&wrap(&format!("record {position} canonical bytes"), &canonical));
        out.push_str(&wrap(&format!("record {position} hash"), view.hash()));
        out.push_str(&wrap(&format!("record {position} frame"), view.frame()));
    }
    // The frames sit right after the header, back to back, then zeros.
    let frames: Vec<u8> = records.iter().flat_map(|view| view.frame().to_vec()).collect();
    let start = segment_header_bytes as usize;
    assert_eq!(&segment[start..start + frames.len()], &frames[..]);
    assert!(segment[start + frames.len()..].iter().all(|&byte| byte == 0));
    out
}

#[test]
fn the_worked_example_in_docs_format_md_matches_the_code() {
    let generated = worked_example();
    let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/format.md");
    let doc = std::fs::read_to_string(doc_path).expect("docs/format.md");
    let start_marker = "<!-- worked-example:start -->\n```text\n";
    let end_marker = "```\n<!-- worked-example:end -->";
    let start = doc.find(start_marker).expect("start marker in docs/format.md") + start_marker.len();
    let end = doc[start..].find(end_marker).expect("end marker in docs/format.md") + start;
    let documented = &doc[start..end];
    assert!(
        documented == generated,
        "docs/format.md's worked example differs from the code's output. The code produces:\n{generated}"
    );
}
