//! The partitioned build (after DiskANN's answer to data larger than
//! memory): the vectors are on the node pages already (`bulk_load.rs`);
//! k-means on a sample places clusters (the largest split again), each
//! vector joins its nearest and, near a boundary, up to [`OVERLAP`] in all
//! (`JOIN_RATIO`), and each cluster's graph is built in
//! memory (`vamana::build`, all cores) within the budget, one cluster at a
//! time, the vectors that joined a cluster from across a boundary (its
//! guests) inserted more cheaply than its own. A node's list from the
//! first of its clusters waits on its page; each later cluster's is
//! merged into it there, in place, pruned again (when longer than the
//! list allows) over the neighbours whose vectors that cluster holds. The
//! overlap is what joins the clusters into one graph; the smaller the
//! clusters, the more of a node's true neighbours fall outside both, so
//! recall at a given search list drops somewhat as the budget shrinks
//! (BENCHMARKS.md).
//!
//! Memory: each node's clusters (two bytes each; a cluster's members are
//! found by a scan of them), attribute values if any, and one cluster's
//! build at a time, sized so the whole stays within the budget (clusters
//! of at least [`MIN_CLUSTER`] nodes whatever the budget); what a cluster
//! freed is handed back before the next. The code area is written, never
//! read back: the reachability pass at the end runs over the node stream.

use super::bulk_load::Spill;
use super::node_io::neighbor_writes;
use super::node_stream::{ChainWriter, NodeStream, SlotCursor, SlotReader};
use super::partition::{
    compact, joined, kmeans, member_count, members, split_large, MAX_CLUSTERS, NO_CLUSTER,
};
use super::{AttrValue, Index, Metric};
use crate::format::Kind;
use crate::page::{Error, PageStore, Result};
use crate::prune::prune_among;
use crate::vamana;
use rayon::prelude::*;

/// Clusters a vector may join (its nearest). Three rather than two: a
/// little more recall at a given search list for half as many cluster
/// builds again (benches/notes/70-bounded-build.md).
const OVERLAP: usize = 3;

/// A vector joins its second and third nearest clusters only when their
/// squared distance is within this ratio of the nearest's (see
/// `partition::joined`): one deep inside its cluster has its neighbours
/// there, and each cluster it joins costs an insertion into that
/// cluster's graph (a cheap one, see [`GUEST_LIST_SHARE`]).
const JOIN_RATIO: f32 = 1.5;

/// A guest of a cluster (a vector that joined it from across a boundary,
/// see `vamana::Guests`) is inserted with this share of the build's search
/// list (at least 16), and only in the second pass: guests were about two
/// thirds of the insertions and most of the time, and a guest's list in a
/// cluster only has to reach across the boundary (its home cluster builds
/// it fully). With guests this cheap a vector may join more clusters, so
/// [`JOIN_RATIO`] is wider. 0.35 at first; 0.25 cost no recall on either
/// set and saved a tenth of the build (benches/notes/74-bounded-guests.md,
/// 75-bounded-merge.md).
const GUEST_LIST_SHARE: f32 = 0.25;

/// The smallest cluster built, however small the budget.
const MIN_CLUSTER: usize = 2_000;

/// Clusters are planned at this share of the largest that fits (k-means
/// clusters are uneven; the largest are split, see `partition::split_large`).
const FILL: f64 = 0.85;

/// A cluster expected (from the sample) past this share of the largest
/// that fits is split in two or more.
const SPLIT_AT: f64 = 1.0;

/// Nodes whose lists are merged and written per step.
const MERGE_STEP: usize = 2_048;

/// Nodes whose vectors are read and encoded per step of the code pass.
const CODE_CHUNK: usize = 8_192;

