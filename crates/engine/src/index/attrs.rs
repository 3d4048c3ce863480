//! Attribute columns: each node's values stored beside its code, so a
//! search tells whether a node matches a filter without reading its page.
//!
//! An index has up to [`MAX_ATTRS`] attribute columns, fixed at creation,
//! each of one [`AttrKind`]:
//! * `Int`: a 64-bit integer (SQL `int4` and `int8`; an `int4` is widened,
//!   so `int4_column = 5::int8` compares as integers);
//! * `Text`: a 64-bit hash of the bytes ([`text_hash`]). Equal strings hash
//!   equal, so a filter never misses a row; two different strings may
//!   collide, so a caller that needs exact equality rechecks the rows.
//! * `Labels`: a set of at most `max_labels` 32-bit labels (SQL `int4[]`).
//!
//! A NULL scalar matches no condition; a NULL or empty label set overlaps
//! nothing (as SQL's `=` and `&&` never hold for them).
//!
//! On the pages: a chain of attribute pages (`Kind::Attrs`) of fixed-size
//! entries indexed by node number, as the code area: a `u32` null mask and
//! 4 bytes of padding, then per column 8 bytes (a scalar) or a `u32` count
//! and `max_labels` `u32` labels, padded to 8 bytes. In memory: one `u64`
//! per node and column (the scalar, or where the node's labels start in an
//! arena and how many), the null masks, and posting lists (value to nodes)
//! that give the nodes a condition can match without a scan. Posting lists
//! only grow: a node deleted, or reused by an insert with other values,
//! stays listed under its old ones, so every node they give is checked
//! against its current values.

use super::{corrupt, Index, META_BLKNO};
use crate::format::{self, Kind, MetaBody, HEADER_SIZE, NONE};
use crate::page::{BlockNo, Error, Page, PageStore, Result};
use std::collections::HashMap;

pub use crate::format::MAX_ATTRS;

/// Most labels per row an index can be created for.
pub const MAX_LABELS: usize = 1024;

/// What an attribute column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    Int,
    Text,
    Labels,
}

impl AttrKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            AttrKind::Int => 1,
            AttrKind::Text => 2,
            AttrKind::Labels => 3,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        [AttrKind::Int, AttrKind::Text, AttrKind::Labels]
            .into_iter()
            .find(|k| k.code() == c)
    }

    /// Bytes of one column in an entry.
    fn bytes(self, max_labels: usize) -> usize {
        match self {
            AttrKind::Labels => (4 + 4 * max_labels).div_ceil(8) * 8,
            _ => 8,
        }
    }
}

/// One row's value of one attribute column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrValue {
    Null,
    Int(i64),
    /// A text column's value, as its [`text_hash`] (see [`AttrValue::text`]).
    Text(u64),
    Labels(Vec<u32>),
}

impl AttrValue {
    /// A text value.
    pub fn text(bytes: &[u8]) -> Self {
        AttrValue::Text(text_hash(bytes))
    }

    /// The key a scalar is compared and listed by.
    pub fn key(&self) -> Option<u64> {
        match self {
            AttrValue::Int(x) => Some(*x as u64),
            AttrValue::Text(h) => Some(*h),
            _ => None,
        }
    }
}

/// The hash a text value is stored as: FNV-1a over the bytes, then
/// SplitMix64's finalizer to spread it. Part of the on-disk format.
pub fn text_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Bytes of one attribute entry, or `None` where there is no column.
pub(crate) fn entry_size(kinds: &[AttrKind], max_labels: usize) -> Option<usize> {
    (!kinds.is_empty()).then(|| 8 + kinds.iter().map(|k| k.bytes(max_labels)).sum::<usize>())
}

