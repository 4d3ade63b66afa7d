//! Test support for this crate and later ones: an in-memory [`Storage`] that can simulate a
//! crash (process or power loss), a fault-injecting wrapper (fail the Nth write or sync, tear a
//! write at any byte), bit flips, and self-cleaning temporary directories.

use std::any::Any;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::storage::{LockFailure, Storage, StorageFile};

#[derive(Debug, Default)]
struct MemFileData {
    /// What a reader sees (the page cache).
    volatile: Vec<u8>,
    /// What survives a power loss (written and synced).
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct MemFile {
    data: Mutex<MemFileData>,
}

#[derive(Debug, Default)]
struct MemDir {
    /// The names a reader sees.
    volatile: BTreeMap<String, Arc<MemFile>>,
    /// The names that survive a power loss (as of the last directory sync).
    durable: BTreeMap<String, Arc<MemFile>>,
}

#[derive(Debug, Default)]
struct MemShared {
    dir: Mutex<MemDir>,
    locked: AtomicBool,
}

/// An in-memory directory. Clones share the same files, so a test can drop a log, "crash" the
/// storage and reopen it.
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    shared: Arc<MemShared>,
    path: PathBuf,
}

impl MemStorage {
    pub fn new() -> Self {
        MemStorage { shared: Arc::default(), path: PathBuf::from("<memory>") }
    }

    /// An independent copy of every file (visible and durable contents, and both directory
    /// views), so a test can set a log up once and run many scenarios from that state.
    pub fn deep_clone(&self) -> MemStorage {
        let dir = self.shared.dir.lock().expect("mem dir poisoned");
        let mut copies: Vec<(Arc<MemFile>, Arc<MemFile>)> = Vec::new();
        let mut copy = |file: &Arc<MemFile>| {
            if let Some((_, copied)) = copies.iter().find(|(original, _)| Arc::ptr_eq(original, file)) {
                return Arc::clone(copied);
            }
            let data = file.data.lock().expect("mem file poisoned");
            let copied = Arc::new(MemFile {
                data: Mutex::new(MemFileData { volatile: data.volatile.clone(), durable: data.durable.clone() }),
            });
            copies.push((Arc::clone(file), Arc::clone(&copied)));
            copied
        };
        let volatile = dir.volatile.iter().map(|(name, file)| (name.clone(), copy(file))).collect();
        let durable = dir.durable.iter().map(|(name, file)| (name.clone(), copy(file))).collect();
        let shared = MemShared { dir: Mutex::new(MemDir { volatile, durable }), locked: AtomicBool::new(false) };
        MemStorage { shared: Arc::new(shared), path: self.path.clone() }
    }

    /// A process crash: the page cache survives, so nothing written is lost. (Dropping the log
    /// releases the lock; this exists to make tests say what they simulate.)
    pub fn crash_process(&self) {}

    /// A power loss: every file goes back to its last synced contents, and the directory to its
    /// last synced entries.
    pub fn crash_power(&self) {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        dir.volatile = dir.durable.clone();
        for file in dir.volatile.values() {
            let mut data = file.data.lock().expect("mem file poisoned");
            data.volatile = data.durable.clone();
        }
    }

    /// Flips one bit of a file (in both its visible and its durable contents).
    pub fn flip_bit(&self, name: &str, offset: u64, bit: u8) {
        assert!(bit < 8, "a byte has 8 bits");
        let file = self.file(name).expect("no such file");
        let mut data = file.data.lock().expect("mem file poisoned");
        data.volatile[offset as usize] ^= 1 << bit;
        data.durable[offset as usize] ^= 1 << bit;
    }

    /// A copy of a file's visible contents.
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        self.file(name).map(|file| file.data.lock().expect("mem file poisoned").volatile.clone())
    }

    /// Replaces a file's contents (visible and durable), creating it if needed.
    pub fn set_contents(&self, name: &str, bytes: &[u8]) {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        let file =
            Arc::new(MemFile { data: Mutex::new(MemFileData { volatile: bytes.to_vec(), durable: bytes.to_vec() }) });
        dir.volatile.insert(name.to_owned(), Arc::clone(&file));
        dir.durable.insert(name.to_owned(), file);
    }

    /// Removes a file (visibly and durably).
    pub fn delete(&self, name: &str) {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        dir.volatile.remove(name);
        dir.durable.remove(name);
    }

    fn file(&self, name: &str) -> Option<Arc<MemFile>> {
        self.shared.dir.lock().expect("mem dir poisoned").volatile.get(name).cloned()
    }
}

