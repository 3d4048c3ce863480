//! The storage seam: fixed 8 KiB pages behind a small trait.
//!
//! Every algorithm in this crate (RaBitQ code area, Vamana node pages) reads
//! and writes whole pages through [`PageStore`] and nothing else, so the same
//! code runs over Postgres buffers, a memory-mapped file or a `Vec` in tests.
//!
//! Bytes `0..4` of every page belong to the store: the file store keeps the
//! page's CRC-32 there. Page formats (see `format.rs`) never use them.
//!
//! A page is 8168 bytes: a Postgres block (8192) less its 24-byte page
//! header, so that the extension stores one engine page per buffer page with
//! no copy and no translation.

use std::fmt;
use std::ops::{Deref, Range};

/// Size of every page: a Postgres block less the Postgres page header.
pub const PAGE_SIZE: usize = 8192 - 24;

/// Block number of a page inside a store.
pub type BlockNo = u32;

/// One page. 8-byte aligned, as a Postgres buffer's contents after its
/// header are, so that `bytemuck` can view headers in place.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(8))]
pub struct Page {
    pub bytes: [u8; PAGE_SIZE],
}

impl Page {
    pub fn zeroed() -> Box<Page> {
        bytemuck::allocation::zeroed_box()
    }
}

impl Deref for Page {
    type Target = [u8; PAGE_SIZE];
    fn deref(&self) -> &[u8; PAGE_SIZE] {
        &self.bytes
    }
}

impl std::ops::DerefMut for Page {
    fn deref_mut(&mut self) -> &mut [u8; PAGE_SIZE] {
        &mut self.bytes
    }
}

