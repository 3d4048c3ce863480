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

use crate::adjacency::Adjacency;
use crate::beam::{pack, unpack, Beam};
use crate::prune::{prune_among, robust_prune};
use crate::sq8::Sq8;
use rayon::prelude::*;

/// Reverse edges may overflow `R` by this factor before a list is pruned:
/// pruning on every overflow would dominate the build time.
const SLACK: f32 = 1.3;

/// The longest list a node holds during the build: `R` with the slack.
fn slack_cap(r: usize) -> usize {
    ((r as f32 * SLACK) as usize).max(r)
}

/// Points of fewer dimensions are built on their vectors (see
/// [`Points::new`]).
const MIN_CODED_DIM: usize = 32;

/// The points a graph is built over, and the distance that shapes it.
///
/// L2 and cosine (normalized vectors): squared L2. Inner product: the
/// non-metric `M^2 - <a, b>` (`M` the largest norm, so it stays >= 0), as in
/// ip-NSW (Morozov & Babenko 2018). We first tried the MIPS-to-L2 transform
/// `x -> [x, sqrt(M^2 - |x|^2)]`: it puts every point on a sphere and the
/// queries far from all of them, and greedy search then reached about half
/// the recall this distance gives (BENCHMARKS.md, design measurements). With it,
/// RobustPrune keeps `c'` only if no kept `c` has `<c, c'>` larger than
/// `<p, c'>` by the alpha margin, and the large-norm points that answer
/// inner-product queries become well-connected hubs.
///
/// Distances are taken between the points' 8-bit codes ([`Sq8`]), not
/// their `f32` vectors: the build is bound by memory, and the codes are a
/// quarter of the bytes. Points whose codes would not rank near points as
/// the vectors do ([`Sq8::ranks_like`]), and points of fewer than
/// `MIN_CODED_DIM` dimensions, use the vectors.
pub struct Points<'a> {
    pub data: &'a [f32],
    pub dim: usize,
    /// Inner product: `M^2`.
    pub ip_shift: Option<f32>,
    codes: Option<Sq8>,
}

