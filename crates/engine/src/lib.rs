//! The single writer. It owns the decision state, runs every command through `decide` in order,
//! commits each batch with one append (one sync), and only then updates the views and answers the
//! callers. It also replays the log at start-up (from the newest valid snapshot), keeps the
//! idempotency index, writes snapshots, rebuilds views as of any point and serves subscriptions.

pub mod clock;
pub mod core;
pub mod idempotency;
pub mod load;
pub mod outcome;
pub mod rebuild;
pub mod shared;
pub mod snapshot;
pub mod subscribe;
pub mod writer;

pub use clock::{Clock, HashIds, IdSource, ManualClock, SystemClock};
pub use core::{Core, CoreOptions, StartupReport, ViewUpdate};
pub use outcome::{EngineError, Outcome, Submission};
pub use rebuild::{RebuildSummary, rebuild};
pub use shared::Shared;
pub use subscribe::{LogReader, StoredRecord, StreamError, Subscription};
pub use writer::{Engine, EngineConfig, WriterStats};
