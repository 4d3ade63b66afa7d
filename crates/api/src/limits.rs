//! The API's named limits, with their units. Every bound a client can run into is here, so
//! docs/api.md can list them and tests can reach them.

// Limits are lower snake case with their unit, as in the store crate (after TigerBeetle).
#![allow(non_upper_case_globals)]

use std::time::Duration;

/// Largest request message the server decodes, in bytes. Larger ones are RESOURCE_EXHAUSTED
/// (`MESSAGE_TOO_LARGE`). A full `ExecuteBatch` of 1,000 payments is about 150 KiB, so this
/// leaves room for long plans and budgets without letting a client make the server buffer much.
pub const message_bytes_max: usize = 4 << 20;
/// Largest reply message the server encodes, in bytes (a rebuild of a decade's views).
pub const reply_bytes_max: usize = 64 << 20;
/// Most commands in one `ExecuteBatch` call.
pub const batch_commands_max: usize = 1_000;
/// Longest id, in bytes (command, plan, payment, tax batch, beneficiary): the domain's bound.
pub const id_bytes_max: usize = fundledger_domain::ids::ID_BYTES_MAX;
/// Longest free text (a plan rejection's reason), in bytes: the domain's bound.
pub const reason_bytes_max: usize = fundledger_domain::command::REASON_TEXT_BYTES_MAX;
/// Longest correlation or causation id, in bytes: the engine's bound.
pub const trace_id_bytes_max: usize = fundledger_engine::outcome::TRACE_ID_BYTES_MAX;
/// Longest decimal text (rates), in bytes.
pub const decimal_text_bytes_max: usize = 40;
/// Longest RFC 3339 time text, in bytes.
pub const time_text_bytes_max: usize = 64;
/// Longest filter or status text, in bytes (anything longer cannot be valid).
pub const filter_text_bytes_max: usize = 64;
/// Longest wait for `min_position` (read-your-writes). Past it the query is DEADLINE_EXCEEDED
/// (`NOT_CAUGHT_UP`): the views are applied within a commit of the append, so a longer wait
/// means the position does not exist yet or the engine stopped.
pub const min_position_wait_max: Duration = Duration::from_secs(5);
/// Longest a `Subscribe` stream stays open; the client resubscribes from its last position.
pub const subscribe_duration_max: Duration = Duration::from_secs(3_600);
/// Longest a `ReadEvents` stream may run; a client pages with `from_position` beyond it.
pub const read_events_duration_max: Duration = Duration::from_secs(600);
/// Records sent per chunk of a read or subscription (bounds each blocking read of the log).
pub const stream_chunk_records_max: usize = 512;
/// Messages buffered per stream before the server waits for the client (bounded memory).
pub const stream_buffer_messages_max: usize = 64;
/// A live subscriber this far behind the head is cut off (RESOURCE_EXHAUSTED, `TOO_SLOW`).
pub const subscriber_lag_records_max: u64 = 1_000_000;
/// As-of rebuilds running at once (each folds the log on a blocking thread); more wait their
/// turn, at most `rebuild_wait_max`, then get RESOURCE_EXHAUSTED (`OVERLOADED`).
pub const rebuilds_concurrent_max: usize = 2;
/// Longest an as-of query waits for a rebuild slot.
pub const rebuild_wait_max: Duration = Duration::from_secs(30);
/// Longest a `Rebuild` or as-of query may run.
pub const rebuild_duration_max: Duration = Duration::from_secs(600);