/// The attribute columns of an index and their values, in memory.
#[derive(Default)]
pub(super) struct Attrs {
    kinds: Vec<AttrKind>,
    max_labels: usize,
    entry_size: usize,
    per_page: usize,
    /// `slots[n * columns + c]`: node `n`'s scalar in column `c`, or for a
    /// label column `offset << 16 | count` into `arena`.
    slots: Vec<u64>,
    /// Node `n`'s null mask (bit `c`: column `c` is NULL).
    nulls: Vec<u8>,
    arena: Vec<u32>,
    /// `(column, key or label)` to the nodes listed under it.
    postings: HashMap<(u8, u64), Vec<u32>>,
    /// Attribute page of entries `i * per_page ..`.
    pub pages: Vec<BlockNo>,
    /// The meta page's `change_seq` this copy is current for, and the
    /// areas it was read from (`attr_head`, `code_head`): another pair is
    /// another (rebuilt) index.
    pub seq: u64,
    pub source: Option<(BlockNo, BlockNo)>,
}

impl Attrs {
    pub fn new(kinds: &[AttrKind], max_labels: usize) -> Self {
        let entry_size = entry_size(kinds, max_labels).unwrap_or(0);
        Attrs {
            kinds: kinds.to_vec(),
            max_labels,
            entry_size,
            per_page: if entry_size == 0 {
                0
            } else {
                format::PAYLOAD / entry_size
            },
            ..Default::default()
        }
    }

    pub fn kinds(&self) -> &[AttrKind] {
        &self.kinds
    }

    /// Whether the index has attribute columns.
    pub fn any(&self) -> bool {
        !self.kinds.is_empty()
    }

    pub fn per_page(&self) -> usize {
        self.per_page
    }

    pub fn len(&self) -> usize {
        self.nulls.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * 8
            + self.nulls.len()
            + self.arena.len() * 4
            + self
                .postings
                .values()
                .map(|v| v.capacity() * 4 + 32)
                .sum::<usize>()
    }

