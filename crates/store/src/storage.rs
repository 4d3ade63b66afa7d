//! The IO seam under the file log (after redb's StorageBackend): a directory of named files.
//! [`DirStorage`] is the real one; `testing` has an in-memory one and a fault-injecting wrapper,
//! so crash and fault tests exercise the real file-format code.

use std::any::Any;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open file. Offsets are absolute; reads and writes are whole (no short counts).
pub trait StorageFile: Send + Sync + Debug {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes written data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes data and metadata (size) durable (`fsync`).
    fn sync_all(&self) -> io::Result<()>;
    fn size_bytes(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves disk blocks for bytes `0..len` without writing them (`fallocate`), extending
    /// the file. Returns `Ok(false)` where that is not supported (the caller then writes zeros).
    fn allocate(&self, _len: u64) -> io::Result<bool> {
        Ok(false)
    }
    /// Starts writing a range back to the device without waiting (`sync_file_range` with
    /// `SYNC_FILE_RANGE_WRITE`): a hint that lets the device work while the CPU frames the rest
    /// of a large batch. Durability still comes only from `sync_data`.
    fn start_writeback(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// Writes zeros over bytes `0..len` of a new file, extending it (a segment's preallocation),
    /// and says how. This default writes them through the page cache, in chunks.
    fn write_zeros(&self, len: u64) -> io::Result<ZeroFill> {
        write_zeros_at(self, &vec![0u8; zero_chunk_bytes], 0, len)?;
        Ok(ZeroFill::ThroughCache)
    }
    /// A read-only map of the whole file, so that bytes which no longer change (a sealed
    /// segment's) are read in place instead of copied; `Ok(None)` where files are not mapped
    /// (then the caller reads them with [`StorageFile::read_exact_at`]).
    fn map(&self) -> io::Result<Option<Arc<Mapping>>> {
        Ok(None)
    }
}

/// A read-only memory map of a whole file (see [`StorageFile::map`]).
pub type Mapping = memmap2::Mmap;

/// How [`StorageFile::write_zeros`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroFill {
    /// Straight to the device (`O_DIRECT`), but for a tail shorter than the alignment.
    Direct,
    /// Through the page cache.
    ThroughCache,
}

/// Zeros are written in chunks of this many bytes.
const zero_chunk_bytes: usize = 1 << 20;
/// Offsets, lengths and buffers of `O_DIRECT` writes are multiples of this (the largest logical
/// block size in common use, and the page size).
const direct_align_bytes: usize = 4096;

/// Writes `zeros` (a chunk of them) repeatedly over `offset..end`.
fn write_zeros_at<F: StorageFile + ?Sized>(file: &F, zeros: &[u8], mut offset: u64, end: u64) -> io::Result<()> {
    while offset < end {
        let len = (end - offset).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..len], offset)?;
        offset += len as u64;
    }
    Ok(())
}

/// Why the writer lock could not be taken.
#[derive(Debug)]
pub enum LockFailure {
    /// Someone else holds it; their pid as written in the lock file.
    Held {
        holder_pid: String,
    },
    Io(io::Error),
}

/// A directory of named files, plus its writer lock.
pub trait Storage: Send + Sync + Debug {
    /// Where this is, for error messages.
    fn path(&self) -> &Path;
    /// Names of the files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>>;
    /// Creates a new, empty file (fails if it exists).
    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Takes the single-writer lock; it is held until the returned guard is dropped.
    fn lock(&self) -> Result<Box<dyn Any + Send + Sync>, LockFailure>;
}

/// Name of the lock file in a log directory.
pub const lock_file_name: &str = "LOCK";

/// The real thing: a directory on a local file system.
#[derive(Debug, Clone)]
pub struct DirStorage {
    dir: PathBuf,
}

impl DirStorage {
    /// Uses `dir`, creating it (and its parents) if needed.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(DirStorage { dir })
    }
}

#[derive(Debug)]
struct OsFile(File);

