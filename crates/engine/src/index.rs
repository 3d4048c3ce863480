//! The public index: RaBitQ codes in memory, Vamana graph and full vectors in
//! node pages, everything generic over a [`PageStore`].
//!
//! Search is "bi-granular" (DiskANN + RaBitQ): a beam search ordered by code
//! estimates, which never touch a page, expands the best candidates by
//! reading their node page. That read brings the full vector too, so every
//! expanded node gets its exact distance for free. At the end, candidates
//! that were estimated but not expanded are re-ranked by reading their page,
//! but only those whose lower bound (estimate minus error bound) can still
//! beat the current k-th exact distance.

use crate::format::{
    self, CodeEntryHead, Kind, MetaBody, NodeHead, NodeLayout, CODE_HEAD, HEADER_SIZE, NODE_HEAD,
    NONE,
};
use crate::page::{BlockNo, Error, Page, PageStore, Result, PAGE_SIZE};
use crate::rabitq::{self, Factors, RaBitQ, Space};
use crate::search::{pack, unpack, Scratch, SearchStats};
use crate::vamana;
use parking_lot::Mutex;
use rayon::prelude::*;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distance function, as in pgvector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Euclidean distance (`<->`); searches return `|a - b|`.
    L2,
    /// Negative inner product (`<#>`): `-<a, b>`.
    InnerProduct,
    /// Cosine distance (`<=>`): `1 - cos(a, b)`. Vectors are normalized at
    /// insert and search time and compared by inner product.
    Cosine,
}

impl Metric {
    fn code(self) -> u32 {
        match self {
            Metric::L2 => 1,
            Metric::InnerProduct => 2,
            Metric::Cosine => 3,
        }
    }
    fn from_code(c: u32) -> Result<Self> {
        Ok(match c {
            1 => Metric::L2,
            2 => Metric::InnerProduct,
            3 => Metric::Cosine,
            _ => {
                return Err(Error::Corrupt {
                    blkno: 0,
                    reason: format!("unknown metric {c}"),
                })
            }
        })
    }
    fn space(self) -> Space {
        match self {
            Metric::L2 => Space::L2,
            _ => Space::InnerProduct,
        }
    }
}

/// Index options, fixed at creation.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Vector dimension, 1 to 16000.
    pub dim: usize,
    pub metric: Metric,
    /// `R`: maximum out-degree of a graph node. Larger gives better recall per
    /// expansion but larger node pages and slower builds. Default 48, 56 for
    /// L2 (see [`Options::new`]).
    pub max_degree: usize,
    /// `L`: candidate list size while building and inserting. Larger gives a
    /// better graph and a slower build. The first of the two build passes
    /// uses `L / 2` (at least 16). Default 64, 96 for L2.
    pub build_list_size: usize,
    /// `alpha`: RobustPrune's distance slack (on squared distances) for the
    /// second build pass and inserts; > 1 keeps long edges so searches
    /// converge in fewer hops. Default 1.2. (Inner product scales it to the
    /// data's norms: see `Index::pruning_alpha`.)
    pub alpha: f32,
    /// RaBitQ bits per dimension (1 to 4). `None` picks 4 below 128
    /// dimensions, 2 below 256 and 1 from 256 up.
    pub bits: Option<usize>,
    /// Seed of the random rotation and build order.
    pub seed: u64,
}

impl Options {
    /// Bytes [`Index::build`] needs for `n` vectors beyond the caller's
    /// input: the prepared copy of the vectors and its renumbered copy (see
    /// `vamana::build`), adjacency lists, per-thread visited marks and the
    /// codes. Above its memory budget, `build` inserts one by one instead.
    pub fn build_memory(&self, n: usize) -> usize {
        let bits = self.bits.unwrap_or_else(|| rabitq::default_bits(self.dim));
        let code_words = bits * rabitq::padded_dim(self.dim) / 64;
        let threads = rayon::current_num_threads();
        2 * n * self.dim * 4
            + n * (self.max_degree * 6 + 64)
            + threads * n * 4
            + n * (code_words * 8 + 40)
    }

    /// Defaults for `metric`. L2 gets a denser graph (R 56, L 96; else 48,
    /// 64): over vectors of unequal norms, points near the origin are close
    /// to everything and crowd other neighbours out in pruning, so the same
    /// recall needs a longer search. On GloVe-400k (1000 queries) L2 with
    /// 48 / 64 needed list 112 for recall@10 0.955 where cosine needs 64;
    /// with 56 / 96 list 80 gives 0.9575, about 25% more queries per
    /// second, for a 1.5x build and 7% more bytes on disk. Cosine and
    /// inner product already reach 0.95 at list 64 with 48 / 64.
    pub fn new(dim: usize, metric: Metric) -> Self {
        let (max_degree, build_list_size) = match metric {
            Metric::L2 => (56, 96),
            Metric::InnerProduct | Metric::Cosine => (48, 64),
        };
        Options {
            dim,
            metric,
            max_degree,
            build_list_size,
            alpha: 1.2,
            bits: None,
            seed: 0x0d15_c7ec,
        }
    }
}

/// Per-search knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchParams {
    /// Beam width: how many best estimated candidates the search keeps; it
    /// stops when none of them is left to expand. At least `k` is used.
    /// Larger gives higher recall and more page reads (about one page per
    /// unit). Default 128: recall@10 >= 0.95 on GloVe-400k for all three
    /// metrics (cosine and inner product need 64, L2 80).
    pub search_list_size: usize,
    /// At most this many candidates that were estimated but not expanded are
    /// re-ranked by reading their page for the exact distance (best lower
    /// bound first). Candidates whose lower bound cannot beat the current
    /// k-th distance are never read. 0 disables re-ranking. Default 16.
    pub rerank: usize,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            search_list_size: 128,
            rerank: 16,
        }
    }
}

/// Flat, in-memory copy of the code area. Each node's code words and its
/// factors are one record (`words + 2` u64), so an estimate touches one or
/// two adjacent cache lines.
struct Codes {
    words: usize,
    per_page: usize,
    data: Vec<u64>,
    /// Where each node starts: first page, byte offset in its payload.
    blkno: Vec<BlockNo>,
    offset: Vec<u16>,
    ids: Vec<u64>,
    flags: Vec<u8>,
    /// Code page of entries `i * per_page ..`.
    pages: Vec<BlockNo>,
}

impl Codes {
    fn len(&self) -> usize {
        self.ids.len()
    }
    #[inline]
    fn stride(&self) -> usize {
        self.words + 2
    }
    #[inline]
    fn record(&self, n: u32) -> &[u64] {
        let st = self.stride();
        &self.data[n as usize * st..(n as usize + 1) * st]
    }
    #[inline]
    fn code(&self, n: u32) -> &[u64] {
        &self.record(n)[..self.words]
    }
    #[inline]
    fn factors(&self, n: u32) -> &Factors {
        &bytemuck::cast_slice::<u64, Factors>(&self.record(n)[self.words..])[0]
    }
    fn set(&mut self, n: u32, code: &[u64], f: &Factors) {
        let st = self.stride();
        let rec = &mut self.data[n as usize * st..(n as usize + 1) * st];
        rec[..self.words].copy_from_slice(code);
        rec[self.words..].copy_from_slice(bytemuck::cast_slice(std::slice::from_ref(f)));
    }
    fn push(&mut self, code: &[u64], f: &Factors) {
        self.data.extend_from_slice(code);
        self.data
            .extend_from_slice(bytemuck::cast_slice(std::slice::from_ref(f)));
    }
    fn entry_size(&self) -> usize {
        CODE_HEAD + 8 * self.words
    }
    /// Byte offset of node `n`'s entry in its code page.
    fn entry_offset(&self, n: u32) -> usize {
        HEADER_SIZE + (n as usize % self.per_page) * self.entry_size()
    }
}

/// A node read from its page(s).
pub struct NodeRef<'a> {
    pub id: u64,
    pub flags: u32,
    pub vector: &'a [f32],
    pub neighbors: &'a [u32],
}