impl<S: PageStore> Index<S> {
    /// Build the graph and codes over the node pages a spilled bulk load
    /// wrote (node `i` is row `i`, its values `values[i * columns..]`).
    pub(super) fn build_spilled(
        &mut self,
        spill: Spill,
        values: &[AttrValue],
        budget: usize,
    ) -> Result<()> {
        let dim = self.meta.dim as usize;
        let n = spill.n;
        let (blocks, used) = spill.writer.finish(&self.store)?;
        let stream = NodeStream {
            blocks,
            slot_size: self.layout.slot_size,
        };
        let mean: Vec<f32> = spill.sum.iter().map(|s| (*s / n as f64) as f32).collect();
        self.set_centroid(mean.clone())?;
        if self.metric == Metric::InnerProduct {
            self.meta.ip_max_norm = spill.ip_max_sq.sqrt() as f32;
            self.meta.ip_mean_sq_norm = (spill.ip_sum_sq / n as f64) as f32;
        }

        // How big a cluster the budget allows, after what is held throughout.
        let r = self.meta.max_degree as usize;
        let threads = rayon::current_num_threads();
        let per_node = cluster_bytes_per_node(dim, r, threads);
        // Each node's clusters (two bytes each, `partition::compact`), and
        // a merge step's lists as read and as merged.
        let held = OVERLAP * n * 2 + std::mem::size_of_val(values) + MERGE_STEP * (8 * r + 32);
        let largest = (budget.saturating_sub(held) / per_node).max(MIN_CLUSTER);
        let samples = spill.sample.len() / dim;
        let centroids = if n <= largest || samples < 2 * OVERLAP {
            // One cluster holds them all.
            Vec::new()
        } else {
            let k = ((OVERLAP * n) as f64 / (largest as f64 * FILL)).ceil() as usize;
            let k = k.clamp(OVERLAP, samples / 2);
            let centroids = kmeans(&spill.sample, dim, k, self.meta.seed, self.stop)
                .ok_or(Error::Interrupted)?;
            // Uneven clusters split before any vector is placed: a cluster
            // cut into parts later loses the locality that makes its graph
            // good.
            let cap = (largest as f64 * SPLIT_AT * samples as f64 / n as f64).max(2.0) as usize;
            split_large::<OVERLAP>(
                &spill.sample,
                dim,
                centroids,
                cap,
                JOIN_RATIO,
                self.meta.seed,
                self.stop,
            )
            .ok_or(Error::Interrupted)?
        };
        drop(spill.sample);

        if centroids.len() / dim >= MAX_CLUSTERS {
            // Not reached: at most half the sample's points are centroids.
            return Err(Error::Invalid("too many clusters for the build".into()));
        }
        let (near, entry) = self.code_pass(&stream, n, &centroids, &mean)?;
        let k = (centroids.len() / dim).max(1);
        drop(centroids);
        for c in 0..k {
            // A cluster past the budget is built in parts, taken by stride
            // so each spans the cluster (rows arrive in table order).
            let parts = member_count(&near, c).div_ceil(largest).max(1);
            for part in 0..parts {
                self.check_stop()?;
                let (nodes, home) = members(&near, c, part, parts);
                let is_guest: Vec<bool> = home.into_iter().map(|h| !h).collect();
                self.build_cluster(&stream, &nodes, &is_guest)?;
                release_freed_memory();
            }
        }
        drop(near);

        if self.attrs.any() {
            let nulls;
            let values = if values.is_empty() {
                nulls = vec![AttrValue::Null; n * self.attrs.kinds().len()];
                &nulls
            } else {
                values
            };
            self.write_attr_pages(n, values)?;
        }
        self.meta.node_tail = *stream.blocks.last().expect("a spilled load has rows");
        self.meta.node_tail_used = used as u32;
        self.meta.entry = entry;
        // Each cluster's graph reaches all its nodes, but merging the
        // clusters' lists prunes some nodes out of every list that held
        // them (most under inner product): link those now, over the node
        // stream, without reading the code area into memory (it is larger
        // than the budget may allow; a handle reads it when it searches).
        let stop = self.stop;
        self.link_unreached_built(&stream, n, || match stop() {
            true => Err(Error::Interrupted),
            false => Ok(()),
        })?;
        self.meta.reach_checked = self.meta.change_seq + 1;
        self.write_meta()?;
        self.store.commit()
    }