    /// Check that `values` fit these columns; an empty slice is every
    /// column NULL.
    pub fn check(&self, values: &[AttrValue]) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        if values.len() != self.kinds.len() {
            return Err(Error::Invalid(format!(
                "the index has {} attribute columns, got {} values",
                self.kinds.len(),
                values.len()
            )));
        }
        for (c, (v, k)) in values.iter().zip(&self.kinds).enumerate() {
            match (v, k) {
                (AttrValue::Null, _)
                | (AttrValue::Int(_), AttrKind::Int)
                | (AttrValue::Text(_), AttrKind::Text) => {}
                (AttrValue::Labels(l), AttrKind::Labels) => {
                    if l.len() > self.max_labels {
                        return Err(Error::Invalid(format!(
                            "attribute column {} holds at most {} labels per row (max_labels), this row has {}",
                            c + 1,
                            self.max_labels,
                            l.len()
                        )));
                    }
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "attribute column {} holds {k:?} values, got {v:?}",
                        c + 1
                    )))
                }
            }
        }
        Ok(())
    }

    /// Node `n`'s values become `values` (checked by `check`); `n` is at
    /// most the next node number.
    pub fn set(&mut self, n: u32, values: &[AttrValue]) {
        let cols = self.kinds.len();
        let n = n as usize;
        if n == self.len() {
            self.slots.resize((n + 1) * cols, 0);
            self.nulls.push(0);
        }
        let mut nulls = 0u8;
        for c in 0..cols {
            let v = values.get(c).unwrap_or(&AttrValue::Null);
            let slot = match v {
                AttrValue::Null => {
                    nulls |= 1 << c;
                    0
                }
                AttrValue::Labels(l) => {
                    let mut l = l.clone();
                    l.sort_unstable();
                    l.dedup();
                    let at = self.arena.len() as u64;
                    for &x in &l {
                        self.list(c, x as u64, n as u32);
                    }
                    self.arena.extend_from_slice(&l);
                    at << 16 | l.len() as u64
                }
                scalar => {
                    let key = scalar.key().unwrap();
                    self.list(c, key, n as u32);
                    key
                }
            };
            self.slots[n * cols + c] = slot;
        }
        self.nulls[n] = nulls;
    }

    fn list(&mut self, c: usize, key: u64, n: u32) {
        let list = self.postings.entry((c as u8, key)).or_default();
        if list.last() != Some(&n) {
            list.push(n);
        }
    }

    /// Node `n`'s values.
    pub fn values(&self, n: u32) -> Vec<AttrValue> {
        (0..self.kinds.len())
            .map(|c| {
                if self.is_null(n, c) {
                    return AttrValue::Null;
                }
                let s = self.slots[n as usize * self.kinds.len() + c];
                match self.kinds[c] {
                    AttrKind::Int => AttrValue::Int(s as i64),
                    AttrKind::Text => AttrValue::Text(s),
                    AttrKind::Labels => AttrValue::Labels(self.labels(n, c).to_vec()),
                }
            })
            .collect()
    }

    #[inline]
    pub fn is_null(&self, n: u32, c: usize) -> bool {
        self.nulls[n as usize] & (1 << c) != 0
    }

    /// Node `n`'s scalar in column `c` (not NULL).
    #[inline]
    pub fn scalar(&self, n: u32, c: usize) -> u64 {
        self.slots[n as usize * self.kinds.len() + c]
    }

    /// Node `n`'s labels in column `c`, sorted (empty when NULL).
    #[inline]
    pub fn labels(&self, n: u32, c: usize) -> &[u32] {
        let s = self.slots[n as usize * self.kinds.len() + c];
        let at = (s >> 16) as usize;
        &self.arena[at..at + (s & 0xffff) as usize]
    }

    /// The nodes listed under `key` (a scalar, or a label) in column `c`.
    pub fn posting(&self, c: usize, key: u64) -> &[u32] {
        self.postings
            .get(&(c as u8, key))
            .map_or(&[], |v| v.as_slice())
    }

    /// Entry `n`'s bytes for `values`.
    pub fn encode(&self, values: &[AttrValue], out: &mut [u8]) {
        out.fill(0);
        let mut nulls = 0u32;
        let mut at = 8;
        for (c, k) in self.kinds.iter().enumerate() {
            match values.get(c).unwrap_or(&AttrValue::Null) {
                AttrValue::Null => nulls |= 1 << c,
                AttrValue::Labels(l) => {
                    out[at..at + 4].copy_from_slice(&(l.len() as u32).to_le_bytes());
                    for (i, x) in l.iter().enumerate() {
                        out[at + 4 + 4 * i..at + 8 + 4 * i].copy_from_slice(&x.to_le_bytes());
                    }
                }
                scalar => out[at..at + 8].copy_from_slice(&scalar.key().unwrap().to_le_bytes()),
            }
            at += k.bytes(self.max_labels);
        }
        out[..4].copy_from_slice(&nulls.to_le_bytes());
    }

    /// The values in an entry's bytes, checked.
    pub fn decode(&self, bytes: &[u8]) -> std::result::Result<Vec<AttrValue>, String> {
        let nulls = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let mut at = 8;
        let mut out = Vec::with_capacity(self.kinds.len());
        for (c, k) in self.kinds.iter().enumerate() {
            out.push(if nulls & (1 << c) != 0 {
                AttrValue::Null
            } else {
                match k {
                    AttrKind::Int => AttrValue::Int(word(at) as i64),
                    AttrKind::Text => AttrValue::Text(word(at)),
                    AttrKind::Labels => {
                        let count = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
                        if count as usize > self.max_labels {
                            return Err(format!("attribute entry with {count} labels"));
                        }
                        AttrValue::Labels(
                            (0..count as usize)
                                .map(|i| {
                                    let b = at + 4 + 4 * i;
                                    u32::from_le_bytes(bytes[b..b + 4].try_into().unwrap())
                                })
                                .collect(),
                        )
                    }
                }
            });
            at += k.bytes(self.max_labels);
        }
        Ok(out)
    }

    /// Byte offset of node `n`'s entry in its page.
    pub fn entry_offset(&self, n: u32) -> usize {
        HEADER_SIZE + (n as usize % self.per_page) * self.entry_size
    }

    pub fn entry_size(&self) -> usize {
        self.entry_size
    }

    /// Entry `n` on its page image `p` (block `blk`), decoded.
    fn parse(&self, p: &Page, blk: BlockNo, n: u32) -> Result<Vec<AttrValue>> {
        let off = self.entry_offset(n);
        self.decode(&p.bytes[off..off + self.entry_size])
            .map_err(|r| corrupt(blk, r))
    }
}