/// Everything that can go wrong below the public API.
#[derive(Debug)]
pub enum Error {
    Io(std::io::Error),
    /// A page failed its checksum or has an impossible layout. Never returned
    /// as data.
    Corrupt {
        blkno: BlockNo,
        reason: String,
    },
    /// The file was written by another format version (or is not ours at all).
    Format {
        found: String,
        expected: String,
    },
    /// A page number past the end of the store.
    OutOfRange(BlockNo),
    /// Caller error: wrong dimension, unknown id, bad option...
    Invalid(String),
    /// The caller's stop check ([`crate::Index::set_stop`]) asked a long
    /// operation to end; what it had written is left for the caller to
    /// discard (a build) or is complete as far as it went.
    Interrupted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Corrupt { blkno, reason } => write!(f, "corrupt page {blkno}: {reason}"),
            Error::Format { found, expected } => {
                write!(
                    f,
                    "unsupported index format: found {found}, expected {expected}"
                )
            }
            Error::OutOfRange(b) => write!(f, "page {b} is past the end of the store"),
            Error::Invalid(s) => write!(f, "{s}"),
            Error::Interrupted => write!(f, "interrupted"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Page access. Implementations are internally synchronised: `read` may run
/// on many threads while others write.
///
/// A `PageRef` may hold a lock: drop it before calling `write` or `extend`
/// on the same store from the same thread.
pub trait PageStore: Send + Sync {
    type PageRef<'a>: Deref<Target = Page>
    where
        Self: 'a;

    /// Read page `blkno`. A page that fails verification is an error.
    fn read(&self, blkno: BlockNo) -> Result<Self::PageRef<'_>>;

    /// Read page `blkno` for a caller that will look only at the bytes in
    /// `parts` (ranges of page offsets). A store that keeps checksums of
    /// pieces of a page may verify just the pieces those bytes lie in, so
    /// bytes outside `parts` must not be used. Hot paths read one node of
    /// a few hundred bytes from an 8 KiB page: hashing the whole page for
    /// it cost as much as the rest of the search. Default: `read`.
    fn read_parts(&self, blkno: BlockNo, parts: &[Range<usize>]) -> Result<Self::PageRef<'_>> {
        let _ = parts;
        self.read(blkno)
    }

    /// A hint that page `blkno` will be read soon: a store whose reads can
    /// wait on I/O starts this one now, so that it overlaps the caller's
    /// work and other reads (searches ask for the pages of the candidates
    /// they expand next). Never an error; a page past the end is ignored.
    /// Default: nothing (the page is in memory anyway).
    fn prefetch(&self, blkno: BlockNo) {
        let _ = blkno;
    }

    /// Whether reads are waiting on I/O now: true while the pages asked
    /// for ahead have lately had to be read from disk. A search then takes
    /// its candidates in batches whose reads overlap (see
    /// [`crate::SearchParams::read_ahead`]). Default: false (the pages are
    /// in memory).
    fn reads_wait(&self) -> bool {
        false
    }

    /// Replace page `blkno` (which must exist). Bytes 0..4 are ignored.
    /// For pages no other writer can be touching (new pages, bulk builds);
    /// shared pages are changed with [`PageStore::modify`].
    fn write(&self, blkno: BlockNo, page: &Page) -> Result<()>;

    /// Read-modify-write page `blkno` (which must exist) as one step: no
    /// other `modify` of the same page, by any writer the store serves,
    /// runs in between. This is what lets several writers share a page
    /// (Postgres backends inserting into one index): each changes only its
    /// own slot or field. If `f` fails, the page is left as it was.
    ///
    /// `f` may read or modify *other* pages. Callers keep one lock order so
    /// that writers never wait on each other in a cycle: the meta page
    /// first, then code and node pages; a node's first page before the
    /// rest of its chain; never two unrelated node pages.
    fn modify<R>(&self, blkno: BlockNo, f: impl FnOnce(&mut Page) -> Result<R>) -> Result<R>;

    /// A zeroed page: a freed one if any, else a new one at the end.
    fn extend(&self) -> Result<BlockNo>;

    /// Give a page back; a later `extend` may return it.
    fn free(&self, blkno: BlockNo) -> Result<()>;

    /// Number of pages (including freed ones).
    fn len(&self) -> BlockNo;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Durability point: everything written before it survives a crash
    /// together, or not at all. The in-memory store does nothing.
    fn commit(&self) -> Result<()>;
}

impl<S: PageStore> PageStore for &S {
    type PageRef<'a>
        = S::PageRef<'a>
    where
        Self: 'a;
    fn read(&self, blkno: BlockNo) -> Result<Self::PageRef<'_>> {
        (**self).read(blkno)
    }
    fn read_parts(&self, blkno: BlockNo, parts: &[Range<usize>]) -> Result<Self::PageRef<'_>> {
        (**self).read_parts(blkno, parts)
    }
    fn write(&self, blkno: BlockNo, page: &Page) -> Result<()> {
        (**self).write(blkno, page)
    }
    fn modify<R>(&self, blkno: BlockNo, f: impl FnOnce(&mut Page) -> Result<R>) -> Result<R> {
        (**self).modify(blkno, f)
    }
    fn extend(&self) -> Result<BlockNo> {
        (**self).extend()
    }
    fn free(&self, blkno: BlockNo) -> Result<()> {
        (**self).free(blkno)
    }
    fn len(&self) -> BlockNo {
        (**self).len()
    }
    fn commit(&self) -> Result<()> {
        (**self).commit()
    }
}

/// `modify` for stores whose pages live in one process: a copy of the page
/// is changed and written back while `lock` (reentrant, so that `f` may
/// modify other pages) keeps every other `modify` out. Serialising all of
/// them is fine for these stores: the work inside is a memcpy.
pub(crate) fn modify_by_copy<S: PageStore, R>(
    store: &S,
    lock: &parking_lot::ReentrantMutex<()>,
    blkno: BlockNo,
    f: impl FnOnce(&mut Page) -> Result<R>,
) -> Result<R> {
    let _held = lock.lock();
    let mut copy = Page::zeroed();
    copy.bytes.copy_from_slice(&store.read(blkno)?.bytes);
    let r = f(&mut copy)?;
    store.write(blkno, &copy)?;
    Ok(r)
}
