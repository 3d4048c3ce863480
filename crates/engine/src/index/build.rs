//! The bulk build: the whole graph in memory (`vamana::build`, on all
//! cores), its nodes ordered so that linked ones share pages
//! (`page_pack.rs`), then every page written once, in order: the node
//! pages while the codes are encoded on the other cores, then the code
//! pages.

use super::bulk_load::Spill;
use super::node_stream::ChainWriter;
use super::{node_io::encode_node, page_pack, AttrValue, Index, Metric, MAX_DIM};
use crate::format::{self, CodeEntryHead, Kind, CODE_HEAD, HEADER_SIZE, NONE};
use crate::page::{BlockNo, Error, Page, PageStore, Result};
use crate::rabitq::{self, Factors, RaBitQ};
use crate::vamana;
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

impl<S: PageStore> Index<S> {
    /// Bulk build from `ids.len()` vectors stored flat in `vectors`, on an
    /// empty index. The centroid of the codes is the data mean. Uses the
    /// rayon thread pool (all cores by default).
    ///
    /// `memory_budget` (bytes) caps the build's working set (see
    /// [`super::Options::build_memory`]) beyond the vectors given. When the
    /// graph does not fit it, it is built a cluster at a time over the node
    /// pages (`build_parts.rs`). Commits.
    pub fn build(&mut self, vectors: &[f32], ids: &[u64], memory_budget: usize) -> Result<()> {
        self.build_with(vectors, ids, &[], memory_budget)
    }

