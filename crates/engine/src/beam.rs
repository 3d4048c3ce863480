//! The one beam search (greedy best-first search with a bounded list), as
//! both the in-memory graph build ([`crate::vamana`]) and the index walk
//! ([`crate::index`]) use it. What differs between them is only how a node
//! is expanded (an adjacency list in memory or a node page) and how a
//! neighbour is scored (an exact distance or a code estimate); the loop,
//! the visited marks and the two heaps are here.
//!
//! Keys pack `(distance, node)` into one `u64` whose integer order is
//! distance order, so the heaps compare integers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Map an `f32` to a `u32` with the same order (all finite values, negatives too).
#[inline]
pub fn ord_key(d: f32) -> u32 {
    let b = d.to_bits();
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Inverse of [`ord_key`].
#[inline]
pub fn from_key(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k & 0x7fff_ffff
    } else {
        !k
    })
}

/// `(distance, node)` packed so that integer order is distance order.
#[inline]
pub fn pack(d: f32, n: u32) -> u64 {
    ((ord_key(d) as u64) << 32) | n as u64
}

#[inline]
pub fn unpack(x: u64) -> (f32, u32) {
    (from_key((x >> 32) as u32), x as u32)
}

/// A set of marked nodes, each with a payload `M`.
pub trait MarkSet<M>: Default {
    /// Forget every mark; nodes are below `n`.
    fn reset(&mut self, n: usize);
    /// Mark `n`; false if it already was.
    fn set(&mut self, n: u32) -> bool;
    /// The payload of marked node `n`.
    fn payload(&self, n: u32) -> M;
    fn set_payload(&mut self, n: u32, value: M);
    fn prefetch(&self, n: u32);
    /// Bytes held.
    fn bytes(&self) -> usize;
}

/// Generation-stamped marks over nodes `0..n`, each with a payload `M` on
/// the same cache line: a new search clears nothing, it only bumps the
/// generation. Memory grows with the graph: for the in-memory build.
#[derive(Default)]
pub struct Marks<M: Copy + Default> {
    marks: Vec<(u32, M)>,
    generation: u32,
}

impl<M: Copy + Default> MarkSet<M> for Marks<M> {
    /// Forget every mark; room for nodes `0..n`.
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, (0, M::default()));
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| m.0 = 0);
            self.generation = 1;
        }
    }

    #[inline]
    fn set(&mut self, n: u32) -> bool {
        let m = &mut self.marks[n as usize].0;
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }

    #[inline]
    fn payload(&self, n: u32) -> M {
        self.marks[n as usize].1
    }

    #[inline]
    fn set_payload(&mut self, n: u32, value: M) {
        self.marks[n as usize].1 = value;
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        crate::simd::prefetch(std::slice::from_ref(&self.marks[n as usize]));
    }

    fn bytes(&self) -> usize {
        self.marks.capacity() * std::mem::size_of::<(u32, M)>()
    }
}

/// Marks in an open-addressing table sized to the nodes marked, not to the
/// graph: a search of an index touches a few thousand nodes of millions,
/// and its memory should not grow with the index. Generation-stamped, so
/// a new search clears nothing.
pub struct SparseMarks<M: Copy + Default> {
    /// `(node + 1, generation, payload)`; an entry of an older generation
    /// is empty.
    table: Vec<(u32, u32, M)>,
    bits: u32,
    generation: u32,
    count: usize,
}

impl<M: Copy + Default> Default for SparseMarks<M> {
    fn default() -> Self {
        SparseMarks {
            table: Vec::new(),
            bits: 0,
            generation: 0,
            count: 0,
        }
    }
}

impl<M: Copy + Default> SparseMarks<M> {
    const MIN_BITS: u32 = 10;

    #[inline]
    fn home(&self, n: u32) -> usize {
        (n.wrapping_add(1).wrapping_mul(0x9E37_79B1) >> (32 - self.bits)) as usize
    }

