//! The partitioned build (after DiskANN's answer to data larger than
//! memory): the vectors are on the node pages already (`bulk_load.rs`);
//! k-means on a sample places clusters (the largest split again), each
//! vector joins its [`OVERLAP`] nearest, and each cluster's graph is built in
//! memory (`vamana::build`, all cores) within the budget, one cluster at a
//! time. A node's list from the first of its clusters waits on its page;
//! each later cluster's is merged into it there, pruned again over the
//! neighbours whose vectors that cluster holds. The overlap is what joins
//! the clusters into one graph; the smaller the clusters, the more of a
//! node's true neighbours fall outside both, so recall at a given search
//! list drops somewhat as the budget shrinks (BENCHMARKS.md).
//!
//! Memory: the cluster membership (node numbers per vector), attribute
//! values if any, and one cluster's build at a time, sized so the whole
//! stays within the budget (clusters of at least [`MIN_CLUSTER`] nodes
//! whatever the budget).

use super::bulk_load::Spill;
use super::node_io::{parse_node, set_slot_neighbors};
use super::node_stream::{ChainWriter, NodeStream, SlotCursor, SlotReader};
use super::{AttrValue, Index, Metric};
use crate::format::Kind;
use crate::page::{Error, PageStore, Result};
use crate::prune::prune_among;
use crate::vamana;
use rayon::prelude::*;

/// Clusters each vector joins (its nearest). Three rather than two: a
/// little more recall at a given search list for half as many cluster
/// builds again (benches/notes/70-bounded-build.md).
const OVERLAP: usize = 3;

/// The smallest cluster built, however small the budget.
const MIN_CLUSTER: usize = 2_000;

/// Clusters are planned at this share of the largest that fits (k-means
/// clusters are uneven; the largest are split, see [`split_large`]).
const FILL: f64 = 0.85;

/// A cluster expected (from the sample) past this share of the largest
/// that fits is split in two or more.
const SPLIT_AT: f64 = 1.0;

/// Lloyd iterations of the clustering.
const KMEANS_ROUNDS: usize = 8;

