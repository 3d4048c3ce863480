//! Page checksums: a CRC-32 per page in its first 4 bytes, and what a
//! store remembers of pages that already passed (so partial reads verify
//! only the 256-byte sectors they touch).

use crate::page::{BlockNo, Error, Result, PAGE_SIZE};
use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Bytes per separately checksummed piece of a page (partial reads).
pub const SECTOR: usize = 256;
pub const SECTORS: usize = PAGE_SIZE.div_ceil(SECTOR);
// A read's sectors are tracked in one u32 mask.
const _: () = assert!(SECTORS <= 32);
/// Pages whose sector sums are allocated together, when the first of them
/// is read in part: a build, which reads whole pages, allocates none.
pub const SUM_CHUNK_PAGES: usize = 256;

/// When page checksums are verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verify {
    /// On every read (default): a page changed on disk behind our back, even
    /// while open, is still caught. A full read hashes the whole page; a
    /// partial read the sectors it touches (see the module comment).
    #[default]
    EveryRead,
    /// On the first read of each page after open or after the page was last
    /// written by a commit. Pages are immutable in between unless another
    /// process writes the file (which is not supported), so this skips
    /// re-hashing 8 KiB per node expansion in hot search loops.
    FirstRead,
}

/// The CRC of a page image, over everything but the CRC itself.
pub fn page_crc(p: &[u8]) -> u32 {
    crc32fast::hash(&p[4..PAGE_SIZE])
}

/// Stores a page image's CRC in its first 4 bytes, as it is written.
pub fn seal(p: &mut [u8]) {
    let c = page_crc(p);
    p[0..4].copy_from_slice(&c.to_le_bytes());
}

/// Per mapped page: whether its checksum passed since it was last written,
/// and its sector sums.
#[derive(Default)]
pub struct Verified {
    /// One bit per page. `Verify::FirstRead`: no further checks.
    /// `EveryRead`: set by partial reads only, once `sector_sums` is filled.
    pub pages: Vec<AtomicU64>,
    /// `SECTORS` CRCs per page, valid where its bit is set, in chunks of
    /// `SUM_CHUNK_PAGES` pages.
    pub sector_sums: Vec<OnceLock<Box<[AtomicU32]>>>,
}

impl Verified {
    fn bit(blkno: BlockNo) -> (usize, u64) {
        (blkno as usize / 64, 1u64 << (blkno % 64))
    }

    fn is_set(&self, blkno: BlockNo) -> bool {
        let (word, bit) = Self::bit(blkno);
        // Acquire: pairs with `set`, so the sums are visible with the bit.
        self.pages
            .get(word)
            .is_some_and(|w| w.load(Ordering::Acquire) & bit != 0)
    }

    fn set(&self, blkno: BlockNo) {
        let (word, bit) = Self::bit(blkno);
        if let Some(w) = self.pages.get(word) {
            w.fetch_or(bit, Ordering::Release);
        }
    }

    pub fn clear(&self, blkno: BlockNo) {
        let (word, bit) = Self::bit(blkno);
        if let Some(w) = self.pages.get(word) {
            w.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Room for the mapped `pages`' bits and sum chunks.
    pub fn resize(&mut self, pages: usize) {
        self.pages.resize_with(pages.div_ceil(64), Default::default);
        self.sector_sums
            .resize_with(pages.div_ceil(SUM_CHUNK_PAGES), Default::default);
    }

    fn sums(&self, blkno: BlockNo) -> &[AtomicU32] {
        let chunk = self.sector_sums[blkno as usize / SUM_CHUNK_PAGES].get_or_init(|| {
            (0..SUM_CHUNK_PAGES * SECTORS)
                .map(|_| AtomicU32::new(0))
                .collect()
        });
        let base = blkno as usize % SUM_CHUNK_PAGES * SECTORS;
        &chunk[base..base + SECTORS]
    }

    /// Check page `blkno` (`bytes`, as mapped) as `mode` says: the whole
    /// page, or only the sectors `parts` touch once its sums are known.
    pub fn check(
        &self,
        mode: Verify,
        blkno: BlockNo,
        bytes: &[u8],
        parts: Option<&[Range<usize>]>,
    ) -> Result<()> {
        let verified = self;
        let known = verified.is_set(blkno);
        match (mode, known, parts) {
            (Verify::FirstRead, true, _) => return Ok(()),
            (Verify::EveryRead, true, Some(parts)) => {
                return verify_sectors(blkno, bytes, verified.sums(blkno), parts)
            }
            _ => {}
        }
        let stored = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        if stored != page_crc(bytes) {
            return Err(Error::Corrupt {
                blkno,
                reason: format!("checksum mismatch (stored {stored:#010x})"),
            });
        }
        match (mode, parts) {
            (Verify::FirstRead, _) => verified.set(blkno),
            // Sums of what just passed, for this page's later partial reads.
            (Verify::EveryRead, Some(_)) => {
                for (sum, sector) in verified.sums(blkno).iter().zip(bytes.chunks(SECTOR)) {
                    sum.store(crc32fast::hash(sector), Ordering::Relaxed);
                }
                verified.set(blkno);
            }
            (Verify::EveryRead, None) => {}
        }
        Ok(())
    }
}

/// Check the sectors of page `blkno` that `parts` touch against `sums`.
fn verify_sectors(
    blkno: BlockNo,
    bytes: &[u8],
    sums: &[AtomicU32],
    parts: &[Range<usize>],
) -> Result<()> {
    // One bit per sector any part touches.
    let touched = parts.iter().filter(|r| r.start < r.end).fold(0u32, |m, r| {
        let (first, last) = (r.start / SECTOR, (r.end - 1) / SECTOR);
        m | ((1u64 << (last + 1)) - (1u64 << first)) as u32
    });
    for (i, (sum, sector)) in sums.iter().zip(bytes.chunks(SECTOR)).enumerate() {
        if touched & (1 << i) != 0 && crc32fast::hash(sector) != sum.load(Ordering::Relaxed) {
            return Err(Error::Corrupt {
                blkno,
                reason: format!(
                    "checksum mismatch in bytes {}..{} (changed since the page was verified)",
                    i * SECTOR,
                    i * SECTOR + sector.len()
                ),
            });
        }
    }
    Ok(())
}