/// The index. `search` takes `&self` and may run on many threads; the
/// mutating calls take `&mut self`.
pub struct Index<S: PageStore> {
    store: S,
    meta: MetaBody,
    metric: Metric,
    quant: RaBitQ,
    layout: NodeLayout,
    codes: Codes,
    id_map: HashMap<u64, u32>,
    free: Vec<u32>,
    live: usize,
    pool: Mutex<Vec<Box<Scratch>>>,
    pages_read: AtomicU64,
}

const META_BLKNO: BlockNo = 0;

fn corrupt(blkno: BlockNo, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        blkno,
        reason: reason.into(),
    }
}

impl<S: PageStore> Index<S> {
    /// Create an empty index in an empty store.
    pub fn create(store: S, opts: Options) -> Result<Self> {
        if opts.dim == 0 || opts.dim > format::MAX_DIM {
            return Err(Error::Invalid(format!(
                "dimension must be 1..={}",
                format::MAX_DIM
            )));
        }
        if !(1..=1024).contains(&opts.max_degree) || opts.build_list_size == 0 || opts.alpha < 1.0 {
            return Err(Error::Invalid(
                "need 1 <= R <= 1024, L >= 1, alpha >= 1".into(),
            ));
        }
        let bits = opts.bits.unwrap_or_else(|| rabitq::default_bits(opts.dim));
        if !(1..=4).contains(&bits) {
            return Err(Error::Invalid("bits must be 1..=4".into()));
        }
        if !store.is_empty() {
            return Err(Error::Invalid("create needs an empty store".into()));
        }
        let meta_blk = store.extend()?;
        debug_assert_eq!(meta_blk, META_BLKNO);
        let centroid = vec![0f32; opts.dim];
        let cblk = format::write_blob(&store, bytemuck::cast_slice(&centroid))?;
        let meta = MetaBody {
            dim: opts.dim as u32,
            bits: bits as u32,
            metric: opts.metric.code(),
            max_degree: opts.max_degree as u32,
            build_list_size: opts.build_list_size as u32,
            alpha: opts.alpha,
            seed: opts.seed,
            n_nodes: 0,
            entry: NONE,
            code_head: NONE,
            code_tail: NONE,
            centroid: cblk,
            node_tail: NONE,
            node_tail_used: 0,
            ip_max_norm: 0.0,
            ip_mean_sq_norm: 0.0,
            change_seq: 0,
            changed: [0; format::CHANGE_LOG],
        };
        let index = Self::assemble(store, meta, centroid)?;
        index.write_meta()?;
        index.store.commit()?;
        Ok(index)
    }

    /// Metric, quantizer and node layout of a meta page, checked.
    fn assemble_parts(meta: MetaBody, centroid: Vec<f32>) -> Result<(Metric, RaBitQ, NodeLayout)> {
        let metric = Metric::from_code(meta.metric)?;
        let dim = meta.dim as usize;
        if dim == 0
            || dim > format::MAX_DIM
            || !(1..=4).contains(&meta.bits)
            || meta.max_degree == 0
            || meta.max_degree > 1024
        {
            return Err(corrupt(META_BLKNO, "impossible options in meta page"));
        }
        let quant = RaBitQ::new(dim, meta.bits as usize, metric.space(), centroid, meta.seed);
        Ok((
            metric,
            quant,
            NodeLayout::new(dim, meta.max_degree as usize),
        ))
    }

    fn assemble(store: S, meta: MetaBody, centroid: Vec<f32>) -> Result<Self> {
        let (metric, quant, layout) = Self::assemble_parts(meta, centroid)?;
        let words = quant.code_words();
        Ok(Index {
            layout,
            codes: Codes {
                words,
                per_page: format::codes_per_page(words),
                data: Vec::new(),
                blkno: Vec::new(),
                offset: Vec::new(),
                ids: Vec::new(),
                flags: Vec::new(),
                pages: Vec::new(),
            },
            store,
            meta,
            metric,
            quant,
            id_map: HashMap::new(),
            free: Vec::new(),
            live: 0,
            pool: Mutex::new(Vec::new()),
            pages_read: AtomicU64::new(0),
        })
    }

    /// Open an existing index: reads the meta page and loads the code area
    /// into memory in one pass. Node pages are read on demand.
    pub fn open(store: S) -> Result<Self> {
        if store.is_empty() {
            return Err(Error::Format {
                found: "an empty store".into(),
                expected: "a diskvec index".into(),
            });
        }
        let meta = {
            let p = store.read(META_BLKNO)?;
            format::check(&p, META_BLKNO, Kind::Meta)?;
            format::meta(&p)
        };
        let cbytes = format::read_blob(&store, meta.centroid)?;
        if cbytes.len() != meta.dim as usize * 4 {
            return Err(corrupt(meta.centroid, "centroid has the wrong length"));
        }
        let centroid: Vec<f32> = bytemuck::pod_collect_to_vec(&cbytes);
        let mut index = Self::assemble(store, meta, centroid)?;
        index.load_codes()?;
        Ok(index)
    }

    /// Read the code area described by `self.meta` into memory, replacing
    /// what was there. Pages may hold entries past `meta.n_nodes` (a writer
    /// that has not yet written the meta page); those are left for a later
    /// [`Index::refresh`].
    fn load_codes(&mut self) -> Result<()> {
        let meta = self.meta;
        let n = meta.n_nodes as usize;
        let c = &mut self.codes;
        c.data.clear();
        c.blkno.clear();
        c.offset.clear();
        c.ids.clear();
        c.flags.clear();
        c.pages.clear();
        self.id_map.clear();
        self.free.clear();
        self.live = 0;
        let mut blk = meta.code_head;
        while blk != NONE && self.codes.len() < n {
            let p = self.store.read(blk)?;
            format::check(&p, blk, Kind::Codes)?;
            let h = *format::header(&p);
            if h.count as usize > self.codes.per_page {
                return Err(corrupt(blk, "code page entry count"));
            }
            let take = (h.count as usize).min(n - self.codes.len());
            let entries = (0..take)
                .map(|i| self.parse_code(&p, blk, i))
                .collect::<Result<Vec<_>>>()?;
            drop(p);
            self.codes.pages.push(blk);
            for (head, words) in entries {
                self.codes.push(&words, &head.factors);
                self.codes.blkno.push(head.blkno);
                self.codes.offset.push(head.offset);
                self.codes.ids.push(head.id);
                self.codes.flags.push(head.flags as u8);
                let node = self.codes.ids.len() as u32 - 1;
                self.account(node, head.flags as u32, head.id);
            }
            blk = h.next;
        }
        let words = self.codes.words;
        if self.codes.len() != n || self.codes.data.len() != n * (words + 2) {
            return Err(corrupt(
                META_BLKNO,
                format!(
                    "code area holds {} entries, meta says {n}",
                    self.codes.len()
                ),
            ));
        }
        if n > 0 && (meta.entry as usize) >= n && meta.entry != NONE {
            return Err(corrupt(META_BLKNO, "entry point out of range"));
        }
        Ok(())
    }

