//! Snapshots: the decision state, the views and the idempotency index at a log position, so that
//! start-up replays only the log's tail.
//!
//! A snapshot is a cache, never a source of truth: it is used only if its checksum, format
//! version and policy digest match, and the log still holds the same hash at its position.
//! Anything else is skipped with a warning and the log is replayed; it never means wrong figures.
//!
//! File layout (`snapshot-<position, 20 digits>.fls`, little endian):
//! magic `FLSNAP01` (8) | format version u32 | position u64 | head hash (32) | policy digest (32)
//! | body length u64 | body | CRC32C of everything before it (u32). The body is postcard:
//! position, head hash, then the decision state, the views and the idempotency index each as a
//! byte string holding its own postcard encoding, so that the three decode on separate cores.
//!
//! The checksum is there to catch damage (a torn write, a flipped bit), so it is a CRC: about
//! twenty times faster than SHA-256 over the hundreds of megabytes a long ledger's snapshot
//! takes. A digest would add no protection against deliberate tampering either, since whoever
//! can rewrite the file can recompute it; what anchors a snapshot to the books is the check that
//! the log still holds the snapshot's head hash at its position. The payment book, the
//! idempotency index and the supervision view's payment runs, the bulk of the body, are flat
//! byte strings inside it, hash tables included as they lie in memory, so that loading is a
//! mapped read, a CRC pass and copies with every field checked, not millions of inserts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use fundledger_domain::compact::{ByteBuf, Bytes};
use fundledger_domain::{FundState, Policy};
use fundledger_projections::Views;
use fundledger_store::{EventLog, RecordBatch, block_on};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::idempotency::IdempotencyIndex;
use crate::outcome::EngineError;

const MAGIC: &[u8; 8] = b"FLSNAP01";
/// Bumped whenever the body's shape changes; older snapshots are then skipped (and replaced).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 11;
/// Snapshots kept on disk; older ones are deleted after a new one is written.
pub const SNAPSHOTS_KEPT: usize = 2;
const HEADER_BYTES: usize = 8 + 4 + 8 + 32 + 32 + 8;
const CHECKSUM_BYTES: usize = 4;

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotBody {
    pub position: u64,
    pub head_hash: [u8; 32],
    pub state: FundState,
    pub views: Views,
    pub idempotency: IdempotencyIndex,
}

/// A snapshot file that was not used, and why.
pub type Skipped = (PathBuf, String);

/// Writes snapshots (in the background or now) and finds the newest usable one.
pub struct Snapshotter {
    dir: PathBuf,
    policy_digest: [u8; 32],
    busy: Arc<(Mutex<bool>, Condvar)>,
}

/// The digest of a policy: a snapshot taken under another policy is not reused.
pub fn policy_digest(policy: &Policy) -> [u8; 32] {
    // The Debug form covers every field; a change of its shape between versions only costs a
    // replay, never a wrong figure.
    Sha256::digest(format!("{policy:?}").as_bytes()).into()
}

impl Snapshotter {
    pub fn new(dir: PathBuf, policy: &Policy) -> Snapshotter {
        Snapshotter { dir, policy_digest: policy_digest(policy), busy: Arc::new((Mutex::new(false), Condvar::new())) }
    }

    pub fn is_idle(&self) -> bool {
        !*self.busy.0.lock().expect("snapshot lock poisoned")
    }

    pub fn wait_idle(&self) {
        let (lock, cvar) = &*self.busy;
        let guard = lock.lock().expect("snapshot lock poisoned");
        let _guard = cvar.wait_while(guard, |busy| *busy).expect("snapshot lock poisoned");
    }

    /// Writes `body` on a background thread; the writer goes on at once.
    pub fn write_in_background(&self, body: SnapshotBody) {
        *self.busy.0.lock().expect("snapshot lock poisoned") = true;
        let (dir, digest, busy) = (self.dir.clone(), self.policy_digest, self.busy.clone());
        std::thread::Builder::new()
            .name("fundledger-snapshot".into())
            .spawn(move || {
                match write_snapshot(&dir, &digest, &body) {
                    Ok(path) => tracing::info!(path = %path.display(), position = body.position, "snapshot written"),
                    Err(err) => tracing::warn!(error = %err, "snapshot not written; start-up will replay more"),
                }
                let (lock, cvar) = &*busy;
                *lock.lock().expect("snapshot lock poisoned") = false;
                cvar.notify_all();
            })
            .expect("spawn snapshot thread");
    }

