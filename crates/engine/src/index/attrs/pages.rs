//! The attribute pages: loading them into memory with the code area,
//! following other handles' writes through the change log, and writing a
//! node's values (or, in a build, all of them) in place.

use super::super::{corrupt, Index, META_BLKNO};
use super::{schema, AttrValue, Attrs};
use crate::format::{self, Kind, NONE};
use crate::page::{BlockNo, PageStore, Result};

impl<S: PageStore> Index<S> {
    /// Read the attribute area described by `self.meta` into memory (after
    /// the code area, whose node count it must match).
    pub(in crate::index) fn load_attrs(&mut self) -> Result<()> {
        let (kinds, max_labels) = schema(&self.meta)?;
        self.attrs = Attrs::new(&kinds, max_labels);
        if !self.attrs.any() {
            return Ok(());
        }
        let n = self.meta.n_nodes as usize;
        let mut blk = self.meta.attr_head;
        while blk != NONE && self.attrs.len() < n {
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Attrs)?;
            let h = *format::header(&p);
            if h.count as usize > self.attrs.per_page() {
                return Err(corrupt(blk, "attribute page entry count"));
            }
            // Every entry of a page exists once the page does (an insert
            // may not have written its entry yet: all zero, never live).
            let first = self.attrs.len();
            let take = self.attrs.per_page().min(n - first);
            let rows = (first..first + take)
                .map(|i| self.attrs.parse(&p, blk, i as u32))
                .collect::<Result<Vec<_>>>()?;
            drop(p);
            self.attrs.pages.push(blk);
            for (i, values) in rows.iter().enumerate() {
                self.attrs.set((first + i) as u32, values);
            }
            blk = h.next;
        }
        if self.attrs.len() != n {
            return Err(corrupt(
                META_BLKNO,
                format!(
                    "attribute area holds {} entries, the code area {n}",
                    self.attrs.len()
                ),
            ));
        }
        Ok(())
    }

    /// Bring this handle's attribute copy up to `self.meta` (just read by
    /// a refresh): the entries the change log names and the new ones, or
    /// everything when the log has wrapped or the index was rebuilt. The
    /// copy is per handle even when the codes are shared: a handle whose
    /// shared code area another process caught up still reads the
    /// attribute entries that changed since its own last refresh.
    pub(in crate::index) fn sync_attrs(&mut self) -> Result<()> {
        let m = self.meta;
        if m.n_attrs == 0 && !self.attrs.any() {
            return Ok(());
        }
        let n = m.n_nodes as usize;
        let source = Some((m.attr_head, m.code_head));
        let (seq, len) = (self.attrs.seq, self.attrs.len());
        if self.attrs.source == source && seq == m.change_seq && len == n {
            return Ok(());
        }
        let follows = self.attrs.source == source
            && seq <= m.change_seq
            && len <= n
            && m.change_seq - seq <= format::CHANGE_LOG as u64;
        if follows {
            let mut reload: Vec<u32> = (seq + 1..=m.change_seq)
                .map(|q| m.changed[q as usize % format::CHANGE_LOG])
                .filter(|&x| (x as usize) < len)
                .collect();
            reload.sort_unstable();
            reload.dedup();
            for x in reload.into_iter().chain(len as u32..n as u32) {
                self.reload_attrs(x)?;
            }
        } else {
            self.load_attrs()?;
        }
        self.attrs.seq = m.change_seq;
        self.attrs.source = source;
        Ok(())
    }

    /// Reload node `n`'s attribute entry from its page (`n` may be the
    /// next node number).
    pub(in crate::index) fn reload_attrs(&mut self, n: u32) -> Result<()> {
        if !self.attrs.any() {
            return Ok(());
        }
        let pi = n as usize / self.attrs.per_page();
        while self.attrs.pages.len() <= pi {
            let next = match self.attrs.pages.last() {
                None => self.meta.attr_head,
                Some(&b) => {
                    let p = self.store.read(b)?;
                    format::check(&p, b, Kind::Attrs)?;
                    format::header(&p).next
                }
            };
            if next == NONE {
                return Err(corrupt(self.meta.attr_tail, "attribute chain ends early"));
            }
            self.attrs.pages.push(next);
        }
        let blk = self.attrs.pages[pi];
        let values = {
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Attrs)?;
            self.attrs.parse(&p, blk, n)?
        };
        if (n as usize) > self.attrs.len() {
            return Err(corrupt(blk, "attribute entries out of order"));
        }
        self.attrs.set(n, &values);
        Ok(())
    }

    /// Write node `n`'s attribute entry (its page exists: `alloc_node`
    /// made it) and take the values into memory.
    pub(in crate::index) fn write_attrs(&mut self, n: u32, values: &[AttrValue]) -> Result<()> {
        if !self.attrs.any() {
            return Ok(());
        }
        let blk = self.attrs.pages[n as usize / self.attrs.per_page()];
        let (off, size) = (self.attrs.entry_offset(n), self.attrs.entry_size());
        let per = self.attrs.per_page();
        self.store.modify(blk, |p| {
            format::check(p, blk, Kind::Attrs)?;
            self.attrs.encode(values, &mut p.bytes[off..off + size]);
            let h = format::header_mut(p);
            h.count = h.count.max((n as usize % per) as u32 + 1);
            Ok(())
        })?;
        self.attrs.set(n, values);
        Ok(())
    }

    /// The attribute pages of a bulk build: `values[i * columns ..]` are
    /// node `i`'s, for nodes `0..n`.
    pub(in crate::index) fn write_attr_pages(
        &mut self,
        n: usize,
        values: &[AttrValue],
    ) -> Result<()> {
        if !self.attrs.any() || n == 0 {
            return Ok(());
        }
        let cols = self.attrs.kinds().len();
        let per = self.attrs.per_page();
        let blocks: Vec<BlockNo> = (0..n.div_ceil(per))
            .map(|_| self.store.extend())
            .collect::<Result<_>>()?;
        let size = self.attrs.entry_size();
        for (pi, &b) in blocks.iter().enumerate() {
            let mut p = format::new_page(Kind::Attrs);
            let h = format::header_mut(&mut p);
            h.next = blocks.get(pi + 1).copied().unwrap_or(NONE);
            let range = pi * per..((pi + 1) * per).min(n);
            h.count = range.len() as u32;
            for i in range {
                let off = self.attrs.entry_offset(i as u32);
                let row = &values[i * cols..(i + 1) * cols];
                self.attrs.encode(row, &mut p.bytes[off..off + size]);
                self.attrs.set(i as u32, row);
            }
            self.store.write(b, &p)?;
        }
        self.meta.attr_head = blocks[0];
        self.meta.attr_tail = *blocks.last().unwrap();
        self.attrs.pages = blocks;
        Ok(())
    }

    /// Node `n`'s attribute values (every column NULL where the index has
    /// none, an empty list).
    pub fn attributes_of(&self, id: u64) -> Option<Vec<AttrValue>> {
        let n = self.codes.lookup(id)?;
        Some(if self.attrs.any() {
            self.attrs.values(n)
        } else {
            Vec::new()
        })
    }
}
