//! Reachability on the pages: every live node linked from the entry's
//! component, after a bounded build, inserts and consolidation.
//!
//! A search, and a filtered or distance-bounded scan that walks the whole
//! graph, can return only what the entry reaches. Pruning can leave a node
//! with no in-link: every list that held it dropped it for closer
//! neighbours. Under inner product that is common, since `M^2 - <a, b>`
//! favours large norms: a node with a small norm is pruned out of nearly
//! every list (counts in BENCHMARKS.md). The in-memory build links such
//! nodes before it writes anything (`vamana::reach`); what else changes
//! lists (the merge of a bounded build's clusters, the back edges of
//! inserts, the repair of consolidation) is checked here, over the node
//! pages, with memory for two bits and a byte per node. At the end of a
//! bounded build the pass finds nodes through the build's node stream and
//! searches over the vectors on the pages, so the build never reads the
//! code area into memory (`link_unreached_built`).

use super::node_stream::NodeStream;
use super::Index;
use crate::format::{self, NONE};
use crate::page::{BlockNo, PageStore, Result};
use std::collections::HashSet;

/// Search results (nearest first) looked at for a list with room before
/// their neighbours are.
const NEAREST: usize = 32;

/// Pages read, at most, looking for a list with room for one unreached
/// node, before a link is put in place of another.
const ROOM_READS: usize = 256;

/// Where the pass finds each node, and each node's flags: the code area,
/// or, at the end of a bounded build, the build's node stream (every node
/// live), so that the build need not read the code area into memory.
trait NodeMap {
    fn at(&self, n: u32) -> (BlockNo, u16);
    fn flags(&self, n: u32) -> u32;
}

impl NodeMap for super::area::Codes {
    fn at(&self, n: u32) -> (BlockNo, u16) {
        self.location(n)
    }
    fn flags(&self, n: u32) -> u32 {
        super::area::Codes::flags(self, n)
    }
}

impl NodeMap for NodeStream {
    fn at(&self, n: u32) -> (BlockNo, u16) {
        self.location(n as usize)
    }
    fn flags(&self, _: u32) -> u32 {
        format::FLAG_LIVE
    }
}

/// The walk's state: which nodes the entry reaches, and each node's links
/// from reached nodes (saturating), which says which link a node can lose.
struct Walk {
    seen: Vec<u64>,
    in_links: Vec<u8>,
    stack: Vec<u32>,
    buf: Vec<u64>,
}

