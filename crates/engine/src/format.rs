//! On-page layouts. Every page starts with [`PageHeader`]: a magic tag, the
//! format version and the page kind, so that a page of another format or
//! kind is reported, never misread.
//!
//! Index layout (block numbers are the store's):
//! * block 0: the meta page ([`MetaBody`]): options, entry point, the heads
//!   of the other areas.
//! * centroid: a chain of blob pages holding the RaBitQ centroid.
//! * code area: a chain of code pages, fixed-size entries indexed by internal
//!   node number: external id, node location, flags, RaBitQ factors and code.
//!   Small, read in one pass at open, then served from memory.
//! * node pages: a chain of pages holding fixed-size node slots (external
//!   id, flags, degree, the full vector and the neighbour list) one after
//!   another, as one byte stream: a node that does not fit in what is left
//!   of a page continues at the start of the next page in the chain. No
//!   space is lost to rounding (at 384 dimensions a page holds 4.67 nodes,
//!   not 4), and nodes larger than a page (up to 16000 dimensions) need no
//!   special case.
//! * attribute area (indexes with attribute columns only): a chain of
//!   attribute pages, fixed-size entries indexed by internal node number
//!   like the code area: each node's scalar values and label set (see
//!   `index/attrs.rs`). Read in one pass at open, then served from memory.

use crate::index::Element;
use crate::page::{BlockNo, Error, Page, PageStore, Result, PAGE_SIZE};
use bytemuck::{Pod, Zeroable};

pub const MAGIC: u32 = u32::from_le_bytes(*b"DVEC");
/// 2: pages shrank to fit a Postgres block; the meta page gained the
/// change log (`change_seq`, `changed`).
/// 3: node slots are packed as a byte stream across node pages; code
/// entries locate a node by byte offset, not slot number.
/// 4: attribute columns (the attribute area, its schema on the meta page).
pub const FORMAT_VERSION: u16 = 4;
/// The oldest version still read. A version 3 index is a version 4 one
/// without attribute columns: its meta page's attribute fields are the
/// zeros past version 3's body (no columns). Pages written into it since
/// say version 4; both versions may then sit side by side.
pub const OLDEST_FORMAT: u16 = 3;

/// Whether pages of format `version` are read.
pub fn readable(version: u16) -> bool {
    (OLDEST_FORMAT..=FORMAT_VERSION).contains(&version)
}
pub const NONE: BlockNo = u32::MAX;
pub const HEADER_SIZE: usize = 32;
/// Usable bytes after the header.
pub const PAYLOAD: usize = PAGE_SIZE - HEADER_SIZE;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    Meta = 1,
    Codes = 2,
    Nodes = 3,
    Blob = 4,
    Attrs = 5,
}

impl Kind {
    pub fn from_u16(k: u16) -> Option<Kind> {
        [
            Kind::Meta,
            Kind::Codes,
            Kind::Nodes,
            Kind::Blob,
            Kind::Attrs,
        ]
        .into_iter()
        .find(|x| *x as u16 == k)
    }
}

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct PageHeader {
    /// Owned by the store (the file store's CRC-32).
    pub checksum: u32,
    pub magic: u32,
    pub version: u16,
    pub kind: u16,
    /// Entries in use (code pages) or payload bytes in use (node and blob
    /// pages).
    pub count: u32,
    /// Next page of the same chain, or `NONE`.
    pub next: BlockNo,
    pub _reserved: [u32; 3],
}

pub fn header(page: &Page) -> &PageHeader {
    bytemuck::from_bytes(&page.bytes[..HEADER_SIZE])
}

pub fn header_mut(page: &mut Page) -> &mut PageHeader {
    bytemuck::from_bytes_mut(&mut page.bytes[..HEADER_SIZE])
}

pub fn new_page(kind: Kind) -> Box<Page> {
    let mut p = Page::zeroed();
    let h = header_mut(&mut p);
    h.magic = MAGIC;
    h.version = FORMAT_VERSION;
    h.kind = kind as u16;
    h.next = NONE;
    p
}

