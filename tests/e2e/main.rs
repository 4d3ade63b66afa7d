//! The end-to-end tests: one integration binary (target `e2e`). Each test starts the real server
//! on 127.0.0.1:0 and drives it with a real tonic client.

mod api;
mod cli;