#[derive(Debug)]
struct MemHandle(Arc<MemFile>);

impl StorageFile for MemHandle {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = self.0.data.lock().expect("mem file poisoned");
        let start = offset as usize;
        if start + buf.len() > data.volatile.len() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of file"));
        }
        buf.copy_from_slice(&data.volatile[start..start + buf.len()]);
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut data = self.0.data.lock().expect("mem file poisoned");
        let end = offset as usize + buf.len();
        if data.volatile.len() < end {
            data.volatile.resize(end, 0);
        }
        data.volatile[offset as usize..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut data = self.0.data.lock().expect("mem file poisoned");
        let MemFileData { volatile, durable } = &mut *data;
        durable.clone_from(volatile);
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.data.lock().expect("mem file poisoned").volatile.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.data.lock().expect("mem file poisoned").volatile.resize(len as usize, 0);
        Ok(())
    }
}

struct MemLockGuard(Arc<MemShared>);

impl Drop for MemLockGuard {
    fn drop(&mut self) {
        self.0.locked.store(false, Ordering::SeqCst);
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file {name}"))
}

impl Storage for MemStorage {
    fn path(&self) -> &Path {
        &self.path
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.shared.dir.lock().expect("mem dir poisoned").volatile.keys().cloned().collect())
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let file = self.file(name).ok_or_else(|| not_found(name))?;
        Ok(Arc::new(MemHandle(file)))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        if dir.volatile.contains_key(name) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{name} exists")));
        }
        let file = Arc::new(MemFile::default());
        dir.volatile.insert(name.to_owned(), Arc::clone(&file));
        Ok(Arc::new(MemHandle(file)))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        let file = dir.volatile.remove(from).ok_or_else(|| not_found(from))?;
        dir.volatile.insert(to.to_owned(), file);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        dir.volatile.remove(name).map(|_| ()).ok_or_else(|| not_found(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut dir = self.shared.dir.lock().expect("mem dir poisoned");
        dir.durable = dir.volatile.clone();
        Ok(())
    }

    fn lock(&self) -> Result<Box<dyn Any + Send + Sync>, LockFailure> {
        if self.shared.locked.swap(true, Ordering::SeqCst) {
            return Err(LockFailure::Held { holder_pid: std::process::id().to_string() });
        }
        Ok(Box::new(MemLockGuard(Arc::clone(&self.shared))))
    }
}

/// One fault to inject. Writes and syncs are counted from 0 after [`FaultyStorage::arm`];
/// directory syncs count as syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault: only count.
    None,
    /// The `nth` write fails without writing anything.
    FailWrite { nth: u64 },
    /// The `nth` write writes only its first `keep_bytes` bytes, then fails.
    TearWrite { nth: u64, keep_bytes: usize },
    /// The `nth` sync fails. With `durable`, the data did become durable first (the failure is
    /// only reported): the case where a batch is durable although its append returned an error.
    FailSync { nth: u64, durable: bool },
}

#[derive(Debug)]
struct Plan {
    fault: Mutex<Fault>,
    writes: AtomicU64,
    syncs: AtomicU64,
    triggered: AtomicBool,
    /// Offset and length of every write since the last arm, in order.
    writes_made: Mutex<Vec<(u64, usize)>>,
}

impl Plan {
    fn next_write(&self, offset: u64, len: usize) -> Option<Option<usize>> {
        let nth = self.writes.fetch_add(1, Ordering::SeqCst);
        self.writes_made.lock().expect("plan poisoned").push((offset, len));
        match *self.fault.lock().expect("plan poisoned") {
            Fault::FailWrite { nth: n } if n == nth => Some(None),
            Fault::TearWrite { nth: n, keep_bytes } if n == nth => Some(Some(keep_bytes)),
            _ => None,
        }
        .inspect(|_| self.triggered.store(true, Ordering::SeqCst))
    }