/// Nodes whose lists are merged and written per step.
const MERGE_STEP: usize = 4_096;

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
        self.store.commit()?;
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
        let held = OVERLAP * n * 4 + std::mem::size_of_val(values);
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
            split_large(
                &spill.sample,
                dim,
                centroids,
                cap,
                self.meta.seed,
                self.stop,
            )
            .ok_or(Error::Interrupted)?
        };
        drop(spill.sample);

        let (near, entry) = self.code_pass(&stream, n, &centroids, &mean)?;
        let members = if centroids.is_empty() {
            Members {
                start: vec![0, n],
                nodes: (0..n as u32).collect(),
            }
        } else {
            group(&near, centroids.len() / dim)
        };
        drop(near);
        drop(centroids);
        let k = members.start.len() - 1;
        for c in 0..k {
            let m = &members.nodes[members.start[c]..members.start[c + 1]];
            // A cluster past the budget is built in parts, taken by stride
            // so each spans the cluster (rows arrive in table order).
            let parts = m.len().div_ceil(largest).max(1);
            for part in 0..parts {
                self.check_stop()?;
                let nodes: Vec<u32> = m.iter().skip(part).step_by(parts).copied().collect();
                self.build_cluster(&stream, &nodes)?;
            }
        }
        drop(members);

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
        self.write_meta()?;
        self.refresh()?;
        self.store.commit()
    }

    /// One pass over the `n` nodes: the code pages (with each node's id and
    /// location), each node's [`OVERLAP`] nearest clusters (none without
    /// centroids), and the node nearest the mean (the entry point). Fails on
    /// a repeated id.
    fn code_pass(
        &mut self,
        stream: &NodeStream,
        n: usize,
        centroids: &[f32],
        mean: &[f32],
    ) -> Result<(Vec<[u32; OVERLAP]>, u32)> {
        let dim = self.meta.dim as usize;
        let per = crate::format::codes_per_page(self.quant.code_words());
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
                reader
                    .visit(i, |slot| {
                        parse_node(slot, &self.layout).map(|node| {
                            ids.push(node.id);
                            node.vector.extend_into(&mut vectors)
                        })
                    })?
                    .map_err(|r| super::corrupt(stream.location(i).0, r))?;
            }
            drop(reader);
            let locations: Vec<_> = (start..end).map(|i| stream.location(i)).collect();
            for (j, page_ids) in ids[start..end].chunks(per).enumerate() {
                let at = j * per;
                let mut p = codes.page();
                self.fill_code_page(
                    &mut p,
                    &vectors[at * dim..(at + page_ids.len()) * dim],
                    page_ids,
                    &locations[at..at + page_ids.len()],
                );
                codes.push(&self.store, p)?;
            }
            let near: Vec<([u32; OVERLAP], f32)> = vectors
                .par_chunks_exact(dim)
                .map(|v| {
                    let cs = match centroids.is_empty() {
                        true => [0; OVERLAP],
                        false => nearest::<OVERLAP>(v, centroids, dim),
                    };
                    (cs, crate::distance::l2_squared_f32(v, mean))
                })
                .collect();
            for (j, (cs, d)) in near.into_iter().enumerate() {
                if !centroids.is_empty() {
                    pairs.push(cs);
                }
                if d < best.0 {
                    best = (d, (start + j) as u32);
                }
            }
        }
        codes.finish(&self.store)?;
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::Invalid("duplicate ids".into()));
        }
        drop(ids);
        self.meta.code_head = codes.blocks[0];
        self.meta.code_tail = *codes.blocks.last().unwrap();
        self.meta.n_nodes = n as u64;
        Ok((pairs, best.1))
    }

    /// Build the graph of `nodes` (increasing node numbers) in memory and
    /// merge each node's list into the one on its page.
    fn build_cluster(&self, stream: &NodeStream, nodes: &[u32]) -> Result<()> {
        let dim = self.meta.dim as usize;
        // The vectors, and the lists already on the pages (from the nodes'
        // clusters built before this one), in one read of the pages.
        let mut data = Vec::with_capacity(nodes.len() * dim);
        let mut before = Vec::with_capacity(nodes.len());
        let mut reader = SlotReader::new(&self.store, stream);
        for &g in nodes {
            reader
                .visit(g as usize, |slot| {
                    parse_node(slot, &self.layout).map(|node| {
                        before.push(node.neighbors.to_vec());
                        node.vector.extend_into(&mut data)
                    })
                })?
                .map_err(|r| super::corrupt(stream.location(g as usize).0, r))?;
        }
        drop(reader);
        let params = vamana::BuildParams {
            max_degree: self.meta.max_degree as usize,
            list_size: self.meta.build_list_size as usize,
            alpha: self.pruning_alpha(),
            seed: self.meta.seed,
            stop: self.stop,
        };
        let shift = self.graph_shift();
        let graph = vamana::build(&vamana::Points::new(&data, dim, shift), &params)
            .ok_or(Error::Interrupted)?;
        drop(data);
        let n = nodes.len();
        let mut new_of = vec![0u32; n];
        for (new, &old) in graph.order.iter().enumerate() {
            new_of[old as usize] = new as u32;
        }
        // Each node's list merged with the one it had, in place of it.
        let points = vamana::Points::new(&graph.vectors, dim, shift);
        let (r, alpha) = (self.meta.max_degree as usize, self.pruning_alpha());
        let global = |x: u32| nodes[graph.order[x as usize] as usize];
        let mut cursor = SlotCursor::new(&self.store, stream);
        for step in (0..n).step_by(MERGE_STEP) {
            let end = (step + MERGE_STEP).min(n);
            let lists = &mut before[step..end];
            lists.par_iter_mut().enumerate().for_each(|(j, list)| {
                let p = new_of[step + j];
                *list = merge(
                    p,
                    &graph.adj[p as usize],
                    list,
                    nodes,
                    &new_of,
                    r,
                    global,
                    |a, b| points.dist(a, b),
                    alpha,
                );
            });
            for (&g, list) in nodes[step..end].iter().zip(lists.iter()) {
                cursor.visit(g as usize, |slot| {
                    set_slot_neighbors(slot, &self.layout, list)
                })?;
            }
        }
        cursor.finish()
    }
}