    /// `build`, with each row's attribute values: `values[i * columns ..]`
    /// are row `i`'s, one per attribute column (see `attrs.rs`), or
    /// `values` is empty (all NULL).
    pub fn build_with(
        &mut self,
        vectors: &[f32],
        ids: &[u64],
        values: &[AttrValue],
        memory_budget: usize,
    ) -> Result<()> {
        let dim = self.meta.dim as usize;
        if vectors.len() != ids.len() * dim {
            return Err(Error::Invalid(
                "vectors.len() must be ids.len() * dim".into(),
            ));
        }
        let cols = self.attrs.kinds().len();
        if !values.is_empty() && values.len() != ids.len() * cols {
            return Err(Error::Invalid(
                "values.len() must be ids.len() times the attribute columns".into(),
            ));
        }
        let row = |i: usize| -> &[AttrValue] {
            if values.is_empty() {
                &[]
            } else {
                &values[i * cols..(i + 1) * cols]
            }
        };
        for i in 0..ids.len() {
            self.attrs.check(row(i))?;
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
        // Written in place: collecting a vector per row and joining them
        // would hold the prepared vectors twice.
        let mut data = vec![0f32; n * dim];
        data.par_chunks_exact_mut(dim)
            .zip(vectors.par_chunks_exact(dim))
            .try_for_each(|(out, v)| {
                out.copy_from_slice(&self.prepare_vector(v)?);
                Ok::<_, Error>(())
            })?;
        if self.options().build_memory(n) > memory_budget {
            // Too big to build in memory: through the node pages, a
            // cluster at a time (`build_parts.rs`), which takes the mean
            // and norms as the rows go by.
            let mut spill = Spill::new(self, memory_budget);
            for (&id, v) in ids.iter().zip(data.chunks_exact(dim)) {
                spill.add(self, id, v)?;
            }
            drop(data);
            self.build_spilled(spill, values, memory_budget)?;
            // Ready to search, like the handle of an in-memory build.
            return self.refresh().map(|_| ());
        }
        self.set_centroid_to_mean(&data)?;
        if self.metric == Metric::InnerProduct {
            let (max_sq, sum_sq) = data
                .chunks_exact(dim)
                .map(crate::distance::norm_squared)
                .fold((0f64, 0f64), |(max, sum), sq| (max.max(sq), sum + sq));
            self.meta.ip_max_norm = max_sq.sqrt() as f32;
            self.meta.ip_mean_sq_norm = (sum_sq / n as f64) as f32;
        }
        let params = self.build_params();
        self.check_stop()?;
        let mut graph =
            vamana::build(data, dim, self.graph_shift(), &params).ok_or(Error::Interrupted)?;
        // Linked nodes share pages (`page_pack.rs`): node `i` starts on
        // the page its slot's first byte falls in (`write_nodes`).
        let slot = self.layout.slot_size;
        let order = page_pack::pack_order(&graph.adj, |i| i * slot / format::PAYLOAD, self.stop)
            .ok_or(Error::Interrupted)?;
        graph.renumber(dim, &order);
        // Nodes are stored in the graph's numbering.
        let ids: Vec<u64> = graph.order.iter().map(|&old| ids[old as usize]).collect();
        // The codes are encoded on the worker threads while this thread
        // writes the node pages (page writes stay on the caller's thread):
        // the node pages keep one core busy, the encoding both.
        let vectors = Arc::new(std::mem::take(&mut graph.vectors));
        let encoded = self.encode_codes_apart(Arc::clone(&vectors));
        let locations = self.write_nodes(&vectors, &graph.adj, &ids)?;
        let (codes, factors) = encoded.recv().ok().flatten().ok_or(Error::Interrupted)?;
        drop(vectors);
        let mut chain = ChainWriter::new(Kind::Codes);
        self.push_encoded(&mut chain, &codes, &factors, &ids, &locations)?;
        drop(codes);
        self.finish_codes(chain, ids.len())?;
        if self.attrs.any() {
            let mut ordered = Vec::with_capacity(n * cols);
            for &old in &graph.order {
                match row(old as usize) {
                    [] => ordered.extend(std::iter::repeat_n(AttrValue::Null, cols)),
                    r => ordered.extend_from_slice(r),
                }
            }
            self.write_attr_pages(n, &ordered)?;
        }
        self.meta.entry = graph.entry;
        // `vamana::build` linked every node from the entry's component.
        self.meta.reach_checked = self.meta.change_seq + 1;
        self.write_meta()?;
        // The code area in memory, from the pages just written.
        self.refresh()?;
        self.store.commit()
    }

    /// The graph build's parameters: the index's options and stop check.
    pub(super) fn build_params(&self) -> vamana::BuildParams {
        vamana::BuildParams {
            max_degree: self.meta.max_degree as usize,
            list_size: self.meta.build_list_size as usize,
            alpha: self.pruning_alpha(),
            seed: self.meta.seed,
            stop: self.stop,
        }
    }

    /// The data mean becomes the quantizer's centroid.
    fn set_centroid_to_mean(&mut self, data: &[f32]) -> Result<()> {
        let dim = self.meta.dim as usize;
        let n = data.len() / dim;
        let mut mean = vec![0f64; dim];
        for v in data.chunks_exact(dim) {
            mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64);
        }
        self.set_centroid(mean.iter().map(|m| (*m / n as f64) as f32).collect())
    }

    /// `centroid` becomes the quantizer's, on its blob pages (rewritten in
    /// place: same dimension, same length).
    pub(super) fn set_centroid(&mut self, centroid: Vec<f32>) -> Result<()> {
        let dim = self.meta.dim as usize;
        format::rewrite_blob(
            &self.store,
            self.meta.centroid,
            bytemuck::cast_slice(&centroid),
        )?;
        self.quant = RaBitQ::new(
            dim,
            self.meta.bits as usize,
            self.metric.space(),
            centroid,
            self.meta.seed,
        );
        Ok(())
    }

