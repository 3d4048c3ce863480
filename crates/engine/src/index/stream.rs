//! The streaming search, [`SearchIter`]: as many results as the caller
//! pulls, in distance order, from one walk that never restarts and never
//! drops a row it found.
//!
//! It starts as [`Index::search`] does (the beam walk with the list size,
//! see `search.rs`), or, for a filter few nodes match, with the matching
//! nodes' estimates (the flat plan, see `filter.rs`). Every node whose page
//! it reads gets its exact distance, and a live node that matches the
//! filter (and the distance bound) joins a buffer of results ordered by
//! exact distance. Candidates estimated but not yet read wait in a
//! frontier. A result leaves the buffer when no matching candidate in the
//! frontier can still be closer:
//! * [`ScanOrder::Strict`]: by the candidate's lower bound (estimate minus
//!   RaBitQ's error bound), so rows come out in exact distance order. The
//!   one exception is a node no candidate stood for yet: the walk reaches
//!   it only through a node read later, and if it is closer than a row
//!   already returned it comes out next, late, rather than being dropped
//!   (counted in [`SearchStats::late`]).
//! * [`ScanOrder::Relaxed`]: by the candidate's estimate less half its
//!   error bound (`RELAXED_BOUND_SHARE`), which reads fewer pages before
//!   each row; a row found later that is closer than one returned comes out
//!   late (pgvector's `relaxed_order`).
//! * [`ScanOrder::Off`]: the first search only, its results in exact order
//!   (pgvector's `iterative_scan = off`).
//!
//! To continue, the closest candidate in the frontier is read: in the walk
//! it is expanded too (its neighbours are estimated and join the frontier),
//! so the walk goes on outwards from where the first search stopped. A
//! candidate that does not match the filter waits apart (`steer`): it can
//! never be a result, so it never holds back a buffered row, and it is read
//! and expanded (steering the walk, never returned) only while nothing is
//! buffered. A matching node found through it later, closer than a row
//! returned, comes out late, as above. With a distance bound, a
//! candidate more than a small margin (`HALO_AT_4_BITS`) past it never
//! joins the frontier, so the scan ends once nothing unread can be within
//! the bound or just outside it: its pages grow with the rows it returns.
//!
//! `max_reads` bounds the pages read after the first search, `max_memory`
//! the bytes of the frontier and buffer; past either, the scan returns what
//! it buffered, in order, and ends.

use super::filter::{longer_list, plan, Filter, Plan};
use super::search::Scratch;
use super::{Index, SearchParams, SearchStats};
use crate::beam::{pack, unpack, MarkSet};
use crate::format;
use crate::page::{PageStore, Result};
use std::cmp::Reverse;

/// When a streaming search returns a row; see the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScanOrder {
    Off,
    #[default]
    Strict,
    Relaxed,
}

/// What a streaming search looks for, and its bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanParams {
    pub search: SearchParams,
    pub order: ScanOrder,
    /// Most pages read after the first search.
    pub max_reads: usize,
    /// Most bytes the frontier and the result buffer may take.
    pub max_memory: usize,
    /// Only vectors whose attributes match.
    pub filter: Filter,
    /// Only vectors at most this far from the query (the distance the
    /// search returns).
    pub max_distance: Option<f32>,
}

impl Default for ScanParams {
    fn default() -> Self {
        ScanParams {
            search: SearchParams::default(),
            order: ScanOrder::Strict,
            max_reads: usize::MAX,
            max_memory: usize::MAX,
            filter: Filter::new(),
            max_distance: None,
        }
    }
}

