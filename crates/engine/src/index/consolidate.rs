//! Consolidation (FreshDiskANN): tombstoned nodes leave the graph while
//! other handles go on inserting and searching.
//!
//! Every live node that links to a tombstoned one is re-pruned over its
//! surviving neighbours and the tombstoned neighbours' out-neighbours, so
//! the graph stays navigable; then the tombstoned slots are freed for
//! inserts to reuse. It runs in two steps:
//!
//! 1. [`Index::begin_consolidation`], while no insert is in flight (the
//!    extension holds its insert lock exclusively for just this step): it
//!    takes the set of tombstoned nodes and the node count, and moves the
//!    entry point off a tombstone. Every insert in flight before it has
//!    finished, so its node is among those counted; every insert after it
//!    reads the tombstones from the node pages, and a search never offers a
//!    tombstone as a neighbour, so no later node links to one.
//! 2. [`Index::consolidate_with`], alongside inserts and searches: each
//!    counted live node is repaired by a compare-and-set of its neighbour
//!    list ([`Index::replace_neighbors`], the one inserts use for back
//!    edges), recomputed when an insert changed the list in between; then
//!    the slots are freed, node page first and code entry last, so no insert
//!    can claim a slot before it is cleared. A pause callback runs between
//!    nodes (Postgres: `vacuum_delay_point`, which also honours cancel).
//!
//! Stopped part-way (an error, a cancel), the index is valid: the nodes not
//! yet repaired still link to tombstones, which route searches and are
//! never returned, and nothing was freed that a live node links to. The
//! next consolidation takes every tombstone again and finishes the job.

use super::{area::Codes, Index};
use crate::format::{self, NONE};
use crate::page::{PageStore, Result};
use crate::rabitq::QueryCode;

/// Tombstones freed (and logged) per step of the free phase.
const FREE_BATCH: usize = 256;

/// A repair's candidates, at most, in units of the maximum degree: the
/// surviving neighbours plus the removed ones' out-neighbours nearest the
/// node by code estimate. With a fifth of the graph removed a node
/// inherits hundreds of candidates, nearly all of which the prune would
/// drop; reading each one's page and comparing it with every kept
/// neighbour made a repair cost more than building the node afresh, and
/// a VACUUM of a busy table long enough for the index to grow behind it.
const REPAIR_POOL: usize = 2;

/// A consolidation begun by [`Index::begin_consolidation`].
#[derive(Debug)]
pub struct Consolidation {
    /// The tombstoned nodes to remove, sorted.
    deleted: Vec<u32>,
    /// Nodes numbered below this existed when consolidation began: only
    /// they can link to `deleted`.
    end: u32,
    /// A removed node that was the entry point: unlinked, but its slot is
    /// left for the next consolidation, as a search that read the meta page
    /// before the entry point moved may still start from it.
    keep: Option<u32>,
    /// Bytes the repair may hold in vectors read ahead (see [`Vectors`]).
    memory: usize,
}

impl Consolidation {
    /// How many tombstoned nodes this consolidation removes from the graph.
    pub fn len(&self) -> usize {
        self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
    }

    /// Let the repair hold up to `bytes` of live nodes' vectors (Postgres:
    /// `maintenance_work_mem`, or `autovacuum_work_mem` in autovacuum), in
    /// place of the default, 64 MiB (the default `maintenance_work_mem`).
    pub fn set_memory(&mut self, bytes: usize) {
        self.memory = bytes;
    }
}

/// What a consolidation may hold in vectors unless told otherwise: the
/// default `maintenance_work_mem`.
pub(crate) const DEFAULT_MEMORY: usize = 64 << 20;

/// The vectors of the nodes live when consolidation began, read once each
/// before the repair, as many as its memory allows (the lowest-numbered).
///
/// A repair compares the node's candidates with one another, and the same
/// node is a candidate of dozens of repairs: reading its page each time
/// made page reads the repair's main cost, and under cost-based vacuum
/// delay every read is charged. A node live when consolidation began stays
/// live and unchanged until it ends (only consolidation frees a slot, and
/// one runs at a time), so its vector can be read ahead; a slot free then
/// may hold a new node since, so those are read from the page as before.
struct Vectors {
    /// Each node below `Consolidation::end`: its row in `data`, or NONE.
    row: Vec<u32>,
    data: Vec<f32>,
    dim: usize,
}