impl Walk {
    fn new(n: usize) -> Walk {
        Walk {
            seen: vec![0; n.div_ceil(64)],
            in_links: vec![0; n],
            stack: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Whether `m` is marked; false for a node past the walk's end (one
    /// inserted since it began, which it neither marks nor counts).
    fn seen(&self, m: u32) -> bool {
        (m as usize) < self.in_links.len() && self.seen[m as usize / 64] >> (m % 64) & 1 == 1
    }

    /// Marks `m`; whether it was unmarked.
    fn mark(&mut self, m: u32) -> bool {
        let (w, b) = (m as usize / 64, 1u64 << (m % 64));
        let new = self.seen[w] & b == 0;
        self.seen[w] |= b;
        new
    }

    fn link(&mut self, m: u32) {
        let c = &mut self.in_links[m as usize];
        *c = c.saturating_add(1);
    }

    fn unlink(&mut self, m: u32) {
        let c = &mut self.in_links[m as usize];
        // A saturated count is a lower bound: leave it.
        if *c != u8::MAX {
            *c = c.saturating_sub(1);
        }
    }
}

impl<S: PageStore> Index<S> {
    /// Live nodes a walk from the entry point does not reach (a test and
    /// `diskvec_verify` ask).
    pub fn unreachable_nodes(&self) -> Result<usize> {
        let end = self.codes.len() as u32;
        let mut walk = Walk::new(end as usize);
        if self.meta.entry != NONE {
            self.walk_from(&self.codes, self.meta.entry, end, &mut walk, &mut || Ok(()))?;
        }
        Ok((0..end)
            .filter(|&n| self.codes.flags(n) == format::FLAG_LIVE && !walk.seen(n))
            .count())
    }

    /// Link every live node the entry point does not reach from one it
    /// does: the nearest reached node with room in its list (from a search
    /// for the node's vector, then those nodes' neighbours), else in place
    /// of a link whose target keeps another in-link. A link is only ever
    /// replaced, never dropped, so the graph stays valid whenever this
    /// stops; what the newly linked node reaches is reached too. Inserts
    /// and searches may run alongside (lists change by compare-and-set);
    /// nodes added after it began are left to the next time. `pause` runs
    /// between nodes and its error stops the work. Returns how many nodes
    /// it linked.
    pub fn link_unreached_with(&mut self, mut pause: impl FnMut() -> Result<()>) -> Result<usize> {
        self.refresh()?;
        // What the walk covers: nodes written before this change number
        // (the meta page as the refresh read it).
        let seq = self.meta.change_seq;
        let end = self.codes.len() as u32;
        let entry = self.meta.entry;
        if entry == NONE {
            return Ok(0);
        }
        let search = |q: &[f32], _: &Walk| self.search_codes(q);
        let linked = self.link_all(&self.codes, entry, end, &mut pause, search)?;
        self.meta.reach_checked = self.update_meta(|m| {
            m.reach_checked = seq + 1;
            Ok(m.reach_checked)
        })?;
        self.store.commit()?;
        Ok(linked)
    }

    /// [`Self::link_unreached_with`] at the end of a bounded build, before
    /// the code area is read: nodes `0..n` of `stream`, all live, searched
    /// for over their vectors on the pages (which only a node none of
    /// whose neighbours is reached needs). Nothing else writes meanwhile.
    pub(super) fn link_unreached_built(
        &self,
        stream: &NodeStream,
        n: usize,
        mut pause: impl FnMut() -> Result<()>,
    ) -> Result<usize> {
        let entry = self.meta.entry;
        let list = self.meta.build_list_size as usize;
        let search = |q: &[f32], walk: &Walk| self.search_pages(stream, entry, q, list, walk);
        self.link_all(stream, entry, n as u32, &mut pause, search)
    }

    /// Whether no code entry changed (no insert, delete or consolidation)
    /// since every live node was last known reachable: then
    /// [`Index::link_unreached_with`] has nothing to do.
    pub fn reach_checked(&self) -> Result<bool> {
        let m = super::read_meta(&self.store)?;
        Ok(m.reach_checked == m.change_seq + 1)
    }

    /// Walk from `entry` over nodes below `end`, and link each live node
    /// it misses (`link_one`, `search` finding reached nodes near it);
    /// returns how many it linked.
    fn link_all(
        &self,
        map: &impl NodeMap,
        entry: u32,
        end: u32,
        pause: &mut impl FnMut() -> Result<()>,
        search: impl Fn(&[f32], &Walk) -> Result<Vec<u32>>,
    ) -> Result<usize> {
        let mut walk = Walk::new(end as usize);
        self.walk_from(map, entry, end, &mut walk, pause)?;
        let mut linked = 0;
        for u in 0..end {
            if walk.seen(u) || map.flags(u) != format::FLAG_LIVE {
                continue;
            }
            pause()?;
            if self.link_one(map, u, &mut walk, &search)? {
                linked += 1;
                walk.link(u);
                self.walk_from(map, u, end, &mut walk, pause)?;
            }
        }
        Ok(linked)
    }

    /// Mark what `from` reaches through unmarked nodes below `end`,
    /// counting each link from a reached node. Free slots are never
    /// followed (nothing live links to one).
    fn walk_from(
        &self,
        map: &impl NodeMap,
        from: u32,
        end: u32,
        walk: &mut Walk,
        pause: &mut impl FnMut() -> Result<()>,
    ) -> Result<()> {
        walk.mark(from);
        walk.stack.push(from);
        let mut nbrs = Vec::new();
        let mut steps = 0usize;
        while let Some(x) = walk.stack.pop() {
            nbrs.clear();
            self.with_node_at(map.at(x), &mut walk.buf, &mut 0, |node| {
                nbrs.extend_from_slice(node.neighbors)
            })?;
            for &m in &nbrs {
                if m >= end || map.flags(m) == format::FLAG_FREE {
                    continue;
                }
                walk.link(m);
                if walk.mark(m) {
                    walk.stack.push(m);
                }
            }
            steps += 1;
            if steps.is_multiple_of(256) {
                pause()?;
            }
        }
        Ok(())
    }

    /// Reached nodes near `q`, nearest first, by a search over the codes
    /// from the entry (every node it expands is reached).
    fn search_codes(&self, q: &[f32]) -> Result<Vec<u32>> {
        let mut s = self.scratch();
        s.query = q.to_vec();
        self.begin(&mut s);
        let found = self.run(&mut s, self.meta.build_list_size as usize);
        let mut near: Vec<(f32, u32)> = s.exact.iter().map(|&(d, m, _)| (d, m)).collect();
        self.give_back(s);
        found?;
        near.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        Ok(near.into_iter().map(|(_, w)| w).collect())
    }

    /// Reached nodes near `q`, nearest first: a best-first search from
    /// `entry` with a list of `list`, each candidate measured by its vector
    /// on its page (a bounded build has not read the code area).
    fn search_pages(
        &self,
        stream: &NodeStream,
        entry: u32,
        q: &[f32],
        list: usize,
        walk: &Walk,
    ) -> Result<Vec<u32>> {
        let mut buf = Vec::new();
        let mut tmp = Vec::new();
        let mut dist = |m: u32| {
            self.with_node_at(stream.at(m), &mut buf, &mut 0, |node| {
                self.graph_dist(q, node.vector.as_f32(&mut tmp))
            })
        };
        let mut seen = HashSet::from([entry]);
        // (distance, node, expanded), nearest first, at most `list` long.
        let mut best = vec![(dist(entry)?, entry, false)];
        let (mut nbrs, mut run_on) = (Vec::new(), Vec::new());
        while let Some(i) = best.iter().position(|c| !c.2) {
            best[i].2 = true;
            let x = best[i].1;
            nbrs.clear();
            self.with_node_at(stream.at(x), &mut run_on, &mut 0, |node| {
                nbrs.extend_from_slice(node.neighbors)
            })?;
            for &m in &nbrs {
                if !walk.seen(m) || !seen.insert(m) {
                    continue;
                }
                let d = dist(m)?;
                if best.len() == list && d >= best[list - 1].0 {
                    continue;
                }
                let at = best.partition_point(|c| c.0 <= d);
                best.insert(at, (d, m, false));
                best.truncate(list);
            }
        }
        Ok(best.into_iter().map(|c| c.1).collect())
    }

    /// Link unreached node `u` from a reached one; whether it did.
    fn link_one(
        &self,
        map: &impl NodeMap,
        u: u32,
        walk: &mut Walk,
        search: &impl Fn(&[f32], &Walk) -> Result<Vec<u32>>,
    ) -> Result<bool> {
        let r = self.meta.max_degree as usize;
        let mut buf = Vec::new();
        let (vector, own) = self.with_node_at(map.at(u), &mut buf, &mut 0, |node| {
            (node.vector.to_vec(), node.neighbors.to_vec())
        })?;
        let neighbors = |w: u32| {
            self.with_node_at(map.at(w), &mut Vec::new(), &mut 0, |node| {
                node.neighbors.to_vec()
            })
        };
        let add_link = |w: u32, list: &[u32]| {
            let mut new = list.to_vec();
            new.push(u);
            self.replace_neighbors_at(map.at(w), list, &new)
        };
        // Its own neighbours first, nearest first: no search needed.
        for &w in &own {
            if walk.seen(w) {
                let list = neighbors(w)?;
                if list.len() < r && add_link(w, &list)? {
                    return Ok(true);
                }
            }
        }
        let mut near = search(&vector, walk)?;
        near.retain(|&w| w != u);
        // A reached list with room: the nearest results', then their
        // neighbours' (reached too, being linked from reached nodes).
        let mut reads = 0;
        let mut second = Vec::new();
        for &w in near.iter().take(NEAREST) {
            let list = neighbors(w)?;
            reads += 1;
            if list.contains(&u) {
                return Ok(true);
            }
            if list.len() < r && add_link(w, &list)? {
                return Ok(true);
            }
            second.extend(list.into_iter().filter(|&x| x != u && walk.seen(x)));
        }
        // The nearest were looked at above.
        let mut tried: HashSet<u32> = near.iter().take(NEAREST).copied().collect();
        for w in near.iter().skip(NEAREST).copied().chain(second) {
            if reads >= ROOM_READS {
                break;
            }
            if !tried.insert(w) || map.flags(w) != format::FLAG_LIVE {
                continue;
            }
            let list = neighbors(w)?;
            reads += 1;
            if list.len() < r && add_link(w, &list)? {
                return Ok(true);
            }
        }
        // Every list looked at is full: in the nearest one, the link to
        // the node with most other in-links gives way.
        for &w in near.iter().take(NEAREST) {
            let list = neighbors(w)?;
            let give = list
                .iter()
                .enumerate()
                .filter(|&(_, &x)| x < walk.in_links.len() as u32 && walk.in_links[x as usize] >= 2)
                .max_by_key(|&(_, &x)| walk.in_links[x as usize]);
            if let Some((i, &x)) = give {
                let mut new = list.clone();
                new[i] = u;
                if self.replace_neighbors_at(map.at(w), &list, &new)? {
                    walk.unlink(x);
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Metric, Options, ScanParams};
    use super::*;
    use crate::mem_store::MemStore;

    /// Clustered points whose norms differ up to fivefold, under inner
    /// product: pruning by `M^2 - <a, b>` drops the small norms from
    /// nearly every list, and an index grown by single inserts is left
    /// with nodes no search can reach. The pass links every one of them,
    /// and a search from each node's own vector then returns it.
    #[test]
    fn inserts_under_inner_product_leave_no_node_unreached() {
        let (n, dim, clusters) = (3000usize, 16usize, 20usize);
        let mut st = 11u64;
        let mut rnd = || (crate::rabitq::splitmix64(&mut st) % 20_000) as f32 / 10_000.0 - 1.0;
        let centres: Vec<f32> = (0..clusters * dim).map(|_| rnd()).collect();
        let mut data = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = i % clusters;
            let scale = 1.0 + 4.0 * ((i / clusters) % 5) as f32 / 4.0;
            for d in 0..dim {
                data.push((centres[c * dim + d] + 0.2 * rnd()) * scale);
            }
        }
        let opts = Options {
            max_degree: 12,
            build_list_size: 32,
            ..Options::new(dim, Metric::InnerProduct)
        };
        let mut index = Index::create(MemStore::new(), opts).unwrap();
        for (i, v) in data.chunks_exact(dim).enumerate() {
            index.insert(i as u64, v).unwrap();
        }
        assert!(!index.reach_checked().unwrap(), "inserts since the check");
        let before = index.unreachable_nodes().unwrap();
        assert!(before > 0, "the data must leave nodes unreached");
        let linked = index.link_unreached_with(|| Ok(())).unwrap();
        assert!(
            linked > 0 && linked <= before,
            "{linked} linked of {before}"
        );
        assert_eq!(index.unreachable_nodes().unwrap(), 0);
        assert!(index.reach_checked().unwrap(), "the pass is recorded");
        index.check_graph(false).unwrap();
        // Reached means found: a bounded walk returns every node as one
        // of its own vector's results (a filter here would need it too).
        let mut missing = 0;
        for (i, v) in data.chunks_exact(dim).enumerate().step_by(7) {
            let mut it = index.search_iter(v, &ScanParams::default()).unwrap();
            let found = it.any(|r| r.unwrap().0 == i as u64);
            missing += usize::from(!found);
        }
        assert_eq!(missing, 0, "{missing} nodes never returned by a full scan");
    }
}