    fn next_sync(&self) -> Option<bool> {
        let nth = self.syncs.fetch_add(1, Ordering::SeqCst);
        match *self.fault.lock().expect("plan poisoned") {
            Fault::FailSync { nth: n, durable } if n == nth => Some(durable),
            _ => None,
        }
        .inspect(|_| self.triggered.store(true, Ordering::SeqCst))
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

/// Wraps a [`Storage`] and injects one [`Fault`] into its files' writes and syncs.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    inner: Arc<dyn Storage>,
    plan: Arc<Plan>,
}

impl FaultyStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        let plan = Plan {
            fault: Mutex::new(Fault::None),
            writes: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            triggered: AtomicBool::new(false),
            writes_made: Mutex::new(Vec::new()),
        };
        FaultyStorage { inner, plan: Arc::new(plan) }
    }

    /// Sets the fault and restarts the write and sync counters.
    pub fn arm(&self, fault: Fault) {
        *self.plan.fault.lock().expect("plan poisoned") = fault;
        self.plan.writes.store(0, Ordering::SeqCst);
        self.plan.syncs.store(0, Ordering::SeqCst);
        self.plan.triggered.store(false, Ordering::SeqCst);
        self.plan.writes_made.lock().expect("plan poisoned").clear();
    }

    /// The length of every write since the last `arm`, in order (to plan tears at every byte).
    pub fn write_sizes(&self) -> Vec<usize> {
        self.writes().into_iter().map(|(_, len)| len).collect()
    }

    /// The offset and length of every write since the last `arm`, in order.
    pub fn writes(&self) -> Vec<(u64, usize)> {
        self.plan.writes_made.lock().expect("plan poisoned").clone()
    }

    /// (writes, syncs) since the last `arm`.
    pub fn counts(&self) -> (u64, u64) {
        (self.plan.writes.load(Ordering::SeqCst), self.plan.syncs.load(Ordering::SeqCst))
    }

    /// Whether the armed fault has fired.
    pub fn triggered(&self) -> bool {
        self.plan.triggered.load(Ordering::SeqCst)
    }
}

#[derive(Debug)]
struct FaultyFile {
    inner: Arc<dyn StorageFile>,
    plan: Arc<Plan>,
}

impl StorageFile for FaultyFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        match self.plan.next_write(offset, buf.len()) {
            None => self.inner.write_all_at(buf, offset),
            Some(None) => Err(injected("write failed")),
            Some(Some(keep_bytes)) => {
                self.inner.write_all_at(&buf[..keep_bytes.min(buf.len())], offset)?;
                Err(injected("torn write"))
            }
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        match self.plan.next_sync() {
            None => self.inner.sync_data(),
            Some(durable) => {
                if durable {
                    self.inner.sync_data()?;
                }
                Err(injected("sync failed"))
            }
        }
    }

    fn sync_all(&self) -> io::Result<()> {
        match self.plan.next_sync() {
            None => self.inner.sync_all(),
            Some(durable) => {
                if durable {
                    self.inner.sync_all()?;
                }
                Err(injected("sync failed"))
            }
        }
    }

    fn size_bytes(&self) -> io::Result<u64> {
        self.inner.size_bytes()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn allocate(&self, len: u64) -> io::Result<bool> {
        self.inner.allocate(len)
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.start_writeback(offset, len)
    }
}

impl Storage for FaultyStorage {
    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let inner = self.inner.open(name)?;
        Ok(Arc::new(FaultyFile { inner, plan: Arc::clone(&self.plan) }))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let inner = self.inner.create(name)?;
        Ok(Arc::new(FaultyFile { inner, plan: Arc::clone(&self.plan) }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }

    fn sync_dir(&self) -> io::Result<()> {
        match self.plan.next_sync() {
            None => self.inner.sync_dir(),
            Some(durable) => {
                if durable {
                    self.inner.sync_dir()?;
                }
                Err(injected("directory sync failed"))
            }
        }
    }

    fn lock(&self) -> Result<Box<dyn Any + Send + Sync>, LockFailure> {
        self.inner.lock()
    }
}

/// Flips one bit of a real file.
pub fn flip_bit_in_file(path: &Path, offset: u64, bit: u8) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    assert!(bit < 8, "a byte has 8 bits");
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path)?;
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset)?;
    byte[0] ^= 1 << bit;
    file.write_all_at(&byte, offset)?;
    file.sync_data()
}

