//! The code area: one entry per node (external id, where the node lives,
//! flags, RaBitQ factors and code) on a chain of code pages, and its flat
//! in-memory copy that searches estimate from without touching a page.
//!
//! Several handles may hold the same index (one per Postgres backend). A
//! writer records each entry it changes in the meta page's change log, so
//! [`Index::refresh`] reloads just those entries, or the whole area when
//! the log has wrapped or the index was rebuilt.

use super::{corrupt, read_centroid, read_meta, Index, META_BLKNO};
use crate::format::{self, CodeEntryHead, Kind, CODE_HEAD, HEADER_SIZE, NONE};
use crate::page::{BlockNo, Page, PageStore, Result};
use crate::rabitq::Factors;

/// Flat, in-memory copy of the code area. Each node's code words and its
/// factors are one record (`code_words + 2` u64), so an estimate touches
/// one or two adjacent cache lines.
pub(super) struct Codes {
    /// u64 words of one code, all bit planes together.
    code_words: usize,
    /// Entries per code page.
    per_page: usize,
    data: Vec<u64>,
    /// Where each node starts: first page, byte offset in its payload.
    pub blkno: Vec<BlockNo>,
    pub offset: Vec<u16>,
    pub ids: Vec<u64>,
    pub flags: Vec<u8>,
    /// Code page of entries `i * per_page ..`.
    pub pages: Vec<BlockNo>,
}

impl Codes {
    pub fn new(code_words: usize) -> Self {
        let mut c = Codes {
            code_words: 0,
            per_page: 0,
            data: Vec::new(),
            blkno: Vec::new(),
            offset: Vec::new(),
            ids: Vec::new(),
            flags: Vec::new(),
            pages: Vec::new(),
        };
        c.set_geometry(code_words);
        c
    }

