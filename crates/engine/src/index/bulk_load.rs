//! Bulk loading within a memory budget, for a caller that has the rows one
//! at a time (Postgres' heap scan): rows are collected in memory while the
//! in-memory build of them fits the budget (`build.rs`); past it, they go
//! to the node pages as they come, and the graph is built a cluster at a
//! time over those pages (`build_parts.rs`), so the memory in use stays
//! near the budget however many rows there are.

use super::node_io::encode_node;
use super::node_stream::SlotWriter;
use super::{AttrValue, Index, Metric};
use crate::format;
use crate::page::{Error, PageStore, Result};

/// Rows collected between budget checks (a check is cheap, but not free).
const CHECK_EVERY: usize = 1024;

/// A bulk load into an empty index: [`BulkLoad::push`] each row, then
/// [`BulkLoad::finish`].
pub struct BulkLoad<S: PageStore> {
    index: Index<S>,
    budget: usize,
    ids: Vec<u64>,
    /// Rows not yet spilled, as given (the build prepares them).
    vectors: Vec<f32>,
    /// One per attribute column per row (empty without such columns).
    values: Vec<AttrValue>,
    spill: Option<Spill>,
}

/// Rows written to the node pages as they come, and what the partitioned
/// build needs of them that a second read would cost: the sums for the
/// mean, inner-product norms, and a uniform sample for the clustering.
pub(super) struct Spill {
    pub writer: SlotWriter,
    pub n: usize,
    pub sum: Vec<f64>,
    pub ip_max_sq: f64,
    pub ip_sum_sq: f64,
    /// A reservoir sample of the prepared vectors.
    pub sample: Vec<f32>,
    sample_cap: usize,
    rng: u64,
    slot: Vec<u8>,
}