impl<S: PageStore> Index<S> {
    /// Results in distance order, as many as the caller pulls: see the
    /// module docs of `stream.rs` and [`ScanParams`].
    pub fn search_iter(&self, query: &[f32], params: &ScanParams) -> Result<SearchIter<'_, S>> {
        let q = self.prepare_vector(query)?;
        params.filter.check(self.attrs.kinds())?;
        let ef = params.search.search_list_size.max(1);
        let radius = params
            .max_distance
            .map_or(f32::INFINITY, |d| self.internal(d));
        let plan = if params.filter.is_empty() {
            Plan::Walk
        } else {
            plan(
                &self.attrs,
                &params.filter,
                self.codes.live(),
                ef,
                self.meta.max_degree as usize,
            )
        };
        let mut s = self.scratch();
        s.query = q;
        s.keep_vectors = false;
        s.read_ahead = params.search.read_ahead.min(crate::beam::MAX_AHEAD);
        let mut it = SearchIter {
            index: self,
            scratch: None,
            order: params.order,
            max_reads: params.max_reads,
            max_memory: params.max_memory,
            filter: params.filter.clone(),
            radius,
            // The flat plan reads without expanding: a node past the bound
            // would be read for nothing, so it takes no margin.
            halo: match plan {
                Plan::Walk => halo_bounds(self.quant.bits()),
                _ => 1.0,
            },
            plan,
            limit: usize::MAX,
            reads: 0,
            returned: 0,
            last: f32::NEG_INFINITY,
            ended: false,
            error: false,
        };
        let started = match plan {
            Plan::Walk => it.start_walk(&mut s, ef, params.search.rerank),
            Plan::Flat { driver, .. } => {
                if params.order == ScanOrder::Off {
                    it.limit = ef;
                }
                it.start_flat(&mut s, driver);
                Ok(())
            }
        };
        it.scratch = Some(s);
        started.map(|()| it)
    }

    /// A distance as the search returns it to the internal one (squared L2,
    /// or `-<q, v>`).
    fn internal(&self, d: f32) -> f32 {
        match self.metric {
            super::Metric::L2 if d < 0.0 => f32::NEG_INFINITY,
            super::Metric::L2 => d * d,
            super::Metric::InnerProduct => d,
            super::Metric::Cosine => d - 1.0,
        }
    }
}

/// Whether live node `n` at exact (internal) distance `d` is a result: it
/// matches `filter` and is within `radius`.
#[inline]
fn wanted<S: PageStore>(index: &Index<S>, filter: &Filter, radius: f32, n: u32, d: f32) -> bool {
    d <= radius && (filter.is_empty() || index.attrs.matches(n, filter))
}

/// Whether the walk's candidate `n` only steers it: a filter it does not
/// match. Such a candidate is read to go on walking when nothing is
/// buffered, never to release a buffered row (it cannot be closer as a
/// result; a matching node behind it that is closer comes out late).
#[inline]
fn steers<S: PageStore>(index: &Index<S>, filter: &Filter, n: u32) -> bool {
    !filter.is_empty() && !index.attrs.matches(n, filter)
}

/// The share of the error bound a relaxed scan subtracts from a
/// candidate's estimate: it reads a candidate before returning a row when
/// the candidate is likely (not certain, as in strict order) to be closer.
/// With the whole estimate (no share) a true neighbour estimated a little
/// far comes out after the rows a LIMIT keeps; half the bound (1.5
/// standard errors) keeps recall near strict order's for far fewer page
/// reads (benches/notes/50-filters.md has the figures).
const RELAXED_BOUND_SHARE: f32 = 0.5;

/// How far past a distance bound a candidate is still read, in error
/// bounds of a 4-bit code (see [`halo_bounds`]). The nodes within a bound
/// are often linked only through nodes just outside it (RobustPrune keeps
/// one edge of a close pair), so a scan that read only candidates that
/// could be within missed about one row in seventy at WordNet's 100-row
/// thresholds; reading those up to this margin outside finds them. Chosen
/// where the rows returned matched exact search's for at least 99.7% at
/// 10, 100 and 1,000 rows (benches/notes/64-code-bits.md).
const HALO_AT_4_BITS: f32 = 3.0;

/// The margin of [`HALO_AT_4_BITS`] for a code of `bits` bits, in its own
/// error bounds, at least one (the candidate could be within): a code's
/// bound roughly halves with each bit, so a coarser code's single bound
/// already reaches as far.
fn halo_bounds(bits: usize) -> f32 {
    (HALO_AT_4_BITS * 0.5f32.powi(4 - bits.min(4) as i32)).max(1.0)
}

