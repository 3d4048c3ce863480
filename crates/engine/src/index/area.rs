//! The code area in memory: one record per node (code, factors, id,
//! location and flags), the list of code pages, the live ids' hash and
//! the free nodes' bitmap. It lives in a handle's own memory (`Home::
//! Private`) or in a slot of a [`CodePool`] that processes share
//! (`Home::Shared`); the layout, and the code below, are the same.
//!
//! Records sit in chunks of `2^rbits`, each chunk after its free bitmap; a
//! handle keeps its own copy of the chunk list (`dir`), so a record is two
//! loads away. Areas only grow by chunks, so a record never moves while a
//! search reads it.
//!
//! Shared areas are changed by one process at a time (the slot's lock, see
//! `codes.rs`) and read by any number without a lock: the writer fills
//! records, then publishes their count (`len`, release); a reader loads
//! `len` (acquire) and reads no further. An entry another process reloads
//! in place (a node whose slot was reused) may change while a search reads
//! it: its id and location word are whole atomic words, and its code words
//! are plain integers that only feed an estimate, so a search sees either
//! the old or the new location and, at worst, a stale estimate.

use super::pool::{AreaKey, CodePool, Held, Slot, MAX_CHUNKS};
use crate::format;
use crate::format::CodeEntryHead;
use crate::page::BlockNo;
use crate::rabitq::Factors;
use pages::PAGES_PER_LIST;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

mod free;
mod ids;
mod pages;

/// Where an area's memory comes from.
pub(super) enum Home {
    /// The handle's own: its slot header and runs from the heap.
    Private {
        slot: Box<Slot>,
        /// Runs handed out (address -> bytes), freed on drop.
        runs: parking_lot::Mutex<HashMap<u64, usize>>,
    },
    /// Slot `s` of a pool, as of `generation`.
    Shared {
        pool: &'static CodePool,
        s: u32,
        generation: u64,
        key: AreaKey,
    },
}

/// Where this handle's codes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the handle's own memory (no pool was offered).
    Private,
    /// In a pool, shared with every process that opened the index there.
    Shared,
    /// In the handle's own memory because the pool had no room.
    PoolFull,
}

pub(super) struct Codes {
    home: Home,
    /// Why a private area is private.
    pub placement: Placement,
    /// u64 words of one code, all bit planes together.
    code_words: usize,
    stride: usize,
    /// Entries per code page.
    per_page: usize,
    rbits: u32,
    /// This handle's copy of the slot's chunk list: each chunk's records.
    dir: Vec<*mut u64>,
    /// Records this handle sees.
    len: usize,
    /// This handle's copy of the code page lists.
    page_lists: Vec<*const AtomicU32>,
}

// SAFETY: the raw pointers point into runs the area's home keeps alive for
// as long as the handle's view is current (see `Home`); everything another
// thread or process may write concurrently is read through atomics or as
// plain code words (see the module docs).
unsafe impl Send for Codes {}
// SAFETY: as for Send: `&Codes` only reads.
unsafe impl Sync for Codes {}

/// Records per chunk for an area expected to hold `n` nodes: the chunk
/// list then has room to grow about sixteen-fold.
fn rbits_for(n: usize) -> u32 {
    (n / (MAX_CHUNKS / 16))
        .clamp(128, 1 << 20)
        .next_power_of_two()
        .trailing_zeros()
}

fn loc_word(blkno: BlockNo, offset: u16, flags: u16) -> u64 {
    blkno as u64 | (offset as u64) << 32 | (flags as u64 & 0xff) << 48
}

impl Codes {
    /// An empty private area for codes of `code_words` words.
    pub fn private(code_words: usize, placement: Placement) -> Codes {
        let mut c = Codes {
            home: Home::Private {
                slot: Slot::boxed(),
                runs: Default::default(),
            },
            placement,
            code_words: 0,
            stride: 0,
            per_page: 0,
            rbits: 0,
            dir: Vec::new(),
            len: 0,
            page_lists: Vec::new(),
        };
        c.reset(code_words, 0);
        c
    }

