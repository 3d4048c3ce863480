//! The engine's page trait over Postgres buffers.
//!
//! One engine page is one buffer page after its 24-byte Postgres header, read
//! in place (no copy) under a share lock. Writes take the exclusive lock and
//! go through Generic WAL, so they survive a crash and reach replicas. The
//! page header claims the whole block (`pd_lower = pd_upper = BLCKSZ`):
//! Generic WAL skips the "hole" between `pd_lower` and `pd_upper`, and ours
//! has none.
//!
//! A bulk build writes without WAL and logs every page once at the end
//! (`log_newpage_range`), as Postgres's own index builds do.

use diskvec_engine::page::{BlockNo, Error, Page, PageStore, Result};
use pgrx::pg_sys;
use std::cell::Cell;
use std::ops::Deref;

const PG_PAGE_HEADER: usize = 24;
const BLCKSZ: usize = pg_sys::BLCKSZ as usize;
const _: () = assert!(PG_PAGE_HEADER + diskvec_engine::PAGE_SIZE == BLCKSZ);

/// How writes are made durable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Logging {
    /// Every write is a Generic WAL record (when the relation needs WAL).
    Generic,
    /// No WAL per write: the caller logs all pages at the end (index build).
    AtEnd,
}

pub struct PgStore {
    rel: Cell<pg_sys::Relation>,
    fork: pg_sys::ForkNumber::Type,
    logging: Logging,
    /// Blocks known to exist; refreshed from the relation when a read goes
    /// past it, so a read costs no `lseek`.
    nblocks: Cell<BlockNo>,
    /// Prefetches in a row that found their block in shared buffers, and
    /// prefetches asked for since the last one made (see `prefetch`).
    prefetch_hits: Cell<u32>,
    prefetch_asked: Cell<u32>,
}

/// After this many prefetches in a row found their block in shared buffers
/// the index is taken to be cached: only one prefetch in `PREFETCH_PROBE`
/// is made, until one starts a read again. A prefetch is a buffer-table
/// lookup (a hash of the block's tag and a probe of a table as large as
/// shared buffers), which a cached index pays for nothing on top of the
/// read's own lookup.
const PREFETCH_STREAK: u32 = 64;
const PREFETCH_PROBE: u32 = 32;

// SAFETY: a backend is single-threaded and the store never leaves it. The
// build shares the index (and so this store) with its worker threads, but
// they only run pure engine code (graph, encoding, normalization), never a
// page access: every PageStore call stays on the backend's thread.
unsafe impl Send for PgStore {}
// SAFETY: as for Send.
unsafe impl Sync for PgStore {}

impl PgStore {
    pub fn new(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type, logging: Logging) -> Self {
        PgStore {
            rel: Cell::new(rel),
            fork,
            logging,
            nblocks: Cell::new(0),
            prefetch_hits: Cell::new(0),
            prefetch_asked: Cell::new(0),
        }
    }

    /// The relcache entry is stable for a backend, but a cached store is
    /// pointed at the current one on every use anyway.
    pub fn set_relation(&self, rel: pg_sys::Relation) {
        self.rel.set(rel);
    }

    fn blocks(&self) -> BlockNo {
        // SAFETY: `rel` is the open relation this store serves.
        let n = unsafe { pg_sys::RelationGetNumberOfBlocksInFork(self.rel.get(), self.fork) };
        self.nblocks.set(n);
        n
    }

    fn buffer(&self, blkno: BlockNo, mode: u32) -> Result<LockedBuffer> {
        if blkno >= self.nblocks.get() && blkno >= self.blocks() {
            return Err(Error::OutOfRange(blkno));
        }
        // SAFETY: an existing block (checked above) of the open relation;
        // ReadBufferExtended pins it or raises an ERROR.
        let buf = unsafe {
            pg_sys::ReadBufferExtended(
                self.rel.get(),
                self.fork,
                blkno,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            )
        };
        Ok(LockedBuffer::lock(buf, mode))
    }

    /// Copy an engine page into a buffer page (header set up as ours).
    ///
    /// # Safety
    /// `dst` is a whole, exclusively locked buffer page (or a Generic WAL
    /// image of one): `BLCKSZ` writable bytes.
    unsafe fn fill(dst: *mut u8, page: &Page) {
        // SAFETY: `dst` has BLCKSZ bytes (the caller's promise); the copy
        // writes PAGE_SIZE - 4 bytes from PG_PAGE_HEADER + 4, which ends
        // exactly at BLCKSZ (see the assertion at the top of this file).
        unsafe {
            pg_sys::PageInit(dst.cast(), BLCKSZ, 0);
            let hdr = dst as *mut pg_sys::PageHeaderData;
            (*hdr).pd_lower = BLCKSZ as u16;
            // Bytes 0..4 belong to the store (the file store's CRC); Postgres
            // has its own page checksums.
            std::ptr::copy_nonoverlapping(
                page.bytes.as_ptr().add(4),
                dst.add(PG_PAGE_HEADER + 4),
                diskvec_engine::PAGE_SIZE - 4,
            );
        }
    }