/// The frontier key of node `n` estimated at `est` with lower bound `lb`
/// in a scan of `order` within `radius`; `None` if it is farther than
/// `halo` error bounds past it.
#[inline]
fn scan_key(order: ScanOrder, radius: f32, halo: f32, est: f32, lb: f32, n: u32) -> Option<u64> {
    if est - halo * (est - lb) > radius {
        return None;
    }
    Some(match order {
        ScanOrder::Strict => pack(lb, n),
        _ => pack(est - RELAXED_BOUND_SHARE * (est - lb), n),
    })
}

/// The rows a scan reads ahead for before its caller asks for them. A
/// scan is not told its query's LIMIT, and most ask for ten rows: the
/// pages read ahead for rows past the tenth would mostly be read for
/// nothing. So until ten rows are returned the read-ahead serves those
/// ten; past them, as far as [`SearchParams::read_ahead`] goes.
const LIKELY_ROWS: usize = 10;

/// Ask the store for the pages of the best candidates in the frontier,
/// those the scan reads next (see [`SearchParams::read_ahead`]): with
/// `rows`, only those it must read before it can return that many more
/// rows.
fn read_ahead<S: PageStore>(index: &Index<S>, s: &mut Scratch, rows: Option<usize>) {
    if s.read_ahead == 0 || rows == Some(0) {
        return;
    }
    let mut next = std::mem::take(&mut s.upcoming);
    next.clear();
    crate::beam::heap_best(s.frontier.as_slice(), s.read_ahead, &mut next, |key| key);
    if let Some(rows) = rows {
        // A candidate is read before a buffered row is returned only if
        // its key is below the row's (see `next`).
        let mut keys = std::mem::take(&mut s.row_keys);
        keys.clear();
        crate::beam::heap_best(s.results.as_slice(), rows, &mut keys, |(key, _)| key);
        if let Some(&bar) = keys.get(rows - 1) {
            next.retain(|&key| key < bar);
        }
        s.row_keys = keys;
    }
    index.prefetch_nodes(s, next.iter().map(|&key| unpack(key).1));
    s.upcoming = next;
}

/// Streaming search; see [`Index::search_iter`].
pub struct SearchIter<'a, S: PageStore> {
    index: &'a Index<S>,
    scratch: Option<Box<Scratch>>,
    order: ScanOrder,
    max_reads: usize,
    max_memory: usize,
    filter: Filter,
    /// The distance bound, internal.
    radius: f32,
    /// How many error bounds past `radius` a candidate is still read (1
    /// in the flat plan).
    halo: f32,
    plan: Plan,
    /// Most rows returned (the flat plan with `ScanOrder::Off`).
    limit: usize,
    reads: usize,
    returned: usize,
    last: f32,
    /// Nothing more is read: what is buffered is returned, then the end.
    ended: bool,
    error: bool,
}

