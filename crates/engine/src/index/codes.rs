//! The code area on pages: one entry per node (external id, where the node
//! lives, flags, RaBitQ factors and code) on a chain of code pages; loading
//! it into memory (`area.rs`), and keeping that copy current.
//!
//! Several handles may hold the same index (one per Postgres backend). A
//! writer changes an entry on its page and records it in the meta page's
//! change log; [`Index::refresh`] then reloads just those entries, or the
//! whole area when the log has wrapped or the index was rebuilt. The
//! memory copy changes only that way, from the pages, so handles that
//! share one area in a [`CodePool`] (one per index per server) agree with
//! the pages as of the newest refresh any of them made: a refresh that
//! finds the shared area already caught up with the meta page takes no lock.

use super::area::{Codes, Placement};
use super::pool::{AreaKey, CodePool, Found, LOADING, READY, RETIRED};
use super::{corrupt, read_centroid, read_meta, Index, META_BLKNO};
use crate::format::{self, CodeEntryHead, Kind, MetaBody, CODE_HEAD, NONE};
use crate::page::{BlockNo, Error, Page, PageStore, Result};
use std::sync::atomic::Ordering::*;

/// What a code area loaded from a meta page is only valid for: the same
/// quantizer (dimension, bits, metric, seed, centroid) and the same chain
/// of code pages. Anything else is another index, or this one rebuilt.
fn identity(m: &MetaBody) -> [u64; 4] {
    [
        (m.dim as u64) << 32 | m.bits as u64,
        (m.metric as u64) << 32 | m.code_head as u64,
        m.seed,
        m.centroid as u64,
    ]
}

const NO_ROOM: &str = "no memory left for the code area";

fn no_room() -> Error {
    Error::Invalid(NO_ROOM.into())
}

fn is_no_room(e: &Error) -> bool {
    matches!(e, Error::Invalid(r) if r == NO_ROOM)
}

impl<S: PageStore> Index<S> {
    /// Where this handle's codes are.
    pub fn placement(&self) -> Placement {
        self.codes.placement
    }

    /// Use `pool`'s area for this index: the one some process loaded, or a
    /// new one this handle loads. Falls back to a private area (and says
    /// so in [`Self::placement`]) when the pool has no room.
    pub(super) fn attach(&mut self, pool: &'static CodePool, key: AreaKey) -> Result<()> {
        loop {
            match pool.find_or_create(&key) {
                Found::Existing(s, state) => {
                    if state & 0xff == LOADING {
                        // Wait for the process loading it.
                        drop(pool.slot_lock(s, false));
                        continue;
                    }
                    let codes = super::area::Codes::shared(pool, s, state >> 8, key);
                    if !codes.current() {
                        continue;
                    }
                    pool.slot(s).touch();
                    self.codes = codes;
                    self.codes.sync();
                    return Ok(());
                }
                Found::Created(s, state, _held) => {
                    debug_assert_eq!(state & 0xff, LOADING);
                    self.codes = super::area::Codes::shared(pool, s, state >> 8, key);
                    let loaded = (|| {
                        let m = read_meta(&self.store)?;
                        self.follow(m)?;
                        self.codes
                            .reset(self.quant.code_words(), m.n_nodes as usize);
                        self.codes.set_identity(identity(&m));
                        self.load_all(&m)?;
                        self.codes.publish(m.change_seq);
                        Ok::<bool, Error>(true)
                    })();
                    match loaded {
                        Ok(_) => {
                            pool.slot(s).set_state(state >> 8, READY);
                            return Ok(());
                        }
                        Err(e) => {
                            // No one reads a slot being loaded: free it.
                            pool.drop_slot(s);
                            self.codes =
                                Codes::private(self.quant.code_words(), Placement::Private);
                            if is_no_room(&e) {
                                return self.go_private(Placement::PoolFull);
                            }
                            return Err(e);
                        }
                    }
                }
                Found::Full => return self.go_private(Placement::PoolFull),
            }
        }
    }

    /// Keep the codes in this handle's own memory, loaded now.
    fn go_private(&mut self, why: Placement) -> Result<()> {
        self.codes = Codes::private(self.quant.code_words(), why);
        self.refresh().map(|_| ())
    }