    /// Where `n` is, or the empty entry where it would go.
    #[inline]
    fn find(&self, n: u32) -> usize {
        let mask = self.table.len() - 1;
        let mut i = self.home(n);
        loop {
            let e = &self.table[i];
            if e.1 != self.generation || e.0 == n + 1 {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let bits = (self.bits + 1).max(Self::MIN_BITS);
        let old = std::mem::replace(&mut self.table, vec![(0, 0, M::default()); 1 << bits]);
        self.bits = bits;
        let generation = self.generation;
        for e in old.into_iter().filter(|e| e.1 == generation) {
            let i = self.find(e.0 - 1);
            self.table[i] = e;
        }
    }
}

impl<M: Copy + Default> MarkSet<M> for SparseMarks<M> {
    fn reset(&mut self, _n: usize) {
        if self.table.is_empty() {
            self.grow();
        }
        self.count = 0;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.table.iter_mut().for_each(|e| e.1 = 0);
            self.generation = 1;
        }
    }

    #[inline]
    fn set(&mut self, n: u32) -> bool {
        if (self.count + 1) * 2 > self.table.len() {
            self.grow();
        }
        let i = self.find(n);
        if self.table[i].1 == self.generation {
            return false;
        }
        self.table[i] = (n + 1, self.generation, M::default());
        self.count += 1;
        true
    }

    #[inline]
    fn payload(&self, n: u32) -> M {
        let e = &self.table[self.find(n)];
        if e.1 == self.generation {
            e.2
        } else {
            M::default()
        }
    }

    #[inline]
    fn set_payload(&mut self, n: u32, value: M) {
        let i = self.find(n);
        if self.table[i].1 == self.generation {
            self.table[i].2 = value;
        }
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        crate::simd::prefetch(std::slice::from_ref(&self.table[self.home(n)]));
    }

    fn bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<(u32, u32, M)>()
    }
}

/// The `k` (at most [`MAX_AHEAD`]) smallest keys of a min-heap as
/// `BinaryHeap<Reverse<T>>::as_slice` lays it out, best first, appended
/// to `out` as `f` maps them; the heap is not changed. A best-first walk down from the root:
/// each step takes the smallest open entry and opens its two children, so
/// it keeps at most `k + 1` open and never looks past depth `k`.
pub fn heap_best<T: Ord + Copy, U>(
    heap: &[Reverse<T>],
    k: usize,
    out: &mut Vec<U>,
    f: impl Fn(T) -> U,
) {
    let k = k.min(MAX_AHEAD);
    let mut open = [0usize; MAX_AHEAD + 1];
    let mut n_open = usize::from(!heap.is_empty());
    for _ in 0..k {
        if n_open == 0 {
            break;
        }
        let best = (0..n_open).min_by_key(|&j| heap[open[j]].0).unwrap();
        let i = open[best];
        out.push(f(heap[i].0));
        n_open -= 1;
        open[best] = open[n_open];
        for child in [2 * i + 1, 2 * i + 2] {
            if child < heap.len() {
                open[n_open] = child;
                n_open += 1;
            }
        }
    }
}

/// Most keys [`heap_best`] gives.
pub const MAX_AHEAD: usize = 32;

/// Beam search state, reused from search to search so the hot loop
/// allocates nothing: the visited marks (with a payload per node: the
/// index keeps a candidate's lower bound there, the build nothing) and the
/// two heaps.
pub struct Beam<M: Copy + Default, V: MarkSet<M> = Marks<M>> {
    visited: V,
    /// Unexpanded candidates, best first.
    cand: BinaryHeap<Reverse<u64>>,
    /// The `width` best keys seen; the worst of them is the bar a new
    /// candidate must pass and the search's stopping point.
    top: BinaryHeap<u64>,
    _payload: std::marker::PhantomData<M>,
}

impl<M: Copy + Default, V: MarkSet<M>> Default for Beam<M, V> {
    fn default() -> Self {
        Beam {
            visited: V::default(),
            cand: BinaryHeap::new(),
            top: BinaryHeap::new(),
            _payload: std::marker::PhantomData,
        }
    }
}

impl<M: Copy + Default, V: MarkSet<M>> Beam<M, V> {
    /// Bytes held (marks and heaps).
    pub fn bytes(&self) -> usize {
        self.visited.bytes() + (self.cand.capacity() + self.top.capacity()) * 8
    }

    /// Start a new search over nodes `0..n`.
    pub fn reset(&mut self, n: usize) {
        self.visited.reset(n);
        self.cand.clear();
        self.top.clear();
    }

    /// Mark `n` visited; false if it already was.
    #[inline]
    pub fn visit(&mut self, n: u32) -> bool {
        self.visited.set(n)
    }

    /// The payload of node `n` (meaningful once it was visited).
    #[inline]
    pub fn payload(&self, n: u32) -> M {
        self.visited.payload(n)
    }

    #[inline]
    pub fn set_payload(&mut self, n: u32, value: M) {
        self.visited.set_payload(n, value)
    }