/// Node `p`'s list (node numbers) from its list `built` in this cluster's
/// graph (cluster numbers) and the list `before` already on its page (node
/// numbers, nearest first; empty if none). With no earlier list, `built`
/// nearest first. Else both pruned again where their vectors are here
/// (`nodes`, sorted, are this cluster's; `new_of` maps a place in it to
/// the cluster's numbering), with some places kept for the earlier list's
/// nodes that are not here.
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
    if before.is_empty() {
        // Nearest first: a later merge keeps the head.
        let mut by: Vec<(f32, u32)> = built.iter().map(|&x| (dist(p, x), x)).collect();
        by.sort_by(|a, b| a.0.total_cmp(&b.0));
        return by.into_iter().map(|(_, x)| global(x)).collect();
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

/// Bytes one node of a cluster costs while its graph is built: its vector
/// twice (as read, and renumbered by the build), its adjacency list with
/// the build's slack, a visited mark per thread, and the list it had.
fn cluster_bytes_per_node(dim: usize, r: usize, threads: usize) -> usize {
    8 * dim + 10 * r + 64 + 4 * threads + 16
}

/// Nodes by cluster: cluster `c`'s are `nodes[start[c]..start[c + 1]]`,
/// in increasing order.
struct Members {
    start: Vec<usize>,
    nodes: Vec<u32>,
}

fn group<const N: usize>(pairs: &[[u32; N]], k: usize) -> Members {
    let mut start = vec![0usize; k + 1];
    for pair in pairs {
        for &c in pair {
            start[c as usize + 1] += 1;
        }
    }
    for c in 0..k {
        start[c + 1] += start[c];
    }
    let mut at = start.clone();
    let mut nodes = vec![0u32; start[k]];
    for (i, pair) in pairs.iter().enumerate() {
        for &c in pair {
            nodes[at[c as usize]] = i as u32;
            at[c as usize] += 1;
        }
    }
    Members { start, nodes }
}

/// The `N` nearest of the centroids (squared L2), nearest first; there
/// must be at least `N`.
fn nearest<const N: usize>(v: &[f32], centroids: &[f32], dim: usize) -> [u32; N] {
    let mut best = [(f32::INFINITY, 0u32); N];
    for (c, cv) in centroids.chunks_exact(dim).enumerate() {
        let d = crate::distance::l2_squared_f32(v, cv);
        if d < best[N - 1].0 {
            let mut i = N - 1;
            while i > 0 && best[i - 1].0 > d {
                best[i] = best[i - 1];
                i -= 1;
            }
            best[i] = (d, c as u32);
        }
    }
    best.map(|b| b.1)
}

/// `k` centroids of the sample by Lloyd's k-means from `k` distinct sample
/// points; a cluster left empty restarts at a random sample point. `None`
/// when `stop` says so.
fn kmeans(sample: &[f32], dim: usize, k: usize, seed: u64, stop: fn() -> bool) -> Option<Vec<f32>> {
    let s = sample.len() / dim;
    let mut rng = seed ^ 0xc1u64;
    let pick = |rng: &mut u64| (crate::rabitq::splitmix64(rng) % s as u64) as usize;
    // k distinct starting points (a partial shuffle of the sample's rows).
    let mut rows: Vec<usize> = (0..s).collect();
    for i in 0..k.min(s) {
        let j = i + pick(&mut rng) % (s - i);
        rows.swap(i, j);
    }
    let mut centroids: Vec<f32> = rows[..k.min(s)]
        .iter()
        .flat_map(|&r| sample[r * dim..(r + 1) * dim].iter().copied())
        .collect();
    for _ in 0..KMEANS_ROUNDS {
        if stop() {
            return None;
        }
        let (sums, counts) = sample
            .par_chunks_exact(dim)
            .fold(
                || (vec![0f64; k * dim], vec![0usize; k]),
                |(mut sums, mut counts), v| {
                    let c = nearest::<1>(v, &centroids, dim)[0] as usize;
                    counts[c] += 1;
                    sums[c * dim..(c + 1) * dim]
                        .iter_mut()
                        .zip(v)
                        .for_each(|(s, x)| *s += *x as f64);
                    (sums, counts)
                },
            )
            .reduce(
                || (vec![0f64; k * dim], vec![0usize; k]),
                |(mut a, mut ca), (b, cb)| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    ca.iter_mut().zip(&cb).for_each(|(x, y)| *x += y);
                    (a, ca)
                },
            );
        for c in 0..k {
            let out = &mut centroids[c * dim..(c + 1) * dim];
            if counts[c] == 0 {
                let r = pick(&mut rng);
                out.copy_from_slice(&sample[r * dim..(r + 1) * dim]);
            } else {
                for (o, s) in out.iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                    *o = (*s / counts[c] as f64) as f32;
                }
            }
        }
    }
    Some(centroids)
}