    /// One pass over the `n` nodes: the code pages (with each node's id and
    /// location), the clusters each node joins (`partition::joined`,
    /// compacted; without centroids, cluster 0 alone), and the node nearest
    /// the mean (the entry point). Fails on a repeated id.
    fn code_pass(
        &mut self,
        stream: &NodeStream,
        n: usize,
        centroids: &[f32],
        mean: &[f32],
    ) -> Result<(Vec<[u16; OVERLAP]>, u32)> {
        let dim = self.meta.dim as usize;
        let per = crate::format::codes_per_page(self.quant.code_words());
        // Whole code pages per chunk.
        let chunk = CODE_CHUNK.div_ceil(per) * per;
        let mut codes = ChainWriter::new(Kind::Codes);
        let mut pairs = Vec::with_capacity(n);
        let mut best = (f32::INFINITY, 0u32);
        let mut vectors = Vec::with_capacity(chunk * dim);
        let mut ids = Vec::with_capacity(n);
        for start in (0..n).step_by(chunk) {
            self.check_stop()?;
            let end = (start + chunk).min(n);
            vectors.clear();
            // Read, then write the code pages: no page is lent across a write.
            let mut reader = SlotReader::new(&self.store, stream);
            for i in start..end {
                reader.node(i, &self.layout, |node| {
                    ids.push(node.id);
                    node.vector.extend_into(&mut vectors)
                })?;
            }
            drop(reader);
            let locations: Vec<_> = (start..end).map(|i| stream.location(i)).collect();
            self.push_code_pages(&mut codes, &vectors, &ids[start..end], &locations)?;
            let near: Vec<([u32; OVERLAP], f32)> = vectors
                .par_chunks_exact(dim)
                .map(|v| {
                    let cs = match centroids.is_empty() {
                        // One cluster holds them all, each at home.
                        true => std::array::from_fn(|j| if j == 0 { 0 } else { NO_CLUSTER }),
                        false => joined::<OVERLAP>(v, centroids, dim, JOIN_RATIO),
                    };
                    (cs, crate::distance::l2_squared_f32(v, mean))
                })
                .collect();
            for (j, (cs, d)) in near.into_iter().enumerate() {
                pairs.push(compact(cs));
                if d < best.0 {
                    best = (d, (start + j) as u32);
                }
            }
        }
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Invalid("duplicate ids".into()));
        }
        drop(ids);
        self.finish_codes(codes, n)?;
        Ok((pairs, best.1))
    }

    /// Build the graph of `nodes` (increasing node numbers) in memory and
    /// merge each node's list into the one on its page.
    fn build_cluster(&self, stream: &NodeStream, nodes: &[u32], is_guest: &[bool]) -> Result<()> {
        let dim = self.meta.dim as usize;
        let n = nodes.len();
        let mut data = Vec::with_capacity(n * dim);
        let mut reader = SlotReader::new(&self.store, stream);
        for &g in nodes {
            reader.node(g as usize, &self.layout, |node| {
                node.vector.extend_into(&mut data)
            })?;
        }
        drop(reader);
        let params = self.build_params();
        let shift = self.graph_shift();
        let guests = vamana::Guests {
            is_guest,
            list_size: ((params.list_size as f32 * GUEST_LIST_SHARE) as usize)
                .max(16)
                .min(params.list_size),
        };
        let graph = vamana::build_with_guests(data, dim, shift, &params, Some(guests))
            .ok_or(Error::Interrupted)?;
        let mut new_of = vec![0u32; n];
        for (new, &old) in graph.order.iter().enumerate() {
            new_of[old as usize] = new as u32;
        }
        // Each node's list merged with the one on its page (from the node's
        // clusters built before this one), a step at a time so that only a
        // step's lists are held (read here rather than with the vectors:
        // holding them all would take room from the cluster), and written
        // back in place.
        let points = vamana::Points::new(&graph.vectors, dim, shift);
        let (r, alpha) = (self.meta.max_degree as usize, self.pruning_alpha());
        let global = |x: u32| nodes[graph.order[x as usize] as usize];
        let mut cursor = SlotCursor::new(&self.store, stream);
        let (mut before, mut before_at) = (Vec::new(), Vec::new());
        let mut lists = Vec::with_capacity(MERGE_STEP.min(n));
        for step in (0..n).step_by(MERGE_STEP) {
            let end = (step + MERGE_STEP).min(n);
            before.clear();
            before_at.clear();
            before_at.push(0u32);
            let mut reader = SlotReader::new(&self.store, stream);
            for &g in &nodes[step..end] {
                reader.node(g as usize, &self.layout, |node| {
                    before.extend_from_slice(node.neighbors);
                    before_at.push(before.len() as u32);
                })?;
            }
            drop(reader);
            (step..end)
                .into_par_iter()
                .map(|j| {
                    let p = new_of[j];
                    let k = j - step;
                    let before = &before[before_at[k] as usize..before_at[k + 1] as usize];
                    merge(
                        p,
                        &graph.adj[p as usize],
                        before,
                        nodes,
                        &new_of,
                        r,
                        global,
                        |a, b| points.dist(a, b),
                        alpha,
                    )
                })
                .collect_into_vec(&mut lists);
            for (&g, list) in nodes[step..end].iter().zip(&lists) {
                neighbor_writes(&self.layout, list, |at, bytes| {
                    cursor.write(g as usize, at, bytes)
                })?;
            }
            // The next step reads lists from the pages.
            cursor.flush()?;
        }
        cursor.finish()
    }
}

