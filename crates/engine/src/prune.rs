//! RobustPrune (DiskANN, Subramanya et al. 2019): how a node's neighbour
//! list is chosen, by the graph build, by inserts (the new node's list and
//! each back edge) and by consolidation after deletes.

/// Keep the closest candidate, drop every candidate it "covers"
/// (`alpha * d(kept, c) <= d(p, c)`), repeat, up to `r` neighbours.
/// `cands` holds `(distance to p, id)`; it is sorted and deduplicated here,
/// and `p` itself is dropped. `dist(a, b)` is the graph distance between
/// two candidates.
#[inline(never)]
pub fn robust_prune(
    p: u32,
    cands: &mut Vec<(f32, u32)>,
    alpha: f32,
    r: usize,
    mut dist: impl FnMut(u32, u32) -> f32,
) -> Vec<u32> {
    cands.retain(|c| c.1 != p);
    cands.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    cands.dedup_by_key(|c| c.1);
    let mut out = Vec::with_capacity(r);
    let mut alive = vec![true; cands.len()];
    for i in 0..cands.len() {
        if !alive[i] {
            continue;
        }
        let (_, c) = cands[i];
        out.push(c);
        if out.len() >= r {
            break;
        }
        for j in i + 1..cands.len() {
            if alive[j] && alpha * dist(c, cands[j].1) <= cands[j].0 {
                alive[j] = false;
            }
        }
    }
    out
}

/// RobustPrune of `p` over the candidates `ids`, with every distance
/// (to `p` and between candidates) from `dist`: the candidate set-up each
/// caller would otherwise repeat.
pub fn prune_among(
    p: u32,
    ids: impl IntoIterator<Item = u32>,
    alpha: f32,
    r: usize,
    mut dist: impl FnMut(u32, u32) -> f32,
) -> Vec<u32> {
    let mut cands: Vec<(f32, u32)> = ids.into_iter().map(|x| (dist(p, x), x)).collect();
    robust_prune(p, &mut cands, alpha, r, dist)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points on a line: 1 covers 2 and 3 (they lie behind it seen from
    /// 0), so with alpha 1 only 1 and -1 survive; a large alpha keeps all.
    #[test]
    fn keeps_one_neighbour_per_direction() {
        let x = |i: u32| [0.0f32, 1.0, 2.0, 3.0, -1.0][i as usize];
        let d = |a: u32, b: u32| (x(a) - x(b)).abs();
        assert_eq!(prune_among(0, [1, 2, 3, 4, 4, 0], 1.0, 8, d), vec![1, 4]);
        assert_eq!(prune_among(0, [1, 2, 3, 4], 4.0, 8, d), vec![1, 4, 2, 3]);
        assert_eq!(prune_among(0, [1, 2, 3, 4], 4.0, 2, d), vec![1, 4]);
    }
}
