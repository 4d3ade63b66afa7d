//! The engine's injected sources of time and ids. Tests and replays pass deterministic ones, so
//! nothing the engine records depends on the wall clock unless the caller wants it to.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sha2::{Digest, Sha256};

/// A source of "now", in microseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync {
    fn now_micros(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> i64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since.as_micros()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; shared between a test and the engine.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_micros: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(start_micros)))
    }

    pub fn set(&self, micros: i64) {
        self.0.store(micros, Ordering::SeqCst);
    }

    pub fn advance(&self, micros: i64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A source of 16-byte event ids.
pub trait IdSource: Send {
    fn next_id(&mut self) -> [u8; 16];
}

/// Ids from SHA-256 of a seed and a counter: unique, deterministic for a given seed, and
/// unpredictable enough for an id. Production seeds it from the log's head hash and the wall
/// clock at start-up; tests seed it with a constant.
#[derive(Debug, Clone)]
pub struct HashIds {
    seed: [u8; 32],
    counter: u64,
}

impl HashIds {
    pub fn new(seed: &[u8]) -> HashIds {
        HashIds { seed: Sha256::digest(seed).into(), counter: 0 }
    }
}

impl IdSource for HashIds {
    fn next_id(&mut self) -> [u8; 16] {
        self.counter += 1;
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update(self.counter.to_le_bytes());
        let digest = hasher.finalize();
        digest[..16].try_into().expect("16 of 32 bytes")
    }
}