impl StorageFile for OsFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }

    fn map(&self) -> io::Result<Option<Arc<Mapping>>> {
        // SAFETY: the log maps only sealed segments: their bytes are never written again and
        // the file is never shortened while the log is open (segments keep their preallocated
        // size for life, a torn tail is zeroed in place at open, before any read), and the
        // directory's writer lock keeps every other fundledger process out. A foreign process
        // truncating a segment file under a running log would make a read fault (SIGBUS): the
        // same class of damage as editing the files under any database (docs/operations.md).
        let map = unsafe { memmap2::MmapOptions::new().map(&self.0)? };
        // Readers go through a sealed segment front to back; the kernel may read ahead.
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Some(Arc::new(map)))
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn size_bytes(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn allocate(&self, len: u64) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        let len = libc::off_t::try_from(len).map_err(|_| io::Error::other("length out of range"))?;
        // SAFETY: plain syscall on a file descriptor we own; no memory is passed.
        let result = unsafe { libc::fallocate(self.0.as_raw_fd(), 0, 0, len) };
        if result == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(false),
            _ => Err(err),
        }
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else {
            return Ok(());
        };
        // SAFETY: plain syscall on a file descriptor we own; no memory is passed.
        let result = unsafe { libc::sync_file_range(self.0.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
        // Only a hint: where unsupported, the final sync does all the work.
        let _ = result;
        Ok(())
    }

    /// Zeros go to the device straight from one aligned buffer (`O_DIRECT`), so preparing a
    /// 64 MiB segment costs almost no CPU: written through the page cache, copying the zeros
    /// took ~10% of both cores under full load. Where the file system refuses direct IO (tmpfs,
    /// some network file systems) the zeros go through the page cache as before. The file log
    /// writes whole pages afterwards, so the pages these zeros never brought into the cache are
    /// never read back from the device.
    fn write_zeros(&self, len: u64) -> io::Result<ZeroFill> {
        let direct_len = len - len % direct_align_bytes as u64;
        let buffer = vec![0u8; zero_chunk_bytes + direct_align_bytes];
        let start = buffer.as_ptr().align_offset(direct_align_bytes);
        let zeros = &buffer[start..start + zero_chunk_bytes];
        let done = if direct_len > 0 && self.set_direct(true)? {
            let written = write_zeros_at(self, zeros, 0, direct_len);
            self.set_direct(false)?;
            match written {
                Ok(()) => direct_len,
                // Direct IO is allowed but these alignments are not (an unusual block size).
                Err(err) if err.raw_os_error() == Some(libc::EINVAL) => 0,
                Err(err) => return Err(err),
            }
        } else {
            0
        };
        write_zeros_at(self, zeros, done, len)?;
        Ok(if done > 0 { ZeroFill::Direct } else { ZeroFill::ThroughCache })
    }
}

impl OsFile {
    /// Turns `O_DIRECT` on or off; `Ok(false)` if the file system does not allow it.
    fn set_direct(&self, on: bool) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        let fd = self.0.as_raw_fd();
        // SAFETY: plain fcntl calls on a file descriptor we own; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let wanted = if on { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) } == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINVAL) if on => Ok(false),
            _ => Err(err),
        }
    }
}

impl Storage for DirStorage {
    fn path(&self) -> &Path {
        &self.dir
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn open(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new().read(true).write(true).open(self.dir.join(name))?;
        Ok(Arc::new(OsFile(file)))
    }

    fn create(&self, name: &str) -> io::Result<Arc<dyn StorageFile>> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(self.dir.join(name))?;
        Ok(Arc::new(OsFile(file)))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.dir.join(from), self.dir.join(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn lock(&self) -> Result<Box<dyn Any + Send + Sync>, LockFailure> {
        let path = self.dir.join(lock_file_name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LockFailure::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder_pid = String::new();
                let _ = file.read_to_string(&mut holder_pid);
                let holder_pid = holder_pid.trim().to_owned();
                let holder_pid = if holder_pid.is_empty() { "unknown".to_owned() } else { holder_pid };
                return Err(LockFailure::Held { holder_pid });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(LockFailure::Io(err)),
        }
        // We hold the lock: record who we are for the next one who tries.
        file.set_len(0).map_err(LockFailure::Io)?;
        file.rewind().map_err(LockFailure::Io)?;
        writeln!(file, "{}", std::process::id()).map_err(LockFailure::Io)?;
        Ok(Box::new(file))
    }
}
