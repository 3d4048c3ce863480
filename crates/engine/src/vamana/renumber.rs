//! Renumbering a graph for locality: the breadth-first order the build
//! renumbers into after its first pass, and the in-place permutation of
//! the vectors and lists.

use super::Graph;
use crate::adjacency::Adjacency;
use crate::permute::{follow_cycles, Step};
use rayon::prelude::*;

/// Nodes in breadth-first order from `start`, then any unreached ones.
pub(super) fn bfs_order(adj: &Adjacency, start: u32) -> Vec<u32> {
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
    let mut list = Vec::new();
    for root in std::iter::once(start).chain(0..n as u32) {
        push(root, &mut order);
        while head < order.len() {
            let x = order[head];
            head += 1;
            list.clear();
            adj.read_into(x, &mut list);
            for &m in &list {
                push(m, &mut order);
            }
        }
    }
    order
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
pub(super) fn renumber(
    data: &mut [f32],
    dim: usize,
    mut lists: Vec<Vec<u32>>,
    order: &[u32],
) -> (Vec<Vec<u32>>, Vec<u32>) {
    let new_of = inverse(order);
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

/// Renumber points in place so that point `new` is the point `order[new]`
/// was: `data`'s rows and `adj`'s rows and links. Returns `new_of[old] =
/// new`.
pub(super) fn renumber_in_place(
    data: &mut [f32],
    dim: usize,
    adj: &mut Adjacency,
    order: &[u32],
) -> Vec<u32> {
    let new_of = inverse(order);
    permute_rows(data, dim, order);
    adj.renumber(order, &new_of);
    new_of
}

/// Reorder `data`'s rows of `dim` floats in place so that row `new` is
/// the row `order[new]` was.
fn permute_rows(data: &mut [f32], dim: usize, order: &[u32]) {
    let mut held = vec![0f32; dim];
    follow_cycles(order, |step| match step {
        Step::Hold(i) => held.copy_from_slice(&data[i * dim..(i + 1) * dim]),
        Step::Move { from, to } => data.copy_within(from * dim..(from + 1) * dim, to * dim),
        Step::Place(at) => data[at * dim..(at + 1) * dim].copy_from_slice(&held),
    });
}

/// `new_of[old] = new` for `order[new] = old`.
fn inverse(order: &[u32]) -> Vec<u32> {
    let mut new_of = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of[old as usize] = new as u32;
    }
    new_of
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