/// Node `p`'s list (node numbers) from its list `built` in this cluster's
/// graph (cluster numbers) and the list `before` already on its page (node
/// numbers, nearest first; empty if none). With no earlier list, `built`
/// nearest first. Else the union, nearest first where their vectors are
/// here (`nodes`, sorted, are this cluster's; `new_of` maps a place in it
/// to the cluster's numbering), pruned again only when it is longer than
/// `r` (as the build adds a back edge to a list with room), with some
/// places kept for the earlier list's nodes that are not here.
#[allow(clippy::too_many_arguments)]
fn merge(
    p: u32,
    built: &[u32],
    before: &[u32],
    nodes: &[u32],
    new_of: &[u32],
    r: usize,
    global: impl Fn(u32) -> u32,
    dist: impl Fn(u32, u32) -> f32,
    alpha: f32,
) -> Vec<u32> {
    // Nearest first: a later merge keeps the head.
    let nearest_first = |ids: &[u32]| -> Vec<u32> {
        let mut by: Vec<(f32, u32)> = ids.iter().map(|&x| (dist(p, x), x)).collect();
        by.sort_by(|a, b| a.0.total_cmp(&b.0));
        by.into_iter().map(|(_, x)| global(x)).collect()
    };
    if before.is_empty() {
        return nearest_first(built);
    }
    let mut known = built.to_vec();
    let mut elsewhere = Vec::new();
    for &g in before {
        match nodes.binary_search(&g) {
            Ok(j) => known.push(new_of[j]),
            Err(_) => elsewhere.push(g),
        }
    }
    known.sort_unstable();
    known.dedup();
    known.retain(|&x| x != p);
    if known.len() + elsewhere.len() <= r {
        let mut out = nearest_first(&known);
        out.extend(elsewhere);
        return out;
    }
    let room = r - elsewhere.len().min(r / 3);
    let mut out: Vec<u32> = prune_among(p, known, alpha, room, dist)
        .into_iter()
        .map(global)
        .collect();
    for g in elsewhere {
        if out.len() < r && !out.contains(&g) {
            out.push(g);
        }
    }
    out
}

/// Keep the allocator's large blocks apart from its heap for the rest of
/// the process. glibc serves blocks from 128 KiB up with their own
/// mappings, returned to the system when freed, but raises that threshold
/// to the size of each such block freed: after the first cluster the next
/// clusters' tables came from the heap, fragmented it, and the building
/// backend's resident memory peaked above its budget though what was in
/// use did not (benches/notes/76-bounded-memory.md). Fixing it is what
/// glibc does before any block is freed, so other allocations only lose
/// the heap's reuse of blocks that large.
pub(super) fn keep_large_blocks_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes a tuning parameter of the glibc
    // allocator (under its own lock); nothing allocated moves.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hand the memory a cluster's build freed back to the system. The
/// allocator keeps freed memory for reuse, per thread arena, and the
/// next cluster's blocks (other sizes, other threads) do not always fit
/// in it: without this the process grew past the budget from one cluster
/// to the next though what was in use never did
/// (benches/notes/76-bounded-memory.md).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory to the system (the
    // glibc allocator's own locks guard its arenas); nothing that is
    // allocated moves.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes one node of a cluster costs while its graph is built: its vector
/// (renumbered where it lies, see `vamana::build`) and its 8-bit build
/// code (`crate::sq8`), its adjacency at the build's peak, a visited mark
/// per thread, its node number and home and guest flags as listed for the
/// cluster, its guest flag in the build's numbering, and its places in the
/// build's orders (insertion order, breadth-first numbering and its
/// inverse, the renumbering's marks).
fn cluster_bytes_per_node(dim: usize, r: usize, threads: usize) -> usize {
    4 * dim
        + crate::sq8::row_bytes(dim)
        + 4
        + vamana::adjacency_bytes_per_node(r)
        + 4 * threads
        + 16
        + 6
        + 1
        + 16
}