    pub fn write_now(&self, body: &SnapshotBody) -> Result<PathBuf, EngineError> {
        write_snapshot(&self.dir, &self.policy_digest, body)
            .map_err(|e| EngineError::Stopped(format!("writing snapshot in {}: {e}", self.dir.display())))
    }

    /// The newest snapshot that passes every check, and why each newer one was skipped.
    pub fn load_newest<L: EventLog + ?Sized>(
        &self,
        log: &L,
        head: u64,
    ) -> Result<(Option<SnapshotBody>, Vec<Skipped>), EngineError> {
        let mut skipped = Vec::new();
        for path in list_snapshots(&self.dir) {
            match self.load_checked(&path, log, head) {
                Ok(body) => return Ok((Some(body), skipped)),
                Err(why) => skipped.push((path, why)),
            }
        }
        Ok((None, skipped))
    }

    /// A snapshot is first checked against the log by its header (position and head hash), and
    /// only then decoded and checksummed: a snapshot of another log, or of a longer history than
    /// the log holds (a restored backup, a copied directory), costs a read of its first page,
    /// not a decode of hundreds of megabytes. The body's own position and hash must equal the
    /// header's (checked while decoding), so the check holds for the body too.
    fn load_checked<L: EventLog + ?Sized>(&self, path: &Path, log: &L, head: u64) -> Result<SnapshotBody, String> {
        let bytes = SnapshotBytes::open(path).map_err(|e| format!("cannot read: {e}"))?;
        if let Some((position, head_hash)) = header_anchor(bytes.as_slice()) {
            if position > head {
                return Err(format!("snapshot at position {position} is ahead of the log's head {head}"));
            }
            if position > 0 {
                let batch = block_on(log.read(position, RecordBatch::new())).map_err(|e| e.to_string())?;
                if batch.is_empty() || batch.first_position() != position || *batch.get(0).hash() != head_hash {
                    return Err(format!("the log's hash at position {position} differs from the snapshot's"));
                }
            }
        }
        // Without a readable header, decoding says what is wrong with the file.
        decode_snapshot(bytes.as_slice(), &self.policy_digest)
    }
}

/// A snapshot file's bytes: mapped from the page cache rather than copied into fresh memory
/// (hundreds of megabytes for a large ledger: the copy and its page faults were a third of
/// start-up), or read whole where mapping is not possible.
enum SnapshotBytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl SnapshotBytes {
    fn open(path: &Path) -> std::io::Result<SnapshotBytes> {
        let file = fs::File::open(path)?;
        // SAFETY: the mapping is only read, and only while this function's caller decodes it.
        // Snapshot files are written under a temporary name, synced and renamed into place, and
        // never modified afterwards; the engine only deletes old ones, and an unlinked file stays
        // mapped intact. Only a file truncated by hand during those seconds could fault.
        match unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
            Ok(map) => Ok(SnapshotBytes::Mapped(map)),
            Err(_) => fs::read(path).map(SnapshotBytes::Read),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            SnapshotBytes::Mapped(map) => map,
            SnapshotBytes::Read(bytes) => bytes,
        }
    }
}

/// Snapshot files in `dir`, newest (highest position) first.
pub fn list_snapshots(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let position = name.strip_prefix("snapshot-")?.strip_suffix(".fls")?.parse().ok()?;
            Some((position, e.path()))
        })
        .collect();
    found.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Encodes a snapshot file's bytes.