    /// A view of slot `s` of `pool` (its geometry already set), not yet
    /// synced.
    pub fn shared(pool: &'static CodePool, s: u32, generation: u64, key: AreaKey) -> Codes {
        pool.note_attached(s, 1);
        let slot = pool.slot(s);
        let code_words = slot.code_words.load(Acquire) as usize;
        let rbits = slot.rbits.load(Acquire);
        Codes {
            home: Home::Shared {
                pool,
                s,
                generation,
                key,
            },
            placement: Placement::Shared,
            code_words,
            stride: code_words + 4,
            per_page: format::codes_per_page(code_words),
            rbits,
            dir: Vec::new(),
            len: 0,
            page_lists: Vec::new(),
        }
    }

    pub fn slot(&self) -> &Slot {
        match &self.home {
            Home::Private { slot, .. } => slot,
            Home::Shared { pool, s, .. } => pool.slot(*s),
        }
    }

    /// The pool slot and key of a shared area.
    pub fn shared_slot(&self) -> Option<(&'static CodePool, u32, u64, AreaKey)> {
        match &self.home {
            Home::Shared {
                pool,
                s,
                generation,
                key,
            } => Some((*pool, *s, *generation, *key)),
            Home::Private { .. } => None,
        }
    }

    /// Whether the slot still holds this view's area, ready.
    pub fn current(&self) -> bool {
        match &self.home {
            Home::Private { .. } => true,
            Home::Shared {
                pool,
                s,
                generation,
                ..
            } => pool.slot(*s).state.load(Acquire) == (generation << 8 | super::pool::READY),
        }
    }