/// The attribute schema on a meta page, checked.
pub(super) fn schema(meta: &MetaBody) -> Result<(Vec<AttrKind>, usize)> {
    let n = meta.n_attrs as usize;
    if n > MAX_ATTRS || meta.max_labels as usize > MAX_LABELS {
        return Err(corrupt(META_BLKNO, "impossible attribute schema"));
    }
    let kinds = meta.attr_kinds[..n]
        .iter()
        .map(|&c| AttrKind::from_code(c))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| corrupt(META_BLKNO, "unknown attribute kind"))?;
    Ok((kinds, meta.max_labels as usize))
}

impl<S: PageStore> Index<S> {
    /// Read the attribute area described by `self.meta` into memory (after
    /// the code area, whose node count it must match).
    pub(super) fn load_attrs(&mut self) -> Result<()> {
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
    pub(super) fn sync_attrs(&mut self) -> Result<()> {
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
    pub(super) fn reload_attrs(&mut self, n: u32) -> Result<()> {
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
    pub(super) fn write_attrs(&mut self, n: u32, values: &[AttrValue]) -> Result<()> {
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
    pub(super) fn write_attr_pages(&mut self, n: usize, values: &[AttrValue]) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::super::{Index, Metric, Options, SearchParams, META_BLKNO};
    use crate::format::{self, MetaBody, HEADER_SIZE, NONE};
    use crate::page::PageStore;
    use crate::MemStore;

    /// An index written before attribute columns (format 3: the meta page
    /// ends before the attribute fields, which read as zeros) opens as one
    /// without them, answers, takes inserts and passes the page checks.
    #[test]
    fn a_format_3_index_reads_as_one_without_attribute_columns() {
        let (n, dim) = (600, 8);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let data: Vec<f32> = (0..(n + 1) * dim)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect();
        let ids: Vec<u64> = (0..n as u64).collect();
        let store = MemStore::new();
        {
            let mut index = Index::create(&store, Options::new(dim, Metric::L2)).unwrap();
            index.build(&data[..n * dim], &ids, usize::MAX).unwrap();
        }
        let size = std::mem::size_of::<MetaBody>();
        store
            .modify(META_BLKNO, |p| {
                let body = &mut p.bytes[HEADER_SIZE..HEADER_SIZE + size];
                let mut m: MetaBody = bytemuck::pod_read_unaligned(body);
                assert_eq!((m.n_attrs, m.attr_head), (0, NONE));
                // What version 3 left there.
                m.attr_head = 0;
                m.attr_tail = 0;
                m.max_labels = 0;
                body.copy_from_slice(bytemuck::bytes_of(&m));
                format::header_mut(p).version = 3;
                Ok(())
            })
            .unwrap();
        let mut index = Index::open(&store).unwrap();
        assert!(index.options().attrs.is_empty());
        let q = &data[3 * dim..4 * dim];
        let hits = index.search(q, 1, &SearchParams::default()).unwrap();
        assert_eq!(hits[0].0, 3);
        index.insert(n as u64, &data[n * dim..]).unwrap();
        let hits = index
            .search(&data[n * dim..], 1, &SearchParams::default())
            .unwrap();
        assert_eq!(hits[0].0, n as u64);
        super::super::check_pages(&store, || {}).unwrap();
        assert!(index.check_graph(false).is_ok());
    }

    /// A newer version than this build reads is refused as a format error.
    #[test]
    fn a_newer_format_is_refused() {
        let store = MemStore::new();
        Index::create(&store, Options::new(4, Metric::L2)).unwrap();
        store
            .modify(META_BLKNO, |p| {
                format::header_mut(p).version = format::FORMAT_VERSION + 1;
                Ok(())
            })
            .unwrap();
        assert!(matches!(
            Index::open(&store),
            Err(crate::page::Error::Format { .. })
        ));
    }
}
