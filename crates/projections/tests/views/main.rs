//! The views' tests, one binary: worked examples asserted to the fen, every flag and signal,
//! as-of rebuilds, and a property test against a naive model.

mod as_of;
mod model;
mod signals;
mod support;
mod worked;