    /// Codes of another size (a rebuilt index); the area must be reloaded.
    pub fn set_geometry(&mut self, code_words: usize) {
        self.code_words = code_words;
        self.per_page = format::codes_per_page(code_words);
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.blkno.clear();
        self.offset.clear();
        self.ids.clear();
        self.flags.clear();
        self.pages.clear();
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn per_page(&self) -> usize {
        self.per_page
    }

    #[inline]
    fn stride(&self) -> usize {
        self.code_words + 2
    }

    /// Node `n`'s code and factors, adjacent in memory.
    #[inline]
    pub fn record(&self, n: u32) -> &[u64] {
        let st = self.stride();
        &self.data[n as usize * st..(n as usize + 1) * st]
    }

    #[inline]
    pub fn code(&self, n: u32) -> &[u64] {
        &self.record(n)[..self.code_words]
    }

    #[inline]
    pub fn factors(&self, n: u32) -> &Factors {
        &bytemuck::cast_slice::<u64, Factors>(&self.record(n)[self.code_words..])[0]
    }

    pub fn set(&mut self, n: u32, code: &[u64], f: &Factors) {
        let st = self.stride();
        let rec = &mut self.data[n as usize * st..(n as usize + 1) * st];
        rec[..self.code_words].copy_from_slice(code);
        rec[self.code_words..].copy_from_slice(bytemuck::cast_slice(std::slice::from_ref(f)));
    }

    /// Append an entry for the next node number.
    pub fn push(&mut self, head: &CodeEntryHead, code: &[u64]) {
        self.data.extend_from_slice(code);
        self.data
            .extend_from_slice(bytemuck::cast_slice(std::slice::from_ref(&head.factors)));
        self.blkno.push(head.blkno);
        self.offset.push(head.offset);
        self.ids.push(head.id);
        self.flags.push(head.flags as u8);
    }

    /// Reserve room for `n` entries' codes.
    pub fn reserve(&mut self, n: usize) {
        self.data.reserve(n * self.stride());
    }

    pub fn entry_size(&self) -> usize {
        CODE_HEAD + 8 * self.code_words
    }

    /// Byte offset of node `n`'s entry in its code page.
    pub fn entry_offset(&self, n: u32) -> usize {
        HEADER_SIZE + (n as usize % self.per_page) * self.entry_size()
    }

    /// The code page holding node `n`'s entry.
    pub fn page_of(&self, n: u32) -> BlockNo {
        self.pages[n as usize / self.per_page]
    }

    pub fn memory_bytes(&self) -> usize {
        self.data.len() * 8
            + self.blkno.len() * 4
            + self.offset.len() * 2
            + self.ids.len() * 8
            + self.flags.len()
    }

    pub fn bytes_per_entry(&self) -> usize {
        self.code_words * 8 + std::mem::size_of::<Factors>()
    }

    /// Entry `i` of code page `p` (block `blk`), checked.
    fn parse(&self, p: &Page, blk: BlockNo, i: usize) -> Result<(CodeEntryHead, Vec<u64>)> {
        let off = self.entry_offset(i as u32);
        let head: CodeEntryHead = bytemuck::pod_read_unaligned(&p.bytes[off..off + CODE_HEAD]);
        if head.flags as u32 > format::FLAG_DELETED {
            return Err(corrupt(blk, format!("code entry flags {}", head.flags)));
        }
        let words = p.bytes[off + CODE_HEAD..off + self.entry_size()]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok((head, words))
    }

    /// Code entry `n` as this copy holds it, into its page image.
    pub fn encode(&self, p: &mut Page, n: u32) {
        let off = self.entry_offset(n);
        let head = CodeEntryHead {
            id: self.ids[n as usize],
            blkno: self.blkno[n as usize],
            offset: self.offset[n as usize],
            flags: self.flags[n as usize] as u16,
            factors: *self.factors(n),
        };
        p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
        p.bytes[off + CODE_HEAD..off + self.entry_size()]
            .copy_from_slice(bytemuck::cast_slice(self.code(n)));
        let h = format::header_mut(p);
        h.count = h.count.max((n as usize % self.per_page) as u32 + 1);
    }
}

impl<S: PageStore> Index<S> {
    /// Read the code area described by `self.meta` into memory, replacing
    /// what was there. Pages may hold entries past `meta.n_nodes` (a writer
    /// that has not yet written the meta page); those are left for a later
    /// [`Index::refresh`].
    pub(super) fn load_codes(&mut self) -> Result<()> {
        let n = self.meta.n_nodes as usize;
        self.codes.clear();
        self.id_map.clear();
        self.free.clear();
        self.live = 0;
        let mut blk = self.meta.code_head;
        while blk != NONE && self.codes.len() < n {
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Codes)?;
            let h = *format::header(&p);
            if h.count as usize > self.codes.per_page {
                return Err(corrupt(blk, "code page entry count"));
            }
            let take = (h.count as usize).min(n - self.codes.len());
            let entries = (0..take)
                .map(|i| self.codes.parse(&p, blk, i))
                .collect::<Result<Vec<_>>>()?;
            drop(p);
            self.codes.pages.push(blk);
            for (head, words) in entries {
                self.codes.push(&head, &words);
                self.account(self.codes.len() as u32 - 1, head.flags as u32, head.id);
            }
            blk = h.next;
        }
        if self.codes.len() != n {
            return Err(corrupt(
                META_BLKNO,
                format!(
                    "code area holds {} entries, meta says {n}",
                    self.codes.len()
                ),
            ));
        }
        if n > 0 && (self.meta.entry as usize) >= n && self.meta.entry != NONE {
            return Err(corrupt(META_BLKNO, "entry point out of range"));
        }
        self.load_attrs()
    }

    /// Book-keeping for a node newly loaded with `flags`.
    fn account(&mut self, node: u32, flags: u32, id: u64) {
        match flags {
            format::FLAG_LIVE => {
                self.id_map.insert(id, node);
                self.live += 1;
            }
            format::FLAG_FREE => self.free.push(node),
            _ => {}
        }
    }

    /// Book-keeping undone before node `node` is reloaded.
    fn unaccount(&mut self, node: u32) {
        match self.codes.flags[node as usize] as u32 {
            format::FLAG_LIVE => {
                let id = self.codes.ids[node as usize];
                if self.id_map.get(&id) == Some(&node) {
                    self.id_map.remove(&id);
                }
                self.live -= 1;
            }
            format::FLAG_FREE => self.free.retain(|&f| f != node),
            _ => {}
        }
    }