    /// Take the meta page `m` as this handle's quantizer and layout, if it
    /// names another one (a rebuilt or re-dimensioned index).
    fn follow(&mut self, m: MetaBody) -> Result<()> {
        if identity(&m) != identity(&self.meta) {
            let centroid = read_centroid(&self.store, &m)?;
            self.adopt(m, centroid)?;
        }
        Ok(())
    }

    /// Entry `i` of code page `p` (block `blk`), checked, its code in the
    /// search layout the code area holds
    /// ([`crate::rabitq::RaBitQ::search_layout`]).
    fn parse(&self, p: &Page, blk: BlockNo, i: usize) -> Result<(CodeEntryHead, Vec<u64>)> {
        let codes = &self.codes;
        let off = codes.entry_offset(i as u32);
        let head: CodeEntryHead = bytemuck::pod_read_unaligned(&p.bytes[off..off + CODE_HEAD]);
        if head.flags as u32 > format::FLAG_DELETED {
            return Err(corrupt(blk, format!("code entry flags {}", head.flags)));
        }
        let mut words: Vec<u64> = p.bytes[off + CODE_HEAD..off + codes.entry_size()]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        self.quant.search_layout(&mut words);
        Ok((head, words))
    }

    /// Reload entries `0..len()` in place and append the rest of the `m`'s
    /// area, reading each code page once. Pages may hold entries past
    /// `m.n_nodes` (a writer that has not yet written the meta page); those
    /// are left for a later refresh.
    fn load_all(&mut self, m: &MetaBody) -> Result<()> {
        let n = m.n_nodes as usize;
        let had = self.codes.len();
        if !self.codes.fits(n) {
            return Err(no_room());
        }
        let mut blk = m.code_head;
        let (mut node, mut pi) = (0usize, 0usize);
        while blk != NONE && node < n {
            if pi == self.codes.n_pages() {
                if !self.codes.push_page(blk) {
                    return Err(no_room());
                }
            } else if self.codes.page(pi) != blk {
                return Err(corrupt(blk, "code chain differs from the one loaded"));
            }
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Codes)?;
            let h = *format::header(&p);
            if h.count as usize > self.codes.per_page() {
                return Err(corrupt(blk, "code page entry count"));
            }
            let take = (h.count as usize).min(n - node);
            let entries = (0..take)
                .map(|i| self.parse(&p, blk, i))
                .collect::<Result<Vec<_>>>()?;
            drop(p);
            for (head, words) in entries {
                if node < had {
                    // Most entries are unchanged when a handle that fell
                    // behind reloads: rewriting each one cost a reload its
                    // time, and a VACUUM that refreshes beside busy writers
                    // fell behind again while it reloaded.
                    if !self.codes.holds(node as u32, &head, &words) {
                        self.codes.replace(node as u32, &head, &words);
                    }
                } else if !self.codes.append(&head, &words) {
                    return Err(no_room());
                }
                node += 1;
            }
            blk = h.next;
            pi += 1;
        }
        if node != n {
            return Err(corrupt(
                META_BLKNO,
                format!("code area holds {node} entries, meta says {n}"),
            ));
        }
        if n > 0 && (m.entry as usize) >= n && m.entry != NONE {
            return Err(corrupt(META_BLKNO, "entry point out of range"));
        }
        Ok(())
    }

    /// Catch up with changes other handles wrote to the same store (another
    /// Postgres backend, say). Cheap when nothing changed: one meta page
    /// read, and no lock when a shared area is already as new as the meta
    /// page. A handle at most `CHANGE_LOG` code writes behind reloads just
    /// the changed and the new entries; otherwise it reloads the whole code
    /// area. Returns whether anything changed.
    ///
    /// A handle must refresh before it writes. Writers change the pages
    /// only by read-modify-write of their own slots and fields, so handles
    /// may insert side by side; this handle's copy of what they wrote is
    /// only as fresh as its last refresh.
    pub fn refresh(&mut self) -> Result<bool> {
        let changed = self.refresh_codes()?;
        self.sync_attrs()?;
        Ok(changed)
    }

    /// The code area's part of [`Self::refresh`].
    fn refresh_codes(&mut self) -> Result<bool> {
        if let Some((pool, _, _, key)) = self.codes.shared_slot() {
            if !self.codes.current() {
                // The area was retired or reclaimed: find it anew.
                self.attach(pool, key)?;
            }
        }
        let m = read_meta(&self.store)?;
        let old = self.meta;
        let changed = m.change_seq != old.change_seq
            || m.n_nodes != old.n_nodes
            || m.entry != old.entry
            || m.ip_max_norm != old.ip_max_norm;
        self.follow(m)?;
        if self.covers(&m) {
            self.codes.sync();
            self.meta = m;
            return Ok(changed);
        }
        self.catch_up()?;
        Ok(true)
    }

    /// Whether the area already holds everything `m` describes.
    fn covers(&self, m: &MetaBody) -> bool {
        let slot = self.codes.slot();
        let len = slot.len.load(Acquire);
        let seq = slot.seq.load(Acquire);
        if self.codes.identity() != identity(m) {
            return false;
        }
        if self.codes.shared_slot().is_some() {
            // Others may have caught up past the meta page we read.
            len >= m.n_nodes && seq >= m.change_seq
        } else {
            len == m.n_nodes && seq == m.change_seq
        }
    }

    /// Bring the area up to the meta page, under its lock. A shared area
    /// that cannot follow (rebuilt in place, or no room to grow) is
    /// retired, and this handle attaches anew.
    fn catch_up(&mut self) -> Result<()> {
        let held = self.codes.update_lock();
        let m = read_meta(&self.store)?;
        self.follow(m)?;
        self.codes.sync();
        let shared = self.codes.shared_slot();
        let slot = self.codes.slot();
        let (len0, seq0) = (slot.len.load(Acquire), slot.seq.load(Acquire));
        let rebuilt =
            self.codes.identity() != identity(&m) || m.n_nodes < len0 || m.change_seq < seq0;
        let result = if rebuilt && (shared.is_none() || len0 == 0) {
            self.codes
                .reset(self.quant.code_words(), m.n_nodes as usize);
            self.codes.set_identity(identity(&m));
            self.load_all(&m)
        } else if rebuilt || !self.codes.fits(m.n_nodes as usize) {
            Err(no_room())
        } else if m.change_seq - seq0 > format::CHANGE_LOG as u64 {
            self.load_all(&m)
        } else {
            self.apply_log(&m, seq0)
        };
        match result {
            Ok(()) => {
                self.codes.publish(m.change_seq);
                self.meta = m;
                Ok(())
            }
            Err(e) => {
                let is_room = is_no_room(&e);
                match shared {
                    Some((pool, s, generation, key)) => {
                        // What was applied is not consistent: no one may
                        // use this area again. Attach to a new one.
                        pool.slot(s).set_state(generation, RETIRED);
                        drop(held);
                        if is_room {
                            self.attach(pool, key)?;
                            return self.refresh().map(|_| ());
                        }
                        Err(e)
                    }
                    None => {
                        // Reload from scratch next time (with room for
                        // the chunk list to grow, if that was the problem).
                        let expect = m.n_nodes as usize * 2;
                        self.codes.reset(self.quant.code_words(), expect);
                        if is_room && self.codes.fits(m.n_nodes as usize) {
                            return self.refresh().map(|_| ());
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    /// Reload the entries the change log names since `seq0`, and append
    /// the new ones.
    fn apply_log(&mut self, m: &MetaBody, seq0: u64) -> Result<()> {
        let old_n = self.codes.len();
        let mut reload: Vec<u32> = (seq0 + 1..=m.change_seq)
            .map(|seq| m.changed[seq as usize % format::CHANGE_LOG])
            .filter(|&n| (n as usize) < old_n)
            .collect();
        reload.sort_unstable();
        reload.dedup();
        for n in reload {
            self.reload_entry(m, n, false)?;
        }
        for n in old_n..m.n_nodes as usize {
            self.reload_entry(m, n as u32, true)?;
        }
        Ok(())
    }

    /// Read code entry `n` from its page: replace it, or append it (`n` is
    /// then the next node number).
    fn reload_entry(&mut self, m: &MetaBody, n: u32, append: bool) -> Result<()> {
        let pi = n as usize / self.codes.per_page();
        while self.codes.n_pages() <= pi {
            let next = match self.codes.n_pages() {
                0 => m.code_head,
                k => {
                    let b = self.codes.page(k - 1);
                    let p = self.store.read(b)?;
                    format::check(&p, b, Kind::Codes)?;
                    format::header(&p).next
                }
            };
            if next == NONE {
                return Err(corrupt(m.code_tail, "code chain ends early"));
            }
            if !self.codes.push_page(next) {
                return Err(no_room());
            }
        }
        let blk = self.codes.page(pi);
        let (head, words) = {
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Codes)?;
            self.parse(&p, blk, n as usize % self.codes.per_page())?
        };
        if append {
            debug_assert_eq!(n as usize, self.codes.len());
            if !self.codes.append(&head, &words) {
                return Err(no_room());
            }
        } else {
            self.codes.replace(n, &head, &words);
        }
        Ok(())
    }

    /// Write code entry `n` (`head` and `code`) to its page, without
    /// logging it.
    pub(super) fn store_code(&self, n: u32, head: &CodeEntryHead, code: &[u64]) -> Result<()> {
        let blk = self.codes.page_of(n);
        let (off, size, per) = (
            self.codes.entry_offset(n),
            self.codes.entry_size(),
            self.codes.per_page(),
        );
        self.store.modify(blk, |p| {
            format::check(p, blk, Kind::Codes)?;
            p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(head));
            p.bytes[off + CODE_HEAD..off + size].copy_from_slice(bytemuck::cast_slice(code));
            let h = format::header_mut(p);
            h.count = h.count.max((n as usize % per) as u32 + 1);
            Ok(())
        })
    }

    /// Change the head of code entry `n` on its page (not logged) where
    /// `f` changes it and says so: flags, or id and flags when a slot is
    /// freed or claimed. Whether it changed, read and written under the
    /// page's lock (a compare-and-set between writers).
    pub(super) fn update_code_head(
        &self,
        n: u32,
        f: impl FnOnce(&mut CodeEntryHead) -> bool,
    ) -> Result<bool> {
        let blk = self.codes.page_of(n);
        let off = self.codes.entry_offset(n);
        self.store.modify(blk, |p| {
            format::check(p, blk, Kind::Codes)?;
            let mut head: CodeEntryHead =
                bytemuck::pod_read_unaligned(&p.bytes[off..off + CODE_HEAD]);
            let changed = f(&mut head);
            if changed {
                p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
            }
            Ok(changed)
        })
    }

    /// Write code entry `n` and log the change.
    pub(super) fn write_code(&self, n: u32, head: &CodeEntryHead, code: &[u64]) -> Result<()> {
        self.store_code(n, head, code)?;
        self.log_changes(&[n])
    }

    /// Log the changed code entries of `nodes` and refresh, a few at a
    /// time: a handle more than `CHANGE_LOG` changes behind reloads the
    /// whole area, so logging a large batch at once made every refresh
    /// (this handle's, and each other backend's with a private area) a
    /// full reload, once per batch.
    pub(super) fn log_and_refresh(&mut self, nodes: &[u32]) -> Result<()> {
        for chunk in nodes.chunks(format::CHANGE_LOG / 2) {
            self.log_changes(chunk)?;
            self.refresh()?;
        }
        Ok(())
    }

    /// Record in the meta page's change log that the code entries of
    /// `nodes` changed, so other handles reload them on `refresh`.
    pub(super) fn log_changes(&self, nodes: &[u32]) -> Result<()> {
        if nodes.is_empty() {
            return Ok(());
        }
        self.update_meta(|m| {
            for &n in nodes {
                m.change_seq += 1;
                m.changed[m.change_seq as usize % format::CHANGE_LOG] = n;
            }
            Ok(())
        })
    }
}
