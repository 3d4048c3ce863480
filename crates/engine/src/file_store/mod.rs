//! A page file: memory-mapped reads, a CRC-32 per page verified on every
//! read (or, with [`Verify::FirstRead`], on the first read since open or
//! since the page was rewritten), and atomic commits through a write-ahead log.
//!
//! Reads of part of a page ([`PageStore::read_parts`], how searches read one
//! node) verify only the 256-byte sectors they touch, against sector CRCs
//! taken when the page first passed its full check since open or since it
//! was rewritten. Those sums live in memory only (4 bytes per sector, for
//! the pages read in part, allocated a chunk of pages at a time), so the
//! file format is unchanged, and every byte a read returns is still
//! checked against what was verified: a page that changes on disk behind
//! our back is caught on the next read of the changed bytes.
//!
//! Files: `<path>` holds a superblock (block "-1", the first 8 KiB) and then
//! page `i` at offset `(i + 1) * PAGE_SIZE`; `<path>.wal` is empty except during
//! a commit.
//!
//! Writes between commits stay in memory (an overlay of dirty pages that
//! reads see first), up to a limit ([`FileStore::set_overlay_limit`]). Past
//! it, the pages past the end of the last commit (new pages, which no
//! committed state refers to) are written in place with their CRC and
//! dropped from the overlay, so a build or a large batch of inserts needs
//! memory for the overlay, not for the whole index. Rewrites of committed
//! pages stay in the overlay until the commit. `commit` then
//! 1. fsyncs the data file if new pages were written in place;
//! 2. writes every dirty page, with its CRC, and the new superblock to the
//!    log, followed by a trailer holding the log's own CRC, and fsyncs it;
//! 3. writes the pages in place and fsyncs the data file;
//! 4. empties the log.
//!
//! A crash before the log's trailer is durable leaves the committed state
//! untouched: on open the torn log fails its CRC and is discarded, and
//! pages written past the committed end are cut off. A crash after it is
//! replayed on open. Either way the index is the last committed one, never
//! a mix. A page whose CRC does not match (bit rot, a torn write
//! outside this protocol, a truncated file) is reported as
//! [`Error::Corrupt`], never returned.

mod checksum;
mod log;

pub use checksum::Verify;

use crate::page::{BlockNo, Error, Page, PageStore, Result, PAGE_SIZE};
use checksum::{seal, Verified};
use log::{wal_path, Superblock};
use memmap2::Mmap;
use parking_lot::{MappedRwLockReadGuard, Mutex, ReentrantMutex, RwLock, RwLockReadGuard};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

const FILE_MAGIC: u32 = u32::from_le_bytes(*b"DVPF");
const FREE_MAGIC: u32 = u32::from_le_bytes(*b"FREE");
const FILE_VERSION: u32 = 1;
const NONE: u32 = u32::MAX;
/// Dirty pages kept in memory before new ones are written in place, unless
/// [`FileStore::set_overlay_limit`] says otherwise.
pub const DEFAULT_OVERLAY_PAGES: usize = 1024;
/// Block number used in errors about the superblock.
pub const SUPERBLOCK: BlockNo = u32::MAX;

/// Where a simulated crash stops a commit (tests only: see
/// [`FileStore::crash_next_commit`]).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub enum CrashPoint {
    /// Only the first `n` bytes of the log reach the disk.
    TornLog(usize),
    /// The log is complete; no page was written in place.
    AfterLog,
    /// The log is complete; only the first `n` pages were written in place.
    MidApply(usize),
}

struct State {
    map: Option<Mmap>,
    mapped_pages: u32,
    page_count: u32,
    /// Pages at the last commit: only those below it need the log to be
    /// rewritten, since the committed superblock refers to no page past it.
    committed_pages: u32,
    /// New pages were written in place since the last commit (they must
    /// be durable before a superblock that counts them is).
    spilled: bool,
    dirty: BTreeMap<BlockNo, Box<Page>>,
    free: Vec<BlockNo>,
    free_dirty: bool,
}

