//! In-memory Vamana build (DiskANN, Subramanya et al. 2019).
//!
//! Two passes over a random permutation of the points: the first with
//! `alpha = 1` builds a sparse navigable graph quickly, the second with the
//! caller's `alpha > 1` adds the long edges that make greedy search converge
//! in few hops. Each point: greedy search from the medoid with list size `L`,
//! RobustPrune of everything it expanded down to at most `R` neighbours, then
//! back edges. Points are processed in parallel (rayon) with a lock per
//! adjacency list for its writers, as in DiskANN's parallel build (readers
//! take none: `adjacency.rs`).
//!
//! Distances are squared L2, or `M^2 - <a, b>` for inner product (see
//! [`Points`]).

mod points;
mod reach;
mod renumber;

pub use points::{medoid, Points};

use crate::adjacency::Adjacency;
use crate::beam::{pack, unpack, Beam};
use crate::prune::{prune_among, robust_prune};
use rayon::prelude::*;
use reach::link_unreached;
use renumber::{bfs_order, renumber_in_place};

/// Reverse edges may overflow `R` by this factor before a list is pruned:
/// pruning on every overflow would dominate the build time.
const SLACK: f32 = 1.3;

/// The longest list a node holds during the build: `R` with the slack.
fn slack_cap(r: usize) -> usize {
    ((r as f32 * SLACK) as usize).max(r)
}

/// Bytes a node's adjacency takes at a build's peak, for a budget: its
/// row in the table ([`Adjacency`]; renumbered in place between the
/// passes), and at the end, as the table is turned into lists a chunk at
/// a time (each list no longer than its row), its place in the vector of
/// lists and in the vector the last prune makes from it.
pub fn adjacency_bytes_per_node(max_degree: usize) -> usize {
    Adjacency::row_bytes(slack_cap(max_degree)) + 2 * std::mem::size_of::<Vec<u32>>()
}

/// Graph parameters.
#[derive(Clone, Copy, Debug)]
pub struct BuildParams {
    pub max_degree: usize,
    pub list_size: usize,
    pub alpha: f32,
    pub seed: u64,
    /// Asked by every point before its search: true ends the build (each
    /// thread skips its remaining points, so it ends within one point's
    /// work), and [`build`] returns `None`.
    pub stop: fn() -> bool,
}

/// A stop check that never stops.
pub fn never() -> bool {
    false
}

/// Per-thread search state (see [`Beam`]), with the lists of one point's
/// search and prune.
struct Scratch {
    beam: Beam<()>,
    expanded: Vec<(f32, u32)>,
    nbrs: Vec<u32>,
    chosen: Vec<u32>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        let mut beam = Beam::default();
        beam.reset(n);
        Scratch {
            beam,
            expanded: Vec::new(),
            nbrs: Vec::new(),
            chosen: Vec::new(),
        }
    }
}

struct Pooled<'a> {
    pool: &'a parking_lot::Mutex<Vec<Scratch>>,
    s: Option<Scratch>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.s.take() {
            self.pool.lock().push(s);
        }
    }
}