    fn put(&self, buf: &LockedBuffer, page: &Page, full_image: bool) {
        // SAFETY: `buf` is pinned and exclusively locked by this backend;
        // the page written is its registered Generic WAL image (logged) or
        // the buffer itself (a build, logged at its end), then marked dirty.
        unsafe {
            if self.logging == Logging::Generic {
                let mut wal = GenericWal::start(self.rel.get());
                let flags = if full_image {
                    pg_sys::GENERIC_XLOG_FULL_IMAGE as i32
                } else {
                    0
                };
                let dst = pg_sys::GenericXLogRegisterBuffer(wal.state, buf.0, flags);
                Self::fill(dst.cast(), page);
                wal.finish();
            } else {
                Self::fill(pg_sys::BufferGetPage(buf.0).cast(), page);
                pg_sys::MarkBufferDirty(buf.0);
            }
        }
    }
}

/// A pinned buffer under a content lock; unlocked and unpinned on drop.
pub struct LockedBuffer(pg_sys::Buffer);

impl LockedBuffer {
    fn lock(buf: pg_sys::Buffer, mode: u32) -> Self {
        // SAFETY: `buf` is a buffer this backend pinned and has not locked.
        unsafe { pg_sys::LockBuffer(buf, mode as i32) };
        LockedBuffer(buf)
    }
}

impl Drop for LockedBuffer {
    fn drop(&mut self) {
        // SAFETY: pinned and locked by `lock`, released only here.
        unsafe { pg_sys::UnlockReleaseBuffer(self.0) };
    }
}

/// A Generic WAL record being built. Dropped without `finish` (an error
/// between start and finish), it is aborted: the buffer keeps its old
/// contents and nothing is logged.
struct GenericWal {
    state: *mut pg_sys::GenericXLogState,
}

impl GenericWal {
    fn start(rel: pg_sys::Relation) -> Self {
        GenericWal {
            // SAFETY: `rel` is an open relation.
            state: unsafe { pg_sys::GenericXLogStart(rel) },
        }
    }

    fn finish(&mut self) {
        let state = std::mem::replace(&mut self.state, std::ptr::null_mut());
        // SAFETY: a started record, finished once (the state is taken).
        unsafe { pg_sys::GenericXLogFinish(state) };
    }
}

impl Drop for GenericWal {
    fn drop(&mut self) {
        if !self.state.is_null() {
            // SAFETY: a started record that was never finished.
            unsafe { pg_sys::GenericXLogAbort(self.state) };
        }
    }
}

/// A page read in place, under a share lock.
pub struct PageView {
    _buf: LockedBuffer,
    page: *const Page,
}

impl Deref for PageView {
    type Target = Page;
    fn deref(&self) -> &Page {
        // SAFETY: `page` points into the buffer `_buf` keeps pinned and
        // share-locked for as long as this view lives, 8-aligned after
        // the page header (as `Page` needs).
        unsafe { &*self.page }
    }
}

impl PageStore for PgStore {
    type PageRef<'a> = PageView;

    fn read(&self, blkno: BlockNo) -> Result<PageView> {
        let buf = self.buffer(blkno, pg_sys::BUFFER_LOCK_SHARE)?;
        // SAFETY: a pinned, share-locked buffer's page, BLCKSZ bytes; the
        // engine page starts after the Postgres page header.
        let page = unsafe { (pg_sys::BufferGetPage(buf.0) as *const u8).add(PG_PAGE_HEADER) };
        Ok(PageView {
            page: page.cast(),
            _buf: buf,
        })
    }

    /// `PrefetchBuffer`: a block not in shared buffers is asked of the
    /// kernel (`posix_fadvise(WILLNEED)`), which starts reading it, so the
    /// `ReadBuffer` that follows overlaps the reads before it. A block not
    /// known to exist is left alone. While the blocks asked for are all in
    /// shared buffers only a sample is asked for (`PREFETCH_STREAK`).
    fn prefetch(&self, blkno: BlockNo) {
        if blkno >= self.nblocks.get() {
            return;
        }
        let hits = self.prefetch_hits.get();
        if hits >= PREFETCH_STREAK {
            let asked = self.prefetch_asked.get().wrapping_add(1);
            self.prefetch_asked.set(asked);
            if !asked.is_multiple_of(PREFETCH_PROBE) {
                return;
            }
        }
        // SAFETY: an existing block of the open relation; PrefetchBuffer
        // only looks it up in the buffer table and hints the kernel.
        let r = unsafe { pg_sys::PrefetchBuffer(self.rel.get(), self.fork, blkno) };
        self.prefetch_hits.set(match r.initiated_io {
            true => 0,
            false => hits.saturating_add(1),
        });
    }