impl Vectors {
    /// None held: every vector is read from its page.
    fn none(dim: usize) -> Vectors {
        Vectors {
            row: Vec::new(),
            data: Vec::new(),
            dim,
        }
    }

    fn get(&self, m: u32) -> Option<&[f32]> {
        match self.row.get(m as usize) {
            Some(&r) if r != NONE => {
                let at = r as usize * self.dim;
                Some(&self.data[at..at + self.dim])
            }
            _ => None,
        }
    }
}

/// Whether node `m` is out of the graph (deleted or free).
fn gone(codes: &Codes, m: u32) -> bool {
    codes.flags(m) != format::FLAG_LIVE
}

/// The removed nodes' out-neighbours, found by node number without hashing
/// (the repair asks for every neighbour of every live node).
struct Removed {
    /// Each node below `Consolidation::end`: its place in `nbrs`, or NONE.
    place: Vec<u32>,
    nbrs: Vec<Vec<u32>>,
}

impl Removed {
    fn get(&self, m: u32) -> Option<&[u32]> {
        match self.place.get(m as usize) {
            Some(&i) if i != NONE => Some(&self.nbrs[i as usize]),
            _ => None,
        }
    }
}

/// Reused buffers for repairs: the candidates and, in the same order, their
/// vectors in one arena, with the repaired node's own vector last.
#[derive(Default)]
struct Repair {
    cands: Vec<u32>,
    /// The removed neighbours' out-neighbours, before they join `cands`.
    inherited: Vec<u32>,
    ranked: Vec<(f32, u32)>,
    newer: Vec<u32>,
    arena: Vec<f32>,
    buf: Vec<u64>,
    qc: QueryCode,
}

impl<S: PageStore> Index<S> {
    /// Whether this handle's copy of the code area holds tombstones (or
    /// slots reserved by inserts still in flight, which look the same until
    /// the insert completes): a cheap test for whether
    /// [`Index::begin_consolidation`] may have work.
    pub fn has_tombstones(&self) -> bool {
        (0..self.codes.len() as u32).any(|n| self.codes.flags(n) == format::FLAG_DELETED)
    }

    /// Step 1 of consolidation (see the module docs): the caller makes sure
    /// no insert is in flight on any handle until this returns. Refreshes
    /// this handle; `None` when there is nothing to remove.
    pub fn begin_consolidation(&mut self) -> Result<Option<Consolidation>> {
        self.refresh()?;
        let end = self.codes.len() as u32;
        let deleted: Vec<u32> = (0..end)
            .filter(|&m| self.codes.flags(m) == format::FLAG_DELETED)
            .collect();
        if deleted.is_empty() {
            return Ok(None);
        }
        let old = self.meta.entry;
        let mut keep = None;
        if old != NONE && deleted.binary_search(&old).is_ok() {
            let entry = self
                .read_node(old)?
                .neighbors
                .into_iter()
                .find(|&x| x < end && !gone(&self.codes, x))
                .or_else(|| (0..end).find(|&x| !gone(&self.codes, x)))
                .unwrap_or(NONE);
            self.meta.entry = self.update_meta(|m| {
                if m.entry == old {
                    m.entry = entry;
                }
                Ok(m.entry)
            })?;
            keep = Some(old);
        }
        Ok(Some(Consolidation {
            deleted,
            end,
            keep,
            memory: DEFAULT_MEMORY,
        }))
    }