impl<S: PageStore> SearchIter<'_, S> {
    /// Counters so far.
    pub fn stats(&self) -> SearchStats {
        self.scratch.as_ref().map(|s| s.stats).unwrap_or_default()
    }

    /// The ids of the next `k` rows (at most [`crate::MAX_READ_AHEAD`])
    /// this scan will return as it stands, best first, into `out`: rows
    /// found and buffered, which a closer row found later may still
    /// precede. A host reads their data ahead (Postgres: their heap
    /// pages).
    pub fn upcoming(&self, k: usize, out: &mut Vec<u64>) {
        out.clear();
        let Some(s) = self.scratch.as_ref() else {
            return;
        };
        let k = self.rows_ahead().map_or(k, |rows| k.min(rows));
        crate::beam::heap_best(s.results.as_slice(), k, out, |(_, id)| id);
    }

    /// The rows to read ahead for (see [`LIKELY_ROWS`]); `None`: as many as
    /// the read-ahead reaches.
    fn rows_ahead(&self) -> Option<usize> {
        let left = self.limit.saturating_sub(self.returned);
        if self.returned < LIKELY_ROWS {
            Some(left.min(LIKELY_ROWS - self.returned))
        } else if left < crate::beam::MAX_AHEAD {
            Some(left)
        } else {
            None
        }
    }

    /// Whether a filter is served by scanning the matching nodes (rather
    /// than the graph walk).
    pub fn is_flat(&self) -> bool {
        matches!(self.plan, Plan::Flat { .. })
    }

    /// The first search, with list `ef` or, with a filter, longer until
    /// it met enough matching rows (see [`longer_list`]); its unread
    /// candidates become the frontier.
    fn start_walk(&mut self, s: &mut Scratch, ef: usize, rerank: usize) -> Result<()> {
        let index = self.index;
        index.begin(s);
        index.run(s, ef)?;
        let (mut list, mut counted, mut matched) = (ef, 0, 0);
        while !self.filter.is_empty() {
            // `run` only appends to `exact`: count the rows it added.
            matched += s.exact[counted..]
                .iter()
                .filter(|&&(_, n, _)| index.attrs.matches(n, &self.filter))
                .count();
            counted = s.exact.len();
            let at = (list, counted, matched);
            let Some(longer) = longer_list(&index.attrs, &self.filter, index.codes.live(), ef, at)
            else {
                break;
            };
            s.beam.widen(longer, &s.walked, &mut s.deferred);
            list = longer;
            index.run(s, list)?;
        }
        let ef = list;
        // Only a scan that ends with the first search re-ranks it: the
        // others go on reading candidates from the frontier by their lower
        // bound (strict) or near it (relaxed): the reads a re-rank would
        // make, where they are needed. Measured in process, relaxed order
        // kept its recall without it and read fewer pages
        // (benches/notes/50-filters.md).
        if self.order == ScanOrder::Off {
            index.rerank(s, ef, rerank)?;
        }
        let exact = std::mem::take(&mut s.exact);
        for &(d, n, id) in &exact {
            if wanted(index, &self.filter, self.radius, n, d) {
                s.results.push(Reverse((pack(d, n), id)));
            }
        }
        s.exact = exact;
        if self.order == ScanOrder::Off {
            self.ended = true;
            return Ok(());
        }
        let keys: Vec<u64> = s.beam.unexpanded().chain(s.deferred.drain(..)).collect();
        let mut front = std::mem::take(&mut s.frontier).into_vec();
        front.clear();
        for key in keys {
            if let Some(k) = self.frontier_key(s, key) {
                front.push(Reverse(k));
            }
        }
        s.frontier = front.into();
        read_ahead(index, s, self.rows_ahead());
        Ok(())
    }

    /// The frontier key of a candidate estimated at `key`: its lower bound
    /// (strict) or estimate (relaxed); `None` if it cannot be within the
    /// distance bound.
    #[inline]
    fn frontier_key(&self, s: &Scratch, key: u64) -> Option<u64> {
        let (est, n) = unpack(key);
        scan_key(
            self.order,
            self.radius,
            self.halo,
            est,
            s.beam.payload(n),
            n,
        )
    }

    /// Every live node condition `driver` of the filter lists that matches
    /// the whole filter, estimated, into the frontier.
    fn start_flat(&mut self, s: &mut Scratch, driver: usize) {
        let index = self.index;
        index.prepare_search(s);
        let (codes, attrs) = (&index.codes, &index.attrs);
        let mut front = std::mem::take(&mut s.frontier).into_vec();
        front.clear();
        let cond = &self.filter.conds()[driver];
        // Each listed node's entry and values are a few cache misses
        // apart from the last one's: ask for them `AHEAD` nodes early.
        const AHEAD: usize = 8;
        for list in attrs.candidates(cond) {
            for (i, &n) in list.iter().enumerate() {
                if let Some(&m) = list.get(i + AHEAD) {
                    if (m as usize) < codes.len() {
                        codes.prefetch_entry(m);
                        attrs.prefetch(m);
                    }
                }
                // No visited mark: a node listed twice (rare: its value
                // changed and changed back) is read twice and returned
                // once (`done`), and the marks' hash table costs a cache
                // miss per node here.
                if (n as usize) >= codes.len()
                    || codes.flags(n) != format::FLAG_LIVE
                    || !attrs.matches(n, &self.filter)
                {
                    continue;
                }
                let (est, bound) = index.quant.estimate(&s.qc, codes.code(n), codes.factors(n));
                s.stats.estimated += 1;
                s.stats.flat_candidates += 1;
                if let Some(k) = scan_key(self.order, self.radius, self.halo, est, est - bound, n) {
                    front.push(Reverse(k));
                }
            }
        }
        s.frontier = front.into();
        read_ahead(index, s, self.rows_ahead());
    }

    /// Move candidates that only steer (see [`steers`]) from the top of
    /// the frontier to `steer`, so that the frontier's best is a candidate
    /// that may be a result. Checked here, as they come up, rather than
    /// as each is estimated: most never do.
    fn settle(&mut self) {
        if self.plan != Plan::Walk || self.filter.is_empty() {
            return;
        }
        let s = self.scratch.as_mut().unwrap();
        while let Some(&Reverse(key)) = s.frontier.peek() {
            if !steers(self.index, &self.filter, unpack(key).1) {
                break;
            }
            s.frontier.pop();
            s.steer.push(Reverse(key));
        }
    }

    /// Read the closest candidate: its exact distance, and in the walk its
    /// neighbours into the frontier. The frontier is settled (`next` does
    /// it before deciding to read).
    fn read_next(&mut self) -> Result<()> {
        let rows = self.rows_ahead();
        let s = self.scratch.as_mut().unwrap();
        // A buffered row waits only on matching candidates: read those.
        // With nothing buffered, walk on from the closest candidate of
        // either kind.
        let steering = s.results.is_empty()
            && s.steer
                .peek()
                .is_some_and(|g| s.frontier.peek().is_none_or(|f| g < f));
        let next = if steering {
            s.steer.pop()
        } else {
            s.frontier.pop()
        };
        let Some(Reverse(key)) = next else {
            return Ok(());
        };
        let n = unpack(key).1;
        let index = self.index;
        let walk = self.plan == Plan::Walk;
        let mut nbrs = std::mem::take(&mut s.nbrs);
        let mut buf = std::mem::take(&mut s.buf);
        let read = index.with_node(n, &mut buf, &mut s.stats.pages_read, |node| {
            nbrs.clear();
            if walk {
                nbrs.extend_from_slice(node.neighbors);
            }
            (
                index.exact(&s.query, node.vector.as_f32(&mut s.widened)),
                node.id,
                node.flags == format::FLAG_LIVE,
            )
        });
        s.buf = buf;
        let (d, id, live) = match read {
            Ok(x) => x,
            Err(e) => {
                s.nbrs = nbrs;
                return Err(e);
            }
        };
        self.reads += 1;
        if live && s.done.set(n) && wanted(index, &self.filter, self.radius, n, d) {
            s.results.push(Reverse((pack(d, n), id)));
        }
        // Every node read is expanded, inside a distance bound or not:
        // RobustPrune leaves two nodes inside a bound often linked only
        // through one outside it.
        if walk {
            s.stats.expanded += 1;
            let (order, radius, halo) = (self.order, self.radius, self.halo);
            index.estimate_neighbors(s, &mut nbrs, |s, m, est, lb| {
                if let Some(k) = scan_key(order, radius, halo, est, lb, m) {
                    s.frontier.push(Reverse(k));
                }
            });
        } else {
            s.stats.reranked += 1;
        }
        read_ahead(index, s, rows);
        s.nbrs = nbrs;
        Ok(())
    }

    /// Whether the scan must stop reading.
    fn spent(&self) -> bool {
        let s = self.scratch.as_ref().unwrap();
        (s.frontier.is_empty() && s.steer.is_empty())
            || self.reads >= self.max_reads
            || (s.frontier.len() + s.steer.len() + s.results.len()) * 8 > self.max_memory
    }
}

impl<S: PageStore> Iterator for SearchIter<'_, S> {
    type Item = Result<(u64, f32)>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.error || self.returned >= self.limit {
            return None;
        }
        loop {
            self.settle();
            let s = self.scratch.as_mut().unwrap();
            if let Some(&Reverse((top, id))) = s.results.peek() {
                let ready = self.ended || s.frontier.peek().is_none_or(|&Reverse(f)| top <= f);
                if ready {
                    s.results.pop();
                    let d = unpack(top).0;
                    if d < self.last {
                        s.stats.late += 1;
                    }
                    self.last = self.last.max(d);
                    self.returned += 1;
                    return Some(Ok((id, self.index.external(d))));
                }
            }
            if self.ended {
                return None;
            }
            if self.spent() {
                self.ended = true;
                continue;
            }
            if let Err(e) = self.read_next() {
                self.error = true;
                return Some(Err(e));
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
