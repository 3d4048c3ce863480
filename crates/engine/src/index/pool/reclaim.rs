//! Giving memory back: a slot is released when no process can be reading
//! its area (its index is gone, or it is retired and no process holds the
//! index open), swept when its index disappears, and reclaimed (retired
//! first, then least recently used) when the pool is full.

use super::{AreaKey, CodePool, FREE, READY, RETIRED};
use std::sync::atomic::Ordering::*;

impl CodePool {
    /// Free slot `s`'s memory and the slot itself. The caller holds the
    /// slot's lock, and no process reads the area any more.
    pub(in crate::index) fn release(&self, s: u32) {
        let slot = self.slot(s);
        for h in slot.take_area() {
            self.give_pages(h);
        }
        slot.bytes.store(0, Relaxed);
        for a in &slot.identity {
            a.store(0, Relaxed);
        }
        slot.code_words.store(0, Relaxed);
        slot.rbits.store(0, Relaxed);
        slot.set_key(&AreaKey::default());
        for a in self.key_words(s) {
            a.store(0, Relaxed);
        }
        slot.set_state(slot.generation() + 1, FREE);
    }

    /// Free slot `s`, whose lock the caller holds, while no process reads
    /// it (an area that failed to load).
    pub(in crate::index) fn drop_slot(&self, s: u32) {
        let _pool = self.lock(0, true);
        self.release(s);
    }

    /// Release slot `s` if its lock is free and no process can be reading
    /// it (`gone`: its index is known to be gone); whether it was
    /// released. Under the pool lock.
    fn try_release(&self, s: u32, gone: bool) -> bool {
        if self.attached.lock().get(&s).is_some_and(|&n| n > 0) {
            return false;
        }
        if !self.host.try_lock(1 + s as usize) {
            return false;
        }
        let slot = self.slot(s);
        let key = slot.key();
        let done = if gone || self.host.is_gone(&key) {
            self.release(s);
            true
        } else if self.host.in_use(&key) {
            false
        } else {
            // Retired first, so no process takes it from here on; then no
            // one may be holding it since before.
            let was_ready = slot.status() == READY;
            slot.set_state(slot.generation(), RETIRED);
            if self.host.in_use(&key) {
                false
            } else {
                self.release(s);
                if was_ready {
                    self.header().evictions.fetch_add(1, Relaxed);
                }
                true
            }
        };
        self.host.unlock(1 + s as usize);
        done
    }

    /// Free the slots whose index is gone. Under the pool lock.
    pub(super) fn sweep_gone(&self) {
        for s in 0..self.n_slots() {
            let slot = self.slot(s);
            if matches!(slot.status(), READY | RETIRED) && self.host.is_gone(&slot.key()) {
                self.try_release(s, true);
            }
        }
    }

    /// Reclaim slots (retired first, then least recently used), except
    /// `keep`, until `enough` says so. Under the pool lock.
    pub(super) fn reclaim(&self, keep: Option<u32>, mut enough: impl FnMut() -> bool) {
        self.sweep_gone();
        if enough() {
            return;
        }
        let mut order: Vec<(bool, u64, u32)> = (0..self.n_slots())
            .filter(|&s| Some(s) != keep)
            .filter_map(|s| {
                let slot = self.slot(s);
                match slot.status() {
                    READY => Some((true, slot.last_used.load(Relaxed), s)),
                    RETIRED => Some((false, 0, s)),
                    _ => None,
                }
            })
            .collect();
        order.sort_unstable();
        for (_, _, s) in order {
            if self.try_release(s, false) && enough() {
                return;
            }
        }
    }

    /// Free the areas of index `oid` in database `db` other than `except`
    /// (the index was rebuilt into a new file, or dropped), where no
    /// process can be reading them. The caller holds the index exclusively.
    pub fn forget(&self, db: u32, oid: u32, except: Option<&AreaKey>) {
        let _pool = self.lock(0, true);
        for s in 0..self.n_slots() {
            let slot = self.slot(s);
            let key = slot.key();
            if slot.status() != FREE && key.db == db && key.oid == oid && Some(&key) != except {
                self.try_release(s, false);
            }
        }
    }

    /// Free every area whose index is gone (see [`PoolHost::is_gone`]).
    pub fn sweep(&self) {
        let _pool = self.lock(0, true);
        self.sweep_gone();
    }
}