impl<'a> Points<'a> {
    pub fn new(data: &'a [f32], dim: usize, ip_shift: Option<f32>) -> Self {
        let mut points = Points {
            data,
            dim,
            ip_shift,
            codes: None,
        };
        // Below this a vector is no more than two cache lines, as its
        // padded code is one: nothing to gain, and few dimensions coded in
        // 256 levels tie points the vectors tell apart.
        if dim < MIN_CODED_DIM {
            return points;
        }
        let codes = Sq8::encode(data, dim, ip_shift.is_some());
        let coded = |a, b| match ip_shift {
            Some(m2) => m2 - codes.dot(a, b),
            None => codes.l2(a, b),
        };
        if Sq8::ranks_like(points.len(), |a, b| points.exact(a, b), coded) {
            points.codes = Some(codes);
        }
        points
    }
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    #[inline]
    pub fn vector(&self, i: u32) -> &[f32] {
        let i = i as usize;
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    /// The graph distance between points `a` and `b`.
    #[inline]
    pub fn dist(&self, a: u32, b: u32) -> f32 {
        match (&self.codes, self.ip_shift) {
            (Some(codes), Some(m2)) => m2 - codes.dot(a, b),
            (Some(codes), None) => codes.l2(a, b),
            (None, _) => self.exact(a, b),
        }
    }
    /// The graph distance between the vectors themselves.
    #[inline]
    fn exact(&self, a: u32, b: u32) -> f32 {
        match self.ip_shift {
            Some(m2) => m2 - crate::distance::dot_f32(self.vector(a), self.vector(b)),
            None => crate::distance::l2_squared_f32(self.vector(a), self.vector(b)),
        }
    }
    /// Ask the CPU to pull what [`Points::dist`] reads of point `i`.
    #[inline]
    pub fn prefetch(&self, i: u32) {
        match &self.codes {
            Some(codes) => codes.prefetch(i),
            None => crate::simd::prefetch(self.vector(i)),
        }
    }
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
    for m in adj.list(p) {
        cands.push((points.dist(p, m), m));
    }
    s.chosen = robust_prune(p, &mut cands, alpha, r, |a, b| points.dist(a, b));
    s.expanded = cands;
}

/// Nodes in breadth-first order from `start`, then any unreached ones.
fn bfs_order(adj: &Adjacency, start: u32) -> Vec<u32> {
    let n = adj.len();
    let mut seen = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut push = |x: u32, order: &mut Vec<u32>| {
        if !seen[x as usize] {
            seen[x as usize] = true;
            order.push(x);
        }
    };
    let mut head = 0;
    for root in std::iter::once(start).chain(0..n as u32) {
        push(root, &mut order);
        while head < order.len() {
            let x = order[head];
            head += 1;
            for m in adj.list(x) {
                push(m, &mut order);
            }
        }
    }
    order
}

/// The point closest to the mean: the entry point of every search.
pub fn medoid(points: &Points) -> u32 {
    let n = points.len();
    let dim = points.dim;
    let mut mean = vec![0f64; dim];
    for v in points.data.chunks_exact(dim) {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64);
    }
    let mean: Vec<f32> = mean.iter().map(|m| (*m / n as f64) as f32).collect();
    (0..n as u32)
        .into_par_iter()
        .map(|i| {
            (
                crate::distance::l2_squared(points.vector(i), &mean) as f32,
                i,
            )
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|x| x.1)
        .unwrap_or(0)
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
    mut data: Vec<f32>,
    dim: usize,
    ip_shift: Option<f32>,
    params: &BuildParams,
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
    let adj = Adjacency::new(n, cap);
    let start = medoid(&points);
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut st = params.seed ^ 0x5eed;
    for i in (1..n).rev() {
        let j = (crate::rabitq::splitmix64(&mut st) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    // The first pass only has to make the graph navigable for the second:
    // half the list size costs little recall and a good part of the build
    // time (BENCHMARKS.md).
    let first_list = (params.list_size / 2).max(16).min(params.list_size);
    let first = Pass {
        list_size: first_list,
        alpha: 1.0,
        growing_batches: true,
    };
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
    let lists = adj.into_lists();
    let (lists, new_of) = renumber(&mut data, dim, lists, &numbering);
    let points = Points::new(&data, dim, ip_shift);
    let adj = Adjacency::from_lists(lists, cap);
    let start = new_of[start as usize];
    drop(new_of);
    let order: Vec<u32> = (0..n as u32).collect();
    let second = Pass {
        list_size: params.list_size,
        alpha: params.alpha,
        growing_batches: false,
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
fn link_unreached(
    adj: &mut [Vec<u32>],
    entry: u32,
    r: usize,
    points: &Points,
    stop: fn() -> bool,
) -> bool {
    let n = adj.len();
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    let mut reach = |from: u32, seen: &mut [bool], adj: &[Vec<u32>]| {
        seen[from as usize] = true;
        stack.push(from);
        while let Some(x) = stack.pop() {
            for &m in &adj[x as usize] {
                if !seen[m as usize] {
                    seen[m as usize] = true;
                    stack.push(m);
                }
            }
        }
    };
    reach(entry, &mut seen, adj);
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
            reach(u, &mut seen, adj);
        }
    }
    true
}

impl Graph {
    /// Renumber the nodes so that node `new` is the node `order[new]` was
    /// (vectors, lists, the entry point and `order` with them).
    pub(crate) fn renumber(&mut self, dim: usize, order: &[u32]) {
        let lists = std::mem::take(&mut self.adj);
        let (lists, new_of) = renumber(&mut self.vectors, dim, lists, order);
        self.adj = lists;
        self.order = order.iter().map(|&old| self.order[old as usize]).collect();
        self.entry = new_of[self.entry as usize];
    }
}

/// Renumber points so that point `new` is the point `order[new]` was:
/// `data`'s rows in place, `lists` moved into the new order with their
/// links rewritten. Returns the lists and `new_of[old] = new`.
fn renumber(
    data: &mut [f32],
    dim: usize,
    mut lists: Vec<Vec<u32>>,
    order: &[u32],
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut new_of = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of[old as usize] = new as u32;
    }
    permute_rows(data, dim, order);
    lists.par_iter_mut().for_each(|list| {
        for m in list.iter_mut() {
            *m = new_of[*m as usize];
        }
    });
    let lists = order
        .iter()
        .map(|&old| std::mem::take(&mut lists[old as usize]))
        .collect();
    (lists, new_of)
}

/// Reorder `data`'s rows of `dim` floats in place so that row `new` is
/// the row `order[new]` was: each cycle of the permutation is followed
/// with one row set aside.
fn permute_rows(data: &mut [f32], dim: usize, order: &[u32]) {
    let mut placed = vec![false; order.len()];
    let mut held = vec![0f32; dim];
    for start in 0..order.len() {
        if placed[start] {
            continue;
        }
        held.copy_from_slice(&data[start * dim..(start + 1) * dim]);
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                data[at * dim..(at + 1) * dim].copy_from_slice(&held);
                break;
            }
            data.copy_within(from * dim..(from + 1) * dim, at * dim);
            at = from;
        }
    }
}