    /// The node stream, page after page, nodes `0..` in order; returns
    /// where each node starts (page, payload offset). Commits every few
    /// thousand pages so the file store's write-ahead log stays small.
    fn write_nodes(
        &mut self,
        vectors: &[f32],
        adj: &[Vec<u32>],
        ids: &[u64],
    ) -> Result<Vec<(BlockNo, u16)>> {
        let (n, dim, l) = (ids.len(), self.meta.dim as usize, self.layout);
        let npages = (n * l.slot_size).div_ceil(format::PAYLOAD);
        let blocks: Vec<BlockNo> = (0..npages)
            .map(|_| self.store.extend())
            .collect::<Result<_>>()?;
        let locations = (0..n)
            .map(|i| {
                let pos = i * l.slot_size;
                (
                    blocks[pos / format::PAYLOAD],
                    (pos % format::PAYLOAD) as u16,
                )
            })
            .collect();
        self.meta.node_tail = *blocks.last().unwrap();
        self.meta.node_tail_used = (n * l.slot_size - (npages - 1) * format::PAYLOAD) as u32;
        let mut node = vec![0u8; l.slot_size];
        let mut next = 0; // next node to encode
        let mut carry = 0; // bytes of node `next - 1` already written
        for (pi, &b) in blocks.iter().enumerate() {
            let mut p = format::new_page(Kind::Nodes);
            format::header_mut(&mut p).next = blocks.get(pi + 1).copied().unwrap_or(NONE);
            let mut at = 0;
            while at < format::PAYLOAD {
                if carry == 0 {
                    if next == n {
                        break;
                    }
                    node.fill(0);
                    let v = &vectors[next * dim..(next + 1) * dim];
                    encode_node(&mut node, ids[next], format::FLAG_LIVE, v, &adj[next], &l);
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
            if pi % 256 == 255 {
                self.check_stop()?;
            }
        }
        debug_assert!(next == n && carry == 0);
        Ok(locations)
    }

    /// Every row of `vectors` encoded, on the worker threads, without
    /// waiting: the receiver gets the codes (`code_words()` a row) and
    /// factors, or `None` if the stop check ended the encoding.
    fn encode_codes_apart(
        &self,
        vectors: Arc<Vec<f32>>,
    ) -> Receiver<Option<(Vec<u64>, Vec<Factors>)>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (quant, stop, dim) = (self.quant.clone(), self.stop, self.meta.dim as usize);
        rayon::spawn(move || {
            let mut codes = vec![0u64; vectors.len() / dim * quant.code_words()];
            let factors = encode_rows(&quant, &vectors, dim, &mut codes, stop);
            // The receiver is gone if the build failed meanwhile.
            let _ = tx.send(factors.map(|f| (codes, f)));
        });
        rx
    }

    /// Append the code pages of `ids` (vectors and locations alike, in
    /// order) to `chain`.
    pub(super) fn push_code_pages(
        &self,
        chain: &mut ChainWriter,
        vectors: &[f32],
        ids: &[u64],
        locations: &[(BlockNo, u16)],
    ) -> Result<()> {
        let (dim, words) = (self.meta.dim as usize, self.quant.code_words());
        let per = format::codes_per_page(words);
        // The entries of a group of pages are encoded together, on all
        // cores: a page holds a few dozen, too few to keep every core busy
        // between the pages' writes, which go one at a time.
        let group = per * CODE_PAGES_PER_GROUP;
        let mut code_data = vec![0u64; group.min(ids.len()) * words];
        for (gi, group_ids) in ids.chunks(group).enumerate() {
            self.check_stop()?;
            let at = gi * group;
            let code_data = &mut code_data[..group_ids.len() * words];
            let rows = &vectors[at * dim..(at + group_ids.len()) * dim];
            // Asked once a group, above: each row need not ask again.
            let factors = encode_rows(&self.quant, rows, dim, code_data, vamana::never)
                .ok_or(Error::Interrupted)?;
            let locations = &locations[at..at + group_ids.len()];
            self.push_encoded(chain, code_data, &factors, group_ids, locations)?;
        }
        Ok(())
    }

    /// Append the code pages of `ids`, already encoded (`codes` and
    /// `factors` in the same order), to `chain`.
    fn push_encoded(
        &self,
        chain: &mut ChainWriter,
        codes: &[u64],
        factors: &[Factors],
        ids: &[u64],
        locations: &[(BlockNo, u16)],
    ) -> Result<()> {
        let words = self.quant.code_words();
        let per = format::codes_per_page(words);
        for (pi, page_ids) in ids.chunks(per).enumerate() {
            if pi % 256 == 255 {
                self.check_stop()?;
            }
            let from = pi * per;
            let mut p = chain.page();
            fill_code_page(
                &mut p,
                words,
                &codes[from * words..(from + page_ids.len()) * words],
                &factors[from..from + page_ids.len()],
                page_ids,
                &locations[from..from + page_ids.len()],
            );
            chain.push(&self.store, p)?;
        }
        Ok(())
    }

    /// Close the code chain of `n` entries and name it on the meta page.
    pub(super) fn finish_codes(&mut self, mut chain: ChainWriter, n: usize) -> Result<()> {
        chain.finish(&self.store)?;
        self.meta.code_head = chain.blocks[0];
        self.meta.code_tail = *chain.blocks.last().unwrap();
        self.meta.n_nodes = n as u64;
        Ok(())
    }

    /// Change the dimension of an index that has never held a vector (an
    /// index created before its first row, on a column without a declared
    /// dimension). `bits` as in [`super::Options::bits`]. Other handles see
    /// it as a rebuild on `refresh`.
    pub fn set_dimension(&mut self, dim: usize, bits: Option<usize>) -> Result<()> {
        if self.meta.n_nodes != 0 {
            return Err(Error::Invalid(format!(
                "expected {} dimensions, got {dim}",
                self.meta.dim
            )));
        }
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::Invalid(format!("dimension must be 1..={MAX_DIM}")));
        }
        let bits = bits.unwrap_or_else(|| rabitq::default_bits(dim));
        super::options::check_code_size(dim, bits)?;
        let centroid = vec![0f32; dim];
        let mut m = self.meta;
        m.dim = dim as u32;
        m.bits = bits as u32;
        m.centroid = format::write_blob(&self.store, bytemuck::cast_slice(&centroid))?;
        let old = self.meta.centroid;
        self.adopt(m, centroid)?;
        self.write_meta()?;
        // The old centroid is unreachable once the meta page names the new.
        format::free_blob(&self.store, old)
    }
}