    /// Offer a visited node's key. It joins the candidates if it is among
    /// the `width` best seen so far (pushing the worst out of the top);
    /// otherwise it is returned, for callers that keep such nodes.
    #[inline]
    pub fn offer(&mut self, key: u64, width: usize) -> Option<u64> {
        if self.top.len() < width || key < *self.top.peek().unwrap() {
            self.cand.push(Reverse(key));
            self.top.push(key);
            if self.top.len() > width {
                self.top.pop();
            }
            None
        } else {
            Some(key)
        }
    }

    /// The next candidate to expand, or `None` once the `width` best keys
    /// seen are all expanded.
    #[inline]
    pub fn next(&mut self, width: usize) -> Option<u64> {
        let &Reverse(c) = self.cand.peek()?;
        if self.top.len() >= width && c > *self.top.peek().unwrap() {
            return None;
        }
        self.cand.pop();
        Some(c)
    }

    /// The best unexpanded candidate's key, without taking it.
    #[inline]
    pub fn best_unexpanded(&self) -> Option<u64> {
        self.cand.peek().map(|r| r.0)
    }

    /// Keep in `nbrs` only the nodes not visited yet, marking them. Memory
    /// latency dominates graph walks: every mark is prefetched (and, with
    /// `early`, whatever else the caller reads for every neighbour) before
    /// any is touched.
    #[inline]
    pub fn keep_unvisited(&mut self, nbrs: &mut Vec<u32>, early: impl Fn(u32)) {
        for &m in nbrs.iter() {
            self.visited.prefetch(m);
            early(m);
        }
        nbrs.retain(|&m| self.visit(m));
    }

    /// Up to `k` of the candidates [`Beam::next`] with this `width` would
    /// give next, best first, into `out`, without taking them: what a
    /// search asks its store to read ahead.
    pub fn upcoming(&self, k: usize, width: usize, out: &mut Vec<u64>) {
        out.clear();
        heap_best(self.cand.as_slice(), k, out, |key| key);
        if self.top.len() >= width {
            let bar = *self.top.peek().unwrap();
            out.retain(|&c| c <= bar);
        }
    }

    /// Go on with a wider list, as if the search had run with `width`
    /// from the start: the `width` best of the keys seen (`expanded`, the
    /// unexpanded candidates, and `rejected`, those [`Beam::offer`] turned
    /// away) become the list, and the rejected ones among them
    /// candidates; the others stay in `rejected`.
    pub fn widen(&mut self, width: usize, expanded: &[u64], rejected: &mut Vec<u64>) {
        let mut keys: Vec<u64> = expanded
            .iter()
            .copied()
            .chain(self.unexpanded())
            .chain(rejected.iter().copied())
            .collect();
        // Keys are distinct (each holds its node), so the `width` best are
        // those up to the bar.
        let bar = match width.checked_sub(1) {
            Some(i) if i < keys.len() => *keys.select_nth_unstable(i).1,
            Some(_) => u64::MAX,
            None => return,
        };
        self.top.clear();
        self.top.extend(keys.into_iter().filter(|&k| k <= bar));
        rejected.retain(|&k| {
            let joins = k <= bar;
            if joins {
                self.cand.push(Reverse(k));
            }
            !joins
        });
    }