    /// Catch up with changes other handles wrote to the same store (another
    /// Postgres backend, say). Cheap when nothing changed: one meta page
    /// read. A handle at most `CHANGE_LOG` code writes behind reloads just
    /// the changed and the new entries; otherwise it reloads the whole code
    /// area. Returns whether anything changed.
    ///
    /// A handle must refresh before it writes. Writers change the pages
    /// only by read-modify-write of their own slots and fields, so handles
    /// may insert side by side; this handle's copy of what they wrote is
    /// only as fresh as its last refresh.
    pub fn refresh(&mut self) -> Result<bool> {
        let m = read_meta(&self.store)?;
        let old = self.meta;
        if m.change_seq == old.change_seq
            && m.n_nodes == old.n_nodes
            && m.entry == old.entry
            && m.ip_max_norm == old.ip_max_norm
        {
            return Ok(false);
        }
        let rebuilt = m.centroid != old.centroid
            || m.dim != old.dim
            || m.bits != old.bits
            || m.metric != old.metric
            || m.seed != old.seed
            || m.code_head != old.code_head
            || m.n_nodes < old.n_nodes
            || m.change_seq < old.change_seq;
        if rebuilt {
            // Rebuilt in place (a new build or a format-compatible
            // rewrite): new quantizer, new layout, all codes.
            let centroid = read_centroid(&self.store, &m)?;
            self.adopt(m, centroid)?;
            self.load_codes()?;
            return Ok(true);
        }
        self.meta = m;
        if m.change_seq - old.change_seq > format::CHANGE_LOG as u64 {
            self.load_codes()?;
            return Ok(true);
        }
        let old_n = self.codes.len();
        let mut reload: Vec<u32> = (old.change_seq + 1..=m.change_seq)
            .map(|seq| m.changed[seq as usize % format::CHANGE_LOG])
            .filter(|&n| (n as usize) < old_n)
            .collect();
        reload.sort_unstable();
        reload.dedup();
        for n in reload {
            self.reload_entry(n, false)?;
        }
        for n in old_n..m.n_nodes as usize {
            self.reload_entry(n as u32, true)?;
        }
        Ok(true)
    }

    /// Read code entry `n` from its page: replace it, or append it (`n` is
    /// then the next node number).
    fn reload_entry(&mut self, n: u32, append: bool) -> Result<()> {
        let pi = n as usize / self.codes.per_page;
        while self.codes.pages.len() <= pi {
            let next = match self.codes.pages.last() {
                None => self.meta.code_head,
                Some(&b) => {
                    let p = self.store.read(b)?;
                    format::check(&p, b, Kind::Codes)?;
                    format::header(&p).next
                }
            };
            if next == NONE {
                return Err(corrupt(self.meta.code_tail, "code chain ends early"));
            }
            self.codes.pages.push(next);
        }
        let blk = self.codes.pages[pi];
        let (head, words) = {
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Codes)?;
            self.codes
                .parse(&p, blk, n as usize % self.codes.per_page)?
        };
        if append {
            debug_assert_eq!(n as usize, self.codes.len());
            self.codes.push(&head, &words);
        } else {
            self.unaccount(n);
            self.codes.set(n, &words, &head.factors);
            self.codes.blkno[n as usize] = head.blkno;
            self.codes.offset[n as usize] = head.offset;
            self.codes.ids[n as usize] = head.id;
            self.codes.flags[n as usize] = head.flags as u8;
        }
        self.account(n, head.flags as u32, head.id);
        self.reload_attrs(n)
    }

    /// Write code entry `n` to its page, without logging it.
    pub(super) fn store_code(&self, n: u32) -> Result<()> {
        let blk = self.codes.page_of(n);
        self.store.modify(blk, |p| {
            format::check(p, blk, Kind::Codes)?;
            self.codes.encode(p, n);
            Ok(())
        })
    }

    /// Write code entry `n` and log the change.
    pub(super) fn write_code(&self, n: u32) -> Result<()> {
        self.store_code(n)?;
        self.log_changes(&[n])
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
