//! How a ledger record maps onto an EventStoreDB event, and back: the stream name, the event type,
//! the deterministic event id and the chain fields kept in the event's metadata.
//!
//! One record is one event. Its data is the record's payload, untouched. Its (user) metadata is a
//! fixed 81-byte binary block carrying the chain fields, so the chain and `verify` are the same on
//! every backend:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 1 | layout version, `1` |
//! | 1 | 8 | position, u64 little-endian (the stream revision plus one) |
//! | 9 | 8 | recorded time, microseconds since the Unix epoch UTC, i64 little-endian |
//! | 17 | 32 | previous record's hash (the genesis value for position 1) |
//! | 49 | 32 | this record's hash: SHA-256(prev hash ‖ canonical record bytes), see `docs/format.md` |
//!
//! Binary rather than JSON: fixed size, no parser, the same little-endian conventions as the file
//! format. The event id is derived from (fund id, position), so a re-sent append carries the same
//! ids and anyone can tell a duplicate from a different record at the same place.

use bytes::Bytes;
use fundledger_store::chain::{Hash, link};
use fundledger_store::{Position, RecordView};
use sha2::{Digest, Sha256};

/// The event type of every ledger record. A new layout gets a new type, never a changed meaning.
pub const event_type: &str = "fundledger.record.v1";
/// Default prefix of every fund's stream name; the fund id follows.
pub const stream_prefix_default: &str = "fundledger-";
/// Version byte of the metadata layout above.
pub const metadata_version: u8 = 1;
/// Size of the metadata block, in bytes.
pub const metadata_bytes: usize = 1 + 8 + 8 + 32 + 32;
/// Domain-separation prefix of event ids. Changing it changes every id: never do.
const event_id_prefix: &[u8] = b"fundledger event id v1\0";

/// The stream holding `fund_id`'s ledger: `prefix` then the fund id (`fundledger-<fund id>` by default).
pub fn stream_name(prefix: &str, fund_id: &str) -> String {
    format!("{prefix}{fund_id}")
}

/// The id of the event at `position` of `fund_id`'s ledger: the first 16 bytes of
/// SHA-256(prefix ‖ fund id ‖ 0 ‖ position LE), marked as a version-8 (custom) RFC 9562 UUID.
pub fn event_id(fund_id: &str, position: Position) -> uuid::Uuid {
    let mut hasher = Sha256::new();
    hasher.update(event_id_prefix);
    hasher.update(fund_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(position.to_le_bytes());
    let digest: [u8; 32] = hasher.finalize().into();
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// The chain fields of one record, as kept in its event's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainFields {
    pub position: Position,
    pub recorded_time_us: i64,
    pub prev_hash: Hash,
    pub hash: Hash,
}

impl ChainFields {
    pub fn encode(&self) -> [u8; metadata_bytes] {
        let mut out = [0u8; metadata_bytes];
        out[0] = metadata_version;
        out[1..9].copy_from_slice(&self.position.to_le_bytes());
        out[9..17].copy_from_slice(&self.recorded_time_us.to_le_bytes());
        out[17..49].copy_from_slice(&self.prev_hash);
        out[49..81].copy_from_slice(&self.hash);
        out
    }

    /// `None` if `bytes` is not a version-1 block of the right size.
    pub fn decode(bytes: &[u8]) -> Option<ChainFields> {
        if bytes.len() != metadata_bytes || bytes[0] != metadata_version {
            return None;
        }
        Some(ChainFields {
            position: u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes")),
            recorded_time_us: i64::from_le_bytes(bytes[9..17].try_into().expect("8 bytes")),
            prev_hash: bytes[17..49].try_into().expect("32 bytes"),
            hash: bytes[49..81].try_into().expect("32 bytes"),
        })
    }

    /// Whether `hash` is the link from `prev_hash` over this record and `payload`.
    pub fn links(&self, payload: &[u8]) -> bool {
        link(&self.prev_hash, self.position, self.recorded_time_us, payload) == self.hash
    }

    pub fn of_view(view: &RecordView<'_>, prev_hash: Hash) -> ChainFields {
        ChainFields {
            position: view.position(),
            recorded_time_us: view.recorded_time_us(),
            prev_hash,
            hash: *view.hash(),
        }
    }
}

/// One record ready to be sent: the event and what it is expected to look like when read back.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: uuid::Uuid,
    pub fields: ChainFields,
    pub payload: Bytes,
}

impl Outgoing {
    pub fn event_data(&self) -> eventstore::EventData {
        eventstore::EventData::binary(event_type, self.payload.clone())
            .id(self.id)
            .metadata(Bytes::copy_from_slice(&self.fields.encode()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_and_refuses_other_layouts() {
        let fields = ChainFields { position: 42, recorded_time_us: -7, prev_hash: [1; 32], hash: [2; 32] };
        let bytes = fields.encode();
        assert_eq!(ChainFields::decode(&bytes), Some(fields));
        let mut other_version = bytes;
        other_version[0] = 2;
        assert_eq!(ChainFields::decode(&other_version), None);
        assert_eq!(ChainFields::decode(&bytes[..80]), None);
    }

    #[test]
    fn event_ids_are_stable_per_fund_and_position() {
        let id = event_id("CN-620000-work-injury", 1);
        assert_eq!(id, event_id("CN-620000-work-injury", 1));
        assert_ne!(id, event_id("CN-620000-work-injury", 2));
        assert_ne!(id, event_id("CN-510000-work-injury", 1));
        assert_eq!(id.get_version_num(), 8);
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
    }
}
