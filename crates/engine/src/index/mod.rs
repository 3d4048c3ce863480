//! The index: RaBitQ codes in memory, Vamana graph and full vectors in
//! node pages, everything generic over a [`PageStore`].
//!
//! Search is "bi-granular" (DiskANN + RaBitQ): a beam search ordered by
//! code estimates, which never touch a page, expands the best candidates by
//! reading their node page. That read brings the full vector too, so every
//! expanded node gets its exact distance for free. At the end, candidates
//! that were estimated but not expanded are re-ranked by reading their
//! page, but only those whose lower bound (estimate minus error bound) can
//! still beat the current k-th exact distance.
//!
//! One file per operation:
//! * `options`: [`Options`], [`Metric`], [`SearchParams`];
//! * `codes`: the code area on its pages, loading it into memory and
//!   catching up with other writers ([`Index::refresh`]);
//! * `area`: the code area in memory, a handle's own or one shared through
//!   a [`CodePool`] by every process that opens the index;
//! * `pool`: the [`CodePool`], a region of slots and pages that processes
//!   share;
//! * `node_io`: reading and writing node slots on the node pages;
//! * `alloc`: the meta page, page chains, and handing out node slots;
//! * `search`: [`Index::search`] and the streaming [`SearchIter`];
//! * `insert`: [`Index::insert`] and its back edges;
//! * `vacuum`: deletes (tombstones);
//! * `consolidate`: [`Index::consolidate`], removing tombstones from the
//!   graph alongside inserts and searches;
//! * `build`: the bulk [`Index::build`], in memory;
//! * `bulk_load`, `build_parts`, `partition`, `node_stream`: the build
//!   bounded by a memory budget ([`BulkLoad`]): rows spilled to the node
//!   pages, the graph built a cluster at a time;
//! * `reach`: every live node reachable from the entry point, checked and
//!   mended over the pages (after a bounded build, inserts, consolidation);
//! * `verify`: page and graph checks;
//! * `attrs`: attribute columns, their values beside the codes;
//! * `filter`: filters on them and how a filtered search finds its nodes;
//! * `stream`: the streaming [`SearchIter`] (iterative scans, filters,
//!   distance bounds).

mod alloc;
mod area;
mod attrs;
mod build;
mod build_parts;
mod bulk_load;
mod codes;
mod consolidate;
mod filter;
mod insert;
mod node_io;
mod node_stream;
mod options;
mod page_pack;
mod partition;
mod pool;
mod reach;
mod search;
mod stream;
mod vacuum;
mod verify;

pub use area::Placement;
pub use attrs::{text_hash, AttrKind, AttrValue, MAX_ATTRS, MAX_LABELS};
pub use bulk_load::BulkLoad;
pub use consolidate::Consolidation;
pub use filter::{filtered_cost, Cond, Filter};
pub use options::{Element, Metric, Options, SearchParams, MAX_DIM};
pub use pool::{AreaKey, CodePool, PoolHost, PoolStats, SlotInfo};
pub use search::SearchStats;
pub use stream::{ScanOrder, ScanParams, SearchIter};
pub use verify::{check_pages, PageSummary};

use crate::format::{self, Kind, MetaBody, NodeLayout, NONE};
use crate::page::{BlockNo, Error, PageStore, Result};
use crate::rabitq::RaBitQ;
use area::Codes;
use attrs::Attrs;
use parking_lot::Mutex;
use search::Scratch;
use std::collections::HashMap;

/// The meta page's block.
const META_BLKNO: BlockNo = 0;

fn corrupt(blkno: BlockNo, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        blkno,
        reason: reason.into(),
    }
}

/// The index. `search` takes `&self` and may run on many threads; the
/// mutating calls take `&mut self`.
pub struct Index<S: PageStore> {
    store: S,
    /// The meta page as this handle last read or wrote it.
    meta: MetaBody,
    metric: Metric,
    quant: RaBitQ,
    layout: NodeLayout,
    /// The code area in memory: ids, node locations, flags, codes (with
    /// the live ids' hash and the free nodes' bitmap).
    codes: Codes,
    /// Attribute columns' values, per node (none without such columns):
    /// this handle's own copy, current as of its last refresh.
    attrs: Attrs,
    /// Search scratch, reused across searches (and threads). Boxed: a
    /// search takes one out and gives it back, moving a pointer rather
    /// than the whole state.
    #[allow(clippy::vec_box)]
    pool: Mutex<Vec<Box<Scratch>>>,
    /// Asked during long operations (the bulk build); true ends them with
    /// [`Error::Interrupted`]. See [`Index::set_stop`].
    stop: fn() -> bool,
}