    /// Step 2 of consolidation (see the module docs): repair every live
    /// node that links to a removed one, then free the removed slots.
    /// Inserts and searches may run alongside on other handles. `pause`
    /// runs between nodes; an error from it stops the work there, leaving a
    /// valid index. Returns how many slots were freed. Commits.
    pub fn consolidate_with(
        &mut self,
        c: Consolidation,
        mut pause: impl FnMut() -> Result<()>,
    ) -> Result<usize> {
        // The removed nodes' lists no longer change: an insert adds a back
        // edge only to the neighbours it chose, never a tombstone.
        let mut removed = Removed {
            place: vec![NONE; c.end as usize],
            nbrs: Vec::with_capacity(c.deleted.len()),
        };
        for (i, &d) in c.deleted.iter().enumerate() {
            removed.place[d as usize] = i as u32;
            removed.nbrs.push(self.read_neighbors(d)?);
            if i % 64 == 63 {
                pause()?;
            }
        }
        let vectors = self.read_vectors(&c, &mut pause)?;
        let mut scratch = Repair::default();
        for p in 0..c.end {
            if gone(&self.codes, p) {
                continue;
            }
            self.repair(p, &removed, &vectors, &mut scratch)?;
            pause()?;
        }
        let free: Vec<u32> = c
            .deleted
            .iter()
            .copied()
            .filter(|&d| Some(d) != c.keep)
            .collect();
        let zeros = vec![0.0; self.meta.dim as usize];
        for batch in free.chunks(FREE_BATCH) {
            for &d in batch {
                // The node page first: while the code entry still says
                // deleted, no insert can claim the slot.
                self.write_node(d, 0, format::FLAG_FREE, &zeros, &[])?;
                self.update_code_head(d, |h| {
                    h.flags = format::FLAG_FREE as u16;
                    h.id = 0;
                    true
                })?;
            }
            // The memory copy (and its free list) follows the pages.
            self.log_and_refresh(batch)?;
            pause()?;
        }
        self.store.commit()?;
        Ok(free.len())
    }

    /// The vectors of the nodes live when `c` began, the lowest-numbered
    /// that fit in its memory (see [`Vectors`]).
    fn read_vectors(
        &self,
        c: &Consolidation,
        pause: &mut impl FnMut() -> Result<()>,
    ) -> Result<Vectors> {
        let dim = self.meta.dim as usize;
        let end = c.end as usize;
        let index_bytes = end * std::mem::size_of::<u32>();
        let rows = c.memory.saturating_sub(index_bytes) / (dim * 4).max(1);
        if rows == 0 {
            return Ok(Vectors::none(dim));
        }
        let live = (0..c.end).filter(|&n| !gone(&self.codes, n)).count();
        let rows = rows.min(live);
        let mut v = Vectors::none(dim);
        // A budget the machine cannot give is not an error: the repair
        // reads every vector from its page instead (an allocation failure
        // would abort the server process).
        if v.row.try_reserve_exact(end).is_err() || v.data.try_reserve_exact(rows * dim).is_err() {
            return Ok(Vectors::none(dim));
        }
        v.row.resize(end, NONE);
        let (mut buf, mut count) = (Vec::new(), 0u32);
        for n in 0..c.end {
            if count as usize == rows {
                break;
            }
            if !gone(&self.codes, n) && self.read_live_vector(n, &mut buf, &mut v.data)? {
                v.row[n as usize] = count;
                count += 1;
            }
            if n % 256 == 255 {
                pause()?;
            }
        }
        Ok(v)
    }

    /// Append node `n`'s vector to `out` if its page says it is live;
    /// whether it did.
    fn read_live_vector(&self, n: u32, buf: &mut Vec<u64>, out: &mut Vec<f32>) -> Result<bool> {
        self.with_node(n, buf, &mut 0, |node| {
            let live = node.flags == format::FLAG_LIVE;
            if live {
                node.vector.extend_into(out);
            }
            live
        })
    }

    /// Both steps at once, for a caller with no other writer at work.
    pub fn consolidate(&mut self) -> Result<usize> {
        match self.begin_consolidation()? {
            Some(c) => self.consolidate_with(c, || Ok(())),
            None => Ok(0),
        }
    }