    /// The slot's lock, for changing a shared area (private areas are the
    /// handle's alone: `&mut` is enough).
    pub fn update_lock(&self) -> Option<Held<'static>> {
        match &self.home {
            Home::Shared { pool, s, .. } => Some(pool.slot_lock(*s, true)),
            Home::Private { .. } => None,
        }
    }

    fn alloc(&self, bytes: usize) -> Option<u64> {
        match &self.home {
            Home::Private { runs, slot } => {
                let layout = std::alloc::Layout::from_size_align(bytes.max(64), 64).ok()?;
                // SAFETY: a non-zero size with a valid alignment.
                let p = unsafe { std::alloc::alloc_zeroed(layout) };
                if p.is_null() {
                    std::alloc::handle_alloc_error(layout);
                }
                runs.lock().insert(p as u64, layout.size());
                slot.bytes.fetch_add(layout.size() as u64, Relaxed);
                Some(p as u64)
            }
            Home::Shared { pool, s, .. } => pool.alloc(bytes, *s),
        }
    }

    fn addr(&self, handle: u64) -> *mut u8 {
        match &self.home {
            Home::Private { .. } => handle as *mut u8,
            Home::Shared { pool, .. } => pool.addr(handle),
        }
    }

    fn free_run(&self, handle: u64) {
        match &self.home {
            Home::Private { runs, slot } => {
                if let Some(size) = runs.lock().remove(&handle) {
                    slot.bytes.fetch_sub(size as u64, Relaxed);
                    // SAFETY: allocated by `alloc` with this size and
                    // alignment, and no longer in the slot (the caller
                    // took it out).
                    unsafe {
                        std::alloc::dealloc(
                            handle as *mut u8,
                            std::alloc::Layout::from_size_align_unchecked(size, 64),
                        )
                    };
                }
            }
            Home::Shared { pool, s, .. } => pool.free(handle, *s),
        }
    }

    // ----- geometry ---------------------------------------------------------

    fn bitmap_words(&self) -> usize {
        (1usize << self.rbits).div_ceil(64)
    }

    /// Empty the area and set its geometry for codes of `code_words` words
    /// and about `expect` nodes. Only on an area no one else reads: a
    /// private one, or a shared one being loaded.
    pub fn reset(&mut self, code_words: usize, expect: usize) {
        for h in self.slot().take_area() {
            self.free_run(h);
        }
        let slot = self.slot();
        let rbits = rbits_for(expect);
        slot.code_words.store(code_words as u32, Release);
        slot.rbits.store(rbits, Release);
        self.code_words = code_words;
        self.stride = code_words + 4;
        self.per_page = format::codes_per_page(code_words);
        self.rbits = rbits;
        self.dir.clear();
        self.page_lists.clear();
        self.len = 0;
    }

    /// Whether `n` nodes fit this area's chunk list.
    pub fn fits(&self, n: usize) -> bool {
        n <= MAX_CHUNKS << self.rbits
    }

    pub fn identity(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.slot().identity[i].load(Acquire))
    }

    pub fn set_identity(&self, id: [u64; 4]) {
        for (a, v) in self.slot().identity.iter().zip(id) {
            a.store(v, Release);
        }
    }

    /// Catch up with what the slot published; whether the view grew.
    pub fn sync(&mut self) -> bool {
        let slot = self.slot();
        let len = slot.len.load(Acquire) as usize;
        let chunks = slot.n_chunks.load(Acquire) as usize;
        let pages = slot.n_pages.load(Acquire) as usize;
        let words = slot.code_words.load(Acquire) as usize;
        let rbits = slot.rbits.load(Acquire);
        if words != self.code_words || rbits != self.rbits {
            // Laid out anew while empty (an index given its dimension).
            self.code_words = words;
            self.stride = words + 4;
            self.per_page = format::codes_per_page(words);
            self.rbits = rbits;
            self.dir.clear();
            self.page_lists.clear();
        }
        let bitmap = self.bitmap_words();
        while self.dir.len() < chunks {
            let h = self.slot().chunks[self.dir.len()].load(Acquire);
            // SAFETY: the chunk's records start after its bitmap, inside
            // the run `alloc` sized for both.
            let records = unsafe { (self.addr(h) as *mut u64).add(bitmap) };
            self.dir.push(records);
        }
        while self.page_lists.len() < pages.div_ceil(PAGES_PER_LIST) {
            let h = self.slot().page_lists[self.page_lists.len()].load(Acquire);
            self.page_lists.push(self.addr(h) as *const AtomicU32);
        }
        let grew = len != self.len;
        self.len = len;
        grew
    }

    // ----- reading ----------------------------------------------------------

    /// Nodes this handle sees.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn per_page(&self) -> usize {
        self.per_page
    }

    pub fn live(&self) -> usize {
        self.slot().live.load(Relaxed) as usize
    }

    fn record_ptr(&self, n: u32) -> *mut u64 {
        let n = n as usize;
        let chunk = self.dir[n >> self.rbits];
        // SAFETY: record `n & mask` of a chunk of `2^rbits` records.
        unsafe { chunk.add((n & ((1 << self.rbits) - 1)) * self.stride) }
    }

    fn word(&self, n: u32, at: usize) -> &AtomicU64 {
        debug_assert!(at < self.stride);
        // SAFETY: word `at` of record `n`, 8-aligned in its chunk; shared
        // words are only ever accessed as atomics or plain code words.
        unsafe { &*(self.record_ptr(n).add(at) as *const AtomicU64) }
    }

    /// Node `n`'s code and factors, adjacent in memory.
    #[inline]
    pub fn record(&self, n: u32) -> &[u64] {
        // SAFETY: `code_words + 2` words of record `n` (see `record_ptr`);
        // they may change under a reader only as the module docs say.
        unsafe { std::slice::from_raw_parts(self.record_ptr(n), self.code_words + 2) }
    }

    /// Ask the CPU for node `n`'s whole entry (code, factors, id,
    /// location and flags) ahead of its use: a scan over many nodes hides
    /// the memory latency of each behind the work on the ones before.
    #[inline]
    pub fn prefetch_entry(&self, n: u32) {
        // SAFETY: the `stride` words of record `n` (see `record_ptr`),
        // only prefetched, never read here.
        crate::simd::prefetch(unsafe {
            std::slice::from_raw_parts(self.record_ptr(n), self.stride)
        });
    }

    #[inline]
    pub fn code(&self, n: u32) -> &[u64] {
        &self.record(n)[..self.code_words]
    }

    #[inline]
    pub fn factors(&self, n: u32) -> &Factors {
        &bytemuck::cast_slice::<u64, Factors>(&self.record(n)[self.code_words..])[0]
    }

    pub fn id(&self, n: u32) -> u64 {
        self.word(n, self.code_words + 2).load(Relaxed)
    }

    fn loc(&self, n: u32) -> u64 {
        self.word(n, self.code_words + 3).load(Relaxed)
    }

    /// Where node `n` starts: first page, byte offset in its payload.
    pub fn location(&self, n: u32) -> (BlockNo, u16) {
        let w = self.loc(n);
        (w as u32, (w >> 32) as u16)
    }

    pub fn flags(&self, n: u32) -> u32 {
        ((self.loc(n) >> 48) & 0xff) as u32
    }

    /// Bytes of memory the area holds (its pool memory, for a shared one).
    pub fn area_bytes(&self) -> usize {
        self.slot().bytes.load(Relaxed) as usize
    }

    /// Bytes this handle holds of its own for a shared area (its views).
    pub fn view_bytes(&self) -> usize {
        (self.dir.capacity() + self.page_lists.capacity()) * 8
    }

    pub fn bytes_per_entry(&self) -> usize {
        self.code_words * 8 + std::mem::size_of::<Factors>()
    }

    // ----- changing (the slot's lock held) ----------------------------------

    /// Append node `len()`'s entry; false if the area has no room (the
    /// pool is full, or the chunk list is). Seen by others on `publish`.
    pub fn append(&mut self, head: &CodeEntryHead, code: &[u64]) -> bool {
        let n = self.len;
        if (n >> self.rbits) >= self.dir.len() {
            if self.dir.len() >= MAX_CHUNKS {
                return false;
            }
            let words = self.bitmap_words() + (self.stride << self.rbits);
            let Some(h) = self.alloc(words * 8) else {
                return false;
            };
            let c = self.dir.len();
            self.slot().chunks[c].store(h, Release);
            self.slot().n_chunks.store(c as u64 + 1, Release);
            // SAFETY: as in `sync`.
            self.dir
                .push(unsafe { (self.addr(h) as *mut u64).add(self.bitmap_words()) });
        }
        self.len = n + 1;
        self.write(n as u32, head, code);
        self.account(n as u32);
        true
    }

    /// Replace node `n`'s entry.
    pub fn replace(&mut self, n: u32, head: &CodeEntryHead, code: &[u64]) {
        self.unaccount(n);
        self.write(n, head, code);
        self.account(n);
    }

    /// Whether entry `n` already holds exactly `head` and `code`: a full
    /// reload rewrites (and re-hashes) only the entries that changed.
    pub fn holds(&self, n: u32, head: &CodeEntryHead, code: &[u64]) -> bool {
        self.entry_words(head, code)
            .all(|(at, w)| self.word(n, at).load(Relaxed) == w)
    }

    fn write(&self, n: u32, head: &CodeEntryHead, code: &[u64]) {
        for (at, w) in self.entry_words(head, code) {
            self.word(n, at).store(w, Relaxed);
        }
    }

    /// An entry's words as a record holds them, with their places: the
    /// code, its two factors, the id, the location word.
    fn entry_words<'a>(
        &self,
        head: &CodeEntryHead,
        code: &'a [u64],
    ) -> impl Iterator<Item = (usize, u64)> + 'a {
        debug_assert_eq!(code.len(), self.code_words);
        let [f0, f1]: [u64; 2] = bytemuck::cast(head.factors);
        let loc = loc_word(head.blkno, head.offset, head.flags);
        code.iter()
            .copied()
            .chain([f0, f1, head.id, loc])
            .enumerate()
    }

    /// Make `len()` entries visible to others, caught up to `seq`.
    pub fn publish(&self, seq: u64) {
        let slot = self.slot();
        slot.seq.store(seq, Release);
        slot.len.store(self.len as u64, Release);
    }
}

impl Drop for Codes {
    fn drop(&mut self) {
        match &self.home {
            Home::Private { .. } => self.reset(0, 0),
            Home::Shared { pool, s, .. } => pool.note_attached(*s, -1),
        }
    }
}
