//! A slot of the pool: one index's area, its counters and the runs it is
//! made of, all atomics, so that searches read it without a lock.

use super::{AreaKey, MAX_CHUNKS, MAX_PAGE_LISTS};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::time::{SystemTime, UNIX_EPOCH};

/// One index's area. The fields are set under the slot's lock (the key and
/// state under the pool's too) and read without a lock by searches.
#[repr(C)]
pub(in crate::index) struct Slot {
    /// `generation << 8 | status`; the generation changes whenever the
    /// slot changes hands, so a handle knows its view is out of date.
    pub state: AtomicU64,
    /// Seconds since 1970 of the last attach, for least-recently-used.
    pub last_used: AtomicU64,
    pub key: [AtomicU32; 4],
    /// The index's identity as its meta page gave it (see `codes.rs`).
    pub identity: [AtomicU64; 4],
    pub code_words: AtomicU32,
    /// Records per chunk: `2^rbits`.
    pub rbits: AtomicU32,
    /// Records published (readers see this many).
    pub len: AtomicU64,
    /// The meta page's `change_seq` applied so far.
    pub seq: AtomicU64,
    pub live: AtomicU64,
    pub free: AtomicU64,
    pub n_chunks: AtomicU64,
    /// Code pages listed.
    pub n_pages: AtomicU64,
    /// The id hash (a run of `2^hash_bits` u32), and entries in it.
    pub hash: AtomicU64,
    pub hash_bits: AtomicU64,
    pub hash_used: AtomicU64,
    /// Bytes of pool memory held.
    pub bytes: AtomicU64,
    pub chunks: [AtomicU64; MAX_CHUNKS],
    pub page_lists: [AtomicU64; MAX_PAGE_LISTS],
}

impl Slot {
    pub fn status(&self) -> u64 {
        self.state.load(Acquire) & 0xff
    }

    pub fn generation(&self) -> u64 {
        self.state.load(Acquire) >> 8
    }

    pub fn set_state(&self, generation: u64, status: u64) {
        self.state.store(generation << 8 | status, Release);
    }

    pub fn key(&self) -> AreaKey {
        let k = |i: usize| self.key[i].load(Acquire);
        AreaKey {
            db: k(0),
            spc: k(1),
            rel: k(2),
            oid: k(3),
        }
    }

    pub(super) fn set_key(&self, key: &AreaKey) {
        for (a, v) in self.key.iter().zip(key.words()) {
            a.store(v, Release);
        }
    }

    /// Empty the slot's area (its owner alone reads it): every run it holds
    /// (record chunks, code page lists, the id hash) taken out for the
    /// caller to free, and its counts zeroed. `bytes` follows the runs as
    /// they are freed.
    pub fn take_area(&self) -> Vec<u64> {
        let runs = self
            .chunks
            .iter()
            .chain(self.page_lists.iter())
            .chain(std::iter::once(&self.hash))
            .map(|a| a.swap(0, Relaxed))
            .filter(|&h| h != 0)
            .collect();
        for a in [
            &self.len,
            &self.seq,
            &self.live,
            &self.free,
            &self.n_chunks,
            &self.n_pages,
            &self.hash_bits,
            &self.hash_used,
        ] {
            a.store(0, Relaxed);
        }
        runs
    }

    /// A zeroed slot, for a handle's private area.
    pub fn boxed() -> Box<Slot> {
        // SAFETY: every field is an atomic integer or an array of them, for
        // which all-zero bytes are a valid value.
        unsafe { Box::new_zeroed().assume_init() }
    }

    pub fn touch(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_used.load(Relaxed) != now {
            self.last_used.store(now, Relaxed);
        }
    }
}