impl<S: PageStore> BulkLoad<S> {
    /// Start loading into `index`, which must be empty, keeping the work
    /// within about `budget` bytes.
    pub fn new(index: Index<S>, budget: usize) -> Result<Self> {
        if index.codes.len() != 0 {
            return Err(Error::Invalid("a bulk load needs an empty index".into()));
        }
        Ok(BulkLoad {
            index,
            budget,
            ids: Vec::new(),
            vectors: Vec::new(),
            values: Vec::new(),
            spill: None,
        })
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        match &self.spill {
            Some(spill) => spill.n,
            None => self.ids.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the rows no longer fit the budget in memory and go to the
    /// node pages (the graph is then built cluster by cluster).
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// The index being loaded.
    pub fn index(&self) -> &Index<S> {
        &self.index
    }

    /// Add a row: its id, vector and attribute values (one per attribute
    /// column, or none for all NULL).
    pub fn push(&mut self, id: u64, vector: &[f32], values: &[AttrValue]) -> Result<()> {
        // Checked before anything is kept: a row refused leaves the load as
        // it was.
        if !values.is_empty() {
            self.index.attrs.check(values)?;
        }
        let cols = self.index.attrs.kinds().len();
        match &mut self.spill {
            // The id is on the node page: not kept here.
            Some(spill) => spill.add(&self.index, id, &self.index.prepare_vector(vector)?)?,
            None => {
                // Checked now, prepared by the build.
                self.index.check_vector(vector)?;
                // Grown by an eighth at a time, not doubled: a doubled
                // buffer would take up to twice the rows' room, held while
                // the build (or the spill's sample) is made beside it.
                if self.ids.len() == self.ids.capacity() {
                    let more = (self.ids.len() / 8).max(CHECK_EVERY);
                    self.ids.reserve_exact(more);
                    self.vectors.reserve_exact(more * vector.len());
                }
                self.vectors.extend_from_slice(vector);
                self.ids.push(id);
            }
        }
        if cols > 0 {
            match values {
                [] => self
                    .values
                    .extend(std::iter::repeat_n(AttrValue::Null, cols)),
                v => self.values.extend_from_slice(v),
            }
        }
        if self.spill.is_none() && self.ids.len().is_multiple_of(CHECK_EVERY) && self.over_budget()
        {
            self.start_spill()?;
        }
        Ok(())
    }

    /// Whether the rows held (as allocated) and their in-memory build (or,
    /// once spilled, the sample beside them) would pass the budget.
    fn over_budget(&self) -> bool {
        let n = self.ids.len();
        let held = self.vectors.capacity() * 4 + self.ids.capacity() * 8;
        let build = self.index.options().build_memory(n);
        held + build.max(sample_bytes(self.budget)) > self.budget
    }

    /// Write the rows collected so far to the node pages; later rows follow
    /// them there as they come.
    fn start_spill(&mut self) -> Result<()> {
        let dim = self.index.meta.dim as usize;
        let mut spill = Spill::new(&self.index, self.budget);
        let ids = std::mem::take(&mut self.ids);
        let vectors = std::mem::take(&mut self.vectors);
        for (&id, v) in ids.iter().zip(vectors.chunks_exact(dim)) {
            let v = self.index.prepare_vector(v)?;
            spill.add(&self.index, id, &v)?;
        }
        self.spill = Some(spill);
        Ok(())
    }

    /// Build the graph and codes and write the rest of the index. Commits.
    /// Returns the index ready to search, its code area read into memory.
    pub fn finish(self) -> Result<Index<S>> {
        let mut index = self.write()?;
        index.refresh()?;
        Ok(index)
    }

    /// [`BulkLoad::finish`] for a caller that only writes the index
    /// (Postgres' build): after a build bounded by the budget, the handle
    /// returned has not read the code area (which may be larger than the
    /// budget), and must [`Index::refresh`] before it searches.
    pub fn write(mut self) -> Result<Index<S>> {
        match self.spill.take() {
            None => {
                let (vectors, ids, values) = (self.vectors, self.ids, self.values);
                self.index.build_with(&vectors, &ids, &values, usize::MAX)?;
            }
            Some(spill) => {
                self.index.build_spilled(spill, &self.values, self.budget)?;
            }
        }
        Ok(self.index)
    }
}

/// Bytes of the sample the clusters are placed by: a quarter of the
/// budget (from an eighth, GloVe-400k's clusters in 16 MB were placed worse:
/// 0.8 points of recall lower at a search list of 32: notes 76).
fn sample_bytes(budget: usize) -> usize {
    budget / 4
}

impl Spill {
    pub fn new<S: PageStore>(index: &Index<S>, budget: usize) -> Self {
        super::build_parts::keep_large_blocks_mapped();
        let dim = index.meta.dim as usize;
        // At least 2,000 vectors, to place the clusters at all; at most
        // 50,000, which place them as well as more.
        let sample_cap = (sample_bytes(budget) / (dim * 4)).clamp(2_000, 50_000);
        Spill {
            writer: SlotWriter::new(),
            n: 0,
            sum: vec![0.0; dim],
            ip_max_sq: 0.0,
            ip_sum_sq: 0.0,
            sample: Vec::with_capacity(sample_cap * dim),
            sample_cap,
            rng: index.meta.seed ^ 0x5a3c_1e77,
            slot: vec![0; index.layout.slot_size],
        }
    }

    /// Append a prepared vector as node `self.n`.
    pub fn add<S: PageStore>(&mut self, index: &Index<S>, id: u64, v: &[f32]) -> Result<()> {
        self.slot.fill(0);
        encode_node(&mut self.slot, id, format::FLAG_LIVE, v, &[], &index.layout);
        self.writer.push(&index.store, &self.slot)?;
        self.sum
            .iter_mut()
            .zip(v)
            .for_each(|(s, x)| *s += *x as f64);
        if index.metric == Metric::InnerProduct {
            let sq = crate::distance::norm_squared(v);
            self.ip_max_sq = self.ip_max_sq.max(sq);
            self.ip_sum_sq += sq;
        }
        let dim = v.len();
        let seen = self.n + 1;
        if self.sample.len() < self.sample_cap * dim {
            self.sample.extend_from_slice(v);
        } else {
            // Reservoir sampling: row `seen` replaces a kept one with
            // probability cap / seen.
            let j = (crate::rabitq::splitmix64(&mut self.rng) % seen as u64) as usize;
            if j < self.sample_cap {
                self.sample[j * dim..(j + 1) * dim].copy_from_slice(v);
            }
        }
        self.n += 1;
        if self.n.is_multiple_of(CHECK_EVERY) {
            index.check_stop()?;
        }
        Ok(())
    }
}