/// Greedy search for point `p` from `start`, list size `l`. Fills
/// `s.expanded` with every node it expanded and its distance.
#[inline(never)]
fn greedy(points: &Points, adj: &Adjacency, start: u32, p: u32, l: usize, s: &mut Scratch) {
    s.beam.reset(points.len());
    s.expanded.clear();
    s.beam.visit(p);
    s.beam.visit(start);
    s.beam.offer(pack(points.dist(p, start), start), l);
    while let Some(c) = s.beam.next(l) {
        let (d, n) = unpack(c);
        s.expanded.push((d, n));
        // The best candidate left is likely the next one expanded: its
        // list comes in while this one's neighbours are measured.
        if let Some(next) = s.beam.best_unexpanded() {
            adj.prefetch(unpack(next).1);
        }
        s.nbrs.clear();
        adj.read_into(n, &mut s.nbrs);
        s.beam.keep_unvisited(&mut s.nbrs, |_| {});
        for &m in &s.nbrs {
            points.prefetch(m);
        }
        for &m in &s.nbrs {
            s.beam.offer(pack(points.dist(p, m), m), l);
        }
    }
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn search_and_prune(
    points: &Points,
    adj: &Adjacency,
    start: u32,
    p: u32,
    l: usize,
    alpha: f32,
    r: usize,
    s: &mut Scratch,
) {
    greedy(points, adj, start, p, l, s);
    // The expanded nodes come with their distances; add the current list.
    let mut cands = std::mem::take(&mut s.expanded);
    s.nbrs.clear();
    adj.read_into(p, &mut s.nbrs);
    cands.extend(s.nbrs.iter().map(|&m| (points.dist(p, m), m)));
    s.chosen = robust_prune(p, &mut cands, alpha, r, |a, b| points.dist(a, b));
    s.expanded = cands;
}

/// A built graph, its nodes renumbered for locality (see [`build`]).
pub struct Graph {
    /// Adjacency lists in the new numbering: each at most `max_degree`, no
    /// self loops.
    pub adj: Vec<Vec<u32>>,
    /// The entry point (the medoid), in the new numbering: always 0.
    pub entry: u32,
    /// `order[new] = old`: the input point that node `new` is.
    pub order: Vec<u32>,
    /// The points' vectors in the new numbering (node `i`'s at `i * dim`).
    pub vectors: Vec<f32>,
}

/// Build the graph over `data` (`dim` floats a point; `ip_shift` as in
/// [`Points`]).
///
/// After the first pass the points are renumbered in breadth-first order
/// from the medoid, so that nodes close in the graph are close in memory:
/// the second pass, and later every search, then finds a node's neighbours'
/// vectors, codes and visited marks on the same cache lines, TLB entries
/// and pages instead of missing on nearly every one. Callers store node
/// `i` as input point `order[i]`, whose vector is `vectors[i * dim..]`.
///
/// The vectors are renumbered where they lie, and the adjacency lists
/// moved rather than copied: the build holds one copy of each, so the
/// budgeted builds (`Options::build_memory`, the partitioned build's
/// clusters) count one.
pub fn build(
    data: Vec<f32>,
    dim: usize,
    ip_shift: Option<f32>,
    params: &BuildParams,
) -> Option<Graph> {
    build_with_guests(data, dim, ip_shift, params, None)
}

/// Points of a bounded build's cluster that the cluster is not nearest to
/// (see `index/build_parts.rs`): they are there to link it with the
/// clusters across a boundary, and their own cluster builds them fully.
#[derive(Clone, Copy)]
pub struct Guests<'a> {
    /// By input point: whether it is a guest.
    pub is_guest: &'a [bool],
    /// The search list a guest is inserted with.
    pub list_size: usize,
}

