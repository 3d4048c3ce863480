//! The meta page, page chains, and handing out node slots to inserts.
//!
//! Writers share pages: each changes only its own slot or field by
//! read-modify-write under the page's lock ([`PageStore::modify`]), always
//! in one order (the meta page first, then code and node pages), so
//! several handles may insert side by side.

use super::{corrupt, Index, META_BLKNO};
use crate::format::{self, CodeEntryHead, Kind, MetaBody, CODE_HEAD, NONE};
use crate::page::{BlockNo, PageStore, Result};
use crate::rabitq::Factors;

impl<S: PageStore> Index<S> {
    /// Write this handle's whole meta page. Only where no other writer can
    /// be at work: creating, building, or re-dimensioning an empty index.
    pub(super) fn write_meta(&self) -> Result<()> {
        let mut p = format::new_page(Kind::Meta);
        format::set_meta(&mut p, &self.meta);
        self.store.write(META_BLKNO, &p)
    }

    /// Read-modify-write the meta page: concurrent writers each change only
    /// the fields they own (counts, the change log, the entry point). The
    /// handle's own copy, `self.meta`, is what it last loaded; `refresh`
    /// brings it up to date.
    pub(super) fn update_meta<R>(&self, f: impl FnOnce(&mut MetaBody) -> Result<R>) -> Result<R> {
        self.store.modify(META_BLKNO, |p| {
            format::check(p, META_BLKNO, Kind::Meta)?;
            let mut m = format::meta(p);
            let r = f(&mut m)?;
            format::set_meta(p, &m);
            Ok(r)
        })
    }

    /// A new empty page of `kind`, linked from `prev` (the last page of its
    /// chain) unless there is none.
    fn append_page(&self, kind: Kind, prev: BlockNo) -> Result<BlockNo> {
        let b = self.store.extend()?;
        self.store.write(b, &format::new_page(kind))?;
        if prev != NONE {
            self.store.modify(prev, |p| {
                format::check(p, prev, kind)?;
                format::header_mut(p).next = b;
                Ok(())
            })?;
        }
        Ok(b)
    }

    /// Room for a node of `size` bytes at the end of the node stream: where
    /// it starts (page, payload offset). New pages are linked from the
    /// stream's last page as the node needs them. Called under the meta
    /// page's lock (`m` is the meta page being changed).
    fn append_node_slot(&self, m: &mut MetaBody, size: usize) -> Result<(BlockNo, u16)> {
        let (mut tail, mut used) = (m.node_tail, m.node_tail_used as usize);
        if tail == NONE || used >= format::PAYLOAD {
            tail = self.append_page(Kind::Nodes, tail)?;
            used = 0;
        }
        let start = (tail, used as u16);
        let mut end = used + size;
        while end > format::PAYLOAD {
            tail = self.append_page(Kind::Nodes, tail)?;
            end -= format::PAYLOAD;
        }
        m.node_tail = tail;
        m.node_tail_used = end as u32;
        Ok(start)
    }

    /// A node slot for an insert, reserved (flagged deleted) on the pages:
    /// a freed slot if one can be claimed, else a new internal node, with a
    /// new code page when the last is full and its node slot appended to
    /// the node stream (and a new attribute page when the last is full).
    /// New nodes are numbered under the meta page's lock,
    /// so concurrent writers never hand out the same one; the entry is
    /// written before the meta page counts it. Refreshes this handle.
    ///
    /// `ip_norm_sq` (inner product: the vector's squared norm) joins the
    /// running mean behind [`Self::pruning_alpha`] when the node is new (a
    /// reused slot leaves the mean as it is, to spare the meta page a write).
    pub(super) fn alloc_node(&mut self, ip_norm_sq: Option<f32>) -> Result<u32> {
        // The free nodes as of our last refresh; another writer may have
        // claimed some since (`claim_free` then says no).
        let free: Vec<u32> = self.codes.free_nodes().take(64).collect();
        for n in free {
            if self.claim_free(n)? {
                self.log_changes(&[n])?;
                self.refresh()?;
                return Ok(n);
            }
        }
        let per = self.codes.per_page();
        let esize = self.codes.entry_size();
        let slot_size = self.layout.slot_size;
        let n = self.update_meta(|m| {
            let n = m.n_nodes as u32;
            let code_blk = if (n as usize).is_multiple_of(per) {
                let b = self.append_page(Kind::Codes, m.code_tail)?;
                if m.code_tail == NONE {
                    m.code_head = b;
                }
                m.code_tail = b;
                b
            } else {
                m.code_tail
            };
            if self.attrs.any() && (n as usize).is_multiple_of(self.attrs.per_page()) {
                let b = self.append_page(Kind::Attrs, m.attr_tail)?;
                if m.attr_tail == NONE {
                    m.attr_head = b;
                }
                m.attr_tail = b;
            }
            let (blk, offset) = self.append_node_slot(m, slot_size)?;
            let off = self.codes.entry_offset(n);
            self.store.modify(code_blk, |p| {
                format::check(p, code_blk, Kind::Codes)?;
                let head = CodeEntryHead {
                    id: 0,
                    blkno: blk,
                    offset,
                    flags: format::FLAG_DELETED as u16,
                    factors: Factors::default(),
                };
                p.bytes[off..off + esize].fill(0);
                p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
                let h = format::header_mut(p);
                h.count = h.count.max((n as usize % per) as u32 + 1);
                Ok(())
            })?;
            // Indexes from before the mean was kept (0 with nodes in them)
            // keep their slack unscaled rather than start a mean midway.
            if let Some(x) = ip_norm_sq {
                if m.n_nodes == 0 || m.ip_mean_sq_norm > 0.0 {
                    m.ip_mean_sq_norm += (x - m.ip_mean_sq_norm) / (m.n_nodes + 1) as f32;
                }
            }
            m.n_nodes += 1;
            Ok(n)
        })?;
        // Loads our node and any other writer's since the last refresh.
        self.refresh()?;
        if self.codes.len() <= n as usize {
            return Err(corrupt(META_BLKNO, "allocated node missing after refresh"));
        }
        Ok(n)
    }

    /// Take free slot `n` for an insert: its code entry goes from free to
    /// deleted (reserved: never returned, never reused, and removed by the
    /// next VACUUM if the insert never completes). False if another writer
    /// took it first.
    fn claim_free(&self, n: u32) -> Result<bool> {
        self.update_code_head(n, |head| {
            let free = head.flags as u32 == format::FLAG_FREE;
            if free {
                head.flags = format::FLAG_DELETED as u16;
            }
            free
        })
    }
}
