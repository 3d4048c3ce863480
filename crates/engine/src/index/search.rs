//! Searching: [`Index::search`] for the `k` nearest (the streaming
//! [`super::SearchIter`], in `stream.rs`, starts the same way).
//!
//! The walk is the shared beam search ([`crate::beam`]) scored by code
//! estimates; expanding a node reads its page, which also gives its exact
//! distance. Candidates estimated but never expanded are re-ranked at the
//! end when their lower bound can still beat the k-th exact distance.

use super::{Index, SearchParams};
use crate::beam::{pack, unpack, Beam, MarkSet, SparseMarks};
use crate::format;
use crate::page::{PageStore, Result};
use crate::rabitq::QueryCode;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Counters for one search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Pages read from the store (node expansions and re-ranking reads).
    pub pages_read: u64,
    /// Nodes whose page was read to follow their neighbours.
    pub expanded: u64,
    /// Code estimates computed.
    pub estimated: u64,
    /// Extra exact distances read for candidates that were not expanded.
    pub reranked: u64,
    /// Re-ranking reads skipped because the error bound proved them useless.
    pub rerank_skipped: u64,
    /// Streaming: rows returned after a farther one (see `stream.rs`).
    pub late: u64,
    /// Streaming with a filter few nodes match: the matching nodes
    /// estimated (0 for the graph walk).
    pub flat_candidates: u64,
}

/// Per-search state, pooled by the index and reused. Its size follows the
/// nodes a search touches, not the index's.
#[derive(Default)]
pub(super) struct Scratch {
    /// The beam; each visited node's payload is its lower bound (estimate
    /// minus error bound).
    pub beam: Beam<f32, SparseMarks<f32>>,
    /// Nodes whose exact distance is in `exact` (expanded or re-ranked),
    /// so a streaming search never returns one twice.
    pub done: SparseMarks<()>,
    pub qc: QueryCode,
    pub query: Vec<f32>,
    /// Visited but not good enough to enter the beam: kept for re-ranking
    /// and for streaming past the list size.
    pub deferred: Vec<u64>,
    /// The keys of the nodes the beam expanded, so that a search can go
    /// on with a wider list (`Beam::widen`).
    pub walked: Vec<u64>,
    /// Exact distances of live nodes read so far: `(distance, node, id)`,
    /// with the id their page gave (the page and the distance are read
    /// together, so a node slot reused meanwhile never lends its new id to
    /// the old distance).
    pub exact: Vec<(f32, u32, u64)>,
    /// Streaming: candidates not read yet, and results not returned yet
    /// with their ids (see `stream.rs`).
    pub frontier: BinaryHeap<Reverse<u64>>,
    /// Streaming with a filter, in the walk: candidates that do not match
    /// it, read only to steer the walk (see `stream.rs`).
    pub steer: BinaryHeap<Reverse<u64>>,
    pub results: BinaryHeap<Reverse<(u64, u64)>>,
    /// Keep copies of expanded vectors (inserts need them to prune).
    pub keep_vectors: bool,
    /// `(node, offset in arena)` of each kept vector.
    pub kept: Vec<(u32, usize)>,
    pub arena: Vec<f32>,
    /// A half-precision node's vector widened to `f32`.
    pub widened: Vec<f32>,
    pub buf: Vec<u64>,
    pub nbrs: Vec<u32>,
    pub stats: SearchStats,
    /// Pages to ask for ahead (see [`SearchParams::read_ahead`]); the nodes
    /// asked for so far, and the keys of the next ones.
    pub read_ahead: usize,
    pub ahead: SparseMarks<()>,
    pub upcoming: Vec<u64>,
    /// Candidates taken from the beam to be expanded next, in order
    /// (`Scratch::take_batch`).
    pub batch: std::collections::VecDeque<u64>,
    /// Streaming: the keys of the buffered rows read ahead for.
    pub row_keys: Vec<u64>,
}

