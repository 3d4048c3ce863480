//! What an index is created with ([`Options`], [`Metric`]) and what each
//! search is run with ([`SearchParams`]).

use crate::page::{Error, Result};
use crate::rabitq::{self, Space};

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
    /// The metric's number on the meta page.
    pub(crate) fn code(self) -> u32 {
        match self {
            Metric::L2 => 1,
            Metric::InnerProduct => 2,
            Metric::Cosine => 3,
        }
    }

    pub(crate) fn from_code(c: u32) -> Result<Self> {
        Ok(match c {
            1 => Metric::L2,
            2 => Metric::InnerProduct,
            3 => Metric::Cosine,
            _ => {
                return Err(super::corrupt(
                    super::META_BLKNO,
                    format!("unknown metric {c}"),
                ))
            }
        })
    }

    /// How the quantizer turns its estimate into this metric's distance.
    pub(crate) fn space(self) -> Space {
        match self {
            Metric::L2 => Space::L2,
            _ => Space::InnerProduct,
        }
    }
}

/// How node pages store each vector element. Searches, builds and prunes
/// work on `f32` either way; `F16` halves the node pages of an index over
/// `halfvec` (or `bit`, whose 0/1 elements are exact in half precision),
/// whose values are half floats to begin with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    F32,
    F16,
}

impl Element {
    pub fn bytes(self) -> usize {
        match self {
            Element::F32 => 4,
            Element::F16 => 2,
        }
    }

    /// Its number in the meta page's metric word (bits 8..16; 0 is `F32`,
    /// so indexes written before `F16` existed read as `F32`).
    pub(crate) fn code(self) -> u32 {
        match self {
            Element::F32 => 0,
            Element::F16 => 1,
        }
    }

    pub(crate) fn from_code(c: u32) -> Result<Self> {
        match c {
            0 => Ok(Element::F32),
            1 => Ok(Element::F16),
            _ => Err(super::corrupt(
                super::META_BLKNO,
                format!("unknown element type {c}"),
            )),
        }
    }
}

/// The meta page's metric word: the metric's code in the low byte, the
/// element type's in the next.
pub(crate) fn metric_word(metric: Metric, element: Element) -> u32 {
    metric.code() | element.code() << 8
}

pub(crate) fn parse_metric_word(w: u32) -> Result<(Metric, Element)> {
    Ok((Metric::from_code(w & 0xff)?, Element::from_code(w >> 8)?))
}

/// Largest vector dimension an index holds (pgvector's limit).
pub use crate::vector_text::MAX_DIM;

/// Index options, fixed at creation.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Vector dimension, 1 to [`MAX_DIM`].
    pub dim: usize,
    pub metric: Metric,
    /// `R`: maximum out-degree of a graph node. Larger gives better recall
    /// per expansion but larger node pages and slower builds.
    pub max_degree: usize,
    /// `L`: candidate list size while building and inserting. Larger gives
    /// a better graph and a slower build. The first of the two build passes
    /// uses `L / 2` (at least 16).
    pub build_list_size: usize,
    /// `alpha`: RobustPrune's distance slack (on squared distances) for the
    /// second build pass and inserts; > 1 keeps long edges so searches
    /// converge in fewer hops. (Inner product scales it to the data's
    /// norms: see `Index::pruning_alpha`.)
    pub alpha: f32,
    /// RaBitQ bits per dimension (1 to 4). `None` picks 4 below 1,024
    /// dimensions and 3 from there up (`rabitq::default_bits`).
    pub bits: Option<usize>,
    /// Seed of the random rotation and build order.
    pub seed: u64,
    /// How node pages store the vectors.
    pub element: Element,
    /// Attribute columns, beside the vector: their kinds, at most
    /// [`super::MAX_ATTRS`] (see `attrs.rs`). None by default.
    pub attrs: Vec<super::AttrKind>,
    /// Most labels a `Labels` column holds per row, up to
    /// [`super::MAX_LABELS`].
    pub max_labels: usize,
}