/// Check magic, version and kind. The meta page reports a version mismatch
/// as a format error; any other page that does not match is corruption.
pub fn check(page: &Page, blkno: BlockNo, kind: Kind) -> Result<()> {
    let h = header(page);
    if kind == Kind::Meta && (h.magic != MAGIC || !readable(h.version)) {
        return Err(Error::Format {
            found: if h.magic == MAGIC {
                format!("diskvec format version {}", h.version)
            } else {
                format!("magic {:#010x} (not a diskvec index)", h.magic)
            },
            expected: format!("diskvec format versions {OLDEST_FORMAT} to {FORMAT_VERSION}"),
        });
    }
    if h.magic != MAGIC || !readable(h.version) || h.kind != kind as u16 {
        return Err(Error::Corrupt {
            blkno,
            reason: format!(
                "expected a {kind:?} page (magic {MAGIC:#x} v{FORMAT_VERSION}), found magic {:#x} v{} kind {}",
                h.magic, h.version, h.kind
            ),
        });
    }
    Ok(())
}

/// The meta page body, right after the header.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct MetaBody {
    pub dim: u32,
    pub bits: u32,
    pub metric: u32,
    pub max_degree: u32,
    pub build_list_size: u32,
    pub alpha: f32,
    pub seed: u64,
    /// Internal node numbers handed out (live, deleted and free).
    pub n_nodes: u64,
    pub entry: u32,
    pub code_head: BlockNo,
    pub code_tail: BlockNo,
    pub centroid: BlockNo,
    /// Last page of the node stream, and the payload bytes used in it.
    pub node_tail: BlockNo,
    pub node_tail_used: u32,
    /// Inner product only: the largest norm seen, `M` in the graph distance
    /// `M^2 - <a, b>`.
    pub ip_max_norm: f32,
    /// Inner product only: the mean squared norm of the vectors indexed,
    /// which scales the pruning slack (`Index::pruning_alpha`). 0 in indexes
    /// written before it was kept (the slack is then used as given).
    pub ip_mean_sq_norm: f32,
    /// Bumped by every write of a code entry. A reader that caches the code
    /// area compares it with its own copy to know whether it is stale.
    pub change_seq: u64,
    /// `changed[seq % CHANGE_LOG]` is the node whose code entry write made
    /// `change_seq` equal `seq`: a reader at most `CHANGE_LOG` changes behind
    /// reloads just those entries instead of the whole area.
    pub changed: [u32; CHANGE_LOG],
    /// The attribute area's first and last page, `NONE` without attribute
    /// columns (or before the first node).
    pub attr_head: BlockNo,
    pub attr_tail: BlockNo,
    /// Most labels a label-array column holds per row.
    pub max_labels: u32,
    /// Number of attribute columns, at most `MAX_ATTRS`.
    pub n_attrs: u32,
    /// The kind of each attribute column (`index::AttrKind` codes).
    pub attr_kinds: [u8; MAX_ATTRS],
    /// `change_seq + 1` when every live node was last known reachable from
    /// the entry point (after a build, or `Index::link_unreached_with`); 0
    /// never (indexes written before it was kept read 0 here, the page
    /// being zeroed past the old fields). VACUUM walks the graph only when
    /// it differs from `change_seq + 1`.
    pub reach_checked: u64,
}

/// Most attribute columns an index holds.
pub const MAX_ATTRS: usize = 8;

/// Length of the meta page's change log.
pub const CHANGE_LOG: usize = 64;

pub fn meta(page: &Page) -> MetaBody {
    bytemuck::pod_read_unaligned(
        &page.bytes[HEADER_SIZE..HEADER_SIZE + std::mem::size_of::<MetaBody>()],
    )
}

pub fn set_meta(page: &mut Page, m: &MetaBody) {
    page.bytes[HEADER_SIZE..HEADER_SIZE + std::mem::size_of::<MetaBody>()]
        .copy_from_slice(bytemuck::bytes_of(m));
}

/// Node flags (node slots and code entries).
pub const FLAG_FREE: u32 = 0;
pub const FLAG_LIVE: u32 = 1;
pub const FLAG_DELETED: u32 = 2;

/// Fixed part of a code entry; the code words follow.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct CodeEntryHead {
    pub id: u64,
    /// The node's first page, and its byte offset in that page's payload.
    pub blkno: BlockNo,
    pub offset: u16,
    pub flags: u16,
    pub factors: crate::rabitq::Factors,
}

pub const CODE_HEAD: usize = std::mem::size_of::<CodeEntryHead>();

/// Fixed part of a node slot; `dim` f32 and `max_degree` u32 follow.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub struct NodeHead {
    pub id: u64,
    pub flags: u32,
    pub degree: u32,
}

pub const NODE_HEAD: usize = std::mem::size_of::<NodeHead>();

/// Node slot geometry for one index.
#[derive(Clone, Copy, Debug)]
pub struct NodeLayout {
    pub dim: usize,
    pub element: Element,
    pub max_degree: usize,
    /// Bytes per node, rounded up to 8 (so every node starts 8-aligned:
    /// `PAYLOAD` is a multiple of 8 too).
    pub slot_size: usize,
}

