//! Partitioning for the cluster-at-a-time build (`build_parts.rs`):
//! k-means on a sample, splitting the clusters that come out too large,
//! each vector's nearest clusters, and the members of each cluster.

use rayon::prelude::*;

/// Lloyd iterations of the clustering.
const KMEANS_ROUNDS: usize = 8;

/// A place in a vector's list of clusters that it does not join.
pub(super) const NO_CLUSTER: u32 = u32::MAX;

/// The clusters in a vector's list that it joins.
fn joined_of<const N: usize>(pair: &[u32; N]) -> impl Iterator<Item = usize> + '_ {
    pair.iter()
        .filter(|&&c| c != NO_CLUSTER)
        .map(|&c| c as usize)
}

/// The most clusters a build may have: their numbers are kept in two
/// bytes ([`compact`]), `u16::MAX` meaning none.
pub(super) const MAX_CLUSTERS: usize = u16::MAX as usize;

/// A vector's clusters ([`joined`]) in two bytes each, as the build keeps
/// them for every node while it builds the clusters one at a time: a
/// cluster's members are found by a scan ([`members`]) rather than held
/// grouped, which would take two to three times the memory, memory a
/// cluster's graph can use instead. Needs fewer than [`MAX_CLUSTERS`].
pub(super) fn compact<const N: usize>(joined: [u32; N]) -> [u16; N] {
    joined.map(|c| match c {
        NO_CLUSTER => u16::MAX,
        c => {
            debug_assert!((c as usize) < MAX_CLUSTERS);
            c as u16
        }
    })
}

/// How many nodes joined cluster `c` (`joined` holds each node's
/// [`compact`] clusters).
pub(super) fn member_count<const N: usize>(joined: &[[u16; N]], c: usize) -> usize {
    let c = c as u16;
    joined.iter().filter(|cs| cs.contains(&c)).count()
}

/// Every `parts`-th node that joined cluster `c`, from the `part`-th (all
/// of them with one part), in increasing order, and whether `c` is each
/// one's home (its nearest, listed first) rather than a cluster it joined
/// from across a boundary.
pub(super) fn members<const N: usize>(
    joined: &[[u16; N]],
    c: usize,
    part: usize,
    parts: usize,
) -> (Vec<u32>, Vec<bool>) {
    let c = c as u16;
    joined
        .iter()
        .enumerate()
        .filter_map(|(i, cs)| cs.iter().position(|&x| x == c).map(|j| (i as u32, j == 0)))
        .skip(part)
        .step_by(parts)
        .unzip()
}

/// The `N` nearest of the centroids (squared L2), nearest first; there
/// must be at least `N`.
pub(super) fn nearest<const N: usize>(v: &[f32], centroids: &[f32], dim: usize) -> [u32; N] {
    nearest_with_distances::<N>(v, centroids, dim).map(|b| b.1)
}

/// The clusters a vector joins: its nearest, and each of the next `N - 1`
/// nearest whose squared distance is within `ratio` times the nearest's
/// (the others are [`NO_CLUSTER`]). A vector deep inside its cluster joins
/// one; one near a boundary joins the clusters across it, where its true
/// neighbours are (SPANN's closure assignment).
pub(super) fn joined<const N: usize>(
    v: &[f32],
    centroids: &[f32],
    dim: usize,
    ratio: f32,
) -> [u32; N] {
    let best = nearest_with_distances::<N>(v, centroids, dim);
    let limit = if ratio.is_finite() {
        best[0].0 * ratio
    } else {
        f32::INFINITY
    };
    let mut out = [NO_CLUSTER; N];
    for (j, b) in best.iter().enumerate() {
        if j == 0 || b.0 <= limit {
            out[j] = b.1;
        }
    }
    out
}

/// The `N` nearest of the centroids with their squared distances,
/// nearest first; there must be at least `N`.
fn nearest_with_distances<const N: usize>(
    v: &[f32],
    centroids: &[f32],
    dim: usize,
) -> [(f32, u32); N] {
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
    best
}

