//! A pool of code areas in memory that several processes share: one
//! region, laid out here, holding one slot per index and the pages its
//! code area is made of. The Postgres extension places it in the server's
//! shared memory, so every backend searches one copy of each index's codes;
//! tests place it on the heap and let threads stand in for processes.
//!
//! The region is every process's at the same address (fork maps it there),
//! written only through atomics, and kept consistent by locks the host
//! provides ([`PoolHost`]): lock 0 guards the slot table and the page
//! allocator, lock `1 + s` the updates of slot `s`'s area. Searches take no
//! lock at all (see `area.rs`).
//!
//! A slot goes `FREE -> LOADING -> READY`, then `RETIRED` when its area can
//! no longer follow its index (the pool had no room for it to grow), and
//! back to `FREE` when it is reclaimed. Memory is reclaimed only when no
//! process can be reading it: its index is gone ([`PoolHost::is_gone`]:
//! dropped, or rewritten into a new file by REINDEX, TRUNCATE or VACUUM
//! FULL, which every reader must first wait out), or the area was retired
//! (so no new reader takes it) and no process holds the index open
//! ([`PoolHost::in_use`]).
//! When the pool is full, the slots reclaimed first are the retired ones,
//! then the least recently used; if that is not enough, the caller keeps
//! the codes in its own memory instead (`Placement::PoolFull`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

mod pages;
mod reclaim;
mod slot;

pub(in crate::index) use slot::Slot;

/// The pool's allocation unit.
pub const POOL_PAGE: usize = 4 << 10;
/// Record chunks per slot: an area grows by chunks of `2^rbits` records.
pub const MAX_CHUNKS: usize = 512;
/// Chunks of the code page list per slot (each a pool page of block numbers).
pub const MAX_PAGE_LISTS: usize = 256;
const MAGIC: u64 = u64::from_le_bytes(*b"DVPOOL01");

pub(super) const FREE: u64 = 0;
pub(super) const LOADING: u64 = 1;
pub(super) const READY: u64 = 2;
pub(super) const RETIRED: u64 = 3;

/// Which index an area belongs to: database, tablespace, file, and the
/// index's own id (so that a file number reused by a later index is never
/// mistaken for it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AreaKey {
    pub db: u32,
    pub spc: u32,
    pub rel: u32,
    pub oid: u32,
}

impl AreaKey {
    fn words(&self) -> [u32; 4] {
        [self.db, self.spc, self.rel, self.oid]
    }
}

/// What the pool needs from the processes that share it.
pub trait PoolHost: Send + Sync {
    /// Take lock `i` (0: the pool's, `1 + s`: slot `s`'s), waiting for it.
    fn lock(&self, i: usize, exclusive: bool);
    /// Take lock `i` exclusively if that needs no wait.
    fn try_lock(&self, i: usize) -> bool;
    fn unlock(&self, i: usize);
    /// The index `key` names no longer exists, and no process can read it.
    fn is_gone(&self, key: &AreaKey) -> bool;
    /// Whether another process may be reading the index `key` now. A
    /// process that starts reading it later first checks that its area is
    /// still ready (`Index::refresh`), so an area retired and then found
    /// unused by this can be freed.
    fn in_use(&self, key: &AreaKey) -> bool;
}

#[repr(C)]
struct Header {
    magic: u64,
    n_slots: u64,
    n_pages: u64,
    pages_used: AtomicU64,
    /// Areas loaded, reclaimed while their index still existed, and refused
    /// for want of room, since the pool was made.
    loads: AtomicU64,
    evictions: AtomicU64,
    refusals: AtomicU64,
}

/// What [`CodePool::slots`] reports of one slot in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    pub key: AreaKey,
    /// `"loading"`, `"ready"` or `"retired"`.
    pub status: &'static str,
    pub entries: u64,
    pub live: u64,
    pub bytes: u64,
}

/// Pool-wide figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub bytes: u64,
    pub bytes_used: u64,
    pub slots: u64,
    pub slots_used: u64,
    pub loads: u64,
    pub evictions: u64,
    pub refusals: u64,
}

/// A process's handle on a pool region.
pub struct CodePool {
    base: *mut u8,
    l: Layout,
    host: Box<dyn PoolHost>,
    /// Slots this process has handles on (slot -> handles): never reclaimed
    /// by this process, which may be reading them.
    attached: parking_lot::Mutex<HashMap<u32, usize>>,
}

// SAFETY: the region is only ever accessed through atomics, under the
// locking rules above; the handle itself holds a host that is Send + Sync.
unsafe impl Send for CodePool {}
// SAFETY: as for Send.
unsafe impl Sync for CodePool {}

