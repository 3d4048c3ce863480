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

use super::{corrupt, META_BLKNO};
use crate::format::{self, MetaBody, HEADER_SIZE};
use crate::page::{BlockNo, Error, Page, Result};
use std::collections::HashMap;

mod pages;

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
            per_page: format::PAYLOAD.checked_div(entry_size).unwrap_or(0),
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

    /// Ask the CPU for node `n`'s null mask and scalars ahead of a
    /// [`Attrs::matches`] (see [`super::area::Codes::prefetch_entry`]).
    #[inline]
    pub fn prefetch(&self, n: u32) {
        let n = n as usize;
        if let Some(null) = self.nulls.get(n) {
            crate::simd::prefetch(std::slice::from_ref(null));
        }
        if let Some(first) = self.slots.get(n * self.kinds.len()) {
            crate::simd::prefetch(std::slice::from_ref(first));
        }
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

#[cfg(test)]
mod tests;
