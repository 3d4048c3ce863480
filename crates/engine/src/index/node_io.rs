//! Node slots on the node pages: reading one (in place when it lies on one
//! page), writing one, and changing part of one under the page's lock.
//!
//! Node slots are packed one after another as a byte stream across the
//! chain of node pages (see `format.rs`): a slot that does not fit in what
//! is left of a page continues at the start of the next page in the chain.

use super::{corrupt, Element, Index};
use crate::format::{self, Kind, NodeHead, NodeLayout, HEADER_SIZE, NODE_HEAD, NONE};
use crate::page::{BlockNo, PageStore, Result, PAGE_SIZE};

/// A node read from its page(s).
pub(super) struct NodeRef<'a> {
    pub id: u64,
    pub flags: u32,
    pub vector: Elements<'a>,
    pub neighbors: &'a [u32],
}

/// A node's vector as its page stores it.
#[derive(Clone, Copy)]
pub(super) enum Elements<'a> {
    F32(&'a [f32]),
    /// Raw binary16 bits.
    F16(&'a [u16]),
}

impl<'a> Elements<'a> {
    /// The vector as `f32`: in place, or widened into `tmp`.
    #[inline]
    pub fn as_f32<'b>(self, tmp: &'b mut Vec<f32>) -> &'b [f32]
    where
        'a: 'b,
    {
        match self {
            Elements::F32(v) => v,
            Elements::F16(h) => {
                tmp.resize(h.len(), 0.0);
                crate::simd::half_to_f32(h, tmp);
                tmp
            }
        }
    }

    /// Appends the vector, as `f32`, to `out`.
    pub fn extend_into(self, out: &mut Vec<f32>) {
        match self {
            Elements::F32(v) => out.extend_from_slice(v),
            Elements::F16(h) => {
                let at = out.len();
                out.resize(at + h.len(), 0.0);
                crate::simd::half_to_f32(h, &mut out[at..]);
            }
        }
    }

    pub fn to_vec(self) -> Vec<f32> {
        match self {
            Elements::F32(v) => v.to_vec(),
            Elements::F16(h) => {
                let mut v = vec![0.0; h.len()];
                crate::simd::half_to_f32(h, &mut v);
                v
            }
        }
    }
}

/// A node read into owned buffers.
pub(super) struct Node {
    pub id: u64,
    pub flags: u32,
    pub vector: Vec<f32>,
    pub neighbors: Vec<u32>,
}