impl Scratch {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.beam.bytes()
            + self.done.bytes()
            + self.query.capacity() * 4
            + (self.deferred.capacity() + self.walked.capacity() + self.buf.capacity()) * 8
            + self.exact.capacity() * 24
            + (self.frontier.capacity() + self.steer.capacity() + self.results.capacity() * 2) * 8
            + self.kept.capacity() * 16
            + self.arena.capacity() * 4
            + self.nbrs.capacity() * 4
            + self.ahead.bytes()
            + (self.upcoming.capacity() + self.batch.capacity()) * 8
    }

    /// Take the next best candidates after one just taken, up to
    /// `read_ahead` in all, as one batch that the walk expands in turn
    /// before it looks at the beam again: DiskANN's beam width. One at a
    /// time, the next node is mostly one the last expansion has just found,
    /// asked for one step before its read, so reads that wait on I/O queue
    /// up one behind the other; a batch's reads are all under way before
    /// the first is waited for. Its pages were asked for already: a batch
    /// is taken only once the walk has settled, and the expansion before
    /// asked for the `read_ahead` candidates [`crate::beam::Beam::next`]
    /// gives next, which are the batch. It costs a few expansions a lone
    /// walk would have skipped and finds a little more for them
    /// (benches/notes/60-read-ahead.md). Only while the store's reads wait
    /// ([`crate::PageStore::reads_wait`]): over cached pages it buys
    /// nothing.
    fn take_batch(&mut self, ef: usize) {
        while self.batch.len() + 1 < self.read_ahead {
            let Some(c) = self.beam.next(ef) else { break };
            self.batch.push_back(c);
        }
    }
}

impl<S: PageStore> Index<S> {
    pub(super) fn scratch(&self) -> Box<Scratch> {
        let mut s = self.pool.lock().pop().unwrap_or_default();
        s.read_ahead = 0;
        s
    }

    pub(super) fn give_back(&self, s: Box<Scratch>) {
        self.pool.lock().push(s);
    }

    /// Set up a search for the prepared query in `s.query`: nothing
    /// visited, nothing found.
    pub(super) fn prepare_search(&self, s: &mut Scratch) {
        let n = self.codes.len();
        s.beam.reset(n);
        s.done.reset(n);
        if s.read_ahead > 0 {
            s.ahead.reset(n);
        }
        s.deferred.clear();
        s.walked.clear();
        s.exact.clear();
        s.frontier.clear();
        s.steer.clear();
        s.results.clear();
        s.kept.clear();
        s.arena.clear();
        s.stats = SearchStats::default();
        self.quant.prepare(&s.query, &mut s.qc);
    }

    /// Set up a search for the prepared query in `s.query`, from the entry
    /// point.
    pub(super) fn begin(&self, s: &mut Scratch) {
        self.prepare_search(s);
        let e = self.meta.entry;
        if e != format::NONE {
            s.beam.visit(e);
            let (est, _) = self.estimate(s, e);
            s.beam.offer(pack(est, e), 1);
        }
    }

    /// The estimated distance of node `m` to the prepared query and its
    /// lower bound, counted; the bound is kept as the node's payload (for
    /// reranking and strict order).
    #[inline]
    pub(super) fn estimate(&self, s: &mut Scratch, m: u32) -> (f32, f32) {
        let (est, bound) = self
            .quant
            .estimate(&s.qc, self.codes.code(m), self.codes.factors(m));
        s.stats.estimated += 1;
        s.beam.set_payload(m, est - bound);
        (est, est - bound)
    }

    /// Estimate the unvisited nodes among an expanded node's `nbrs`, and
    /// hand each to `offer` with its estimate and lower bound: the one
    /// step of a graph walk that every search (top-k and streaming)
    /// shares. A link past this handle's copy of the code area is a node
    /// another writer added after our last refresh: not ours to see yet.
    #[inline]
    pub(super) fn estimate_neighbors(
        &self,
        s: &mut Scratch,
        nbrs: &mut Vec<u32>,
        mut offer: impl FnMut(&mut Scratch, u32, f32, f32),
    ) {
        let codes = &self.codes;
        nbrs.retain(|&m| (m as usize) < codes.len());
        s.beam
            .keep_unvisited(nbrs, |m| crate::simd::prefetch(codes.record(m)));
        for &m in nbrs.iter() {
            let (est, lower) = self.estimate(s, m);
            offer(s, m, est, lower);
        }
    }

    /// Ask the store for the pages of `nodes`, each once per search (see
    /// [`SearchParams::read_ahead`]).
    pub(super) fn prefetch_nodes(&self, s: &mut Scratch, nodes: impl Iterator<Item = u32>) {
        for n in nodes {
            if s.ahead.set(n) {
                self.store.prefetch(self.codes.location(n).0);
            }
        }
    }

