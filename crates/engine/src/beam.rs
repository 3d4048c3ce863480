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

/// Generation-stamped marks over nodes `0..n`, each with a payload `M` on
/// the same cache line: a new search clears nothing, it only bumps the
/// generation.
#[derive(Default)]
pub struct Marks<M: Copy + Default> {
    marks: Vec<(u32, M)>,
    generation: u32,
}

impl<M: Copy + Default> Marks<M> {
    /// Forget every mark; room for nodes `0..n`.
    pub fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, (0, M::default()));
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| m.0 = 0);
            self.generation = 1;
        }
    }

    /// Mark `n`; false if it already was.
    #[inline]
    pub fn set(&mut self, n: u32) -> bool {
        let m = &mut self.marks[n as usize].0;
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }

    #[inline]
    pub fn payload(&self, n: u32) -> M {
        self.marks[n as usize].1
    }

    #[inline]
    pub fn set_payload(&mut self, n: u32, value: M) {
        self.marks[n as usize].1 = value;
    }

    #[inline]
    fn prefetch(&self, n: u32) {
        crate::simd::prefetch(std::slice::from_ref(&self.marks[n as usize]));
    }
}

/// Beam search state, reused from search to search so the hot loop
/// allocates nothing: the visited marks (with a payload per node: the
/// index keeps a candidate's lower bound there, the build nothing) and the
/// two heaps.
#[derive(Default)]
pub struct Beam<M: Copy + Default> {
    visited: Marks<M>,
    /// Unexpanded candidates, best first.
    cand: BinaryHeap<Reverse<u64>>,
    /// The `width` best keys seen; the worst of them is the bar a new
    /// candidate must pass and the search's stopping point.
    top: BinaryHeap<u64>,
}

impl<M: Copy + Default> Beam<M> {
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

    /// The loop on a path graph 0 - 1 - ... - 9 from node 0, scoring node
    /// `i` by `|i - 7|`: a width-1 beam walks straight to 7, and stops
    /// there.
    #[test]
    fn walks_a_path_to_its_best_node() {
        let mut b: Beam<()> = Beam::default();
        b.reset(10);
        b.visit(0);
        b.offer(pack(7.0, 0), 1);
        let mut expanded = Vec::new();
        while let Some(c) = b.next(1) {
            let n = unpack(c).1;
            expanded.push(n);
            let mut nbrs: Vec<u32> = [n.wrapping_sub(1), n + 1]
                .into_iter()
                .filter(|&m| m < 10)
                .collect();
            b.keep_unvisited(&mut nbrs, |_| {});
            for m in nbrs {
                b.offer(pack((m as f32 - 7.0).abs(), m), 1);
            }
        }
        assert_eq!(expanded, (0..=7).collect::<Vec<_>>());
        // A new search forgets the marks.
        b.reset(10);
        assert!(b.visit(3));
        assert!(!b.visit(3));
    }
}
