//! Head-moved notification: a watch-like cell on std `Mutex` + `Condvar` that blocking threads
//! wait on with [`HeadWatch::wait_past`] and async tasks with [`HeadWatch::changed`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::record::{Head, Position};

#[derive(Debug)]
struct State {
    head: Head,
    wakers: Vec<Waker>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    moved: Condvar,
}

/// The backend's side: publishes each new durable head.
#[derive(Debug)]
pub struct HeadNotifier {
    shared: Arc<Shared>,
}

impl HeadNotifier {
    pub fn new(initial: Head) -> Self {
        let state = State { head: initial, wakers: Vec::new() };
        HeadNotifier { shared: Arc::new(Shared { state: Mutex::new(state), moved: Condvar::new() }) }
    }

    /// Records a new head and wakes every waiter. Heads only move forward.
    pub fn publish(&self, head: Head) {
        let wakers = {
            let mut state = self.shared.state.lock().expect("head watch poisoned");
            assert!(head.position >= state.head.position, "head moved backwards");
            state.head = head;
            std::mem::take(&mut state.wakers)
        };
        self.shared.moved.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    pub fn watch(&self) -> HeadWatch {
        HeadWatch { shared: Arc::clone(&self.shared) }
    }
}

/// A subscriber's side. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HeadWatch {
    shared: Arc<Shared>,
}

impl HeadWatch {
    /// The last published head.
    pub fn current(&self) -> Head {
        self.shared.state.lock().expect("head watch poisoned").head
    }

    /// Blocks until the head's position is greater than `after`; returns that head.
    pub fn wait_past(&self, after: Position) -> Head {
        let state = self.shared.state.lock().expect("head watch poisoned");
        let state =
            self.shared.moved.wait_while(state, |state| state.head.position <= after).expect("head watch poisoned");
        state.head
    }

    /// Like [`Self::wait_past`], giving up after `timeout` (returns `None` then).
    pub fn wait_past_timeout(&self, after: Position, timeout: Duration) -> Option<Head> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock().expect("head watch poisoned");
        while state.head.position <= after {
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self.shared.moved.wait_timeout(state, left).expect("head watch poisoned").0;
        }
        Some(state.head)
    }

    /// A future that resolves to the head once its position is greater than `after`.
    pub fn changed(&self, after: Position) -> HeadChanged {
        HeadChanged { shared: Arc::clone(&self.shared), after }
    }
}

/// Future returned by [`HeadWatch::changed`].
#[derive(Debug)]
pub struct HeadChanged {
    shared: Arc<Shared>,
    after: Position,
}

impl Future for HeadChanged {
    type Output = Head;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Head> {
        let mut state = self.shared.state.lock().expect("head watch poisoned");
        if state.head.position > self.after {
            return Poll::Ready(state.head);
        }
        if !state.wakers.iter().any(|waker| waker.will_wake(context.waker())) {
            state.wakers.push(context.waker().clone());
        }
        Poll::Pending
    }
}
