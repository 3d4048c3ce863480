//! Per-search state, reused between searches so the hot loop allocates
//! nothing: generation-stamped visited marks, heaps of packed
//! `(distance, node)` keys, and buffers for nodes read from pages.

use crate::rabitq::QueryCode;
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

/// Counters for one search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Pages read from the store (node expansions and re-ranking reads).
    pub pages_read: u64,
    /// Nodes whose page was read to follow their neighbours.
    pub expanded: u64,
    /// Code estimates computed.
    pub estimated: u64,
    /// Extra exact distances read for candidates that were not expanded.
    pub reranked: u64,
    /// Re-ranking reads skipped because the error bound proved them useless.
    pub rerank_skipped: u64,
}

#[derive(Default)]
pub struct Scratch {
    /// Per node: generation when visited, and its lower bound (estimate
    /// minus error bound) then; together so one cache line serves both.
    pub mark: Vec<(u32, f32)>,
    /// Stamped when a node's exact distance is in `exact` (expanded or
    /// re-ranked), so a streaming search never returns it twice.
    pub done: Vec<u32>,
    pub generation: u32,
    pub qc: QueryCode,
    pub query: Vec<f32>,
    /// Unexpanded candidates, closest estimate first.
    pub cand: BinaryHeap<Reverse<u64>>,
    /// The `ef` best estimates seen; its max is the stopping threshold.
    pub top: BinaryHeap<u64>,
    /// Visited but not good enough to enter `top`: kept for re-ranking and
    /// for streaming past `ef`.
    pub deferred: Vec<u64>,
    /// Exact distances of live nodes read so far.
    pub exact: Vec<(f32, u32)>,
    /// Copies of expanded vectors (inserts need them to prune).
    pub keep_vectors: bool,
    pub kept: Vec<(u32, usize)>,
    pub arena: Vec<f32>,
    pub buf: Vec<u64>,
    pub nbrs: Vec<u32>,
    pub stats: SearchStats,
}

impl Scratch {
    /// Start a new search over `n` nodes.
    pub fn reset(&mut self, n: usize) {
        if self.mark.len() < n {
            self.mark.resize(n, (0, 0.0));
            self.done.resize(n, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.mark.iter_mut().for_each(|m| m.0 = 0);
            self.done.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        self.cand.clear();
        self.top.clear();
        self.deferred.clear();
        self.exact.clear();
        self.kept.clear();
        self.arena.clear();
        self.stats = SearchStats::default();
    }

    /// Mark `n`'s exact distance as known; false if it already was.
    #[inline]
    pub fn finish(&mut self, n: u32) -> bool {
        let m = &mut self.done[n as usize];
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }

    #[inline]
    pub fn visit(&mut self, n: u32) -> bool {
        let m = &mut self.mark[n as usize].0;
        if *m == self.generation {
            false
        } else {
            *m = self.generation;
            true
        }
    }
}