/// How one pass searches and prunes.
struct Pass {
    list_size: usize,
    alpha: f32,
    /// The first points see a tiny graph: process them in small batches
    /// that grow with the graph, then in large parallel ones.
    growing_batches: bool,
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
    while done < n {
        let batch = if pass.growing_batches {
            (done / 2).clamp(64, 20_000)
        } else {
            20_000
        };
        let end = (done + batch).min(n);
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
                search_and_prune(points, adj, start, p, pass.list_size, pass.alpha, r, s);
                adj.lock(p).set(&s.chosen);
                for &m in &s.chosen {
                    let mut list = adj.lock(m);
                    if list.contains(p) || list.push(p) {
                        continue;
                    }
                    let with_p = list.ids().chain(std::iter::once(p)).collect::<Vec<u32>>();
                    list.set(&prune_among(m, with_p, pass.alpha, r, |a, b| {
                        points.dist(a, b)
                    }));
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

    /// Rows whose values say which row they were: row `i` holds `i + j / dim`.
    fn numbered_rows(n: usize, dim: usize) -> Vec<f32> {
        (0..n)
            .flat_map(|i| (0..dim).map(move |j| i as f32 + j as f32 / dim as f32))
            .collect()
    }

    #[test]
    fn rows_are_permuted_in_place() {
        let (n, dim) = (1_000, 3);
        // Fixed points and cycles of many lengths: a shuffle that skips
        // about a fifth of its swaps, then one swap more.
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut st = 7u64;
        for i in (1..n).rev() {
            let j = (crate::rabitq::splitmix64(&mut st) % (i as u64 + 1)) as usize;
            if !j.is_multiple_of(5) {
                order.swap(i, j);
            }
        }
        order.swap(0, 1);
        let original = numbered_rows(n, dim);
        let mut data = original.clone();
        permute_rows(&mut data, dim, &order);
        for (new, &old) in order.iter().enumerate() {
            let old = old as usize;
            assert_eq!(
                &data[new * dim..(new + 1) * dim],
                &original[old * dim..(old + 1) * dim],
                "row {new}"
            );
        }
    }

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
        let points = Points::new(&data, dim, None);
        assert!(points.codes.is_some(), "64 dimensions are coded");
        drop(points);
        let params = BuildParams {
            max_degree: 16,
            list_size: 32,
            alpha: 1.2,
            seed: 3,
            stop: never,
        };
        let graph = build(data, dim, None, &params).unwrap();
        let mut seen = vec![false; n];
        let mut stack = vec![graph.entry];
        seen[graph.entry as usize] = true;
        while let Some(x) = stack.pop() {
            for &m in &graph.adj[x as usize] {
                if !seen[m as usize] {
                    seen[m as usize] = true;
                    stack.push(m);
                }
            }
        }
        let unreached = seen.iter().filter(|s| !**s).count();
        assert_eq!(unreached, 0, "{unreached} of {n} nodes unreachable");
    }

    #[test]
    fn the_built_graph_holds_each_input_vector_in_its_numbering() {
        let (n, dim) = (2_000, 8);
        let mut st = 11u64;
        let data: Vec<f32> = (0..n * dim)
            .map(|_| (crate::rabitq::splitmix64(&mut st) % 1_000) as f32 / 1_000.0)
            .collect();
        let params = BuildParams {
            max_degree: 16,
            list_size: 32,
            alpha: 1.2,
            seed: 3,
            stop: never,
        };
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

    #[test]
    fn renumbering_keeps_every_link_and_vector() {
        let adj = vec![vec![1, 2], vec![2], vec![0], vec![0, 1]];
        let vectors: Vec<f32> = (0..8).map(|x| x as f32).collect();
        let mut g = Graph {
            adj: adj.clone(),
            entry: 0,
            order: vec![3, 2, 1, 0],
            vectors: vectors.clone(),
        };
        let order = vec![0, 3, 1, 2];
        g.renumber(2, &order);
        assert_eq!(g.entry, 0);
        for (new, &old) in order.iter().enumerate() {
            assert_eq!(
                g.vectors[new * 2..new * 2 + 2],
                vectors[old as usize * 2..old as usize * 2 + 2]
            );
            assert_eq!(g.order[new], [3, 2, 1, 0][old as usize]);
            let back: Vec<u32> = g.adj[new].iter().map(|&m| order[m as usize]).collect();
            assert_eq!(back, adj[old as usize]);
        }
    }
}
