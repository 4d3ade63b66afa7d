//! Reading a running server as an auditor does: stream the log with `LedgerAudit/ReadEvents`,
//! re-verify every hash-chain link client-side, and fold the views locally. `report --server`
//! uses it, so the figures a remote report shows are recomputed from the chain, not trusted.

use std::sync::Arc;

use fundledger_api::pb;
use fundledger_domain::Policy;
use fundledger_projections::{EventMeta, Views};
use fundledger_store::chain;
use tonic::metadata::MetadataValue;

use crate::error::CliError;
use crate::progress;

/// Connects to `url`, streams the whole log and folds it into fresh views.
pub fn fold_views(url: &str, token: Option<&str>, policy: Arc<Policy>) -> Result<Views, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Config(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(fold(url, token, policy))
}

async fn fold(url: &str, token: Option<&str>, policy: Arc<Policy>) -> Result<Views, CliError> {
    fundledger_api::server::install_crypto_provider();
    let unreachable = |e: &dyn std::fmt::Display| CliError::Config(format!("cannot reach the server at {url}: {e}"));
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .map_err(|e| {
            CliError::Config(format!("server address {url:?} is not a URL such as http://127.0.0.1:50051: {e}"))
        })?
        .connect()
        .await
        .map_err(|e| unreachable(&e))?;
    let bearer = match token {
        Some(t) => Some(
            MetadataValue::try_from(format!("Bearer {t}"))
                .map_err(|_| CliError::Config("the token holds characters a header cannot carry".into()))?,
        ),
        None => None,
    };
    let mut client =
        pb::ledger_audit_client::LedgerAuditClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            if let Some(value) = &bearer {
                request.metadata_mut().insert("authorization", value.clone());
            }
            Ok(request)
        })
        .max_decoding_message_size(64 << 20);
    let status = |e: tonic::Status| CliError::Config(format!("the server refused: {} ({:?})", e.message(), e.code()));
    let digest = client.get_digest(pb::GetDigestRequest::default()).await.map_err(status)?.into_inner();
    let bar = progress::bar(digest.position, "reading the server's log");
    let mut stream = client
        .read_events(pb::ReadEventsRequest { from_position: 1, to_position: digest.position })
        .await
        .map_err(status)?
        .into_inner();
    let mut views = Views::new(&policy);
    let mut expected_prev = chain::genesis(&policy.fund_id);
    let mut expected_position = 1u64;
    while let Some(record) = stream.message().await.map_err(status)? {
        let damaged =
            |why: String| CliError::Damaged { dir: url.into(), detail: format!("position {}: {why}", record.position) };
        if record.position != expected_position {
            return Err(damaged(format!("expected position {expected_position}")));
        }
        if record.prev_hash.as_slice() != expected_prev {
            return Err(damaged("its previous hash is not the hash of the record before it".into()));
        }
        let link = chain::link(&expected_prev, record.position, record.recorded_time_us, &record.payload);
        if record.hash.as_slice() != link {
            return Err(damaged("its hash is not SHA-256(previous hash || record)".into()));
        }
        let decoded = fundledger_wire::decode_event_only(&record.payload).map_err(|e| damaged(e.to_string()))?;
        if let Some(recorded) = decoded {
            views.apply(
                &EventMeta { position: record.position, recorded_at_micros: record.recorded_time_us },
                &recorded.event,
            );
        }
        expected_prev = link;
        expected_position += 1;
        bar.set_position(record.position);
    }
    bar.finish_and_clear();
    if expected_position - 1 != digest.position {
        return Err(CliError::Config(format!(
            "the server's stream ended at position {} before the head {} it reported",
            expected_position - 1,
            digest.position
        )));
    }
    Ok(views)
}