/// The codes of the `dim`-float rows of `vectors` into `codes` (one
/// `code_words()` slot a row), on all cores, and their factors; `None` if
/// `stop`, asked once a row, said so.
fn encode_rows(
    quant: &RaBitQ,
    vectors: &[f32],
    dim: usize,
    codes: &mut [u64],
    stop: fn() -> bool,
) -> Option<Vec<Factors>> {
    codes
        .par_chunks_mut(quant.code_words())
        .zip(vectors.par_chunks_exact(dim))
        .map(|(code, v)| (!stop()).then(|| quant.encode(v, code)))
        .collect()
}

/// Code pages whose entries are encoded in one parallel step.
const CODE_PAGES_PER_GROUP: usize = 64;

/// Fill code page `p` with the entries of `ids`: their codes (`words`
/// each, in order) and factors, each naming its node's location.
fn fill_code_page(
    p: &mut Page,
    words: usize,
    codes: &[u64],
    factors: &[Factors],
    ids: &[u64],
    locations: &[(BlockNo, u16)],
) {
    let esize = CODE_HEAD + 8 * words;
    format::header_mut(p).count = ids.len() as u32;
    for (i, &id) in ids.iter().enumerate() {
        let head = CodeEntryHead {
            id,
            blkno: locations[i].0,
            offset: locations[i].1,
            flags: format::FLAG_LIVE as u16,
            factors: factors[i],
        };
        let off = HEADER_SIZE + i * esize;
        p.bytes[off..off + CODE_HEAD].copy_from_slice(bytemuck::bytes_of(&head));
        p.bytes[off + CODE_HEAD..off + esize]
            .copy_from_slice(bytemuck::cast_slice(&codes[i * words..(i + 1) * words]));
    }
}