/// [`build`], with guests: the first pass leaves them out (the medoid
/// always in), and the second inserts them into the graph of the others
/// with their own, shorter search list. A guest's list here only has to
/// reach across the boundary; its cluster's full build gives it the rest.
pub fn build_with_guests(
    mut data: Vec<f32>,
    dim: usize,
    ip_shift: Option<f32>,
    params: &BuildParams,
    guests: Option<Guests>,
) -> Option<Graph> {
    let points = Points::new(&data, dim, ip_shift);
    let n = points.len();
    if n == 0 {
        return Some(Graph {
            adj: Vec::new(),
            entry: 0,
            order: Vec::new(),
            vectors: Vec::new(),
        });
    }
    // Scratches outlive rayon's splits: allocating (and page-faulting) a
    // fresh visited array for every split costs more than the work in it.
    let pool: parking_lot::Mutex<Vec<Scratch>> = parking_lot::Mutex::new(Vec::new());
    let cap = slack_cap(params.max_degree);
    let mut adj = Adjacency::new(n, cap);
    let start = medoid(&points);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut st = params.seed ^ 0x5eed;
    for i in (1..n).rev() {
        let j = (crate::rabitq::splitmix64(&mut st) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    // The first pass only has to make the graph navigable for the second:
    // half the list size costs little recall and a good part of the build
    // time (BENCHMARKS.md). A quarter or a third was faster on the real
    // sets but lost recall on tight clusters of near-duplicates (the
    // engine's synthetic recall test, notes 70).
    let first_list = (params.list_size / 2).max(16).min(params.list_size);
    let first = Pass {
        list_size: first_list,
        alpha: 1.0,
        growing_batches: true,
        guests: None,
    };
    if let Some(g) = guests {
        order.retain(|&p| !g.is_guest[p as usize] || p == start);
    }
    if !run_pass(&points, &adj, start, &order, &first, params, &pool) {
        return None;
    }

    // Renumber in breadth-first order of the first pass's graph, then run
    // the second pass in that (now sequential) order: consecutive points
    // search the same neighbourhoods, which stay in cache. The build is
    // bound by memory latency, and a random order misses on nearly every
    // vector it touches.
    let numbering = bfs_order(&adj, start);
    // The codes are made again in the new order rather than moved: coding
    // is one pass, and only one set of them is held at a time.
    drop(points);
    let new_of = renumber_in_place(&mut data, dim, &mut adj, &numbering);
    let points = Points::new(&data, dim, ip_shift);
    let start = new_of[start as usize];
    drop(new_of);
    let order: Vec<u32> = (0..n as u32).collect();
    // Guests in the new numbering.
    let is_guest: Option<Vec<bool>> = guests.map(|g| {
        numbering
            .iter()
            .map(|&old| g.is_guest[old as usize])
            .collect()
    });
    let second = Pass {
        list_size: params.list_size,
        alpha: params.alpha,
        growing_batches: false,
        guests: guests.zip(is_guest.as_deref()).map(|(g, is_guest)| Guests {
            is_guest,
            list_size: g.list_size,
        }),
    };
    if !run_pass(&points, &adj, start, &order, &second, params, &pool) {
        return None;
    }

    let r = params.max_degree;
    let adj = adj
        .into_lists()
        .into_par_iter()
        .enumerate()
        .map(|(p, list)| {
            if list.len() <= r {
                return list;
            }
            prune_among(p as u32, list, params.alpha, r, |a, b| points.dist(a, b))
        })
        .collect();
    let mut adj: Vec<Vec<u32>> = adj;
    if !link_unreached(&mut adj, start, r, &points, params.stop) {
        return None;
    }
    Some(Graph {
        adj,
        entry: start,
        order: numbering,
        vectors: data,
    })
}

/// How one pass searches and prunes.
struct Pass<'a> {
    list_size: usize,
    alpha: f32,
    /// The first points see a tiny graph: process them in small batches
    /// that grow with the graph, then in large parallel ones.
    growing_batches: bool,
    /// Guests (in the pass's numbering) and their list size.
    guests: Option<Guests<'a>>,
}

/// One pass: each point in `order` searches the graph so far, takes the
/// pruned result as its neighbours and adds itself to theirs. False when
/// `params.stop` ended it.
fn run_pass(
    points: &Points,
    adj: &Adjacency,
    start: u32,
    order: &[u32],
    pass: &Pass,
    params: &BuildParams,
    pool: &parking_lot::Mutex<Vec<Scratch>>,
) -> bool {
    let n = points.len();
    let r = params.max_degree;
    let mut done = 0;
    // `order` may leave points out (guests, in the first pass).
    while done < order.len() {
        let batch = if pass.growing_batches {
            (done / 2).clamp(64, 20_000)
        } else {
            20_000
        };
        let end = (done + batch).min(order.len());
        order[done..end].par_iter().for_each_init(
            || Pooled {
                pool,
                s: Some(pool.lock().pop().unwrap_or_else(|| Scratch::new(n))),
            },
            |s, &p| {
                if (params.stop)() {
                    return;
                }
                let s = s.s.as_mut().unwrap();
                let list_size = match pass.guests {
                    Some(g) if g.is_guest[p as usize] => g.list_size,
                    _ => pass.list_size,
                };
                search_and_prune(points, adj, start, p, list_size, pass.alpha, r, s);
                adj.lock(p).set(&s.chosen);
                for &m in &s.chosen {
                    let mut list = adj.lock(m);
                    if list.contains(p) || list.push(p) {
                        continue;
                    }
                    let with_p = list.ids().chain(std::iter::once(p));
                    let kept = prune_among(m, with_p, pass.alpha, r, |a, b| points.dist(a, b));
                    list.set(&kept);
                }
            },
        );
        if (params.stop)() {
            return false;
        }
        done = end;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build parameters for the small graphs of the tests.
    pub(super) fn small_params() -> BuildParams {
        BuildParams {
            max_degree: 16,
            list_size: 32,
            alpha: 1.2,
            seed: 3,
            stop: never,
        }
    }

    /// `n` points of `dim` coordinates uniform in [0, 1).
    fn uniform(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut st = seed;
        (0..n * dim)
            .map(|_| (crate::rabitq::splitmix64(&mut st) % 1_000) as f32 / 1_000.0)
            .collect()
    }

    /// Guests left out of the first pass and inserted with a short list
    /// in the second still get valid lists that link their nearest point
    /// about as often as the others', and the entry reaches them.
    #[test]
    fn guests_are_linked_like_the_others() {
        let (n, dim) = (2_000, 8);
        let data = uniform(n, dim, 17);
        let is_guest: Vec<bool> = (0..n).map(|i| i % 3 != 0).collect();
        let params = small_params();
        let guests = Guests {
            is_guest: &is_guest,
            list_size: 16,
        };
        let graph = build_with_guests(data.clone(), dim, None, &params, Some(guests)).unwrap();
        let points = Points::new(&graph.vectors, dim, None);
        let (mut linked, mut guests_seen) = ([0usize; 2], [0usize; 2]);
        for (p, list) in graph.adj.iter().enumerate() {
            assert!(
                !list.is_empty() && list.len() <= params.max_degree,
                "node {p}"
            );
            let best = (0..n as u32)
                .filter(|&q| q as usize != p)
                .min_by(|&a, &b| {
                    points
                        .dist(p as u32, a)
                        .total_cmp(&points.dist(p as u32, b))
                })
                .unwrap();
            let g = usize::from(is_guest[graph.order[p] as usize]);
            guests_seen[g] += 1;
            linked[g] += usize::from(list.contains(&best));
        }
        assert_eq!(guests_seen[1], is_guest.iter().filter(|g| **g).count());
        assert!(
            linked[1] * 10 >= guests_seen[1] * 8 && linked[0] * 10 >= guests_seen[0] * 9,
            "nearest linked: guests {} of {}, others {} of {}",
            linked[1],
            guests_seen[1],
            linked[0],
            guests_seen[0]
        );
        let mut seen = vec![false; n];
        reach::mark_reachable(&graph.adj, graph.entry, &mut seen);
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn the_built_graph_holds_each_input_vector_in_its_numbering() {
        let (n, dim) = (2_000, 8);
        let data = uniform(n, dim, 11);
        let params = small_params();
        let graph = build(data.clone(), dim, None, &params).unwrap();
        let mut seen = vec![false; n];
        for (new, &old) in graph.order.iter().enumerate() {
            let old = old as usize;
            assert!(
                !std::mem::replace(&mut seen[old], true),
                "point {old} twice"
            );
            assert_eq!(
                &graph.vectors[new * dim..(new + 1) * dim],
                &data[old * dim..(old + 1) * dim]
            );
        }
        for (p, list) in graph.adj.iter().enumerate() {
            assert!(
                !list.is_empty() && list.len() <= params.max_degree,
                "node {p}"
            );
            assert!(list.iter().all(|&m| (m as usize) < n && m as usize != p));
        }
        // Each node's nearest other node is among its neighbours for most
        // nodes: the lists were renumbered with the vectors.
        let points = Points::new(&graph.vectors, dim, None);
        let near = (0..n as u32)
            .filter(|&p| {
                let best = (0..n as u32)
                    .filter(|&q| q != p)
                    .min_by(|&a, &b| points.dist(p, a).total_cmp(&points.dist(p, b)))
                    .unwrap();
                graph.adj[p as usize].contains(&best)
            })
            .count();
        assert!(near * 10 >= n * 9, "{near} of {n} nodes link their nearest");
    }
}