    /// Re-link live node `p` around the removed nodes it links to, if
    /// any: its surviving neighbours and the removed ones' out-neighbours
    /// (the nearest, up to [`REPAIR_POOL`] lists in all), re-pruned, and
    /// set only if the list is still the one read (an insert may add a back
    /// edge in between: then again).
    ///
    /// A neighbour numbered past this handle's copy of the code area is a
    /// node inserted since consolidation began (never a removed one): kept
    /// as it is, in place of one pruned slot, since its vector cannot be
    /// located without a refresh.
    fn repair(&self, p: u32, removed: &Removed, vectors: &Vectors, s: &mut Repair) -> Result<()> {
        let known = self.codes.len() as u32;
        let dim = self.meta.dim as usize;
        loop {
            let node = self.read_node(p)?;
            if !node.neighbors.iter().any(|&m| removed.get(m).is_some()) {
                return Ok(());
            }
            s.cands.clear();
            s.inherited.clear();
            s.newer.clear();
            for &m in &node.neighbors {
                if m >= known {
                    s.newer.push(m);
                    continue;
                }
                match removed.get(m) {
                    Some(dn) => s.inherited.extend(
                        dn.iter()
                            .copied()
                            .filter(|&x| x != p && x < known && removed.get(x).is_none()),
                    ),
                    None => s.cands.push(m),
                }
            }
            s.cands.sort_unstable();
            s.cands.dedup();
            s.inherited.sort_unstable();
            s.inherited.dedup();
            s.inherited.retain(|x| s.cands.binary_search(x).is_err());
            let room = (REPAIR_POOL * self.meta.max_degree as usize).saturating_sub(s.cands.len());
            if s.inherited.len() > room {
                // Only the nearest inherited candidates, by the codes in
                // memory: no page read for the rest.
                self.quant.prepare(&node.vector, &mut s.qc);
                s.ranked.clear();
                for &x in &s.inherited {
                    let (est, _) =
                        self.quant
                            .estimate(&s.qc, self.codes.code(x), self.codes.factors(x));
                    s.ranked.push((est, x));
                }
                s.ranked
                    .select_nth_unstable_by(room, |a, b| a.0.total_cmp(&b.0));
                s.cands.extend(s.ranked[..room].iter().map(|&(_, x)| x));
            } else {
                s.cands.extend_from_slice(&s.inherited);
            }
            // Besides the removed nodes, whether a candidate is live is known
            // from `vectors` (live when consolidation began, so live now) or
            // read from its page (read for its vector anyway), never from
            // this handle's code area: a slot freed by an earlier VACUUM may hold
            // a node an insert wrote there since consolidation began, live
            // though a private copy of the area taken at the start still
            // says free. Dropping it took the in-edges of every such node
            // (benches/churn.rs: recall fell round after round with writers
            // beside VACUUM on private areas; a shared area is kept current
            // by the writers, so the server with the preload did not show
            // it).
            s.arena.clear();
            let mut live = 0;
            for i in 0..s.cands.len() {
                let x = s.cands[i];
                let keep = match vectors.get(x) {
                    Some(v) => {
                        s.arena.extend_from_slice(v);
                        true
                    }
                    None => self.read_live_vector(x, &mut s.buf, &mut s.arena)?,
                };
                if keep {
                    s.cands[live] = x;
                    live += 1;
                }
            }
            s.cands.truncate(live);
            s.arena.extend_from_slice(&node.vector);
            // Pruned by place in `cands` (the node itself is the last).
            let k = s.cands.len() as u32;
            let arena = &s.arena;
            let v = |i: u32| &arena[i as usize * dim..(i as usize + 1) * dim];
            let r = (self.meta.max_degree as usize).saturating_sub(s.newer.len());
            let mut new: Vec<u32> =
                crate::prune::prune_among(k, 0..k, self.pruning_alpha(), r, |a, b| {
                    self.graph_dist(v(a), v(b))
                })
                .into_iter()
                .map(|i| s.cands[i as usize])
                .collect();
            new.extend_from_slice(&s.newer);
            if self.replace_neighbors(p, &node.neighbors, &new)? {
                return Ok(());
            }
        }
    }
}