pub struct FileStore {
    path: PathBuf,
    file: File,
    state: RwLock<State>,
    verify: Verify,
    overlay_limit: usize,
    /// What later reads of each mapped page may rely on (one lock for both
    /// parts: a page read takes it once).
    verified: RwLock<Verified>,
    crash: Mutex<Option<CrashPoint>>,
    broken: Mutex<bool>,
    /// Held by `modify` (see `page::modify_by_copy`).
    modifying: ReentrantMutex<()>,
}

impl FileStore {
    /// Create a new, empty page file (fails if it exists).
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let mut sb = Superblock {
            magic: FILE_MAGIC,
            version: FILE_VERSION,
            page_count: 0,
            free_head: NONE,
            crc: 0,
        };
        sb.crc = sb.crc_of();
        let mut block = vec![0u8; PAGE_SIZE];
        block[..std::mem::size_of::<Superblock>()].copy_from_slice(bytemuck::bytes_of(&sb));
        file.write_all_at(&block, 0)?;
        file.sync_all()?;
        File::create(wal_path(&path))?.sync_all()?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) {
                let _ = d.sync_all();
            }
        }
        Self::open(path)
    }

    /// Open a page file, replaying or discarding a pending log first.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        log::recover(&path, &file)?;
        let sb = log::read_superblock(&file)?;
        let need = (sb.page_count as u64 + 1) * PAGE_SIZE as u64;
        let len = file.metadata()?.len();
        if len < need {
            return Err(Error::Corrupt {
                blkno: SUPERBLOCK,
                reason: format!(
                    "file is truncated: {len} bytes, {} pages need {need}",
                    sb.page_count
                ),
            });
        }
        if len > need {
            // New pages written in place before a crash that came before
            // their commit: no committed state refers to them.
            file.set_len(need)?;
            file.sync_all()?;
        }
        let store = FileStore {
            path,
            file,
            state: RwLock::new(State {
                map: None,
                mapped_pages: 0,
                page_count: sb.page_count,
                committed_pages: sb.page_count,
                spilled: false,
                dirty: BTreeMap::new(),
                free: Vec::new(),
                free_dirty: false,
            }),
            crash: Mutex::new(None),
            broken: Mutex::new(false),
            modifying: ReentrantMutex::new(()),
            verify: Verify::EveryRead,
            overlay_limit: DEFAULT_OVERLAY_PAGES,
            verified: RwLock::new(Verified::default()),
        };
        store.map_pages(&mut store.state.write(), sb.page_count)?;
        // The free list is a chain through the free pages.
        let mut free = Vec::new();
        let mut b = sb.free_head;
        while b != NONE {
            if free.len() as u32 > sb.page_count {
                return Err(Error::Corrupt {
                    blkno: b,
                    reason: "free list loops".into(),
                });
            }
            let p = store.read(b)?;
            let tag = u32::from_le_bytes(p.bytes[4..8].try_into().unwrap());
            if tag != FREE_MAGIC {
                return Err(Error::Corrupt {
                    blkno: b,
                    reason: "free list points at a page in use".into(),
                });
            }
            free.push(b);
            b = u32::from_le_bytes(p.bytes[8..12].try_into().unwrap());
        }
        free.reverse();
        store.state.write().free = free;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Choose when checksums are verified (see [`Verify`]).
    pub fn set_verify(&mut self, verify: Verify) {
        self.verify = verify;
        self.verified
            .write()
            .pages
            .iter()
            .for_each(|w| w.store(0, Ordering::Relaxed));
    }

    /// How many dirty pages stay in memory before the new ones among them
    /// are written in place (at least one). Rewrites of committed pages
    /// always wait for the commit.
    pub fn set_overlay_limit(&mut self, pages: usize) {
        self.overlay_limit = pages.max(1);
    }

    /// Arrange for the next commit to stop at `point`, as a crash would
    /// (the `testing` feature only). The store is unusable afterwards: drop
    /// and reopen it.
    #[cfg(feature = "testing")]
    pub fn crash_next_commit(&self, point: CrashPoint) {
        *self.crash.lock() = Some(point);
    }

    /// Maps the file's first `pages` pages (after the superblock), which
    /// the file must hold.
    fn map_pages(&self, st: &mut State, pages: u32) -> Result<()> {
        if pages == 0 {
            st.map = None;
            st.mapped_pages = 0;
            return Ok(());
        }
        // SAFETY: the file is only changed through this store (in place
        // writes happen under the state's write lock, which the caller
        // holds, so no page reference into the old map exists); other
        // processes must not write it.
        let map = unsafe {
            memmap2::MmapOptions::new()
                .len((pages as usize + 1) * PAGE_SIZE)
                .map(&self.file)?
        };
        st.map = Some(map);
        st.mapped_pages = pages;
        self.verified.write().resize(pages as usize);
        Ok(())
    }

    /// Past the overlay's limit, writes the dirty pages past the committed
    /// end in place (with their CRC), drops them from the overlay and maps
    /// them, so reads find them there.
    fn spill(&self, st: &mut State) -> Result<()> {
        if st.dirty.len() <= self.overlay_limit {
            return Ok(());
        }
        let mut fresh = st.dirty.split_off(&st.committed_pages);
        let Some(&last) = fresh.keys().next_back() else {
            return Ok(());
        };
        for (&b, p) in &mut fresh {
            seal(&mut p.bytes);
            self.file
                .write_all_at(&p.bytes, (b as u64 + 1) * PAGE_SIZE as u64)?;
        }
        st.spilled = true;
        if last >= st.mapped_pages {
            self.map_pages(st, last + 1)?;
        }
        // Rewritten pages are verified again on their next read.
        let v = self.verified.read();
        fresh.keys().for_each(|&b| v.clear(b));
        Ok(())
    }

    /// A committed page (or a dirty one, which needs no check), verified
    /// as `verify` says: the whole page, or the sectors `parts` touch.
    fn read_checked(
        &self,
        blkno: BlockNo,
        parts: Option<&[Range<usize>]>,
    ) -> Result<MappedRwLockReadGuard<'_, Page>> {
        let st = self.state.read_recursive();
        if blkno >= st.page_count {
            return Err(Error::OutOfRange(blkno));
        }
        if st.dirty.contains_key(&blkno) {
            return Ok(RwLockReadGuard::map(st, |s| {
                &**s.dirty.get(&blkno).unwrap()
            }));
        }
        if blkno >= st.mapped_pages {
            return Err(Error::Corrupt {
                blkno,
                reason: "page past the end of the committed file".into(),
            });
        }
        let off = (blkno as usize + 1) * PAGE_SIZE;
        self.verified.read_recursive().check(
            self.verify,
            blkno,
            &st.map.as_ref().unwrap()[off..off + PAGE_SIZE],
            parts,
        )?;
        Ok(RwLockReadGuard::map(st, |s| {
            let bytes = &s.map.as_ref().unwrap()[off..off + PAGE_SIZE];
            bytemuck::from_bytes::<Page>(bytes)
        }))
    }

    fn do_commit(&self) -> Result<()> {
        let crash = self.crash.lock().take();
        let mut st = self.state.write();
        if st.dirty.is_empty() && !st.free_dirty {
            return Ok(());
        }
        // Free pages carry the free-list chain.
        if st.free_dirty {
            let free = st.free.clone();
            for (i, &b) in free.iter().enumerate() {
                let mut p = Page::zeroed();
                p.bytes[4..8].copy_from_slice(&FREE_MAGIC.to_le_bytes());
                let next = if i == 0 { NONE } else { free[i - 1] };
                p.bytes[8..12].copy_from_slice(&next.to_le_bytes());
                st.dirty.insert(b, p);
            }
        }
        let mut sb = Superblock {
            magic: FILE_MAGIC,
            version: FILE_VERSION,
            page_count: st.page_count,
            free_head: st.free.last().copied().unwrap_or(NONE),
            crc: 0,
        };
        sb.crc = sb.crc_of();
        for p in st.dirty.values_mut() {
            seal(&mut p.bytes);
        }
        // 1. New pages written in place are durable before the superblock
        // that counts them can be.
        if st.spilled {
            self.file.sync_data()?;
        }
        // 2. The log.
        let mut wal = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(wal_path(&self.path))?;
        if let Some(CrashPoint::TornLog(n)) = crash {
            log::write_log(
                Torn {
                    out: &mut wal,
                    left: n,
                },
                &sb,
                &st.dirty,
            )?;
            wal.sync_all()?;
            *self.broken.lock() = true;
            return Err(Error::Io(std::io::Error::other("simulated crash")));
        }
        log::write_log(&mut wal, &sb, &st.dirty)?;
        wal.sync_all()?;
        let limit = match crash {
            Some(CrashPoint::AfterLog) => Some(0),
            Some(CrashPoint::MidApply(n)) => Some(n),
            _ => None,
        };
        // 3. In place. No reader sees a half-written page: we hold the write
        // lock, and the map shows the new bytes once written.
        let dirty = std::mem::take(&mut st.dirty);
        {
            // Rewritten pages are verified again on their next read.
            let v = self.verified.read();
            dirty.keys().for_each(|&b| v.clear(b));
        }
        log::apply(
            &self.file,
            &sb,
            dirty.iter().map(|(b, p)| (*b, &p.bytes[..])),
            limit,
        )?;
        if limit.is_some() {
            *self.broken.lock() = true;
            return Err(Error::Io(std::io::Error::other("simulated crash")));
        }
        // 4. Done: empty the log.
        wal.set_len(0)?;
        wal.sync_all()?;
        st.free_dirty = false;
        st.spilled = false;
        st.committed_pages = st.page_count;
        let pages = st.page_count;
        self.map_pages(&mut st, pages)
    }
}