/// `k` centroids of the sample by Lloyd's k-means from `k` distinct sample
/// points; a cluster left empty restarts at a random sample point. `None`
/// when `stop` says so.
pub(super) fn kmeans(
    sample: &[f32],
    dim: usize,
    k: usize,
    seed: u64,
    stop: fn() -> bool,
) -> Option<Vec<f32>> {
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

/// Split each cluster whose sample members (each point counted in its `N`
/// nearest) number more than `cap` by k-means over the sample points
/// nearest it, until none does (or a few rounds pass).
pub(super) fn split_large<const N: usize>(
    sample: &[f32],
    dim: usize,
    mut centroids: Vec<f32>,
    cap: usize,
    ratio: f32,
    seed: u64,
    stop: fn() -> bool,
) -> Option<Vec<f32>> {
    for _ in 0..8 {
        let k = centroids.len() / dim;
        let near: Vec<[u32; N]> = sample
            .par_chunks_exact(dim)
            .map(|v| joined::<N>(v, &centroids, dim, ratio))
            .collect();
        let mut count = vec![0usize; k];
        for cs in &near {
            for c in joined_of(cs) {
                count[c] += 1;
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
    fn members_lists_each_node_under_each_of_its_clusters_in_order_and_marks_its_home() {
        let joined = [[1, 0], [0, 2], [1, 2]].map(compact);
        assert_eq!(members(&joined, 0, 0, 1), (vec![0, 1], vec![false, true]));
        assert_eq!(members(&joined, 1, 0, 1), (vec![0, 2], vec![true, true]));
        // Each node's first cluster is its home.
        assert_eq!(members(&joined, 2, 0, 1), (vec![1, 2], vec![false, false]));
        assert_eq!(
            (0..3).map(|c| member_count(&joined, c)).collect::<Vec<_>>(),
            [2, 2, 2]
        );
        // In parts: every second member, from the first or the second.
        let joined = [[0, 1], [1, 0], [0, 1], [0, 1], [1, 0]].map(compact);
        assert_eq!(
            members(&joined, 0, 0, 2),
            (vec![0, 2, 4], vec![true, true, false])
        );
        assert_eq!(members(&joined, 0, 1, 2), (vec![1, 3], vec![false, true]));
    }

    #[test]
    fn a_vector_joins_far_clusters_only_near_a_boundary() {
        // Centroids on a line at 0, 10, 20, 30 (1-d).
        let centroids = [0.0f32, 10.0, 20.0, 30.0];
        // Deep inside cluster 1: its next nearest (0 and 20, 100 away
        // squared against 1) are far past the ratio.
        assert_eq!(
            joined::<3>(&[11.0], &centroids, 1, 1.3),
            [1, NO_CLUSTER, NO_CLUSTER]
        );
        // Halfway between 1 and 2: both (equal distances); 0 and 3 are not.
        let j = joined::<3>(&[15.0], &centroids, 1, 1.3);
        assert_eq!((j[0].min(j[1]), j[0].max(j[1]), j[2]), (1, 2, NO_CLUSTER));
        // An infinite ratio joins the three nearest, as `nearest` gives.
        assert_eq!(
            joined::<3>(&[11.0], &centroids, 1, f32::INFINITY),
            nearest::<3>(&[11.0], &centroids, 1)
        );
        // Unjoined places are left out of the members.
        let joined = [[1, NO_CLUSTER], [0, 1]].map(compact);
        assert_eq!(members(&joined, 0, 0, 1).0, vec![1]);
        assert_eq!(members(&joined, 1, 0, 1).0, vec![0, 1]);
        assert_eq!(compact([1, NO_CLUSTER]), [1, u16::MAX]);
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
        let c = kmeans(&sample, dim, 3, 7, crate::vamana::never).unwrap();
        let mut found: Vec<usize> = c
            .chunks_exact(dim)
            .map(|p| (p[0] / 50.0).round() as usize * 2 + (p[1] / 50.0).round() as usize)
            .collect();
        found.sort_unstable();
        // Each centroid sits on its own group: (0,0), (0,100), (100,0).
        assert_eq!(found, vec![0, 2, 4]);
    }
}
