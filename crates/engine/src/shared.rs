//! What the writer shares with readers: the views (behind a read-write lock, updated once per
//! durable batch), the position they are applied through, and whether the engine has stopped.

use std::sync::{Condvar, Mutex, RwLock};

use fundledger_projections::Views;
use fundledger_store::Head;
use tokio::sync::watch;

/// The views and their progress, shared by the writer and every query.
pub struct Shared {
    views: RwLock<Views>,
    /// The head the views are applied through; queries wait on it for read-your-writes.
    applied: watch::Sender<Head>,
    /// The same head, for blocking waiters.
    applied_at: Mutex<Head>,
    applied_changed: Condvar,
    stopped: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(views: Views, head: Head) -> Shared {
        Shared {
            views: RwLock::new(views),
            applied: watch::Sender::new(head),
            applied_at: Mutex::new(head),
            applied_changed: Condvar::new(),
            stopped: Mutex::new(None),
        }
    }

    /// Runs `read` on the current views.
    pub fn read<T>(&self, read: impl FnOnce(&Views) -> T) -> T {
        read(&self.views.read().expect("views lock poisoned"))
    }

    /// A copy of the current views (snapshots).
    pub fn views_clone(&self) -> Views {
        self.read(Views::clone)
    }

    /// The head the views currently reflect.
    pub fn applied(&self) -> Head {
        *self.applied.borrow()
    }

    /// A receiver that sees every new applied head (for waiting on `min_position`).
    pub fn subscribe_applied(&self) -> watch::Receiver<Head> {
        self.applied.subscribe()
    }

    /// Waits, on the current thread, until the views reach `position`, the engine stops, or
    /// `timeout` passes. Returns the applied head either way.
    pub fn wait_applied_blocking(&self, position: u64, timeout: std::time::Duration) -> Head {
        let guard = self.applied_at.lock().expect("applied lock poisoned");
        let (guard, _) = self
            .applied_changed
            .wait_timeout_while(guard, timeout, |head| head.position < position && self.stopped().is_none())
            .expect("applied lock poisoned");
        *guard
    }

    pub(crate) fn apply(&self, head: Head, fold: impl FnOnce(&mut Views)) {
        fold(&mut self.views.write().expect("views lock poisoned"));
        self.applied.send_replace(head);
        *self.applied_at.lock().expect("applied lock poisoned") = head;
        self.applied_changed.notify_all();
    }

    pub(crate) fn stop(&self, why: String) {
        *self.stopped.lock().expect("stop lock poisoned") = Some(why);
        // Wake waiters so they notice.
        self.applied.send_modify(|_| {});
        let _guard = self.applied_at.lock().expect("applied lock poisoned");
        self.applied_changed.notify_all();
    }

    /// Why the engine stopped, if it did.
    pub fn stopped(&self) -> Option<String> {
        self.stopped.lock().expect("stop lock poisoned").clone()
    }
}
