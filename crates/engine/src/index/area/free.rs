//! Which nodes are free, and the counts of live and free ones: each chunk
//! of records starts with a bitmap of its free nodes, which inserts read
//! to reuse a slot, and every record written is counted (and entered in
//! the id hash when live) as it changes.

use super::Codes;
use crate::format::{FLAG_FREE, FLAG_LIVE};
use std::sync::atomic::{AtomicU64, Ordering::*};

impl Codes {
    /// Free nodes, from the bitmap (others may claim them first).
    pub fn free_nodes(&self) -> impl Iterator<Item = u32> + '_ {
        let any = self.slot().free.load(Relaxed) > 0;
        let words = if any { self.bitmap_words() } else { 0 };
        (0..self.dir.len())
            .flat_map(move |c| {
                (0..words).flat_map(move |w| {
                    let mut bits = self.bitmap(c, w).load(Relaxed);
                    std::iter::from_fn(move || {
                        (bits != 0).then(|| {
                            let b = bits.trailing_zeros() as usize;
                            bits &= bits - 1;
                            ((c << self.rbits) + w * 64 + b) as u32
                        })
                    })
                })
            })
            .filter(move |&n| (n as usize) < self.len)
    }

    fn bitmap(&self, chunk: usize, word: usize) -> &AtomicU64 {
        let records = self.dir[chunk];
        assert!(word < self.bitmap_words());
        // SAFETY: the chunk's bitmap is the `bitmap_words()` words before
        // its records.
        unsafe { &*(records.sub(self.bitmap_words() - word) as *const AtomicU64) }
    }

    /// Book-keeping for node `n` as now written.
    pub(super) fn account(&mut self, n: u32) {
        let slot = self.slot();
        match self.flags(n) {
            FLAG_LIVE => {
                slot.live.fetch_add(1, Relaxed);
                self.hash_insert(n);
            }
            FLAG_FREE => {
                slot.free.fetch_add(1, Relaxed);
                let i = n as usize & ((1 << self.rbits) - 1);
                self.bitmap(n as usize >> self.rbits, i / 64)
                    .fetch_or(1 << (i % 64), Relaxed);
            }
            _ => {}
        }
    }

    /// Book-keeping undone before node `n` is rewritten.
    pub(super) fn unaccount(&mut self, n: u32) {
        let slot = self.slot();
        match self.flags(n) {
            FLAG_LIVE => {
                slot.live.fetch_sub(1, Relaxed);
                self.hash_remove(n);
            }
            FLAG_FREE => {
                slot.free.fetch_sub(1, Relaxed);
                let i = n as usize & ((1 << self.rbits) - 1);
                self.bitmap(n as usize >> self.rbits, i / 64)
                    .fetch_and(!(1 << (i % 64)), Relaxed);
            }
            _ => {}
        }
    }
}