impl Options {
    /// Defaults for `metric`. L2 gets a denser graph (`R` 56, `L` 96; the
    /// others 48, 64): over vectors of unequal norms, points near the
    /// origin are close to everything and crowd other neighbours out in
    /// pruning, so the same recall needs a longer search; the denser graph
    /// costs less than that longer search (BENCHMARKS.md).
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
            element: Element::F32,
            attrs: Vec::new(),
            max_labels: 32,
        }
    }

    /// RaBitQ bits per dimension, resolved.
    pub fn bits(&self) -> usize {
        self.bits.unwrap_or_else(|| rabitq::default_bits(self.dim))
    }

    /// Check every option is within its range.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(Error::Invalid(format!("dimension must be 1..={MAX_DIM}")));
        }
        if !(1..=1024).contains(&self.max_degree) || self.build_list_size == 0 || self.alpha < 1.0 {
            return Err(Error::Invalid(
                "need 1 <= R <= 1024, L >= 1, alpha >= 1".into(),
            ));
        }
        check_code_size(self.dim, self.bits())?;
        if self.attrs.len() > super::MAX_ATTRS {
            return Err(Error::Invalid(format!(
                "at most {} attribute columns, not {}",
                super::MAX_ATTRS,
                self.attrs.len()
            )));
        }
        if self.max_labels > super::MAX_LABELS {
            return Err(Error::Invalid(format!(
                "max_labels must be 0..={}",
                super::MAX_LABELS
            )));
        }
        if super::attrs::entry_size(&self.attrs, self.max_labels)
            .is_some_and(|size| size > crate::format::PAYLOAD)
        {
            return Err(Error::Invalid(
                "the attribute columns' values do not fit a page: fewer label columns or a smaller max_labels".into(),
            ));
        }
        Ok(())
    }

    /// Bytes [`super::Index::build`] needs for `n` vectors beyond the
    /// caller's input: the prepared copy of the vectors (renumbered where
    /// it lies, see `vamana::build`), its 8-bit build codes, adjacency
    /// lists, per-thread visited marks and the index's codes. Above its memory budget, `build` goes through
    /// the node pages a cluster at a time instead (`build_parts.rs`).
    pub fn build_memory(&self, n: usize) -> usize {
        let code_words = rabitq::code_words(self.dim, self.bits());
        let threads = rayon::current_num_threads();
        n * self.dim * 4
            + n * (crate::sq8::row_bytes(self.dim) + 4)
            + n * crate::vamana::adjacency_bytes_per_node(self.max_degree)
            + threads * n * 4
            + n * (code_words * 8 + 40)
    }
}

/// Per-search knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchParams {
    /// Beam width: how many best estimated candidates the search keeps; it
    /// stops when none of them is left to expand. At least `k` is used.
    /// Larger gives higher recall and more page reads (about one page per
    /// unit). BENCHMARKS.md has recall against this list for each data set.
    pub search_list_size: usize,
    /// At most this many candidates that were estimated but not expanded
    /// are re-ranked by reading their page for the exact distance (best
    /// lower bound first). Candidates whose lower bound cannot beat the
    /// current k-th distance are never read. 0 disables re-ranking. A
    /// streaming search re-ranks only with [`crate::ScanOrder::Off`]: the
    /// other orders read such candidates as they go on.
    pub rerank: usize,
    /// Node pages asked of the store ahead of their reads
    /// ([`crate::PageStore::prefetch`]): the best candidates the walk
    /// expands next, each once (only the next one while the walk is still
    /// approaching the query, and in a streaming search only those needed
    /// for its first ten rows until the caller pulls past them). Overlaps
    /// reads that wait on I/O (an index larger than memory); while they do
    /// ([`crate::PageStore::reads_wait`]) the walk also expands its best
    /// `read_ahead` candidates as one batch, so that their reads are under
    /// way together. 0 asks for nothing. At most [`crate::MAX_READ_AHEAD`].
    pub read_ahead: usize,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            search_list_size: 128,
            rerank: 16,
            read_ahead: 0,
        }
    }
}

/// `bits` must be 1 to 4, and a code of `dim` dimensions at `bits` must fit
/// a code page (4 bits past 8,192 dimensions do not).
pub(crate) fn check_code_size(dim: usize, bits: usize) -> Result<()> {
    if !(1..=4).contains(&bits) {
        return Err(Error::Invalid("bits must be 1..=4".into()));
    }
    if crate::format::codes_per_page(rabitq::code_words(dim, bits)) == 0 {
        return Err(Error::Invalid(format!(
            "a {bits}-bit code of {dim} dimensions does not fit a page: use quant_bits = {} or fewer",
            bits - 1
        )));
    }
    Ok(())
}