/// Split each cluster whose sample members (nearest two) number more than
/// `cap` by k-means over the sample points nearest it, until none does (or
/// a few rounds pass).
fn split_large(
    sample: &[f32],
    dim: usize,
    mut centroids: Vec<f32>,
    cap: usize,
    seed: u64,
    stop: fn() -> bool,
) -> Option<Vec<f32>> {
    for _ in 0..8 {
        let k = centroids.len() / dim;
        let near: Vec<[u32; OVERLAP]> = sample
            .par_chunks_exact(dim)
            .map(|v| nearest::<OVERLAP>(v, &centroids, dim))
            .collect();
        let mut count = vec![0usize; k];
        for cs in &near {
            for &c in cs {
                count[c as usize] += 1;
            }
        }
        if count.iter().all(|&c| c <= cap) {
            break;
        }
        let mut next = Vec::with_capacity(centroids.len() * 2);
        for (c, centroid) in centroids.chunks_exact(dim).enumerate() {
            let own: Vec<f32> = near
                .iter()
                .zip(sample.chunks_exact(dim))
                .filter(|(pair, _)| pair[0] as usize == c)
                .flat_map(|(_, v)| v.iter().copied())
                .collect();
            let parts = count[c].div_ceil(cap);
            if parts < 2 || own.len() / dim < 2 * parts {
                next.extend_from_slice(centroid);
                continue;
            }
            next.extend(kmeans(&own, dim, parts, seed ^ c as u64, stop)?);
        }
        centroids = next;
    }
    Some(centroids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_lists_each_node_under_both_its_clusters_in_order() {
        let m = group(&[[1, 0], [0, 2], [1, 2]], 3);
        assert_eq!(m.start, vec![0, 2, 4, 6]);
        assert_eq!(m.nodes, vec![0, 1, 0, 2, 1, 2]);
    }

    #[test]
    fn kmeans_separates_well_apart_groups() {
        let dim = 2;
        let mut sample = Vec::new();
        for i in 0..300 {
            let base = [(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)][i % 3];
            let jitter = (i / 3) as f32 * 0.01;
            sample.extend_from_slice(&[base.0 + jitter, base.1 - jitter]);
        }
        let c = kmeans(&sample, dim, 3, 7, vamana::never).unwrap();
        let mut found: Vec<usize> = c
            .chunks_exact(dim)
            .map(|p| (p[0] / 50.0).round() as usize * 2 + (p[1] / 50.0).round() as usize)
            .collect();
        found.sort_unstable();
        // Each centroid sits on its own group: (0,0), (0,100), (100,0).
        assert_eq!(found, vec![0, 2, 4]);
    }
}