    /// Unexpanded candidates, in no particular order.
    pub fn unexpanded(&self) -> impl Iterator<Item = u64> + '_ {
        self.cand.iter().map(|r| r.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_order_of_distances() {
        let ds = [f32::NEG_INFINITY, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, 7e30];
        for w in ds.windows(2) {
            assert!(ord_key(w[0]) <= ord_key(w[1]), "{w:?}");
        }
        for &d in &ds[1..] {
            assert_eq!(from_key(ord_key(d)), d);
            assert_eq!(unpack(pack(d, 42)), (d, 42));
        }
    }

    /// A beam on the path graph 0 - 1 - ... - 9 of the tests below, its
    /// search starting at node 0.
    fn path_beam() -> Beam<()> {
        let mut b: Beam<()> = Beam::default();
        b.reset(10);
        b.visit(0);
        b.offer(pack(7.0, 0), 1);
        b
    }

    /// The search loop on the path graph, scoring node `i` by `|i - 7|`:
    /// the keys it expands go to `expanded`, those the beam turns away to
    /// `rejected`.
    fn walk_path(b: &mut Beam<()>, width: usize, expanded: &mut Vec<u64>, rejected: &mut Vec<u64>) {
        while let Some(c) = b.next(width) {
            expanded.push(c);
            let n = unpack(c).1;
            let mut nbrs: Vec<u32> = [n.wrapping_sub(1), n + 1]
                .into_iter()
                .filter(|&m| m < 10)
                .collect();
            b.keep_unvisited(&mut nbrs, |_| {});
            for m in nbrs {
                if let Some(k) = b.offer(pack((m as f32 - 7.0).abs(), m), width) {
                    rejected.push(k);
                }
            }
        }
    }

    /// The nodes of `keys`.
    fn nodes(keys: &[u64]) -> Vec<u32> {
        keys.iter().map(|&k| unpack(k).1).collect()
    }

    /// The loop on a path graph 0 - 1 - ... - 9 from node 0, scoring node
    /// `i` by `|i - 7|`: a width-1 beam walks straight to 7, and stops
    /// there.
    #[test]
    fn walks_a_path_to_its_best_node() {
        let mut b = path_beam();
        let (mut expanded, mut rejected) = (Vec::new(), Vec::new());
        walk_path(&mut b, 1, &mut expanded, &mut rejected);
        assert_eq!(nodes(&expanded), (0..=7).collect::<Vec<_>>());
        // A new search forgets the marks.
        b.reset(10);
        assert!(b.visit(3));
        assert!(!b.visit(3));
    }

    #[test]
    fn heap_best_gives_the_smallest_keys_in_order() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in [0usize, 1, 2, 3, 7, 64, 1000] {
            let keys: Vec<u64> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % 500
                })
                .collect();
            let heap: BinaryHeap<Reverse<u64>> = keys.iter().map(|&k| Reverse(k)).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            for k in [0, 1, 4, 16, MAX_AHEAD, MAX_AHEAD + 5] {
                let mut out = Vec::new();
                heap_best(heap.as_slice(), k, &mut out, |key| key);
                assert_eq!(out, sorted[..k.min(MAX_AHEAD).min(len)], "len {len}, k {k}");
            }
        }
    }

    /// A search widened after a narrower one expands what the wider one
    /// would have: on a path graph scored by distance to node 7, a
    /// width-1 walk from 0 stops at 7; widened to 3 it goes on to 6 and 8
    /// (6 was expanded on the way, 8 was turned away when 7 was).
    #[test]
    fn a_widened_search_goes_on_as_a_wider_one() {
        let mut b = path_beam();
        let (mut expanded, mut rejected) = (Vec::new(), Vec::new());
        walk_path(&mut b, 1, &mut expanded, &mut rejected);
        assert_eq!(nodes(&expanded), (0..=7).collect::<Vec<_>>());
        assert_eq!(nodes(&rejected), [8]);
        b.widen(3, &expanded, &mut rejected);
        assert!(rejected.is_empty());
        walk_path(&mut b, 3, &mut expanded, &mut rejected);
        // 8 is expanded, then 9 offered: not among the 3 best (7, 6, 8).
        assert_eq!(nodes(&expanded[8..]), [8]);
        assert_eq!(nodes(&rejected), [9]);
        // Widening to fewer than seen keeps the best; to none, nothing.
        b.widen(0, &expanded, &mut rejected);
        assert_eq!(nodes(&rejected), [9]);
    }

    /// The sparse marks agree with the dense ones through growth (many
    /// more marks than the first table holds) and across searches.
    #[test]
    fn sparse_marks_agree_with_dense_ones() {
        let mut dense: Marks<f32> = Marks::default();
        let mut sparse: SparseMarks<f32> = SparseMarks::default();
        let n = 1_000_000u32;
        for round in 0..3u32 {
            dense.reset(n as usize);
            sparse.reset(n as usize);
            // A scattered sample, with repeats.
            let nodes: Vec<u32> = (0..20_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) ^ round) % n)
                .collect();
            for &m in &nodes {
                assert_eq!(dense.set(m), sparse.set(m), "node {m}");
                dense.set_payload(m, m as f32 + round as f32);
                sparse.set_payload(m, m as f32 + round as f32);
            }
            for &m in &nodes {
                assert_eq!(dense.payload(m), sparse.payload(m));
                assert!(!sparse.set(m));
            }
            // Memory follows what was marked, not the node range.
            assert!(sparse.bytes() < 20_000 * 12 * 4, "{}", sparse.bytes());
        }
        sparse.reset(10);
        assert!(sparse.set(7));
        assert_eq!(sparse.payload(8), 0.0);
    }
}