pub fn encode_snapshot(policy_digest: &[u8; 32], body: &SnapshotBody) -> Vec<u8> {
    let encoded = encode_body(body);
    let mut out = Vec::with_capacity(HEADER_BYTES + encoded.len() + CHECKSUM_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&body.position.to_le_bytes());
    out.extend_from_slice(&body.head_hash);
    out.extend_from_slice(policy_digest);
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.extend_from_slice(&encoded);
    let checksum = crc32c::crc32c(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Decodes and checks a snapshot file's bytes; the error says what is wrong.
pub fn decode_snapshot(bytes: &[u8], policy_digest: &[u8; 32]) -> Result<SnapshotBody, String> {
    if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
        return Err(format!("file of {} bytes is too short to be a snapshot", bytes.len()));
    }
    let (content, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    // The checksum runs on a second core while the body decodes; the body counts only if the
    // checksum holds (decoding damaged bytes safely fails or yields garbage that is dropped).
    let (intact, body) = std::thread::scope(|scope| {
        let crc = scope.spawn(|| crc32c::crc32c(content).to_le_bytes() == checksum);
        let body = decode_content(content, policy_digest);
        (crc.join().expect("the checksum thread panicked"), body)
    });
    if !intact {
        return Err("checksum mismatch: the file is damaged".into());
    }
    body
}

/// The position and head hash a snapshot file's header names, if it has a snapshot's header
/// (not yet checked against its checksum: see [`Snapshotter::load_newest`]).
fn header_anchor(bytes: &[u8]) -> Option<(u64, [u8; 32])> {
    if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES || &bytes[..8] != MAGIC {
        return None;
    }
    Some(header_position_and_hash(bytes))
}

/// The position and head hash fields of a header (at least `HEADER_BYTES` long).
fn header_position_and_hash(header: &[u8]) -> (u64, [u8; 32]) {
    let position = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    (position, header[20..52].try_into().expect("32 bytes"))
}

/// The checks and body of a snapshot whose checksum is verified alongside.
fn decode_content(content: &[u8], policy_digest: &[u8; 32]) -> Result<SnapshotBody, String> {
    if &content[..8] != MAGIC {
        return Err("not a fundledger snapshot (bad magic)".into());
    }
    let version = u32::from_le_bytes(content[8..12].try_into().expect("4 bytes"));
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(format!("format version {version}, this build reads {SNAPSHOT_FORMAT_VERSION}"));
    }
    if &content[52..84] != policy_digest {
        return Err("taken under a different policy".into());
    }
    let body_len = u64::from_le_bytes(content[84..92].try_into().expect("8 bytes"));
    if body_len != (content.len() - HEADER_BYTES) as u64 {
        return Err("body length does not match the file".into());
    }
    let body = decode_body(&content[HEADER_BYTES..]).map_err(|e| format!("body does not decode: {e}"))?;
    if (body.position, body.head_hash) != header_position_and_hash(content) {
        return Err("header and body disagree".into());
    }
    Ok(body)
}

/// The body: position, head hash, then the state, the views and the idempotency index each as a
/// byte string of its own postcard encoding, so that the three decode on separate cores.
fn encode_body(body: &SnapshotBody) -> Vec<u8> {
    let part = |encoded: Result<Vec<u8>, postcard::Error>| encoded.expect("snapshot bodies always serialize");
    let state = part(postcard::to_stdvec(&body.state));
    let views = part(postcard::to_stdvec(&body.views));
    let idempotency = part(postcard::to_stdvec(&body.idempotency));
    part(postcard::to_stdvec(&(body.position, body.head_hash, Bytes(&state), Bytes(&views), Bytes(&idempotency))))
}

fn decode_body(bytes: &[u8]) -> Result<SnapshotBody, postcard::Error> {
    type Wire<'a> = (u64, [u8; 32], ByteBuf<'a>, ByteBuf<'a>, ByteBuf<'a>);
    let (position, head_hash, state, views, idempotency): Wire<'_> = postcard::from_bytes(bytes)?;
    let (state, views, idempotency) = std::thread::scope(|scope| {
        let state = scope.spawn(|| postcard::from_bytes::<FundState>(&state.0));
        let views = scope.spawn(|| postcard::from_bytes::<Views>(&views.0));
        let idempotency = postcard::from_bytes::<IdempotencyIndex>(&idempotency.0);
        let panicked = "a snapshot decoding thread panicked";
        (state.join().expect(panicked), views.join().expect(panicked), idempotency)
    });
    Ok(SnapshotBody { position, head_hash, state: state?, views: views?, idempotency: idempotency? })
}

/// Writes atomically: a temporary file, fsync, rename, directory fsync; then prunes old ones.
fn write_snapshot(dir: &Path, policy_digest: &[u8; 32], body: &SnapshotBody) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let bytes = encode_snapshot(policy_digest, body);
    let path = dir.join(format!("snapshot-{:020}.fls", body.position));
    let tmp = dir.join(format!("snapshot-{:020}.fls.tmp", body.position));
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, &path)?;
    fs::File::open(dir)?.sync_all()?;
    for old in list_snapshots(dir).into_iter().skip(SNAPSHOTS_KEPT) {
        let _ = fs::remove_file(old);
    }
    Ok(path)
}