/// A writer that keeps only its first `left` bytes, as a log torn by a
/// crash does (the simulated crash of `CrashPoint::TornLog`).
struct Torn<W> {
    out: W,
    left: usize,
}

impl<W: Write> Write for Torn<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left);
        self.out.write_all(&buf[..n])?;
        self.left -= n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl PageStore for FileStore {
    type PageRef<'a> = MappedRwLockReadGuard<'a, Page>;

    fn read(&self, blkno: BlockNo) -> Result<Self::PageRef<'_>> {
        self.read_checked(blkno, None)
    }

    fn read_parts(&self, blkno: BlockNo, parts: &[Range<usize>]) -> Result<Self::PageRef<'_>> {
        if let Some(r) = parts.iter().find(|r| r.start > r.end || r.end > PAGE_SIZE) {
            return Err(Error::Invalid(format!(
                "page range {}..{} is not within the page's {PAGE_SIZE} bytes",
                r.start, r.end
            )));
        }
        self.read_checked(blkno, Some(parts))
    }

    fn write(&self, blkno: BlockNo, page: &Page) -> Result<()> {
        let mut st = self.state.write();
        if blkno >= st.page_count {
            return Err(Error::OutOfRange(blkno));
        }
        match st.dirty.get_mut(&blkno) {
            Some(p) => **p = *page,
            None => {
                let mut p = Page::zeroed();
                *p = *page;
                st.dirty.insert(blkno, p);
            }
        }
        self.spill(&mut st)
    }

    fn modify<R>(&self, blkno: BlockNo, f: impl FnOnce(&mut Page) -> Result<R>) -> Result<R> {
        crate::page::modify_by_copy(self, &self.modifying, blkno, f)
    }

    fn extend(&self) -> Result<BlockNo> {
        let mut st = self.state.write();
        let b = match st.free.pop() {
            Some(b) => {
                st.free_dirty = true;
                b
            }
            None => {
                st.page_count += 1;
                st.page_count - 1
            }
        };
        st.dirty.insert(b, Page::zeroed());
        self.spill(&mut st)?;
        Ok(b)
    }

    fn free(&self, blkno: BlockNo) -> Result<()> {
        let mut st = self.state.write();
        if blkno >= st.page_count {
            return Err(Error::OutOfRange(blkno));
        }
        st.free.push(blkno);
        st.free_dirty = true;
        st.dirty.remove(&blkno);
        Ok(())
    }

    fn len(&self) -> BlockNo {
        self.state.read_recursive().page_count
    }

    fn commit(&self) -> Result<()> {
        if *self.broken.lock() {
            return Err(Error::Io(std::io::Error::other(
                "store crashed (simulated); reopen it",
            )));
        }
        self.do_commit()
    }
}