    /// Beam search until the `ef` best estimates are all expanded.
    pub(super) fn run(&self, s: &mut Scratch, ef: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut s.buf);
        let mut nbrs = std::mem::take(&mut s.nbrs);
        // The closest exact distance so far: while each expansion beats it
        // the walk is still approaching the query, and the candidates
        // behind the best one are mostly pushed out of the list by the
        // closer nodes the next expansions find, never read. Only the next
        // one is asked for then; the full depth once the list settles
        // (benches/notes/60-read-ahead.md), and while reads wait on I/O the
        // settled walk expands its candidates in batches (`Scratch::take_batch`).
        let mut closest = f32::INFINITY;
        let mut approaching = true;
        s.batch.clear();
        let result = (|| {
            loop {
                let c = match s.batch.pop_front() {
                    Some(c) => c,
                    None => {
                        let Some(c) = s.beam.next(ef) else { break };
                        if !approaching && s.read_ahead > 1 && self.store.reads_wait() {
                            s.take_batch(ef);
                        }
                        c
                    }
                };
                let (_, n) = unpack(c);
                s.stats.expanded += 1;
                s.walked.push(c);
                let (d, id, live, kept) =
                    self.with_node(n, &mut buf, &mut s.stats.pages_read, |node| {
                        nbrs.clear();
                        nbrs.extend_from_slice(node.neighbors);
                        let v = node.vector.as_f32(&mut s.widened);
                        let kept = s.keep_vectors.then(|| {
                            s.arena.extend_from_slice(v);
                            s.arena.len() - v.len()
                        });
                        let d = self.exact(&s.query, v);
                        (d, node.id, node.flags == format::FLAG_LIVE, kept)
                    })?;
                if live && s.done.set(n) {
                    s.exact.push((d, n, id));
                    if let Some(at) = kept {
                        s.kept.push((n, at));
                    }
                }
                self.estimate_neighbors(s, &mut nbrs, |s, m, est, _| {
                    if let Some(key) = s.beam.offer(pack(est, m), ef) {
                        s.deferred.push(key);
                    }
                });
                if s.read_ahead > 0 {
                    approaching = d < closest;
                    closest = closest.min(d);
                    let mut next = std::mem::take(&mut s.upcoming);
                    let depth = if approaching { 1 } else { s.read_ahead };
                    s.beam.upcoming(depth, ef, &mut next);
                    self.prefetch_nodes(s, next.iter().map(|&key| unpack(key).1));
                    s.upcoming = next;
                }
            }
            Ok(())
        })();
        s.buf = buf;
        s.nbrs = nbrs;
        result
    }

    /// Read exact distances for unexpanded candidates whose lower bound can
    /// still beat the k-th exact distance, at most `budget` of them.
    pub(super) fn rerank(&self, s: &mut Scratch, k: usize, budget: usize) -> Result<()> {
        s.exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let kth = |e: &[(f32, u32, u64)]| e.get(k.wrapping_sub(1)).map_or(f32::INFINITY, |x| x.0);
        let mut threshold = kth(&s.exact);
        let mut todo: Vec<(f32, u32)> = s
            .beam
            .unexpanded()
            .chain(s.deferred.iter().copied())
            .map(|key| unpack(key).1)
            .map(|n| (s.beam.payload(n), n))
            .filter(|(lb, _)| *lb < threshold)
            .collect();
        todo.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let mut buf = std::mem::take(&mut s.buf);
        // Every candidate before the `i`-th was read: `i` counts the reads.
        for (i, &(lb, n)) in todo.iter().enumerate() {
            if lb >= threshold || i >= budget {
                s.stats.rerank_skipped += (todo.len() - i) as u64;
                break;
            }
            if s.read_ahead > 0 {
                let ahead = todo[i..]
                    .iter()
                    .take(s.read_ahead.min(budget - i))
                    .take_while(|(lb, _)| *lb < threshold)
                    .map(|&(_, m)| m);
                self.prefetch_nodes(s, ahead);
            }
            let read = self.with_node(n, &mut buf, &mut s.stats.pages_read, |node| {
                (
                    self.exact(&s.query, node.vector.as_f32(&mut s.widened)),
                    node.id,
                    node.flags == format::FLAG_LIVE,
                )
            });
            let (d, id, live) = match read {
                Ok(x) => x,
                Err(e) => {
                    s.buf = buf;
                    return Err(e);
                }
            };
            s.stats.reranked += 1;
            if live && s.done.set(n) {
                let pos = s.exact.partition_point(|e| e.0 <= d);
                s.exact.insert(pos, (d, n, id));
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
        s.read_ahead = params.read_ahead.min(crate::beam::MAX_AHEAD);
        let r = (|| {
            self.begin(&mut s);
            self.run(&mut s, ef)?;
            if k > 0 {
                self.rerank(&mut s, k, params.rerank)?;
            }
            Ok(s.exact
                .iter()
                .take(k)
                .map(|&(d, _, id)| (id, self.external(d)))
                .collect())
        })();
        let stats = s.stats;
        self.give_back(s);
        r.map(|v| (v, stats))
    }
}