fn align(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

struct Layout {
    slots: usize,
    keys: usize,
    run_len: usize,
    bitmap: usize,
    pages: usize,
    n_pages: usize,
}

/// Where each part of a region with `n_slots` slots and `n_pages` pages is.
fn layout_of(n_slots: usize, n_pages: usize) -> Layout {
    let slots = align(std::mem::size_of::<Header>(), 64);
    let keys = slots + n_slots * std::mem::size_of::<Slot>();
    let run_len = keys + n_slots * 16;
    let bitmap = align(run_len + n_pages * 4, 8);
    let pages = align(bitmap + n_pages.div_ceil(64) * 8, 4096);
    Layout {
        slots,
        keys,
        run_len,
        bitmap,
        pages,
        n_pages,
    }
}

/// The layout of a region of `bytes`: as many pages as fit after the
/// slots, each with its book-keeping (a run length and a bit).
fn layout(bytes: usize, n_slots: usize) -> Option<Layout> {
    let fixed = layout_of(n_slots, 0).pages;
    let mut n_pages = bytes.checked_sub(fixed)? / (POOL_PAGE + 5);
    while n_pages > 0 && layout_of(n_slots, n_pages).pages + n_pages * POOL_PAGE > bytes {
        n_pages -= 1;
    }
    (n_pages > 0).then(|| layout_of(n_slots, n_pages))
}

/// A lock held until dropped (also when a panic unwinds).
pub(super) struct Held<'a> {
    pool: &'a CodePool,
    lock: usize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.pool.host.unlock(self.lock);
    }
}

/// What [`CodePool::find_or_create`] found.
pub(super) enum Found<'a> {
    /// A slot with the area, loaded or being loaded: `(slot, state)`.
    Existing(u32, u64),
    /// A new slot for the caller to load, its lock held.
    Created(u32, u64, Held<'a>),
    /// No slot is free.
    Full,
}

impl CodePool {
    /// The smallest region worth making (a few slots and pages).
    pub const MIN_BYTES: usize = 1 << 20;

    /// Lay out an empty pool in `bytes` bytes at `base`, with room for
    /// `n_slots` indexes. Only the book-keeping is written (zeroed): pages
    /// are touched when they are first allocated, so memory the pool has
    /// not handed out costs nothing.
    ///
    /// # Safety
    /// `base` is 64-aligned, `bytes` long, and no one else uses it yet.
    pub unsafe fn init(base: *mut u8, bytes: usize, n_slots: usize) -> bool {
        let Some(l) = layout(bytes, n_slots) else {
            return false;
        };
        // SAFETY: the caller's promise: `base` is ours, `l.pages <= bytes`.
        unsafe { std::ptr::write_bytes(base, 0, l.pages) };
        // SAFETY: as above; the header is the region's start, 64-aligned.
        let h = unsafe { &mut *(base as *mut Header) };
        h.magic = MAGIC;
        h.n_slots = n_slots as u64;
        h.n_pages = l.n_pages as u64;
        true
    }

    /// A process's handle on the pool laid out at `base` by [`Self::init`].
    ///
    /// # Safety
    /// `base` is a region `init` laid out, mapped in this process at that
    /// address for as long as the handle lives, and every process that
    /// uses it goes through `host`'s locks.
    pub unsafe fn attach(base: *mut u8, host: Box<dyn PoolHost>) -> Option<CodePool> {
        // SAFETY: the caller's promise.
        let h = unsafe { &*(base as *const Header) };
        (h.magic == MAGIC).then(|| CodePool {
            base,
            l: layout_of(h.n_slots as usize, h.n_pages as usize),
            host,
            attached: Default::default(),
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: `attach` checked the region; the header is its start.
        unsafe { &*(self.base as *const Header) }
    }

    fn layout(&self) -> &Layout {
        &self.l
    }

    pub(super) fn n_slots(&self) -> u32 {
        self.header().n_slots as u32
    }

    pub(super) fn slot(&self, s: u32) -> &Slot {
        assert!(s < self.n_slots());
        // SAFETY: slot `s` of the slot table `init` laid out.
        unsafe { &*(self.base.add(self.layout().slots) as *const Slot).add(s as usize) }
    }

    fn key_words(&self, s: u32) -> &[AtomicU32; 4] {
        assert!(s < self.n_slots());
        // SAFETY: entry `s` of the key table `init` laid out.
        unsafe { &*(self.base.add(self.layout().keys) as *const [AtomicU32; 4]).add(s as usize) }
    }

    fn run_len(&self, page: usize) -> &AtomicU32 {
        let l = self.layout();
        assert!(page < l.n_pages);
        // SAFETY: entry `page` of the run-length table.
        unsafe { &*(self.base.add(l.run_len) as *const AtomicU32).add(page) }
    }

    fn bitmap_word(&self, w: usize) -> &AtomicU64 {
        let l = self.layout();
        assert!(w < l.n_pages.div_ceil(64));
        // SAFETY: word `w` of the allocation bitmap.
        unsafe { &*(self.base.add(l.bitmap) as *const AtomicU64).add(w) }
    }

    pub(super) fn lock(&self, i: usize, exclusive: bool) -> Held<'_> {
        self.host.lock(i, exclusive);
        Held {
            pool: self,
            lock: i,
        }
    }

    pub(super) fn slot_lock(&self, s: u32, exclusive: bool) -> Held<'_> {
        self.lock(1 + s as usize, exclusive)
    }

