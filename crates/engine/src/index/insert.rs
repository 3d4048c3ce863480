//! Adding one vector: a search for its neighbours, RobustPrune of what the
//! search expanded, and back edges from those neighbours.
//!
//! Several handles on one store may insert at the same time (each refreshed
//! first): pages change only by read-modify-write of the caller's own slot
//! or field (see [`PageStore::modify`]), so nothing index-wide is locked.
//! Deletes and consolidation may run alongside; consolidation needs only
//! a moment with no insert in flight to begin (see `consolidate.rs`).

use super::{AttrValue, Index, Metric};
use crate::format::{self, CodeEntryHead, NONE};
use crate::page::{Error, PageStore, Result};
use std::collections::HashMap;

impl<S: PageStore> Index<S> {
    /// Add one vector. `id` must not be in the index already. Its
    /// attribute columns, if the index has any, are NULL.
    pub fn insert(&mut self, id: u64, vector: &[f32]) -> Result<()> {
        self.insert_with(id, vector, &[])
    }

    /// Add one vector with its attribute values, one per attribute column
    /// (see `attrs.rs`; an empty slice: all NULL).
    pub fn insert_with(&mut self, id: u64, vector: &[f32], values: &[AttrValue]) -> Result<()> {
        let v = self.prepare_vector(vector)?;
        if self.contains(id) {
            return Err(Error::Invalid(format!("id {id} is already in the index")));
        }
        self.attrs.check(values)?;
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
        let mut code = vec![0u64; self.quant.code_words()];
        let factors = self.quant.encode(&v, &mut code);
        let (blkno, offset) = self.codes.location(n);
        let head = CodeEntryHead {
            id,
            blkno,
            offset,
            flags: format::FLAG_LIVE as u16,
            factors,
        };
        // Before the node goes live, as everything else of it.
        self.write_attrs(n, values)?;
        if self.meta.entry == NONE && self.become_entry(n, &v, &head, &code)? {
            return Ok(());
        }
        let nbrs = self.neighbours_for(n, &v)?;
        self.write_node(n, id, format::FLAG_LIVE, &v, &nbrs)?;
        self.write_code(n, &head, &code)?;
        // The node is complete and live before anything links to it: a
        // crash from here on leaves a live node with some in-edges missing
        // (a valid graph), never an edge to a node that is not there.
        self.refresh()?;
        for &m in &nbrs {
            self.add_back_edge(m, n, &v)?;
        }
        Ok(())
    }

    /// The first node of an empty index: written complete and live, then
    /// made the entry point, which only one writer can do. False when
    /// another writer's node came first (the node is then linked like any
    /// other). Either way this handle is refreshed.
    fn become_entry(
        &mut self,
        n: u32,
        v: &[f32],
        head: &CodeEntryHead,
        code: &[u64],
    ) -> Result<bool> {
        self.write_node(n, head.id, format::FLAG_LIVE, v, &[])?;
        self.write_code(n, head, code)?;
        let won = self.update_meta(|m| {
            let free = m.entry == NONE;
            if free {
                m.entry = n;
            }
            Ok(free)
        })?;
        self.refresh()?;
        Ok(won)
    }

    /// Neighbours for new node `n` (vector `v`): a search with the build
    /// list size that keeps every expanded vector, then RobustPrune.
    fn neighbours_for(&self, n: u32, v: &[f32]) -> Result<Vec<u32>> {
        let mut s = self.scratch();
        s.query = v.to_vec();
        s.keep_vectors = true;
        self.begin(&mut s);
        // The new node is not linked yet: skip it.
        s.beam.visit(n);
        let res = self.run(&mut s, self.meta.build_list_size as usize);
        s.keep_vectors = false;
        let nbrs = res.map(|()| {
            let dim = self.meta.dim as usize;
            let vecs: HashMap<u32, &[f32]> = s
                .kept
                .iter()
                .map(|&(m, at)| (m, &s.arena[at..at + dim]))
                .collect();
            self.prune_with_vectors(n, v, &vecs)
        });
        self.give_back(s);
        nbrs
    }

    /// Link `m -> n` (`v` is `n`'s vector), pruning `m`'s list when it is
    /// full. Computed from a snapshot of `m` and applied only if `m`'s list
    /// is unchanged, else recomputed: another writer may be linking to `m`
    /// too. After a few lost races the edge is left out; `n` keeps its
    /// other in-edges, and a missing back edge costs recall, never
    /// correctness.
    ///
    /// A full list that still links to a tombstone (deleted, not yet
    /// consolidated) gives that link to `n` instead of pruning: pruned with
    /// the tombstone among the candidates, `n` often lost its place to it
    /// (a close pair keeps one link), and once consolidation removed the
    /// tombstone the link was gone from both. Beside a running
    /// consolidation that left dozens of new nodes with no in-link at all
    /// (tests/consolidate_concurrent.rs); the tombstone's own neighbours
    /// are still inherited through its other in-links.
    fn add_back_edge(&mut self, m: u32, n: u32, v: &[f32]) -> Result<()> {
        const TRIES: usize = 8;
        let r = self.meta.max_degree as usize;
        for _ in 0..TRIES {
            let node = self.read_node(m)?;
            if node.flags == format::FLAG_FREE || node.neighbors.contains(&n) {
                return Ok(());
            }
            if node
                .neighbors
                .iter()
                .any(|&x| x as usize >= self.codes.len())
            {
                // Linked to a node another writer added since our refresh
                // (it was counted before it was linked: a refresh has it).
                self.refresh()?;
                continue;
            }
            let new = if node.neighbors.len() < r {
                let mut new = node.neighbors.clone();
                new.push(n);
                new
            } else {
                let mut vecs: HashMap<u32, Vec<f32>> = HashMap::new();
                vecs.insert(n, v.to_vec());
                // Reading stops at the first tombstone: it is replaced.
                let mut tombstone = None;
                for &x in &node.neighbors {
                    let nb = self.read_node(x)?;
                    if nb.flags == format::FLAG_DELETED {
                        tombstone = Some(x);
                        break;
                    }
                    vecs.insert(x, nb.vector);
                }
                match tombstone {
                    Some(t) => node
                        .neighbors
                        .iter()
                        .map(|&x| if x == t { n } else { x })
                        .collect(),
                    None => self.prune_with_vectors(m, &node.vector, &vecs),
                }
            };
            if self.replace_neighbors(m, &node.neighbors, &new)? {
                return Ok(());
            }
        }
        Ok(())
    }
}