impl<S: PageStore> Index<S> {
    /// Create an empty index in an empty store.
    pub fn create(store: S, opts: Options) -> Result<Self> {
        opts.validate()?;
        if !store.is_empty() {
            return Err(Error::Invalid("create needs an empty store".into()));
        }
        let meta_blk = store.extend()?;
        debug_assert_eq!(meta_blk, META_BLKNO);
        let centroid = vec![0f32; opts.dim];
        let mut attr_kinds = [0u8; format::MAX_ATTRS];
        for (k, c) in opts.attrs.iter().zip(attr_kinds.iter_mut()) {
            *c = k.code();
        }
        let meta = MetaBody {
            dim: opts.dim as u32,
            bits: opts.bits() as u32,
            metric: options::metric_word(opts.metric, opts.element),
            max_degree: opts.max_degree as u32,
            build_list_size: opts.build_list_size as u32,
            alpha: opts.alpha,
            seed: opts.seed,
            n_nodes: 0,
            entry: NONE,
            code_head: NONE,
            code_tail: NONE,
            centroid: format::write_blob(&store, bytemuck::cast_slice(&centroid))?,
            node_tail: NONE,
            node_tail_used: 0,
            ip_max_norm: 0.0,
            ip_mean_sq_norm: 0.0,
            change_seq: 0,
            changed: [0; format::CHANGE_LOG],
            attr_head: NONE,
            attr_tail: NONE,
            max_labels: opts.max_labels as u32,
            n_attrs: opts.attrs.len() as u32,
            attr_kinds,
            reach_checked: 0,
        };
        let index = Self::assemble(store, meta, centroid)?;
        index.write_meta()?;
        index.store.commit()?;
        Ok(index)
    }

    /// Open an existing index: reads the meta page and loads the code area
    /// into this handle's memory in one pass. Node pages are read on
    /// demand.
    pub fn open(store: S) -> Result<Self> {
        let mut index = Self::open_parts(store)?;
        index.refresh()?;
        Ok(index)
    }

    /// Open an existing index with its code area in `pool` under `key`:
    /// the area some process already loaded there, kept current by every
    /// handle that refreshes, or loaded now. When the pool has no room,
    /// the handle keeps its codes in its own memory ([`Self::placement`]
    /// says so) and may try the pool again on a later open.
    pub fn open_in(store: S, pool: &'static CodePool, key: AreaKey) -> Result<Self> {
        let mut index = Self::open_parts(store)?;
        index.attach(pool, key)?;
        index.refresh()?;
        Ok(index)
    }

    /// The meta page and quantizer, with an empty private code area.
    fn open_parts(store: S) -> Result<Self> {
        if store.is_empty() {
            return Err(Error::Format {
                found: "an empty store".into(),
                expected: "a diskvec index".into(),
            });
        }
        let meta = read_meta(&store)?;
        let centroid = read_centroid(&store, &meta)?;
        Self::assemble(store, meta, centroid)
    }

    fn assemble(store: S, meta: MetaBody, centroid: Vec<f32>) -> Result<Self> {
        let (metric, quant, layout) = parts_of(&meta, centroid)?;
        let (kinds, max_labels) = attrs::schema(&meta)?;
        Ok(Index {
            codes: Codes::private(quant.code_words(), area::Placement::Private),
            attrs: Attrs::new(&kinds, max_labels),
            layout,
            store,
            meta,
            metric,
            quant,
            pool: Mutex::new(Vec::new()),
            stop: crate::vamana::never,
        })
    }

    /// Take `meta` (with its centroid) as this handle's: metric, quantizer
    /// and node layout. The code area follows on the next refresh.
    fn adopt(&mut self, meta: MetaBody, centroid: Vec<f32>) -> Result<()> {
        let (metric, quant, layout) = parts_of(&meta, centroid)?;
        self.meta = meta;
        self.metric = metric;
        self.layout = layout;
        self.quant = quant;
        Ok(())
    }

