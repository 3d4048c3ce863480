//! The pool's page allocator: runs of `POOL_PAGE`-byte pages, first fit
//! over a bitmap, each run's length kept at its first page. Changed under
//! the pool lock (lock 0); a full pool reclaims other slots first.

use super::{CodePool, POOL_PAGE};
use std::sync::atomic::Ordering::*;

impl CodePool {
    fn used(&self, page: usize) -> bool {
        self.bitmap_word(page / 64).load(Relaxed) & (1 << (page % 64)) != 0
    }

    fn mark(&self, first: usize, n: usize, used: bool) {
        for p in first..first + n {
            let bit = 1u64 << (p % 64);
            if used {
                self.bitmap_word(p / 64).fetch_or(bit, Relaxed);
            } else {
                self.bitmap_word(p / 64).fetch_and(!bit, Relaxed);
            }
        }
    }

    /// First fit of `n` free pages, under the pool lock.
    pub(super) fn first_fit(&self, n: usize) -> Option<usize> {
        let total = self.layout().n_pages;
        let mut start = 0;
        while start + n <= total {
            if start.is_multiple_of(64) && self.bitmap_word(start / 64).load(Relaxed) == !0 {
                start += 64;
                continue;
            }
            match (start..start + n).find(|&p| self.used(p)) {
                None => return Some(start),
                Some(p) => start = p + 1,
            }
        }
        None
    }

    pub(super) fn take_pages(&self, n: usize) -> Option<u64> {
        let first = self.first_fit(n)?;
        self.mark(first, n, true);
        self.run_len(first).store(n as u32, Relaxed);
        self.header().pages_used.fetch_add(n as u64, Relaxed);
        Some(first as u64 + 1)
    }

    pub(super) fn give_pages(&self, handle: u64) {
        let first = handle as usize - 1;
        let n = self.run_len(first).swap(0, Relaxed) as usize;
        self.mark(first, n, false);
        self.header().pages_used.fetch_sub(n as u64, Relaxed);
    }

    /// A zeroed run of at least `bytes` for slot `for_slot` (whose lock the
    /// caller holds), reclaiming other slots when the pool is full; `None`
    /// if even that leaves no room.
    pub(in crate::index) fn alloc(&self, bytes: usize, for_slot: u32) -> Option<u64> {
        let n = bytes.div_ceil(POOL_PAGE).max(1);
        let handle = {
            let _pool = self.lock(0, true);
            match self.take_pages(n) {
                Some(h) => Some(h),
                None => {
                    self.reclaim(Some(for_slot), || self.first_fit(n).is_some());
                    let h = self.take_pages(n);
                    if h.is_none() {
                        self.header().refusals.fetch_add(1, Relaxed);
                    }
                    h
                }
            }
        }?;
        // SAFETY: a run of `n` pages just handed to us alone.
        unsafe { std::ptr::write_bytes(self.addr(handle), 0, n * POOL_PAGE) };
        self.slot(for_slot)
            .bytes
            .fetch_add((n * POOL_PAGE) as u64, Relaxed);
        Some(handle)
    }

    /// Give back a run of slot `s` (whose lock the caller holds, with no
    /// reader left on the run).
    pub(in crate::index) fn free(&self, handle: u64, s: u32) {
        let _pool = self.lock(0, true);
        let n = self.run_len(handle as usize - 1).load(Relaxed) as usize;
        self.give_pages(handle);
        self.slot(s)
            .bytes
            .fetch_sub((n * POOL_PAGE) as u64, Relaxed);
    }
}