    /// Until `PREFETCH_STREAK` prefetches in a row find their block in
    /// shared buffers, reads are taken to wait on I/O. A block outside
    /// shared buffers may still be in the kernel's page cache: its read
    /// then does not wait, and a search's batch costs it a few extra
    /// expansions.
    fn reads_wait(&self) -> bool {
        self.prefetch_hits.get() < PREFETCH_STREAK
    }

    fn write(&self, blkno: BlockNo, page: &Page) -> Result<()> {
        let buf = self.buffer(blkno, pg_sys::BUFFER_LOCK_EXCLUSIVE)?;
        self.put(&buf, page, false);
        Ok(())
    }

    /// The page changed in place under the buffer's exclusive lock, which
    /// is what makes it one step for every backend. Under Generic WAL `f`
    /// works on the record's copy of the page; an error aborts the record,
    /// so the buffer keeps its old contents.
    fn modify<R>(&self, blkno: BlockNo, f: impl FnOnce(&mut Page) -> Result<R>) -> Result<R> {
        let buf = self.buffer(blkno, pg_sys::BUFFER_LOCK_EXCLUSIVE)?;
        // SAFETY: the buffer is pinned and exclusively locked by this
        // backend for the whole step. Under Generic WAL `f` changes the
        // record's page image (BLCKSZ, block-aligned like a buffer), which
        // an error discards. In a build (`AtEnd`) it changes the buffer's
        // page in place (block-aligned too, and no one else reads it): an
        // error there ends the build, and the new relation with it, so a
        // page left half-changed is never read.
        unsafe {
            if self.logging == Logging::Generic {
                let mut wal = GenericWal::start(self.rel.get());
                let image = pg_sys::GenericXLogRegisterBuffer(wal.state, buf.0, 0) as *mut u8;
                // The record's image is block-aligned, as a buffer is.
                let page = &mut *image.add(PG_PAGE_HEADER).cast::<Page>();
                let r = f(page)?;
                wal.finish();
                Ok(r)
            } else {
                let live = pg_sys::BufferGetPage(buf.0) as *mut u8;
                let r = f(&mut *live.add(PG_PAGE_HEADER).cast::<Page>())?;
                pg_sys::MarkBufferDirty(buf.0);
                Ok(r)
            }
        }
    }

    fn extend(&self) -> Result<BlockNo> {
        let rel = self.rel.get();
        // SAFETY: the relation extension lock serializes extenders; P_NEW
        // returns a new pinned buffer, locked before the extension lock is
        // released so no one else can see it half-initialised.
        let buf = unsafe {
            pg_sys::LockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            let b = pg_sys::ReadBufferExtended(
                rel,
                self.fork,
                pg_sys::InvalidBlockNumber, // P_NEW
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            );
            let locked = LockedBuffer::lock(b, pg_sys::BUFFER_LOCK_EXCLUSIVE);
            pg_sys::UnlockRelationForExtension(rel, pg_sys::ExclusiveLock as i32);
            locked
        };
        // SAFETY: a pinned buffer.
        let blkno = unsafe { pg_sys::BufferGetBlockNumber(buf.0) };
        // A new page is logged whole, so replay never sees it uninitialised.
        self.put(&buf, &Page::zeroed(), true);
        self.nblocks.set(self.nblocks.get().max(blkno + 1));
        Ok(blkno)
    }

    fn free(&self, blkno: BlockNo) -> Result<()> {
        // SAFETY: a block of the open relation.
        unsafe { pg_sys::RecordFreeIndexPage(self.rel.get(), blkno) };
        Ok(())
    }

    fn len(&self) -> BlockNo {
        self.blocks()
    }

    fn commit(&self) -> Result<()> {
        // Durability is the transaction's: WAL records are flushed at commit.
        Ok(())
    }
}

/// Postgres's `RelationNeedsWAL` (a macro, so not in the bindings).
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn relation_needs_wal(rel: pg_sys::Relation) -> bool {
    // SAFETY: the caller's promise; reads its relcache fields.
    unsafe {
        let r = &*rel;
        (*r.rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
            && (pg_sys::wal_level >= pg_sys::WalLevel::WAL_LEVEL_REPLICA as i32
                || (r.rd_createSubid == 0 && r.rd_firstRelfilenodeSubid == 0))
    }
}