    // ----- accessors -------------------------------------------------------

    pub fn options(&self) -> Options {
        options_of(&self.meta, self.metric)
    }

    /// Live (not deleted) vectors.
    pub fn len(&self) -> usize {
        self.codes.live()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
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
        self.codes.lookup(id).is_some()
    }

    /// Bytes of the in-memory code area (codes, factors, locations, ids,
    /// flags, the id hash): in the pool for a shared area.
    pub fn code_memory_bytes(&self) -> usize {
        self.codes.area_bytes()
    }

    /// Set the check a bulk build asks, from every thread it runs on, while
    /// it works (between points of the graph build, between pages and
    /// rows written): true ends it with [`Error::Interrupted`]. A host
    /// with its own interrupts (Postgres: a cancel or a statement timeout)
    /// reads its pending flag here, so a cancel ends the build within a
    /// moment at any phase. Never stopped by default.
    pub fn set_stop(&mut self, stop: fn() -> bool) {
        self.stop = stop;
    }

    /// `Err(Interrupted)` if the stop check says so.
    pub(super) fn check_stop(&self) -> Result<()> {
        if (self.stop)() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Bytes this handle holds in its own memory for the codes: the whole
    /// area when it is private, else its view of the shared one, plus
    /// search scratch kept for reuse, and its copy of the attribute values.
    pub fn private_memory_bytes(&self) -> usize {
        let area = match self.codes.placement {
            area::Placement::Shared => self.codes.view_bytes(),
            _ => self.codes.area_bytes() + self.codes.view_bytes(),
        };
        area + self.attrs.memory_bytes() + self.pool.lock().iter().map(|s| s.bytes()).sum::<usize>()
    }

    /// Bytes of the codes proper (bits and correction factors) per vector.
    pub fn code_bytes_per_vector(&self) -> usize {
        self.codes.bytes_per_entry()
    }

    /// Durability point: see [`PageStore::commit`]. `build` and
    /// `consolidate` commit by themselves; inserts and deletes are durable
    /// after this.
    pub fn commit(&self) -> Result<()> {
        self.store.commit()
    }

    // ----- vectors and distances ------------------------------------------

    /// The vector as stored: checked, and normalized for cosine.
    fn prepare_vector(&self, v: &[f32]) -> Result<Vec<f32>> {
        let norm = self.check_vector(v)?;
        let mut v = v.to_vec();
        if self.metric == Metric::Cosine {
            v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
        }
        Ok(v)
    }

    /// The checks of [`Index::prepare_vector`], without the copy: the
    /// dimension, finite values, and for cosine a non-zero norm (returned;
    /// 0 for the other metrics).
    fn check_vector(&self, v: &[f32]) -> Result<f64> {
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
        if self.metric != Metric::Cosine {
            return Ok(0.0);
        }
        let n = crate::distance::norm_squared(v).sqrt();
        if n == 0.0 {
            return Err(Error::Invalid(
                "cosine distance is undefined for a zero vector".into(),
            ));
        }
        Ok(n)
    }

    /// Internal distance (smaller is closer): squared L2 or `-<q, v>`.
    #[inline]
    fn exact(&self, q: &[f32], v: &[f32]) -> f32 {
        match self.metric {
            Metric::L2 => crate::distance::l2_squared_f32(q, v),
            _ => -crate::distance::dot_f32(q, v),
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

    /// For inner product, the shift `M^2` of the graph distance
    /// `M^2 - <a, b>` (see `vamana::Points`), `M` the largest norm seen.
    fn graph_shift(&self) -> Option<f32> {
        (self.metric == Metric::InnerProduct)
            .then_some(self.meta.ip_max_norm * self.meta.ip_max_norm)
    }

    /// Distance that shapes the graph: squared L2, or `M^2 - <a, b>` for
    /// inner product.
    fn graph_dist(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.graph_shift() {
            Some(m2) => m2 - crate::distance::dot_f32(a, b),
            None => crate::distance::l2_squared_f32(a, b),
        }
    }

    /// The slack RobustPrune uses on this index's graph distance: `alpha`,
    /// scaled to the data's norms for inner product.
    ///
    /// `alpha` is meant for distances at the data's own scale, as squared
    /// L2 is. Inner product's `M^2 - <a, b>` (`M` the largest norm) carries
    /// an offset: where norms vary, nearly every distance is close to
    /// `M^2`, so the same multiplicative slack is far looser, prunes almost
    /// nothing, and the graph turns into a plain nearest-neighbour graph,
    /// slower to build and to search. So the slack `alpha - 1` is scaled by
    /// `mean |x|^2 / M^2`, the data's squared scale over the offset: 1 for
    /// unit vectors (where `M^2 - <a, b>` is half the squared L2 distance,
    /// so the slack is cosine's), and well below 1 where norms vary. A
    /// fixed smaller slack would cost unit vectors, the common case for
    /// inner product (BENCHMARKS.md compares the choices).
    pub fn pruning_alpha(&self) -> f32 {
        let a = self.meta.alpha;
        let m2 = self.meta.ip_max_norm * self.meta.ip_max_norm;
        let mean = self.meta.ip_mean_sq_norm;
        if self.metric != Metric::InnerProduct || mean <= 0.0 || m2 <= 0.0 {
            return a;
        }
        1.0 + (a - 1.0) * (mean / m2).min(1.0)
    }

    /// RobustPrune of node `p` (vector `pv`) over the candidates in `vecs`,
    /// by this index's graph distance: the candidate set-up inserts, back
    /// edges and consolidation share.
    fn prune_with_vectors<V: AsRef<[f32]>>(
        &self,
        p: u32,
        pv: &[f32],
        vecs: &HashMap<u32, V>,
    ) -> Vec<u32> {
        let vector = |x: u32| if x == p { pv } else { vecs[&x].as_ref() };
        crate::prune::prune_among(
            p,
            vecs.keys().copied(),
            self.pruning_alpha(),
            self.meta.max_degree as usize,
            |a, b| self.graph_dist(vector(a), vector(b)),
        )
    }
}

/// The options an index in `store` was created with, from its meta page
/// alone (no code area is loaded: cheap enough for a query planner).
pub fn read_options<S: PageStore>(store: &S) -> Result<Options> {
    let meta = read_meta(store)?;
    Ok(options_of(
        &meta,
        options::parse_metric_word(meta.metric)?.0,
    ))
}

fn options_of(meta: &MetaBody, metric: Metric) -> Options {
    // `schema` checked the meta page when the handle was made; a meta page
    // read only for its options reports a bad schema as no columns.
    let (attrs, max_labels) = attrs::schema(meta).unwrap_or_default();
    Options {
        attrs,
        max_labels,
        dim: meta.dim as usize,
        metric,
        max_degree: meta.max_degree as usize,
        build_list_size: meta.build_list_size as usize,
        alpha: meta.alpha,
        bits: Some(meta.bits as usize),
        seed: meta.seed,
        element: options::parse_metric_word(meta.metric).map_or(Element::F32, |(_, e)| e),
    }
}

/// The meta page of `store`, checked.
fn read_meta<S: PageStore>(store: &S) -> Result<MetaBody> {
    let p = store.read(META_BLKNO)?;
    format::check(&p, META_BLKNO, Kind::Meta)?;
    Ok(format::meta(&p))
}

/// The centroid `meta` names.
fn read_centroid<S: PageStore>(store: &S, meta: &MetaBody) -> Result<Vec<f32>> {
    let bytes = format::read_blob(store, meta.centroid)?;
    if bytes.len() != meta.dim as usize * 4 {
        return Err(corrupt(meta.centroid, "centroid has the wrong length"));
    }
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

/// Metric, quantizer and node layout of a meta page, checked.
fn parts_of(meta: &MetaBody, centroid: Vec<f32>) -> Result<(Metric, RaBitQ, NodeLayout)> {
    let (metric, element) = options::parse_metric_word(meta.metric)?;
    let dim = meta.dim as usize;
    if dim == 0
        || dim > MAX_DIM
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
        NodeLayout::new(dim, meta.max_degree as usize, element),
    ))
}