    /// Entry `i` of code page `p` (block `blk`).
    fn parse_code(&self, p: &Page, blk: BlockNo, i: usize) -> Result<(CodeEntryHead, Vec<u64>)> {
        let esize = self.codes.entry_size();
        let off = self.codes.entry_offset(i as u32);
        let head: CodeEntryHead = bytemuck::pod_read_unaligned(&p.bytes[off..off + CODE_HEAD]);
        if head.flags as u32 > format::FLAG_DELETED {
            return Err(corrupt(blk, format!("code entry flags {}", head.flags)));
        }
        let words = p.bytes[off + CODE_HEAD..off + esize]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        Ok((head, words))
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
        let m = {
            let p = self.store.read(META_BLKNO)?;
            format::check(&p, META_BLKNO, Kind::Meta)?;
            format::meta(&p)
        };
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
            let cbytes = format::read_blob(&self.store, m.centroid)?;
            if cbytes.len() != m.dim as usize * 4 {
                return Err(corrupt(m.centroid, "centroid has the wrong length"));
            }
            let centroid: Vec<f32> = bytemuck::pod_collect_to_vec(&cbytes);
            // Rebuilt in place (a new build or a format-compatible rewrite):
            // new quantizer, new layout, all codes.
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
        let per = self.codes.per_page;
        let pi = n as usize / per;
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
            self.parse_code(&p, blk, n as usize % per)?
        };
        if append {
            debug_assert_eq!(n as usize, self.codes.len());
            self.codes.push(&words, &head.factors);
            self.codes.blkno.push(head.blkno);
            self.codes.offset.push(head.offset);
            self.codes.ids.push(head.id);
            self.codes.flags.push(format::FLAG_DELETED as u8);
        } else {
            self.unaccount(n);
            self.codes.set(n, &words, &head.factors);
            self.codes.blkno[n as usize] = head.blkno;
            self.codes.offset[n as usize] = head.offset;
            self.codes.ids[n as usize] = head.id;
        }
        self.codes.flags[n as usize] = head.flags as u8;
        self.account(n, head.flags as u32, head.id);
        Ok(())
    }

    // ----- accessors -------------------------------------------------------

    pub fn options(&self) -> Options {
        Options {
            dim: self.meta.dim as usize,
            metric: self.metric,
            max_degree: self.meta.max_degree as usize,
            build_list_size: self.meta.build_list_size as usize,
            alpha: self.meta.alpha,
            bits: Some(self.meta.bits as usize),
            seed: self.meta.seed,
        }
    }
    /// Live (not deleted) vectors.
    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    pub fn store(&self) -> &S {
        &self.store
    }
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
    pub fn into_store(self) -> S {
        self.store
    }
    /// Inner product only: the largest vector norm the index has seen (the
    /// shift of its graph distance), as of the last refresh; 0 otherwise.
    pub fn ip_norm_bound(&self) -> f32 {
        self.meta.ip_max_norm
    }
    /// Internal node numbers handed out (live, deleted and free slots).
    pub fn slots(&self) -> usize {
        self.codes.len()
    }
    pub fn contains(&self, id: u64) -> bool {
        self.id_map.contains_key(&id)
    }
    /// Bytes of the in-memory code area (codes, factors, locations, ids, flags).
    pub fn code_memory_bytes(&self) -> usize {
        let c = &self.codes;
        c.data.len() * 8 + c.blkno.len() * 4 + c.offset.len() * 2 + c.ids.len() * 8 + c.flags.len()
    }
    /// Bytes of the codes proper (bits and correction factors) per vector.
    pub fn code_bytes_per_vector(&self) -> usize {
        self.codes.words * 8 + std::mem::size_of::<Factors>()
    }
    /// Pages read by all searches since open (a statistics counter).
    pub fn pages_read(&self) -> u64 {
        self.pages_read.load(Ordering::Relaxed)
    }
    pub fn quantizer(&self) -> &RaBitQ {
        &self.quant
    }
    /// Durability point: see [`PageStore::commit`]. `build` and `consolidate`
    /// commit by themselves; inserts and deletes are durable after this.
    pub fn commit(&self) -> Result<()> {
        self.store.commit()
    }

    // ----- vectors and distances ------------------------------------------

    /// The vector as stored: normalized for cosine.
    fn prepare_vector(&self, v: &[f32]) -> Result<Vec<f32>> {
        if v.len() != self.meta.dim as usize {
            return Err(Error::Invalid(format!(
                "expected {} dimensions, got {}",
                self.meta.dim,
                v.len()
            )));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::Invalid("vector has NaN or infinite values".into()));
        }
        let mut v = v.to_vec();
        if self.metric == Metric::Cosine {
            let n = crate::distance::norm_squared(&v).sqrt();
            if n == 0.0 {
                return Err(Error::Invalid(
                    "cosine distance is undefined for a zero vector".into(),
                ));
            }
            v.iter_mut().for_each(|x| *x = (*x as f64 / n) as f32);
        }
        Ok(v)
    }

    /// Internal distance (smaller is closer): squared L2 or `-<q, v>`.
    #[inline]
    fn exact(&self, q: &[f32], v: &[f32]) -> f32 {
        match self.metric {
            Metric::L2 => crate::kernels::l2(q, v),
            _ => -crate::kernels::dot(q, v),
        }
    }

    /// Internal distance to the distance users see.
    fn external(&self, d: f32) -> f32 {
        match self.metric {
            Metric::L2 => d.max(0.0).sqrt(),
            Metric::InnerProduct => d,
            Metric::Cosine => 1.0 + d,
        }
    }

    /// For inner product, the shift `M^2` of the graph distance `M^2 - <a, b>`
    /// (see `vamana.rs`), `M` the largest norm seen.
    fn graph_shift(&self) -> Option<f32> {
        (self.metric == Metric::InnerProduct)
            .then_some(self.meta.ip_max_norm * self.meta.ip_max_norm)
    }

    /// The slack RobustPrune uses on this index's graph distance: `alpha`,
    /// scaled to the data's norms for inner product.
    ///
    /// `alpha` is meant for distances at the data's own scale, as squared L2
    /// is. Inner product's `M^2 - <a, b>` (`M` the largest norm) carries an
    /// offset: where norms vary, as GloVe's do, nearly every distance is
    /// close to `M^2`, so the same multiplicative slack is far looser,
    /// prunes almost nothing, and the graph turns into a plain
    /// nearest-neighbour graph, slower to build and to search. So the slack
    /// `alpha - 1` is scaled by `mean |x|^2 / M^2`, the data's squared scale
    /// over the offset: 1 for unit vectors (where `M^2 - <a, b>` is half the
    /// squared L2 distance, so the slack is cosine's), about 0.1 on GloVe.
    ///
    /// Measured with alpha 1.2 and R = 48, recall@10 at list 48 / 64 and
    /// build time: GloVe-400k unscaled 1.2 needs list 96 for 0.95 (build
    /// 85 s); scaled (1.021) 0.9339 / 0.9553, 71.5 s; fixed 1.05 0.9504 /
    /// 0.9687, 80 s; square-root scaling (1.065) 0.9429 / 0.9632, 89.6 s.
    /// WordNet-117k (unit vectors), list 32: 0.9730 scaled (1.19997), 0.9593
    /// with a fixed 1.05: a fixed smaller slack would cost unit vectors, the
    /// common case for inner product.
    pub fn pruning_alpha(&self) -> f32 {
        let a = self.meta.alpha;
        let m2 = self.meta.ip_max_norm * self.meta.ip_max_norm;
        let mean = self.meta.ip_mean_sq_norm;
        if self.metric != Metric::InnerProduct || mean <= 0.0 || m2 <= 0.0 {
            return a;
        }
        1.0 + (a - 1.0) * (mean / m2).min(1.0)
    }

    /// Distance that shapes the graph: squared L2, or `M^2 - <a, b>` for
    /// inner product.
    fn graph_dist(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.graph_shift() {
            Some(m2) => m2 - crate::kernels::dot(a, b),
            None => crate::kernels::l2(a, b),
        }
    }

    // ----- node pages -------------------------------------------------------

    /// Read node `n` and pass it to `f`. One page in the common case (viewed
    /// in place); a node that runs on into the next page(s) of the node
    /// stream is copied into `buf`. Only the page headers and the node's
    /// bytes are read (`read_parts`): the file store then hashes those
    /// few hundred bytes, not the whole page.
    fn with_node<R>(
        &self,
        n: u32,
        buf: &mut Vec<u64>,
        stats: &mut SearchStats,
        f: impl FnOnce(NodeRef<'_>) -> R,
    ) -> Result<R> {
        let blk = self.codes.blkno[n as usize];
        let off = self.codes.offset[n as usize] as usize;
        let l = self.layout;
        if l.fits(off) {
            let at = HEADER_SIZE + off;
            let p = self
                .store
                .read_parts(blk, &[0..HEADER_SIZE, at..at + l.slot_size])?;
            stats.pages_read += 1;
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
            stats.pages_read += 1;
            format::check(&p, blk, Kind::Nodes)?;
            bytes[..head].copy_from_slice(&p.bytes[HEADER_SIZE + off..]);
            format::header(&p).next
        };
        self.read_run_on(blk, next, &mut bytes[head..], |_, _, _| {
            stats.pages_read += 1
        })?;
        let node = parse_node(bytes, &l).map_err(|r| corrupt(blk, r))?;
        Ok(f(node))
    }

    /// Read node `n` into owned buffers.
    fn read_node(&self, n: u32) -> Result<(NodeHead, Vec<f32>, Vec<u32>)> {
        let mut buf = Vec::new();
        let mut st = SearchStats::default();
        self.with_node(n, &mut buf, &mut st, |node| {
            (
                NodeHead {
                    id: node.id,
                    flags: node.flags,
                    degree: node.neighbors.len() as u32,
                },
                node.vector.to_vec(),
                node.neighbors.to_vec(),
            )
        })
    }

    fn write_node(&self, n: u32, id: u64, flags: u32, vector: &[f32], nbrs: &[u32]) -> Result<()> {
        debug_assert!(nbrs.len() <= self.layout.max_degree);
        let dim = self.layout.dim;
        self.modify_node(n, |bytes| {
            bytes.fill(0);
            encode_node(bytes, id, flags, vector, nbrs, dim);
            Ok(())
        })
    }

    /// Read-modify-write node `n`'s slot bytes as one step (see
    /// [`PageStore::modify`]): other writers may be changing other nodes on
    /// the same pages. A node that runs on into later pages is locked by its
    /// first page, and the later ones are taken in stream order, so writers
    /// always lock pages in the same order.
    fn modify_node<R>(&self, n: u32, f: impl FnOnce(&mut [u8]) -> Result<R>) -> Result<R> {
        let blk = self.codes.blkno[n as usize];
        let off = self.codes.offset[n as usize] as usize;
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
    fn set_node_flags(&self, n: u32, flags: u32) -> Result<()> {
        self.modify_node(n, |bytes| {
            update_head(bytes, |h| h.flags = flags);
            Ok(())
        })
    }

    /// Replace node `n`'s neighbour list with `new`, but only if it is still
    /// `expected` (another writer may have changed it since we read it).
    /// Returns whether it was replaced.
    fn replace_neighbors(&self, n: u32, expected: &[u32], new: &[u32]) -> Result<bool> {
        let l = self.layout;
        self.modify_node(n, |bytes| {
            let now =
                parse_node(bytes, &l).map_err(|r| corrupt(self.codes.blkno[n as usize], r))?;
            if now.neighbors != expected {
                return Ok(false);
            }
            update_head(bytes, |h| h.degree = new.len() as u32);
            let vend = NODE_HEAD + 4 * l.dim;
            bytes[vend..vend + 4 * new.len()].copy_from_slice(bytemuck::cast_slice(new));
            Ok(true)
        })
    }

    /// Write this handle's whole meta page. Only where no other writer can
    /// be at work: creating, building, or re-dimensioning an empty index.
    fn write_meta(&self) -> Result<()> {
        let mut p = format::new_page(Kind::Meta);
        format::set_meta(&mut p, &self.meta);
        self.store.write(META_BLKNO, &p)
    }

    /// Read-modify-write the meta page: concurrent writers each change only
    /// the fields they own (counts, the change log, the entry point). The
    /// handle's own copy, `self.meta`, is what it last loaded; `refresh`
    /// brings it up to date.
    fn update_meta<R>(&self, f: impl FnOnce(&mut MetaBody) -> Result<R>) -> Result<R> {
        self.store.modify(META_BLKNO, |p| {
            format::check(p, META_BLKNO, Kind::Meta)?;
            let mut m = format::meta(p);
            let r = f(&mut m)?;
            format::set_meta(p, &m);
            Ok(r)
        })
    }

    /// Record in the meta page's change log that the code entries of
    /// `nodes` changed, so other handles reload them on `refresh`.
    fn log_changes(&self, nodes: &[u32]) -> Result<()> {
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

    /// Code entry `n` as this handle holds it, into its page image.
    fn encode_code(&self, p: &mut Page, n: u32) {
        let c = &self.codes;
        let off = c.entry_offset(n);
        let head = CodeEntryHead {
            id: c.ids[n as usize],
            blkno: c.blkno[n as usize],
            offset: c.offset[n as usize],
            flags: c.flags[n as usize] as u16,
            factors: *c.factors(n),
        };
        p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
        p.bytes[off + CODE_HEAD..off + c.entry_size()]
            .copy_from_slice(bytemuck::cast_slice(c.code(n)));
        let h = format::header_mut(p);
        h.count = h.count.max((n as usize % c.per_page) as u32 + 1);
    }

    /// Write code entry `n` to its page, without logging it.
    fn store_code(&self, n: u32) -> Result<()> {
        let blk = self.codes.pages[n as usize / self.codes.per_page];
        self.store.modify(blk, |p| {
            format::check(p, blk, Kind::Codes)?;
            self.encode_code(p, n);
            Ok(())
        })
    }

    /// Write code entry `n` and log the change.
    fn write_code(&self, n: u32) -> Result<()> {
        self.store_code(n)?;
        self.log_changes(&[n])
    }

    /// Take free slot `n` for an insert: its code entry goes from free to
    /// deleted (reserved: never returned, never reused, and removed by the
    /// next VACUUM if the insert never completes). False if another writer
    /// took it first.
    fn claim_free(&self, n: u32) -> Result<bool> {
        let c = &self.codes;
        let blk = c.pages[n as usize / c.per_page];
        let off = c.entry_offset(n);
        self.store.modify(blk, |p| {
            format::check(p, blk, Kind::Codes)?;
            let mut head: CodeEntryHead =
                bytemuck::pod_read_unaligned(&p.bytes[off..off + CODE_HEAD]);
            if head.flags as u32 != format::FLAG_FREE {
                return Ok(false);
            }
            head.flags = format::FLAG_DELETED as u16;
            p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
            Ok(true)
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
    /// the node stream. New nodes are numbered under the meta page's
    /// lock, so concurrent writers never hand out the same one; the entry is
    /// written before the meta page counts it. Refreshes this handle.
    /// `ip_norm_sq` (inner product: the vector's squared norm) joins the
    /// running mean behind [`Self::pruning_alpha`] when the node is new (a
    /// reused slot leaves the mean as it is, to spare the meta page a write).
    fn alloc_node(&mut self, ip_norm_sq: Option<f32>) -> Result<u32> {
        while let Some(n) = self.free.pop() {
            if self.claim_free(n)? {
                self.codes.flags[n as usize] = format::FLAG_DELETED as u8;
                self.log_changes(&[n])?;
                return Ok(n);
            }
        }
        let per = self.codes.per_page;
        let esize = self.codes.entry_size();
        let l = self.layout;
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
            let (blk, offset) = self.append_node_slot(m, l.slot_size)?;
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

    // ----- search -----------------------------------------------------------

    fn scratch(&self) -> Box<Scratch> {
        self.pool.lock().pop().unwrap_or_default()
    }

    fn give_back(&self, s: Box<Scratch>) {
        self.pages_read
            .fetch_add(s.stats.pages_read, Ordering::Relaxed);
        self.pool.lock().push(s);
    }

    /// Set up a search for the prepared query in `s.query`.
    fn begin(&self, s: &mut Scratch, ef: usize) {
        s.reset(self.codes.len());
        self.quant.prepare(&s.query, &mut s.qc);
        if self.meta.entry != NONE {
            let e = self.meta.entry;
            s.visit(e);
            let (est, bound) =
                self.quant
                    .estimate(&s.qc, self.codes.code(e), self.codes.factors(e));
            s.stats.estimated += 1;
            s.mark[e as usize].1 = est - bound;
            s.cand.push(Reverse(pack(est, e)));
            s.top.push(pack(est, e));
        }
        let _ = ef;
    }

    /// Beam search until the `ef` best estimates are all expanded.
    fn run(&self, s: &mut Scratch, ef: usize) -> Result<()> {
        let quant = &self.quant;
        let codes = &self.codes;
        let mut buf = std::mem::take(&mut s.buf);
        while let Some(&Reverse(c)) = s.cand.peek() {
            if s.top.len() >= ef && c > *s.top.peek().unwrap() {
                break;
            }
            s.cand.pop();
            let (_, n) = unpack(c);
            s.stats.expanded += 1;
            let mut nbrs = std::mem::take(&mut s.nbrs);
            let mut stats = s.stats;
            let (d, live, kept) = self.with_node(n, &mut buf, &mut stats, |node| {
                nbrs.clear();
                nbrs.extend_from_slice(node.neighbors);
                let d = self.exact(&s.query, node.vector);
                let kept = if s.keep_vectors {
                    let at = s.arena.len();
                    s.arena.extend_from_slice(node.vector);
                    Some(at)
                } else {
                    None
                };
                (d, node.flags == format::FLAG_LIVE, kept)
            })?;
            s.stats = stats;
            if live && s.finish(n) {
                s.exact.push((d, n));
                if let Some(at) = kept {
                    s.kept.push((n, at));
                }
            }
            // Memory latency dominates: prefetch every neighbour's visited
            // mark and code record before touching any of them.
            // A link past our copy of the code area is a node another
            // writer added after our last refresh: not ours to see yet.
            nbrs.retain(|&m| (m as usize) < codes.len());
            for &m in &nbrs {
                crate::kernels::prefetch(std::slice::from_ref(&s.mark[m as usize]));
                crate::kernels::prefetch(codes.record(m));
            }
            for &m in &nbrs {
                if !s.visit(m) {
                    continue;
                }
                let (est, bound) = quant.estimate(&s.qc, codes.code(m), codes.factors(m));
                s.stats.estimated += 1;
                s.mark[m as usize].1 = est - bound;
                let key = pack(est, m);
                if s.top.len() < ef || key < *s.top.peek().unwrap() {
                    s.cand.push(Reverse(key));
                    s.top.push(key);
                    if s.top.len() > ef {
                        s.top.pop();
                    }
                } else {
                    s.deferred.push(key);
                }
            }
            s.nbrs = nbrs;
        }
        s.buf = buf;
        Ok(())
    }

    /// Read exact distances for unexpanded candidates whose lower bound can
    /// still beat the k-th exact distance, at most `budget` of them.
    fn rerank(&self, s: &mut Scratch, k: usize, budget: usize) -> Result<()> {
        s.exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let kth = |e: &Vec<(f32, u32)>| {
            if e.len() >= k {
                e[k - 1].0
            } else {
                f32::INFINITY
            }
        };
        let mut threshold = kth(&s.exact);
        let mut todo: Vec<(f32, u32)> = s
            .cand
            .iter()
            .map(|r| r.0)
            .chain(s.deferred.iter().copied())
            .map(|key| unpack(key).1)
            .map(|n| (s.mark[n as usize].1, n))
            .filter(|(lb, _)| *lb < threshold)
            .collect();
        todo.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut buf = std::mem::take(&mut s.buf);
        let mut done = 0;
        for (i, &(lb, n)) in todo.iter().enumerate() {
            if lb >= threshold || done >= budget {
                s.stats.rerank_skipped += (todo.len() - i) as u64;
                break;
            }
            let mut stats = s.stats;
            let (d, live) = self.with_node(n, &mut buf, &mut stats, |node| {
                (
                    self.exact(&s.query, node.vector),
                    node.flags == format::FLAG_LIVE,
                )
            })?;
            s.stats = stats;
            s.stats.reranked += 1;
            done += 1;
            if live && s.finish(n) {
                let pos = s.exact.partition_point(|e| e.0 <= d);
                s.exact.insert(pos, (d, n));
                threshold = kth(&s.exact);
            }
        }
        s.buf = buf;
        Ok(())
    }

    /// The `k` nearest live vectors: `(id, distance)`, closest first.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        params: &SearchParams,
    ) -> Result<Vec<(u64, f32)>> {
        Ok(self.search_with_stats(query, k, params)?.0)
    }

    /// `search`, plus what it cost.
    pub fn search_with_stats(
        &self,
        query: &[f32],
        k: usize,
        params: &SearchParams,
    ) -> Result<(Vec<(u64, f32)>, SearchStats)> {
        let q = self.prepare_vector(query)?;
        let mut s = self.scratch();
        s.query = q;
        s.keep_vectors = false;
        let ef = params.search_list_size.max(k).max(1);
        let r = (|| {
            self.begin(&mut s, ef);
            self.run(&mut s, ef)?;
            if k > 0 {
                self.rerank(&mut s, k, params.rerank)?;
            }
            Ok(s.exact
                .iter()
                .take(k)
                .map(|&(d, n)| (self.codes.ids[n as usize], self.external(d)))
                .collect())
        })();
        let stats = s.stats;
        self.give_back(s);
        r.map(|v| (v, stats))
    }

    /// Results in distance order, as many as the caller pulls: the first
    /// batch is a search with `params`; each further batch doubles the list
    /// size and continues from where the previous one stopped. Within a batch
    /// the order is exact; across batches it is approximately increasing (a
    /// later batch may find a node slightly closer than one already returned).
    pub fn search_iter(&self, query: &[f32], params: &SearchParams) -> Result<SearchIter<'_, S>> {
        let q = self.prepare_vector(query)?;
        let mut s = self.scratch();
        s.query = q;
        s.keep_vectors = false;
        let ef = params.search_list_size.max(1);
        self.begin(&mut s, ef);
        Ok(SearchIter {
            index: self,
            scratch: Some(s),
            ef,
            rerank: params.rerank,
            pending: BinaryHeap::new(),
            frontier: f32::NEG_INFINITY,
            started: false,
            error: false,
        })
    }

    // ----- mutation ---------------------------------------------------------

    /// Add one vector. `id` must not be in the index already.
    ///
    /// Several handles on one store may insert at the same time (each
    /// refreshed first): pages are only changed by read-modify-write of the
    /// caller's own slot or field (see [`PageStore::modify`]), so nothing
    /// index-wide is locked. Deletes and `consolidate` must not run
    /// alongside inserts.
    pub fn insert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        let v = self.prepare_vector(vector)?;
        if self.id_map.contains_key(&id) {
            return Err(Error::Invalid(format!("id {id} is already in the index")));
        }
        let norm_sq =
            (self.metric == Metric::InnerProduct).then(|| crate::distance::norm_squared(&v) as f32);
        if let Some(sq) = norm_sq {
            let norm = sq.sqrt();
            if norm > self.meta.ip_max_norm {
                self.meta.ip_max_norm = self.update_meta(|m| {
                    m.ip_max_norm = m.ip_max_norm.max(norm);
                    Ok(m.ip_max_norm)
                })?;
            }
        }
        let n = self.alloc_node(norm_sq)?;
        {
            let mut code = vec![0u64; self.codes.words];
            let f = self.quant.encode(&v, &mut code);
            self.codes.set(n, &code, &f);
        }
        self.codes.ids[n as usize] = id;
        if self.meta.entry == NONE {
            // The first node: complete and live before it becomes the entry
            // point, which only one writer can make it.
            self.write_node(n, id, format::FLAG_LIVE, &v, &[])?;
            self.codes.flags[n as usize] = format::FLAG_LIVE as u8;
            self.write_code(n)?;
            self.note_live(id, n);
            let won = self.update_meta(|m| {
                Ok(if m.entry == NONE {
                    m.entry = n;
                    true
                } else {
                    false
                })
            })?;
            if won {
                self.meta.entry = n;
                return Ok(());
            }
            // Another writer's node came first: link ours as any other.
            self.refresh()?;
        }
        let r = self.meta.max_degree as usize;
        let alpha = self.pruning_alpha();
        // Search for the new vector's neighbours, keeping the vectors of
        // every expanded node for RobustPrune.
        let mut s = self.scratch();
        s.query = v.clone();
        s.keep_vectors = true;
        let ef = self.meta.build_list_size as usize;
        self.begin(&mut s, ef);
        // The new node is not linked yet: skip it.
        s.visit(n);
        let res = self.run(&mut s, ef);
        s.keep_vectors = false;
        if let Err(e) = res {
            self.give_back(s);
            return Err(e);
        }
        let dim = self.meta.dim as usize;
        let vecs: HashMap<u32, &[f32]> = s
            .kept
            .iter()
            .map(|&(m, at)| (m, &s.arena[at..at + dim]))
            .collect();
        let mut cands: Vec<(f32, u32)> = vecs
            .iter()
            .map(|(&m, x)| (self.graph_dist(&v, x), m))
            .collect();
        let nbrs = vamana::robust_prune(n, &mut cands, alpha, r, |a, b| {
            self.graph_dist(vecs[&a], vecs[&b])
        });
        drop(vecs);
        self.give_back(s);
        self.write_node(n, id, format::FLAG_LIVE, &v, &nbrs)?;
        self.codes.flags[n as usize] = format::FLAG_LIVE as u8;
        self.write_code(n)?;
        // The node is complete and live before anything links to it: a crash
        // from here on leaves a live node with some in-edges missing (a
        // valid graph), never an edge to a node that is not there.
        self.note_live(id, n);
        for &m in &nbrs {
            self.add_back_edge(m, n, &v)?;
        }
        Ok(())
    }

    /// Book-keeping for our own node `n` gone live (a `refresh` may have
    /// counted it already).
    fn note_live(&mut self, id: u64, n: u32) {
        if self.id_map.insert(id, n).is_none() {
            self.live += 1;
        }
    }

    /// Link `m -> n` (`v` is `n`'s vector), pruning `m`'s list when it is
    /// full. Computed from a snapshot of `m` and applied only if `m`'s list
    /// is unchanged, else recomputed: another writer may be linking to `m`
    /// too. After a few lost races the edge is left out; `n` keeps its other
    /// in-edges, and a missing back edge costs recall, never correctness.
    fn add_back_edge(&mut self, m: u32, n: u32, v: &[f32]) -> Result<()> {
        const TRIES: usize = 8;
        let r = self.meta.max_degree as usize;
        let alpha = self.pruning_alpha();
        for _ in 0..TRIES {
            let (head, mv, mn) = self.read_node(m)?;
            if head.flags == format::FLAG_FREE || mn.contains(&n) {
                return Ok(());
            }
            if mn.iter().any(|&x| x as usize >= self.codes.len()) {
                // Linked to a node another writer added since our refresh
                // (it was counted before it was linked: a refresh has it).
                self.refresh()?;
                continue;
            }
            let new = if mn.len() < r {
                let mut new = mn.clone();
                new.push(n);
                new
            } else {
                let mut vecs: HashMap<u32, Vec<f32>> = HashMap::new();
                vecs.insert(n, v.to_vec());
                for &x in &mn {
                    vecs.insert(x, self.read_node(x)?.1);
                }
                let mut cands: Vec<(f32, u32)> = vecs
                    .iter()
                    .map(|(&x, xv)| (self.graph_dist(&mv, xv), x))
                    .collect();
                vamana::robust_prune(m, &mut cands, alpha, r, |a, b| {
                    self.graph_dist(&vecs[&a], &vecs[&b])
                })
            };
            if self.replace_neighbors(m, &mn, &new)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Mark `id` deleted (a tombstone: it still routes searches but is never
    /// returned). `consolidate` removes it from the graph. Returns whether
    /// the id was present.
    pub fn delete(&mut self, id: u64) -> Result<bool> {
        let Some(n) = self.id_map.remove(&id) else {
            return Ok(false);
        };
        self.codes.flags[n as usize] = format::FLAG_DELETED as u8;
        self.write_code(n)?;
        self.set_node_flags(n, format::FLAG_DELETED)?;
        self.live -= 1;
        Ok(true)
    }

    /// Mark deleted every live vector whose id `dead` accepts (as `delete`
    /// does, one change-log write in all). Returns how many. Postgres's
    /// VACUUM asks this way: it knows which heap rows died, not which ids
    /// we hold.
    pub fn delete_where(&mut self, mut dead: impl FnMut(u64) -> bool) -> Result<usize> {
        let mut changed = Vec::new();
        for n in 0..self.codes.len() as u32 {
            if self.codes.flags[n as usize] as u32 != format::FLAG_LIVE {
                continue;
            }
            let id = self.codes.ids[n as usize];
            if !dead(id) {
                continue;
            }
            self.id_map.remove(&id);
            self.codes.flags[n as usize] = format::FLAG_DELETED as u8;
            self.store_code(n)?;
            self.set_node_flags(n, format::FLAG_DELETED)?;
            self.live -= 1;
            changed.push(n);
        }
        self.log_changes(&changed)?;
        Ok(changed.len())
    }

    /// FreshDiskANN consolidation: every live node that points at a deleted
    /// node gets the deleted node's out-neighbours as candidates and is
    /// re-pruned, so navigability is kept; then the deleted nodes' slots are
    /// freed for reuse. Returns how many nodes were removed. Commits.
    /// No insert may run alongside (the extension holds VACUUM's lock).
    pub fn consolidate(&mut self) -> Result<usize> {
        let n = self.codes.len() as u32;
        let deleted: Vec<u32> = (0..n)
            .filter(|&m| self.codes.flags[m as usize] as u32 == format::FLAG_DELETED)
            .collect();
        if deleted.is_empty() {
            return Ok(0);
        }
        let mut dnbrs: HashMap<u32, Vec<u32>> = HashMap::new();
        for &d in &deleted {
            dnbrs.insert(d, self.read_node(d)?.2);
        }
        let is_gone = |m: u32, codes: &Codes| codes.flags[m as usize] as u32 != format::FLAG_LIVE;
        let r = self.meta.max_degree as usize;
        let alpha = self.pruning_alpha();
        for p in 0..n {
            if is_gone(p, &self.codes) {
                continue;
            }
            let (head, pv, pn) = self.read_node(p)?;
            if !pn.iter().any(|&m| dnbrs.contains_key(&m)) {
                continue;
            }
            let mut set: Vec<u32> = Vec::new();
            for &m in &pn {
                if let Some(dn) = dnbrs.get(&m) {
                    set.extend(
                        dn.iter()
                            .copied()
                            .filter(|&x| x != p && !is_gone(x, &self.codes)),
                    );
                } else if !is_gone(m, &self.codes) {
                    set.push(m);
                }
            }
            set.sort_unstable();
            set.dedup();
            let mut vecs: HashMap<u32, Vec<f32>> = HashMap::new();
            for &x in &set {
                vecs.insert(x, self.read_node(x)?.1);
            }
            let mut cands: Vec<(f32, u32)> = vecs
                .iter()
                .map(|(&x, xv)| (self.graph_dist(&pv, xv), x))
                .collect();
            let new = vamana::robust_prune(p, &mut cands, alpha, r, |a, b| {
                self.graph_dist(&vecs[&a], &vecs[&b])
            });
            self.write_node(p, head.id, head.flags, &pv, &new)?;
        }
        if self.meta.entry != NONE && is_gone(self.meta.entry, &self.codes) {
            let old = self.meta.entry;
            let entry = dnbrs[&old]
                .iter()
                .copied()
                .find(|&x| !is_gone(x, &self.codes))
                .or_else(|| (0..n).find(|&x| !is_gone(x, &self.codes)))
                .unwrap_or(NONE);
            // The new entry point is on the page before the old one can be
            // freed.
            self.update_meta(|m| {
                m.entry = entry;
                Ok(())
            })?;
            self.meta.entry = entry;
        }
        let dim = self.meta.dim as usize;
        for &d in &deleted {
            self.codes.flags[d as usize] = format::FLAG_FREE as u8;
            self.codes.ids[d as usize] = 0;
            self.store_code(d)?;
            self.write_node(d, 0, format::FLAG_FREE, &vec![0.0; dim], &[])?;
            self.free.push(d);
        }
        self.log_changes(&deleted)?;
        self.store.commit()?;
        Ok(deleted.len())
    }

    /// Bulk build from `ids.len()` vectors stored flat in `vectors`, on an
    /// empty index. The centroid of the codes is the data mean. Uses the
    /// rayon thread pool (all cores by default).
    ///
    /// `memory_budget` (bytes) caps the build's working set: the in-memory
    /// Vamana build needs the vectors, the adjacency lists and per-thread
    /// visited marks. When that does not fit, the vectors are inserted one
    /// by one instead, which needs only the codes in memory (slower). Commits.
    pub fn build(&mut self, vectors: &[f32], ids: &[u64], memory_budget: usize) -> Result<()> {
        let dim = self.meta.dim as usize;
        if vectors.len() != ids.len() * dim {
            return Err(Error::Invalid(
                "vectors.len() must be ids.len() * dim".into(),
            ));
        }
        if self.codes.len() != 0 {
            return Err(Error::Invalid(
                "build needs an empty index; use insert".into(),
            ));
        }
        let mut seen = HashSet::with_capacity(ids.len());
        if !ids.iter().all(|id| seen.insert(*id)) {
            return Err(Error::Invalid("duplicate ids".into()));
        }
        drop(seen);
        let n = ids.len();
        if n == 0 {
            return Ok(());
        }
        let data: Vec<f32> = vectors
            .par_chunks_exact(dim)
            .map(|v| self.prepare_vector(v))
            .collect::<Result<Vec<_>>>()?
            .concat();
        // Centroid: the data mean, stored for the quantizer.
        let mut mean = vec![0f64; dim];
        for v in data.chunks_exact(dim) {
            mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64);
        }
        let centroid: Vec<f32> = mean.iter().map(|m| (*m / n as f64) as f32).collect();
        self.meta.centroid = format::write_blob(&self.store, bytemuck::cast_slice(&centroid))?;
        self.quant = RaBitQ::new(
            dim,
            self.meta.bits as usize,
            self.metric.space(),
            centroid,
            self.meta.seed,
        );
        if self.metric == Metric::InnerProduct {
            let (max_sq, sum_sq) = data
                .chunks_exact(dim)
                .map(crate::distance::norm_squared)
                .fold((0f64, 0f64), |(max, sum), sq| (max.max(sq), sum + sq));
            self.meta.ip_max_norm = max_sq.sqrt() as f32;
            self.meta.ip_mean_sq_norm = (sum_sq / n as f64) as f32;
        }
        let r = self.meta.max_degree as usize;
        if self.build_memory(n) > memory_budget {
            drop(data);
            // Inserts refresh from the meta page: it must hold the centroid.
            self.write_meta()?;
            for (v, &id) in vectors.chunks_exact(dim).zip(ids) {
                self.insert(id, v)?;
            }
            return self.store.commit();
        }
        let points = vamana::Points::new(&data, dim, self.graph_shift());
        let params = vamana::BuildParams {
            max_degree: r,
            list_size: self.meta.build_list_size as usize,
            alpha: self.pruning_alpha(),
            seed: self.meta.seed,
        };
        let graph = vamana::build(&points, &params);
        drop(data);
        // Nodes are stored in the graph's numbering (see `vamana::build`).
        let (data, adj, medoid) = (graph.vectors, graph.adj, graph.entry);
        let ids: Vec<u64> = graph.order.iter().map(|&old| ids[old as usize]).collect();
        // Codes, in parallel.
        let words = self.codes.words;
        let mut code_data = vec![0u64; n * words];
        let factors: Vec<Factors> = code_data
            .par_chunks_mut(words)
            .zip(data.par_chunks_exact(dim))
            .map(|(code, v)| self.quant.encode(v, code))
            .collect();
        // The node stream, page after page; commits every few thousand
        // pages so the file store's write-ahead log stays small.
        let l = self.layout;
        let npages = (n * l.slot_size).div_ceil(format::PAYLOAD);
        let blocks: Vec<BlockNo> = (0..npages)
            .map(|_| self.store.extend())
            .collect::<Result<_>>()?;
        for i in 0..n {
            let pos = i * l.slot_size;
            self.codes.blkno.push(blocks[pos / format::PAYLOAD]);
            self.codes.offset.push((pos % format::PAYLOAD) as u16);
        }
        self.meta.node_tail = *blocks.last().unwrap();
        self.meta.node_tail_used = (n * l.slot_size - (npages - 1) * format::PAYLOAD) as u32;
        self.codes.data = Vec::with_capacity(n * (words + 2));
        for (code, f) in code_data.chunks_exact(words).zip(&factors) {
            self.codes.push(code, f);
        }
        drop(code_data);
        self.codes.ids = ids;
        self.codes.flags = vec![format::FLAG_LIVE as u8; n];
        let mut node = vec![0u8; l.slot_size];
        let mut next = 0; // next node to encode
        let mut carry = 0; // bytes of node `next - 1` already written
        for (pi, &b) in blocks.iter().enumerate() {
            let mut p = format::new_page(Kind::Nodes);
            let h = format::header_mut(&mut p);
            h.next = blocks.get(pi + 1).copied().unwrap_or(NONE);
            let mut at = 0;
            while at < format::PAYLOAD {
                if carry == 0 {
                    if next == n {
                        break;
                    }
                    node.fill(0);
                    encode_node(
                        &mut node,
                        self.codes.ids[next],
                        format::FLAG_LIVE,
                        &data[next * dim..(next + 1) * dim],
                        &adj[next],
                        dim,
                    );
                    next += 1;
                }
                let take = (l.slot_size - carry).min(format::PAYLOAD - at);
                p.bytes[HEADER_SIZE + at..HEADER_SIZE + at + take]
                    .copy_from_slice(&node[carry..carry + take]);
                at += take;
                carry = (carry + take) % l.slot_size;
            }
            format::header_mut(&mut p).count = at as u32;
            self.store.write(b, &p)?;
            if pi % 4096 == 4095 {
                self.store.commit()?;
            }
        }
        debug_assert!(next == n && carry == 0);
        // Code pages.
        let per = self.codes.per_page;
        let npages = n.div_ceil(per);
        let blocks: Vec<BlockNo> = (0..npages)
            .map(|_| self.store.extend())
            .collect::<Result<_>>()?;
        self.codes.pages = blocks.clone();
        self.meta.code_head = blocks[0];
        self.meta.code_tail = *blocks.last().unwrap();
        self.meta.n_nodes = n as u64;
        for (pi, &b) in blocks.iter().enumerate() {
            let mut p = format::new_page(Kind::Codes);
            format::header_mut(&mut p).next = blocks.get(pi + 1).copied().unwrap_or(NONE);
            for i in pi * per..((pi + 1) * per).min(n) {
                self.encode_code(&mut p, i as u32);
            }
            self.store.write(b, &p)?;
        }
        self.meta.entry = medoid;
        for (i, &id) in self.codes.ids.iter().enumerate() {
            self.id_map.insert(id, i as u32);
        }
        self.live = n;
        self.write_meta()?;
        self.store.commit()
    }

    /// Change the dimension of an index that has never held a vector (an
    /// index created before its first row, on a column without a declared
    /// dimension). `bits` as in [`Options::bits`]. Other handles see it as
    /// a rebuild on `refresh`.
    pub fn set_dimension(&mut self, dim: usize, bits: Option<usize>) -> Result<()> {
        if self.meta.n_nodes != 0 {
            return Err(Error::Invalid(format!(
                "expected {} dimensions, got {dim}",
                self.meta.dim
            )));
        }
        if dim == 0 || dim > format::MAX_DIM {
            return Err(Error::Invalid(format!(
                "dimension must be 1..={}",
                format::MAX_DIM
            )));
        }
        let centroid = vec![0f32; dim];
        let mut m = self.meta;
        m.dim = dim as u32;
        m.bits = bits.unwrap_or_else(|| rabitq::default_bits(dim)) as u32;
        m.centroid = format::write_blob(&self.store, bytemuck::cast_slice(&centroid))?;
        self.adopt(m, centroid)?;
        self.write_meta()
    }

    /// Take `meta` (with its centroid) as this handle's: metric, quantizer,
    /// node layout and code geometry. The code area itself is not loaded.
    fn adopt(&mut self, meta: MetaBody, centroid: Vec<f32>) -> Result<()> {
        let (metric, quant, layout) = Self::assemble_parts(meta, centroid)?;
        self.meta = meta;
        self.metric = metric;
        self.quant = quant;
        self.layout = layout;
        self.codes.words = self.quant.code_words();
        self.codes.per_page = format::codes_per_page(self.codes.words);
        Ok(())
    }

    /// Bytes `build` needs for `n` vectors; see [`Options::build_memory`].
    pub fn build_memory(&self, n: usize) -> usize {
        self.options().build_memory(n)
    }

    /// Every live node's neighbour list (for invariant checks and tools).
    pub fn graph(&self) -> Result<Vec<(u64, Vec<u64>)>> {
        let mut out = Vec::new();
        for n in 0..self.codes.len() as u32 {
            if self.codes.flags[n as usize] as u32 != format::FLAG_LIVE {
                continue;
            }
            let (head, _, nb) = self.read_node(n)?;
            if head.flags != format::FLAG_LIVE || head.id != self.codes.ids[n as usize] {
                return Err(corrupt(
                    self.codes.blkno[n as usize],
                    "node page disagrees with code area",
                ));
            }
            let mut ids = Vec::with_capacity(nb.len());
            for m in nb {
                match self.codes.flags.get(m as usize).map(|f| *f as u32) {
                    Some(format::FLAG_LIVE) | Some(format::FLAG_DELETED) => {
                        ids.push(self.codes.ids[m as usize])
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                            "node {n} links to free or missing node {m}"
                        )))
                    }
                }
            }
            // Deleted targets are reported by id too; callers check liveness.
            out.push((head.id, ids));
        }
        Ok(out)
    }

    /// Graph invariants (used by tests and by `diskvec_verify`): every live
    /// node's page agrees with its code entry, degree <= R, no self loops,
    /// and (when `after_consolidate`) no edge to a deleted or free node.
    pub fn check_graph(&self, after_consolidate: bool) -> Result<()> {
        let r = self.meta.max_degree as usize;
        let entry_flags = self
            .codes
            .flags
            .get(self.meta.entry as usize)
            .map(|f| *f as u32);
        if self.live > 0
            && !matches!(
                entry_flags,
                Some(format::FLAG_LIVE) | Some(format::FLAG_DELETED)
            )
        {
            return Err(Error::Invalid(format!(
                "entry point {} is not a node in the graph",
                self.meta.entry
            )));
        }
        for n in 0..self.codes.len() as u32 {
            if self.codes.flags[n as usize] as u32 != format::FLAG_LIVE {
                continue;
            }
            let (head, _, nb) = self.read_node(n)?;
            if head.flags != format::FLAG_LIVE || head.id != self.codes.ids[n as usize] {
                return Err(corrupt(
                    self.codes.blkno[n as usize],
                    format!(
                        "node {n}: page says id {} flags {}, code area says id {} live",
                        head.id, head.flags, self.codes.ids[n as usize]
                    ),
                ));
            }
            if nb.len() > r {
                return Err(Error::Invalid(format!(
                    "node {n} has degree {} > R = {r}",
                    nb.len()
                )));
            }
            for &m in &nb {
                if m == n {
                    return Err(Error::Invalid(format!("node {n} links to itself")));
                }
                let f = self.codes.flags.get(m as usize).map(|f| *f as u32);
                let ok = if after_consolidate {
                    f == Some(format::FLAG_LIVE)
                } else {
                    matches!(f, Some(format::FLAG_LIVE) | Some(format::FLAG_DELETED))
                };
                if !ok {
                    return Err(Error::Invalid(format!(
                        "node {n} links to node {m} with flags {f:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn encode_node(out: &mut [u8], id: u64, flags: u32, vector: &[f32], nbrs: &[u32], dim: usize) {
    let head = NodeHead {
        id,
        flags,
        degree: nbrs.len() as u32,
    };
    out[..NODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
    let vend = NODE_HEAD + 4 * dim;
    out[NODE_HEAD..vend].copy_from_slice(bytemuck::cast_slice(vector));
    out[vend..vend + 4 * nbrs.len()].copy_from_slice(bytemuck::cast_slice(nbrs));
}

/// Change the head of a node slot in place.
fn update_head(bytes: &mut [u8], f: impl FnOnce(&mut NodeHead)) {
    let mut head: NodeHead = bytemuck::pod_read_unaligned(&bytes[..NODE_HEAD]);
    f(&mut head);
    bytes[..NODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
}

fn parse_node<'a>(bytes: &'a [u8], l: &NodeLayout) -> std::result::Result<NodeRef<'a>, String> {
    let head: NodeHead = bytemuck::pod_read_unaligned(&bytes[..NODE_HEAD]);
    if head.degree as usize > l.max_degree || head.flags > format::FLAG_DELETED {
        return Err(format!(
            "node slot with degree {} flags {}",
            head.degree, head.flags
        ));
    }
    let vend = NODE_HEAD + 4 * l.dim;
    let vector: &[f32] =
        bytemuck::try_cast_slice(&bytes[NODE_HEAD..vend]).map_err(|e| format!("{e:?}"))?;
    let neighbors: &[u32] = bytemuck::try_cast_slice(&bytes[vend..vend + 4 * head.degree as usize])
        .map_err(|e| format!("{e:?}"))?;
    Ok(NodeRef {
        id: head.id,
        flags: head.flags,
        vector,
        neighbors,
    })
}

/// Streaming search; see [`Index::search_iter`].
pub struct SearchIter<'a, S: PageStore> {
    index: &'a Index<S>,
    scratch: Option<Box<Scratch>>,
    ef: usize,
    rerank: usize,
    /// Exact results not yet returned, closest on top.
    pending: BinaryHeap<Reverse<(u32, u32)>>,
    /// The best estimate among candidates not yet expanded: a pending
    /// result closer than this is returned now; a farther one waits, since
    /// the next batch may still find something closer.
    frontier: f32,
    started: bool,
    error: bool,
}

impl<S: PageStore> SearchIter<'_, S> {
    /// Counters so far.
    pub fn stats(&self) -> SearchStats {
        self.scratch.as_ref().map(|s| s.stats).unwrap_or_default()
    }

    fn next_batch(&mut self) -> Result<bool> {
        let s = self.scratch.as_mut().unwrap();
        if self.started {
            if s.cand.is_empty() && s.deferred.is_empty() {
                return Ok(false);
            }
            // Widen the beam: every known unexpanded node is a candidate again.
            self.ef *= 2;
            let deferred = std::mem::take(&mut s.deferred);
            s.cand.extend(deferred.into_iter().map(Reverse));
            s.top.clear();
            let mut all: Vec<u64> = s.cand.iter().map(|r| r.0).collect();
            all.sort_unstable();
            all.truncate(self.ef);
            s.top.extend(all);
        }
        self.started = true;
        s.exact.clear();
        self.index.run(s, self.ef)?;
        self.index.rerank(s, self.ef, self.rerank)?;
        self.pending.extend(
            s.exact
                .iter()
                .map(|&(d, n)| Reverse((crate::search::ord_key(d), n))),
        );
        let best_unexpanded = s
            .cand
            .peek()
            .map(|r| r.0)
            .into_iter()
            .chain(s.deferred.iter().copied())
            .min();
        self.frontier = match best_unexpanded {
            Some(key) => unpack(key).0,
            None => f32::INFINITY,
        };
        Ok(true)
    }
}

impl<S: PageStore> Iterator for SearchIter<'_, S> {
    type Item = Result<(u64, f32)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.error {
            return None;
        }
        loop {
            if let Some(&Reverse((key, n))) = self.pending.peek() {
                let d = crate::search::from_key(key);
                if d <= self.frontier {
                    self.pending.pop();
                    return Some(Ok((
                        self.index.codes.ids[n as usize],
                        self.index.external(d),
                    )));
                }
            }
            match self.next_batch() {
                Ok(true) => continue,
                // No batch is left only after one that left no candidate,
                // which set the frontier to infinity: every pending result
                // was returned above.
                Ok(false) => return None,
                Err(e) => {
                    self.error = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<S: PageStore> Drop for SearchIter<'_, S> {
    fn drop(&mut self) {
        if let Some(s) = self.scratch.take() {
            self.index.give_back(s);
        }
    }
}
