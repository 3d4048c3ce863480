//! The built graph's reachability: every node linked from the entry's
//! component.

use super::Points;
use rayon::prelude::*;

/// Give every node the entry cannot reach a link from one it can: a
/// search, and a filtered or distance-bounded scan that walks all the
/// graph, could never return such a node. Pruning leaves some: a node
/// every neighbour prunes away, a few under L2 and many more under inner
/// product, whose pruning keeps the large norms and drops the small ones
/// from every list (counts in BENCHMARKS.md). A link is only added, never
/// put in another's place (replacing links cost inner-product recall):
/// from the unreached node's nearest neighbour that is reached and has
/// room, else one of their neighbours, else the nearest such node of all;
/// what the node reaches is then reached too. False when `stop` ended it
/// (asked before each unreached node).
pub(super) fn link_unreached(
    adj: &mut [Vec<u32>],
    entry: u32,
    r: usize,
    points: &Points,
    stop: fn() -> bool,
) -> bool {
    let n = adj.len();
    let mut seen = vec![false; n];
    mark_reachable(adj, entry, &mut seen);
    for u in 0..n as u32 {
        if seen[u as usize] {
            continue;
        }
        if stop() {
            return false;
        }
        let open =
            |w: u32, seen: &[bool], adj: &[Vec<u32>]| seen[w as usize] && adj[w as usize].len() < r;
        let near = &adj[u as usize];
        let from = near
            .iter()
            .copied()
            .find(|&w| open(w, &seen, adj))
            .or_else(|| {
                near.iter()
                    .flat_map(|&v| adj[v as usize].iter().copied())
                    .filter(|&w| w != u && open(w, &seen, adj))
                    .min_by(|&a, &b| points.dist(u, a).total_cmp(&points.dist(u, b)))
            })
            .or_else(|| {
                (0..n as u32)
                    .into_par_iter()
                    .filter(|&w| w != u && open(w, &seen, adj))
                    .map(|w| (points.dist(u, w), w))
                    .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                    .map(|x| x.1)
            });
        // None: every reached list is full (a graph of at most `r` + 1
        // nodes is complete first).
        if let Some(w) = from {
            adj[w as usize].push(u);
            mark_reachable(adj, u, &mut seen);
        }
    }
    true
}

/// Mark in `seen` every node reachable from `from` (itself included),
/// walking only unmarked nodes: called again from another node, it adds
/// what that node reaches.
pub(super) fn mark_reachable(adj: &[Vec<u32>], from: u32, seen: &mut [bool]) {
    let mut stack = vec![from];
    seen[from as usize] = true;
    while let Some(x) = stack.pop() {
        for &m in &adj[x as usize] {
            if !seen[m as usize] {
                seen[m as usize] = true;
                stack.push(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{build, tests::small_params};
    use super::*;

    /// Uniform random points in 64 dimensions, a tenth of them
    /// near-duplicates of others (tied on their codes), with a small `R`:
    /// pruning alone leaves some nodes without a link from the entry's
    /// component; every node must be reachable, or a search could never
    /// return it.
    #[test]
    fn every_node_is_reachable_from_the_entry() {
        let (n, dim) = (3000, 64);
        let mut st = 5u64;
        let mut data: Vec<f32> = (0..n * dim)
            .map(|_| (crate::rabitq::splitmix64(&mut st) % 10_000) as f32 / 10_000.0)
            .collect();
        for i in (0..n).step_by(10).skip(1) {
            let from = (i - 7) * dim;
            for d in 0..dim {
                data[i * dim + d] = data[from + d] + if d == 0 { 1e-6 } else { 0.0 };
            }
        }
        assert!(
            Points::new(&data, dim, None).is_coded(),
            "64 dimensions are coded"
        );
        let graph = build(data, dim, None, &small_params()).unwrap();
        let mut seen = vec![false; n];
        mark_reachable(&graph.adj, graph.entry, &mut seen);
        let unreached = seen.iter().filter(|s| !**s).count();
        assert_eq!(unreached, 0, "{unreached} of {n} nodes unreachable");
    }
}
