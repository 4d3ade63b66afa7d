//! The fundledger log on EventStoreDB / KurrentDB: the [`EventLog`] contract on one stream per
//! fund, through the `eventstore` client (4.x), for high availability and multi-site operation.
//!
//! What it keeps from the embedded log, and how:
//! - **the chain**: each record is one event whose data is the payload and whose metadata carries
//!   position, recorded time, previous hash and hash ([`codec`]); hashes are computed with
//!   `fundledger_store::chain::link` before sending, so `verify` is identical across backends;
//! - **the fence**: an append states the expected stream revision (`head - 1`, or "no stream"
//!   when empty); a mismatch is the same [`StoreError::Conflict`] the file log gives;
//! - **exactly once**: connection loss, leader changes and timeouts are retried with bounded
//!   backoff; an append whose outcome is unknown is resolved by reading the stream back before
//!   anything is re-sent, never by writing twice ([`EsdbLog`]'s `append`);
//! - **watch**: a background catch-up subscription publishes every new head, including appends
//!   made by other processes.
//!
//! What it does not do: replicate, elect or persist anything itself. That is the cluster's job.
//!
//! Runtime: the `eventstore` client needs tokio, but the engine drives the log from a plain thread
//! with `fundledger_store::block_on`. So the log owns a small tokio runtime, runs every call on it,
//! and hands back a future that only awaits the task's `JoinHandle`, which any executor can poll.

// Limits are named in lower snake case with their unit, as in the rest of the workspace.
#![allow(non_upper_case_globals)]

pub mod codec;
mod log;
mod options;

pub use fundledger_store::{EventLog, StoreError};
pub use log::EsdbLog;
pub use options::EsdbOptions;

/// The environment variable naming a real server for the contract suite and benches
/// (e.g. `esdb://admin:changeit@127.0.0.1:2113?tls=false`).
pub const esdb_url_env: &str = "FUNDLEDGER_ESDB_URL";

/// Whether `store` (a `--store` value from configuration) selects this backend.
pub fn is_esdb_url(store: &str) -> bool {
    store.starts_with("esdb://") || store.starts_with("esdb+discover://")
}

/// `url` with any password replaced by `***`, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{hosts}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact_url("esdb://admin:changeit@node1:2113,node2:2113?tls=true"),
            "esdb://admin:***@node1:2113,node2:2113?tls=true"
        );
        assert_eq!(redact_url("esdb://127.0.0.1:2113?tls=false"), "esdb://127.0.0.1:2113?tls=false");
        assert!(is_esdb_url("esdb+discover://cluster.example:2113"));
        assert!(!is_esdb_url("/var/lib/fundledger"));
    }
}
