//! The backend's knobs, each with its unit in the name. Connection details (hosts, TLS,
//! credentials) are not here: they come from the `esdb://` connection string.

use std::time::Duration;

/// How [`crate::EsdbLog`] behaves on top of the connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsdbOptions {
    /// Worker threads of the log's own tokio runtime (the client's connection tasks, the calls in
    /// flight, the catch-up subscription). Two keep one busy call from starving the rest.
    pub runtime_worker_threads: usize,
    /// Most attempts of one call (the first included) before it gives up with
    /// `StoreError::Backend`. Together with the backoff this bounds how long a leader election or
    /// a network blip may last before the engine stops.
    pub retry_attempts_max: u32,
    /// Pause before the second attempt; it doubles for each further attempt.
    pub retry_backoff_initial_ms: u64,
    /// Longest pause between two attempts.
    pub retry_backoff_max_ms: u64,
    /// How long one append may take before its outcome counts as unknown.
    pub append_deadline_ms: u64,
    /// How long one read (one page) may take.
    pub read_deadline_ms: u64,
    /// Most events fetched by one read (also bounded by `fundledger_store::read_batch_records_max`
    /// and about `read_batch_bytes_max` bytes).
    pub read_page_records_max: usize,
    /// Follow the stream with a catch-up subscription, so `watch()` also sees other processes'
    /// appends. Off, `watch()` sees only this log's own appends.
    pub follow_appends: bool,
    /// Prefix of the fund's stream name (the fund id follows). Change it only to keep several
    /// environments apart on one cluster, or for tests; the default is `fundledger-`.
    pub stream_prefix: String,
}

impl Default for EsdbOptions {
    fn default() -> Self {
        EsdbOptions {
            runtime_worker_threads: 2,
            // 50 ms doubling to 2 s over 10 attempts: about 10 s in all, longer than a typical
            // EventStoreDB leader election (a few seconds) and shorter than a client's patience.
            retry_attempts_max: 10,
            retry_backoff_initial_ms: 50,
            retry_backoff_max_ms: 2_000,
            append_deadline_ms: 10_000,
            read_deadline_ms: 30_000,
            read_page_records_max: fundledger_store::read_batch_records_max,
            follow_appends: true,
            stream_prefix: crate::codec::stream_prefix_default.to_string(),
        }
    }
}

impl EsdbOptions {
    /// Settings for tests against the in-process test server: tiny backoff, short deadlines.
    pub fn for_tests() -> Self {
        EsdbOptions {
            retry_backoff_initial_ms: 1,
            retry_backoff_max_ms: 20,
            append_deadline_ms: 2_000,
            read_deadline_ms: 10_000,
            ..EsdbOptions::default()
        }
    }

    /// The pause after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(self.retry_backoff_initial_ms.saturating_mul(factor).min(self.retry_backoff_max_ms))
    }

    pub(crate) fn append_deadline(&self) -> Duration {
        Duration::from_millis(self.append_deadline_ms)
    }

    pub(crate) fn read_deadline(&self) -> Duration {
        Duration::from_millis(self.read_deadline_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = EsdbOptions::default();
        let pauses: Vec<u64> = (1..=8).map(|attempt| options.backoff(attempt).as_millis() as u64).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1_600, 2_000, 2_000]);
        assert_eq!(options.backoff(u32::MAX), Duration::from_millis(2_000));
    }
}
