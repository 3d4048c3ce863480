//! Which nodes share a node page: the bulk build's last renumbering.
//!
//! A search whose pages are not in memory pays one read per distinct page
//! it touches, and a walk near its query expands nodes that are each
//! other's neighbours. Filling each page with a node and the nodes most
//! linked to it (after Starling's block shuffling, in one greedy pass)
//! lets one read serve several expansions: the later ones find the page
//! in the buffer cache. Seeds are taken in the graph's breadth-first
//! order, so the pages near the entry point, which every search reads,
//! stay together too.

/// The order in which to store `adj`'s nodes (`order[new] = old`) when
/// node `i` of the new order starts on page `page_of(i)`, pages filling
/// in order. Each page starts from the first node not yet placed (in the
/// current numbering, breadth-first from the entry point `0`), then takes,
/// one at a time, the unplaced node with the most links from the nodes
/// already on the page (ties to the earlier node). Node `0` stays first.
/// `None` when `stop` (asked every few thousand nodes) says so: a build
/// of many millions of nodes spends seconds here.
pub(super) fn pack_order(
    adj: &[Vec<u32>],
    page_of: impl Fn(usize) -> usize,
    stop: impl Fn() -> bool,
) -> Option<Vec<u32>> {
    let n = adj.len();
    let mut placed = vec![false; n];
    // Links from the current page's nodes, for the nodes they reach.
    let mut score = vec![0u32; n];
    let mut touched: Vec<u32> = Vec::new();
    let mut order = Vec::with_capacity(n);
    let mut next_seed = 0usize;
    for pos in 0..n {
        if pos % 4096 == 4095 && stop() {
            return None;
        }
        let new_page = pos == 0 || page_of(pos) != page_of(pos - 1);
        if new_page {
            touched.iter().for_each(|&m| score[m as usize] = 0);
            touched.clear();
        }
        let best = if new_page {
            None
        } else {
            touched
                .iter()
                .copied()
                .max_by(|&a, &b| score[a as usize].cmp(&score[b as usize]).then(b.cmp(&a)))
        };
        let x = match best {
            Some(x) => x,
            None => {
                while placed[next_seed] {
                    next_seed += 1;
                }
                next_seed as u32
            }
        };
        placed[x as usize] = true;
        order.push(x);
        for &m in &adj[x as usize] {
            if !placed[m as usize] {
                if score[m as usize] == 0 {
                    touched.push(m);
                }
                score[m as usize] += 1;
            }
        }
        // Only unplaced nodes stay candidates: the pick above relies on it.
        touched.retain(|&m| !placed[m as usize]);
    }
    Some(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Two cliques of four, interleaved in the numbering: packed four to a
    /// page, each page holds one clique.
    #[test]
    fn a_page_takes_the_nodes_linked_to_it() {
        let clique = |a: [u32; 4]| -> Vec<Vec<u32>> {
            a.iter()
                .map(|&x| a.iter().copied().filter(|&y| y != x).collect())
                .collect()
        };
        let (even, odd) = (clique([0, 2, 4, 6]), clique([1, 3, 5, 7]));
        let adj: Vec<Vec<u32>> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    even[i / 2].clone()
                } else {
                    odd[i / 2].clone()
                }
            })
            .collect();
        let order = pack_order(&adj, |i| i / 4, || false).unwrap();
        assert_eq!(order, vec![0, 2, 4, 6, 1, 3, 5, 7]);
    }

    /// Share of `adj`'s links whose two ends start on the same page.
    fn same_page_share(adj: &[Vec<u32>], page: impl Fn(u32) -> usize) -> f64 {
        let (mut same, mut all) = (0, 0);
        for (x, list) in adj.iter().enumerate() {
            for &m in list {
                all += 1;
                same += usize::from(page(x as u32) == page(m));
            }
        }
        same as f64 / all as f64
    }

    /// Points on a line, each linked to its 4 nearest on either side,
    /// numbered at random: packed 8 to a page, most links stay on their
    /// page (about 3 in 4 at best: a page of 8 consecutive points keeps
    /// 22 of its 64 links off it at the ends).
    #[test]
    fn neighbours_on_a_line_share_pages() {
        let n = 4000u32;
        let mut at: Vec<u32> = (0..n).collect(); // at[number] = position
        let mut st = 7u64;
        for i in (1..n as usize).rev() {
            let j = (crate::rabitq::splitmix64(&mut st) % (i as u64 + 1)) as usize;
            at.swap(i, j);
        }
        let mut number = vec![0u32; n as usize];
        at.iter()
            .enumerate()
            .for_each(|(k, &p)| number[p as usize] = k as u32);
        let adj: Vec<Vec<u32>> = (0..n)
            .map(|k| {
                let p = at[k as usize] as i64;
                (p - 4..=p + 4)
                    .filter(|&q| q != p && q >= 0 && q < n as i64)
                    .map(|q| number[q as usize])
                    .collect()
            })
            .collect();
        let before = same_page_share(&adj, |x| x as usize / 8);
        let order = pack_order(&adj, |i| i / 8, || false).unwrap();
        let mut new_of = vec![0u32; n as usize];
        order
            .iter()
            .enumerate()
            .for_each(|(new, &old)| new_of[old as usize] = new as u32);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert!(
            sorted.iter().enumerate().all(|(i, &x)| i as u32 == x),
            "a permutation"
        );
        assert_eq!(order[0], 0, "the entry point stays first");
        let after = same_page_share(&adj, |x| new_of[x as usize] as usize / 8);
        assert!(before < 0.01, "random numbering: {before}");
        assert!(after > 0.5, "packed: {after}");
    }

    /// The bulk build stores linked nodes together: far more of the built
    /// graph's links stay on their node's page than storing the rows in
    /// the order given would keep.
    #[test]
    fn the_bulk_build_packs_its_pages() {
        use crate::{Index, MemStore, Metric, Options};
        let (n, dim) = (3000usize, 8usize);
        let mut st = 11u64;
        let mut unit = || (crate::rabitq::splitmix64(&mut st) >> 11) as f32 / (1u64 << 53) as f32;
        let data: Vec<f32> = (0..n * dim).map(|_| unit()).collect();
        let mut index = Index::create(MemStore::new(), Options::new(dim, Metric::L2)).unwrap();
        let ids: Vec<u64> = (0..n as u64).collect();
        index.build(&data, &ids, usize::MAX).unwrap();
        let adj: Vec<Vec<u32>> = (0..n as u32)
            .map(|m| index.read_node(m).unwrap().neighbors)
            .collect();
        let built = same_page_share(&adj, |m| index.codes.location(m).0 as usize);
        // The same nodes laid out by id, as many to a page as the build put.
        let per_page = n as f64
            / (0..n as u32)
                .map(|m| index.codes.location(m).0)
                .collect::<HashSet<_>>()
                .len() as f64;
        let id_of: Vec<u64> = (0..n as u32).map(|m| index.codes.id(m)).collect();
        let by_id = same_page_share(&adj, |m| (id_of[m as usize] as f64 / per_page) as usize);
        assert!(
            built > 4.0 * by_id && built > 0.2,
            "packed {built}, by id {by_id}"
        );
    }

    #[test]
    fn a_stop_ends_the_packing() {
        let adj: Vec<Vec<u32>> = (0..10_000u32).map(|i| vec![(i + 1) % 10_000]).collect();
        assert!(pack_order(&adj, |i| i / 8, || true).is_none());
        assert_eq!(
            pack_order(&adj, |i| i / 8, || false).map(|o| o.len()),
            Some(10_000)
        );
    }
}