impl NodeLayout {
    pub fn new(dim: usize, max_degree: usize, element: Element) -> Self {
        NodeLayout {
            dim,
            element,
            max_degree,
            slot_size: (NODE_HEAD + vector_bytes(element, dim) + 4 * max_degree).div_ceil(8) * 8,
        }
    }

    /// Bytes of a node's vector, padded so its neighbour list that follows
    /// is 4-byte aligned.
    pub fn vector_bytes(&self) -> usize {
        vector_bytes(self.element, self.dim)
    }

    /// Whether a node starting at payload byte `offset` ends in that page.
    pub fn fits(&self, offset: usize) -> bool {
        offset + self.slot_size <= PAYLOAD
    }
}

fn vector_bytes(element: Element, dim: usize) -> usize {
    (element.bytes() * dim).div_ceil(4) * 4
}

const _: () = assert!(PAYLOAD.is_multiple_of(8));

/// Code entries per code page.
pub fn codes_per_page(code_words: usize) -> usize {
    PAYLOAD / (CODE_HEAD + 8 * code_words)
}

/// Write `bytes` as a chain of blob pages; returns the first block.
pub fn write_blob<S: PageStore>(store: &S, bytes: &[u8]) -> Result<BlockNo> {
    let chunks = blob_chunks(bytes);
    let blocks: Vec<BlockNo> = chunks
        .iter()
        .map(|_| store.extend())
        .collect::<Result<_>>()?;
    fill_blob(store, &blocks, &chunks)?;
    Ok(blocks[0])
}

/// Overwrite the blob chain starting at `head` with `bytes`, which must
/// take as many pages as the chain has.
pub fn rewrite_blob<S: PageStore>(store: &S, head: BlockNo, bytes: &[u8]) -> Result<()> {
    let chunks = blob_chunks(bytes);
    let blocks = blob_blocks(store, head)?;
    if blocks.len() != chunks.len() {
        return Err(Error::Invalid(format!(
            "a blob of {} pages cannot be rewritten into {}",
            chunks.len(),
            blocks.len()
        )));
    }
    fill_blob(store, &blocks, &chunks)
}

/// Give the pages of the blob chain at `head` back to the store.
pub fn free_blob<S: PageStore>(store: &S, head: BlockNo) -> Result<()> {
    blob_blocks(store, head)?
        .into_iter()
        .try_for_each(|b| store.free(b))
}

fn blob_chunks(bytes: &[u8]) -> Vec<&[u8]> {
    if bytes.is_empty() {
        vec![&[][..]]
    } else {
        bytes.chunks(PAYLOAD).collect()
    }
}

fn fill_blob<S: PageStore>(store: &S, blocks: &[BlockNo], chunks: &[&[u8]]) -> Result<()> {
    for (i, chunk) in chunks.iter().enumerate() {
        let mut p = new_page(Kind::Blob);
        let h = header_mut(&mut p);
        h.count = chunk.len() as u32;
        h.next = blocks.get(i + 1).copied().unwrap_or(NONE);
        p.bytes[HEADER_SIZE..HEADER_SIZE + chunk.len()].copy_from_slice(chunk);
        store.write(blocks[i], &p)?;
    }
    Ok(())
}

/// The pages of the blob chain at `head`, checked.
fn blob_blocks<S: PageStore>(store: &S, mut blkno: BlockNo) -> Result<Vec<BlockNo>> {
    let mut out = Vec::new();
    while blkno != NONE {
        let p = store.read(blkno)?;
        check(&p, blkno, Kind::Blob)?;
        if out.len() > store.len() as usize {
            return Err(Error::Corrupt {
                blkno,
                reason: "blob chain loops".into(),
            });
        }
        out.push(blkno);
        blkno = header(&p).next;
    }
    Ok(out)
}

pub fn read_blob<S: PageStore>(store: &S, mut blkno: BlockNo) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut hops = 0;
    while blkno != NONE {
        let p = store.read(blkno)?;
        check(&p, blkno, Kind::Blob)?;
        let h = header(&p);
        if h.count as usize > PAYLOAD || hops > store.len() {
            return Err(Error::Corrupt {
                blkno,
                reason: "bad blob page".into(),
            });
        }
        out.extend_from_slice(&p.bytes[HEADER_SIZE..HEADER_SIZE + h.count as usize]);
        blkno = h.next;
        hops += 1;
    }
    Ok(out)
}