/// A fresh, empty directory `base/{family}-{name}-{pid}-{n}` owned by this process, for test
/// data kept in statics (which are never dropped, so a [`TempDir`] would never be removed).
///
/// The directory holds a file `.owner` that this process keeps locked (`flock`) until it exits.
/// Before making a new one, directories of the same family whose lock can be taken, because
/// their process is gone, are removed, so runs do not pile up. A lock is a better witness than a
/// process id: two runs in different PID namespaces sharing one target directory see different
/// `/proc`s, and may even have the same pid. The directory is made under a temporary name and
/// renamed once locked, so a sweep never sees it unlocked.
pub fn process_scratch_dir(base: &Path, family: &str, name: &str) -> io::Result<PathBuf> {
    static OWNED: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(base)?;
    let prefix = format!("{family}-");
    for entry in std::fs::read_dir(base)?.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        // No owner file: not made by this function; leave it.
        let Ok(owner) = std::fs::File::open(entry.path().join(".owner")) else { continue };
        if owner.try_lock().is_ok() {
            // Another sweeper may be removing it at the same time: that is no failure.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let unique = format!("{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
    let making = base.join(format!(".making-{family}-{unique}"));
    std::fs::create_dir(&making)?;
    let owner = std::fs::File::create(making.join(".owner"))?;
    owner.lock()?;
    let dir = base.join(format!("{family}-{unique}"));
    std::fs::rename(&making, &dir)?;
    OWNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(owner);
    Ok(dir)
}

/// A fresh directory under `$FUNDLEDGER_TEST_DIR` (or the system temp dir), removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::var_os("FUNDLEDGER_TEST_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let unique = format!("fundledger-{label}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let path = base.join(unique);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_scratch_dir_is_fresh_owned_and_sweeps_only_unowned_dirs_of_its_family() {
        let base = TempDir::new("scratch-sweep").unwrap();
        let family_dir = |name: &str| base.path().join(name);
        // A run that is gone: an owner file nobody holds locked.
        let gone = family_dir("fam-a-1-0");
        // A live run: its owner file is locked (here by another open file description).
        let live = family_dir("fam-a-2-0");
        // Not made by this function (no owner file), and another family's gone run.
        let unowned = family_dir("fam-legacy");
        let other_family = family_dir("else-a-1-0");
        for dir in [&gone, &live, &unowned, &other_family] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("f"), b"x").unwrap();
        }
        for dir in [&gone, &live, &other_family] {
            std::fs::File::create(dir.join(".owner")).unwrap();
        }
        let holder = std::fs::File::open(live.join(".owner")).unwrap();
        holder.lock().unwrap();

        let first = process_scratch_dir(base.path(), "fam", "t").unwrap();
        let second = process_scratch_dir(base.path(), "fam", "t").unwrap();
        assert_ne!(first, second, "each call gets its own directory");
        for dir in [&first, &second] {
            let entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name()).collect();
            assert_eq!(entries, vec![std::ffi::OsString::from(".owner")], "{dir:?} starts empty but for its lock");
            assert!(dir.file_name().unwrap().to_string_lossy().starts_with("fam-t-"));
            // This process holds it: another open file description cannot take the lock.
            let probe = std::fs::File::open(dir.join(".owner")).unwrap();
            assert!(probe.try_lock().is_err(), "{dir:?} is owned while this process lives");
        }
        assert!(!gone.exists(), "a gone run's directory is swept");
        assert!(live.join("f").exists(), "a live run's directory is kept");
        assert!(unowned.join("f").exists(), "a directory without an owner file is kept");
        assert!(other_family.join("f").exists(), "another family's directory is kept");
        let making: Vec<_> = std::fs::read_dir(base.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".making-"))
            .collect();
        assert!(making.is_empty(), "no directory is left under its temporary name");
    }
}