    // ----- pages ------------------------------------------------------------

    /// The address of a run the pool handed out (`handle` from `alloc`).
    pub(super) fn addr(&self, handle: u64) -> *mut u8 {
        let page = handle as usize - 1;
        assert!(page < self.layout().n_pages);
        // SAFETY: inside the page area `init` laid out.
        unsafe { self.base.add(self.layout().pages + page * POOL_PAGE) }
    }

    // ----- slots ------------------------------------------------------------

    /// The slot loading or holding `key`'s area (retired ones aside).
    fn find(&self, key: &AreaKey) -> Option<u32> {
        let words = key.words();
        (0..self.n_slots()).find(|&s| {
            let k = self.key_words(s);
            (0..4).all(|i| k[i].load(Relaxed) == words[i])
                && matches!(self.slot(s).status(), LOADING | READY)
        })
    }

    /// The slot holding `key`'s area, or a new one the caller must load.
    pub(super) fn find_or_create(&self, key: &AreaKey) -> Found<'_> {
        {
            let _pool = self.lock(0, false);
            if let Some(s) = self.find(key) {
                return Found::Existing(s, self.slot(s).state.load(Acquire));
            }
        }
        let _pool = self.lock(0, true);
        if let Some(s) = self.find(key) {
            return Found::Existing(s, self.slot(s).state.load(Acquire));
        }
        self.sweep_gone();
        let pick = |pool: &Self| {
            (0..pool.n_slots())
                .find(|&s| pool.slot(s).status() == FREE && pool.host.try_lock(1 + s as usize))
        };
        let s = match pick(self) {
            Some(s) => s,
            None => {
                let mut freed = false;
                self.reclaim(None, || {
                    freed = true;
                    true
                });
                match freed.then(|| pick(self)).flatten() {
                    Some(s) => s,
                    None => {
                        self.header().refusals.fetch_add(1, Relaxed);
                        return Found::Full;
                    }
                }
            }
        };
        let slot = self.slot(s);
        let generation = slot.generation() + 1;
        slot.set_key(key);
        for (a, v) in self.key_words(s).iter().zip(key.words()) {
            a.store(v, Relaxed);
        }
        slot.set_state(generation, LOADING);
        slot.touch();
        self.header().loads.fetch_add(1, Relaxed);
        Found::Created(
            s,
            generation << 8 | LOADING,
            Held {
                pool: self,
                lock: 1 + s as usize,
            },
        )
    }

    pub(super) fn note_attached(&self, s: u32, handles: isize) {
        let mut a = self.attached.lock();
        let n = a.entry(s).or_insert(0);
        *n = n.saturating_add_signed(handles);
        if *n == 0 {
            a.remove(&s);
        }
    }

    /// The slots in use.
    pub fn slots(&self) -> Vec<SlotInfo> {
        let _pool = self.lock(0, false);
        (0..self.n_slots())
            .filter_map(|s| {
                let slot = self.slot(s);
                let status = match slot.status() {
                    LOADING => "loading",
                    READY => "ready",
                    RETIRED => "retired",
                    _ => return None,
                };
                Some(SlotInfo {
                    key: slot.key(),
                    status,
                    entries: slot.len.load(Acquire),
                    live: slot.live.load(Relaxed),
                    bytes: slot.bytes.load(Relaxed),
                })
            })
            .collect()
    }

    pub fn stats(&self) -> PoolStats {
        let h = self.header();
        let slots_used = {
            let _pool = self.lock(0, false);
            (0..self.n_slots())
                .filter(|&s| self.slot(s).status() != FREE)
                .count() as u64
        };
        PoolStats {
            bytes: (h.n_pages as usize * POOL_PAGE) as u64,
            bytes_used: h.pages_used.load(Relaxed) * POOL_PAGE as u64,
            slots: h.n_slots,
            slots_used,
            loads: h.loads.load(Relaxed),
            evictions: h.evictions.load(Relaxed),
            refusals: h.refusals.load(Relaxed),
        }
    }
}
