//! The live ids' hash of a code area: open addressing over node numbers
//! (`node + 1`, 0 empty), at most half full, grown by doubling; written
//! under the slot's lock, read by lookups that hold it shared.

use super::{Codes, Home};
use crate::format::FLAG_LIVE;
use std::sync::atomic::{AtomicU32, Ordering::*};

/// The id hash starts with this many entries and stays at most half full.
const MIN_HASH_BITS: u64 = 10;

fn hash_of(id: u64, bits: u64) -> usize {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
}

impl Codes {
    /// The live node with id `id`, if any.
    pub fn lookup(&self, id: u64) -> Option<u32> {
        let _held = match &self.home {
            Home::Shared { pool, s, .. } => Some(pool.slot_lock(*s, false)),
            Home::Private { .. } => None,
        };
        self.find(id).map(|(_, n)| n)
    }

    fn hash_table(&self) -> Option<(&[AtomicU32], u64)> {
        let slot = self.slot();
        let h = slot.hash.load(Acquire);
        let bits = slot.hash_bits.load(Acquire);
        // SAFETY: a run of `2^bits` u32 the area allocated for its hash.
        (h != 0).then(|| unsafe {
            (
                std::slice::from_raw_parts(self.addr(h) as *const AtomicU32, 1 << bits),
                bits,
            )
        })
    }

    /// `(hash position, node)` of id `id`.
    fn find(&self, id: u64) -> Option<(usize, u32)> {
        let (t, bits) = self.hash_table()?;
        let mask = t.len() - 1;
        let mut i = hash_of(id, bits);
        loop {
            match t[i].load(Relaxed) {
                0 => return None,
                e if (e as usize - 1) < self.len && self.id(e - 1) == id => {
                    return Some((i, e - 1))
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub(super) fn hash_insert(&mut self, n: u32) {
        let slot = self.slot();
        let used = slot.hash_used.load(Relaxed);
        let bits = slot.hash_bits.load(Relaxed);
        if slot.hash.load(Relaxed) == 0 || (used + 1) * 2 > 1 << bits {
            self.hash_grow();
        }
        let id = self.id(n);
        if let Some((i, _)) = self.find(id) {
            // An id written twice (a crash between a delete and its
            // reuse): the later node wins, as a map insert would.
            self.hash_table().unwrap().0[i].store(n + 1, Relaxed);
            return;
        }
        let (t, bits) = self.hash_table().unwrap();
        let mask = t.len() - 1;
        let mut i = hash_of(id, bits);
        while t[i].load(Relaxed) != 0 {
            i = (i + 1) & mask;
        }
        t[i].store(n + 1, Relaxed);
        self.slot().hash_used.fetch_add(1, Relaxed);
    }

    pub(super) fn hash_remove(&mut self, n: u32) {
        let Some((t, bits)) = self.hash_table() else {
            return;
        };
        let id = self.id(n);
        let Some((mut i, found)) = self.find(id) else {
            return;
        };
        if found != n {
            return;
        }
        // Backward-shift deletion: later entries of the probe run move up.
        let mask = t.len() - 1;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = t[j].load(Relaxed);
            if e == 0 {
                break;
            }
            let home = hash_of(self.id(e - 1), bits);
            let between = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !between {
                t[i].store(e, Relaxed);
                i = j;
            }
        }
        t[i].store(0, Relaxed);
        self.slot().hash_used.fetch_sub(1, Relaxed);
    }

    /// A hash twice the size (or the first one), with every live node.
    fn hash_grow(&mut self) {
        let slot = self.slot();
        let old = slot.hash.load(Relaxed);
        let bits = if old == 0 {
            MIN_HASH_BITS.max((self.len as u64 * 2).next_power_of_two().trailing_zeros() as u64)
        } else {
            slot.hash_bits.load(Relaxed) + 1
        };
        let Some(h) = self.alloc(4 << bits) else {
            // No room for a larger table: keep probing the full one
            // (its last free entries still end each probe).
            assert!(old != 0, "no memory for the id hash");
            return;
        };
        // SAFETY: a zeroed run of `2^bits` u32, ours alone until published.
        let t = unsafe { std::slice::from_raw_parts(self.addr(h) as *const AtomicU32, 1 << bits) };
        let mask = t.len() - 1;
        let mut used = 0;
        for n in 0..self.len as u32 {
            if self.flags(n) == FLAG_LIVE {
                let mut i = hash_of(self.id(n), bits);
                while t[i].load(Relaxed) != 0 {
                    i = (i + 1) & mask;
                }
                t[i].store(n + 1, Relaxed);
                used += 1;
            }
        }
        let slot = self.slot();
        slot.hash_bits.store(bits, Release);
        slot.hash.store(h, Release);
        slot.hash_used.store(used, Relaxed);
        if old != 0 {
            self.free_run(old);
        }
    }
}