impl<S: PageStore> Index<S> {
    /// Read node `n` and pass it to `f`; `pages` counts the pages read. One
    /// page in the common case (viewed in place); a node that runs on into
    /// the next page(s) of the node stream is copied into `buf`. Only the
    /// page headers and the node's bytes are read (`read_parts`): the file
    /// store then hashes those few hundred bytes, not the whole page.
    pub(super) fn with_node<R>(
        &self,
        n: u32,
        buf: &mut Vec<u64>,
        pages: &mut u64,
        f: impl FnOnce(NodeRef<'_>) -> R,
    ) -> Result<R> {
        self.with_node_at(self.codes.location(n), buf, pages, f)
    }

    /// [`Self::with_node`] for the node that starts at `(blk, off)` (where
    /// the code area, or a bulk build's node stream, says it lies).
    pub(super) fn with_node_at<R>(
        &self,
        (blk, off): (BlockNo, u16),
        buf: &mut Vec<u64>,
        pages: &mut u64,
        f: impl FnOnce(NodeRef<'_>) -> R,
    ) -> Result<R> {
        let off = off as usize;
        let l = self.layout;
        if l.fits(off) {
            let at = HEADER_SIZE + off;
            let p = self
                .store
                .read_parts(blk, &[0..HEADER_SIZE, at..at + l.slot_size])?;
            *pages += 1;
            format::check(&p, blk, Kind::Nodes)?;
            let node =
                parse_node(&p.bytes[at..at + l.slot_size], &l).map_err(|r| corrupt(blk, r))?;
            return Ok(f(node));
        }
        if off >= format::PAYLOAD {
            return Err(corrupt(blk, format!("node offset {off}")));
        }
        buf.clear();
        buf.resize(l.slot_size.div_ceil(8), 0);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice());
        let head = format::PAYLOAD - off;
        let next = {
            let p = self
                .store
                .read_parts(blk, &[0..HEADER_SIZE, HEADER_SIZE + off..PAGE_SIZE])?;
            *pages += 1;
            format::check(&p, blk, Kind::Nodes)?;
            bytes[..head].copy_from_slice(&p.bytes[HEADER_SIZE + off..]);
            format::header(&p).next
        };
        self.read_run_on(blk, next, &mut bytes[head..], |_, _, _| *pages += 1)?;
        let node = parse_node(bytes, &l).map_err(|r| corrupt(blk, r))?;
        Ok(f(node))
    }

    /// Node `n`'s neighbour list alone (its vector is not copied).
    pub(super) fn read_neighbors(&self, n: u32) -> Result<Vec<u32>> {
        self.with_node(n, &mut Vec::new(), &mut 0, |node| node.neighbors.to_vec())
    }

    /// Read node `n` into owned buffers.
    pub(super) fn read_node(&self, n: u32) -> Result<Node> {
        let mut buf = Vec::new();
        self.with_node(n, &mut buf, &mut 0, |node| Node {
            id: node.id,
            flags: node.flags,
            vector: node.vector.to_vec(),
            neighbors: node.neighbors.to_vec(),
        })
    }

    pub(super) fn write_node(
        &self,
        n: u32,
        id: u64,
        flags: u32,
        vector: &[f32],
        nbrs: &[u32],
    ) -> Result<()> {
        debug_assert!(nbrs.len() <= self.layout.max_degree);
        let l = self.layout;
        self.modify_node(n, |bytes| {
            bytes.fill(0);
            encode_node(bytes, id, flags, vector, nbrs, &l);
            Ok(())
        })
    }

    /// Read-modify-write node `n`'s slot bytes as one step (see
    /// [`PageStore::modify`]): other writers may be changing other nodes on
    /// the same pages. A node that runs on into later pages is locked by its
    /// first page, and the later ones are taken in stream order, so writers
    /// always lock pages in the same order.
    fn modify_node<R>(&self, n: u32, f: impl FnOnce(&mut [u8]) -> Result<R>) -> Result<R> {
        self.modify_node_at(self.codes.location(n), f)
    }

    /// [`Self::modify_node`] for the node that starts at `(blk, off)`.
    fn modify_node_at<R>(
        &self,
        (blk, off): (BlockNo, u16),
        f: impl FnOnce(&mut [u8]) -> Result<R>,
    ) -> Result<R> {
        let off = off as usize;
        let l = self.layout;
        if l.fits(off) {
            return self.store.modify(blk, |p| {
                format::check(p, blk, Kind::Nodes)?;
                let at = HEADER_SIZE + off;
                let r = f(&mut p.bytes[at..at + l.slot_size])?;
                let h = format::header_mut(p);
                h.count = h.count.max((off + l.slot_size) as u32);
                Ok(r)
            });
        }
        if off >= format::PAYLOAD {
            return Err(corrupt(blk, format!("node offset {off}")));
        }
        self.store.modify(blk, |first| {
            format::check(first, blk, Kind::Nodes)?;
            let mut bytes = vec![0u8; l.slot_size];
            let head = format::PAYLOAD - off;
            bytes[..head].copy_from_slice(&first.bytes[HEADER_SIZE + off..]);
            let mut rest = Vec::new();
            let next = format::header(first).next;
            self.read_run_on(blk, next, &mut bytes[head..], |b, at, take| {
                rest.push((b, head + at, take))
            })?;
            let r = f(&mut bytes)?;
            first.bytes[HEADER_SIZE + off..].copy_from_slice(&bytes[..head]);
            format::header_mut(first).count = format::PAYLOAD as u32;
            for (b, at, take) in rest {
                self.store.modify(b, |p| {
                    p.bytes[HEADER_SIZE..HEADER_SIZE + take].copy_from_slice(&bytes[at..at + take]);
                    let h = format::header_mut(p);
                    h.count = h.count.max(take as u32);
                    Ok(())
                })?;
            }
            Ok(r)
        })
    }

    /// Copy the part of a node (first page `first`) that runs on past its
    /// first page: `rest` is filled from page `next` on, following the node
    /// chain. `on_page(blkno, at, len)` hears of each page read and which
    /// bytes of `rest` it held.
    fn read_run_on(
        &self,
        first: BlockNo,
        mut next: BlockNo,
        rest: &mut [u8],
        mut on_page: impl FnMut(BlockNo, usize, usize),
    ) -> Result<()> {
        let mut done = 0;
        while done < rest.len() {
            if next == NONE {
                return Err(corrupt(first, "node stream ends inside a node"));
            }
            let take = (rest.len() - done).min(format::PAYLOAD);
            // One byte range of the page (not a list of its offsets).
            #[allow(clippy::single_range_in_vec_init)]
            let p = self.store.read_parts(next, &[0..HEADER_SIZE + take])?;
            format::check(&p, next, Kind::Nodes)?;
            rest[done..done + take].copy_from_slice(&p.bytes[HEADER_SIZE..HEADER_SIZE + take]);
            on_page(next, done, take);
            next = format::header(&p).next;
            done += take;
        }
        Ok(())
    }

    /// Set node `n`'s flags on its page, keeping everything else.
    pub(super) fn set_node_flags(&self, n: u32, flags: u32) -> Result<()> {
        self.modify_node(n, |bytes| {
            update_head(bytes, |h| h.flags = flags);
            Ok(())
        })
    }

    /// Replace node `n`'s neighbour list with `new`, but only if it is still
    /// `expected` (another writer may have changed it since we read it).
    /// Returns whether it was replaced.
    pub(super) fn replace_neighbors(&self, n: u32, expected: &[u32], new: &[u32]) -> Result<bool> {
        self.replace_neighbors_at(self.codes.location(n), expected, new)
    }

    /// [`Self::replace_neighbors`] for the node that starts at `at`.
    pub(super) fn replace_neighbors_at(
        &self,
        at: (BlockNo, u16),
        expected: &[u32],
        new: &[u32],
    ) -> Result<bool> {
        let l = self.layout;
        self.modify_node_at(at, |bytes| {
            let now = parse_node(bytes, &l).map_err(|r| corrupt(at.0, r))?;
            if now.neighbors != expected {
                return Ok(false);
            }
            set_slot_neighbors(bytes, &l, new);
            Ok(true)
        })
    }
}

/// A node slot's bytes.
pub(super) fn encode_node(
    out: &mut [u8],
    id: u64,
    flags: u32,
    vector: &[f32],
    nbrs: &[u32],
    l: &NodeLayout,
) {
    let head = NodeHead {
        id,
        flags,
        degree: nbrs.len() as u32,
    };
    out[..NODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
    debug_assert_eq!(vector.len(), l.dim);
    let vend = NODE_HEAD + l.vector_bytes();
    match l.element {
        Element::F32 => out[NODE_HEAD..vend].copy_from_slice(bytemuck::cast_slice(vector)),
        Element::F16 => {
            for (o, &x) in out[NODE_HEAD..vend].chunks_exact_mut(2).zip(vector) {
                o.copy_from_slice(&crate::halfvec_text::from_f32(x).to_le_bytes());
            }
        }
    }
    out[vend..vend + 4 * nbrs.len()].copy_from_slice(bytemuck::cast_slice(nbrs));
}

/// Replace a node slot's neighbour list in place.
pub(super) fn set_slot_neighbors(bytes: &mut [u8], l: &NodeLayout, new: &[u32]) {
    let put = |at: usize, b: &[u8]| {
        bytes[at..at + b.len()].copy_from_slice(b);
        Ok::<_, std::convert::Infallible>(())
    };
    let Ok(()) = neighbor_writes(l, new, put);
}

/// The changes that set a node slot's neighbour list to `new`, passed to
/// `put` as (offset in the slot, bytes): its degree, then the list (for a
/// writer of byte ranges, `node_stream::SlotCursor`).
pub(super) fn neighbor_writes<E>(
    l: &NodeLayout,
    new: &[u32],
    mut put: impl FnMut(usize, &[u8]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    debug_assert!(new.len() <= l.max_degree);
    let degree = new.len() as u32;
    put(
        std::mem::offset_of!(NodeHead, degree),
        bytemuck::bytes_of(&degree),
    )?;
    put(NODE_HEAD + l.vector_bytes(), bytemuck::cast_slice(new))
}

/// Change the head of a node slot in place.
fn update_head(bytes: &mut [u8], f: impl FnOnce(&mut NodeHead)) {
    let mut head: NodeHead = bytemuck::pod_read_unaligned(&bytes[..NODE_HEAD]);
    f(&mut head);
    bytes[..NODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
}

pub(super) fn parse_node<'a>(
    bytes: &'a [u8],
    l: &NodeLayout,
) -> std::result::Result<NodeRef<'a>, String> {
    let head: NodeHead = bytemuck::pod_read_unaligned(&bytes[..NODE_HEAD]);
    if head.degree as usize > l.max_degree || head.flags > format::FLAG_DELETED {
        return Err(format!(
            "node slot with degree {} flags {}",
            head.degree, head.flags
        ));
    }
    let vend = NODE_HEAD + l.vector_bytes();
    let raw = &bytes[NODE_HEAD..NODE_HEAD + l.element.bytes() * l.dim];
    let vector = match l.element {
        Element::F32 => Elements::F32(bytemuck::try_cast_slice(raw).map_err(|e| format!("{e:?}"))?),
        Element::F16 => Elements::F16(bytemuck::try_cast_slice(raw).map_err(|e| format!("{e:?}"))?),
    };
    let neighbors: &[u32] = bytemuck::try_cast_slice(&bytes[vend..vend + 4 * head.degree as usize])
        .map_err(|e| format!("{e:?}"))?;
    Ok(NodeRef {
        id: head.id,
        flags: head.flags,
        vector,
        neighbors,
    })
}
