//! Eight-bit scalar codes of the vectors a graph build walks over.
//!
//! The in-memory build's greedy searches and prunes compute thousands of
//! distances per inserted point between vectors scattered over memory, so
//! the build waits on memory far more than it computes. These codes hold
//! each coordinate in one byte (a quarter of an `f32` vector, rows padded
//! to whole cache lines), summed exactly in integers, and the build takes
//! its distances between codes: the graph comes out as good as with the
//! exact distances (BENCHMARKS.md) in less time. The index's own codes
//! (RaBitQ, `crate::rabitq`) serve searches; these live only while a graph
//! is built.
//!
//! Coordinate `x` of dimension `d` is `lo[d] + step * q`, `q` in `0..=255`:
//! each dimension has its own offset and all share one step (the widest
//! dimension's range over 255), which keeps the distance an integer sum.
//! A dimension much narrower than the widest gets fewer levels; data whose
//! near points then no longer rank as they do exactly (a check on a
//! sample, [`Sq8::ranks_like`]) is built with exact distances instead.

use rayon::prelude::*;

/// Bytes in one code row: the dimensions rounded up to whole cache lines.
pub fn row_bytes(dim: usize) -> usize {
    dim.div_ceil(LINE) * LINE
}

const LINE: usize = 64;

/// A cache line of code bytes, aligned so that a row never straddles more
/// lines than it fills.
#[repr(align(64))]
#[derive(Clone, Copy)]
// Its bytes are read through `row_as_bytes`, not by field.
#[allow(dead_code)]
struct Line([u8; LINE]);

/// The codes of `n` vectors and the distances between them.
pub struct Sq8 {
    lines: Vec<Line>,
    /// Lines per row.
    stride: usize,
    /// `step^2`: one code unit of squared distance.
    unit: f32,
    /// Inner product, per row: `step * sum_d lo[d] * q[d]`.
    row_terms: Vec<f32>,
    /// Inner product: `sum_d lo[d]^2`.
    constant: f32,
}

impl Sq8 {
    /// Codes of the `dim`-float rows of `data`. With `dot`, also what
    /// [`Sq8::dot`] needs.
    pub fn encode(data: &[f32], dim: usize, dot: bool) -> Sq8 {
        assert!(
            row_bytes(dim) <= crate::simd::SQ8_MAX_LEN,
            "{dim} dimensions"
        );
        let n = data.len().checked_div(dim).unwrap_or(0);
        let stride = row_bytes(dim) / LINE;
        let empty = || (vec![f32::INFINITY; dim], vec![f32::NEG_INFINITY; dim]);
        let widen = |(mut lo, mut hi): (Vec<f32>, Vec<f32>), v: &[f32]| {
            for d in 0..dim {
                lo[d] = lo[d].min(v[d]);
                hi[d] = hi[d].max(v[d]);
            }
            (lo, hi)
        };
        let (lo, hi) =
            data.par_chunks_exact(dim.max(1))
                .fold(empty, widen)
                .reduce(empty, |acc, (l, h)| {
                    let acc = widen(acc, &l);
                    widen(acc, &h)
                });
        let lo: Vec<f32> = lo
            .iter()
            .map(|&l| if l.is_finite() { l } else { 0.0 })
            .collect();
        let range = (0..dim)
            .map(|d| hi[d] - lo[d])
            .filter(|r| r.is_finite())
            .fold(0f32, f32::max);
        // All rows equal (or none): every code 0, every distance 0.
        let step = if range > 0.0 { range / 255.0 } else { 0.0 };
        let mut lines = vec![Line([0; LINE]); n * stride];
        lines
            .par_chunks_mut(stride.max(1))
            .zip(data.par_chunks_exact(dim.max(1)))
            .for_each(|(row, v)| {
                let bytes = row_as_bytes_mut(row);
                if step > 0.0 {
                    for d in 0..dim {
                        bytes[d] = ((v[d] - lo[d]) / step).round().clamp(0.0, 255.0) as u8;
                    }
                }
            });
        let mut row_terms = vec![0f32; if dot { n } else { 0 }];
        row_terms.par_iter_mut().enumerate().for_each(|(i, t)| {
            let row = row_as_bytes(&lines[i * stride..(i + 1) * stride]);
            *t = step * (0..dim).map(|d| lo[d] * row[d] as f32).sum::<f32>();
        });
        Sq8 {
            lines,
            stride,
            unit: step * step,
            row_terms,
            constant: lo.iter().map(|l| l * l).sum(),
        }
    }

    /// Row `i`'s code bytes (padding included).
    #[inline]
    fn row(&self, i: u32) -> &[u8] {
        let at = i as usize * self.stride;
        row_as_bytes(&self.lines[at..at + self.stride])
    }

    /// Squared L2 distance between rows `a` and `b`, as coded.
    #[inline]
    pub fn l2(&self, a: u32, b: u32) -> f32 {
        // SAFETY: the chosen table's CPU features were detected; rows are
        // at most `SQ8_MAX_LEN` bytes (checked in `encode`).
        let units = unsafe { (crate::simd::kernels().sq8_l2)(self.row(a), self.row(b)) };
        units as f32 * self.unit
    }

    /// Inner product of rows `a` and `b`, as coded (the codes must have
    /// been made with `dot`).
    #[inline]
    pub fn dot(&self, a: u32, b: u32) -> f32 {
        // SAFETY: as in `l2`.
        let units = unsafe { (crate::simd::kernels().sq8_dot)(self.row(a), self.row(b)) };
        self.constant
            + self.row_terms[a as usize]
            + self.row_terms[b as usize]
            + units as f32 * self.unit
    }

    /// Ask the CPU to pull row `i` into cache.
    #[inline]
    pub fn prefetch(&self, i: u32) {
        let at = i as usize * self.stride;
        crate::simd::prefetch(&self.lines[at..at + self.stride]);
    }

    /// Whether the codes rank near points as `exact` does: for a sample of
    /// points, the 10 nearest of a sample of others by code distance
    /// (`coded`) hold at least nine in ten of the 10 nearest by `exact`.
    /// Both samples are spread evenly over the rows.
    pub fn ranks_like(
        n: usize,
        exact: impl Fn(u32, u32) -> f32 + Sync,
        coded: impl Fn(u32, u32) -> f32 + Sync,
    ) -> bool {
        const PROBES: usize = 64;
        const POOL: usize = 2048;
        const K: usize = 10;
        if n <= K + 1 {
            return true;
        }
        let probes: Vec<u32> = (0..PROBES.min(n))
            .map(|i| (i * n / PROBES.min(n)) as u32)
            .collect();
        let pool: Vec<u32> = (0..POOL.min(n))
            .map(|i| (i * n / POOL.min(n)) as u32)
            .collect();
        let nearest = |p: u32, dist: &(dyn Fn(u32, u32) -> f32 + Sync)| {
            let mut d: Vec<(f32, u32)> = pool
                .iter()
                .filter(|&&x| x != p)
                .map(|&x| (dist(p, x), x))
                .collect();
            let k = K.min(d.len());
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            d.truncate(k);
            d.into_iter().map(|x| x.1).collect::<Vec<u32>>()
        };
        let (found, wanted) = probes
            .par_iter()
            .map(|&p| {
                let want = nearest(p, &exact);
                let got = nearest(p, &coded);
                (got.iter().filter(|x| want.contains(x)).count(), want.len())
            })
            .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        found * 10 >= wanted * 9
    }
}

fn row_as_bytes(row: &[Line]) -> &[u8] {
    // SAFETY: `Line` is a `#[repr(align(64))]` wrapper of `[u8; 64]` with
    // no padding, so `row` is `row.len() * 64` initialised bytes.
    unsafe { std::slice::from_raw_parts(row.as_ptr() as *const u8, row.len() * LINE) }
}

fn row_as_bytes_mut(row: &mut [Line]) -> &mut [u8] {
    // SAFETY: as in `row_as_bytes`, borrowed mutably from `row`.
    unsafe { std::slice::from_raw_parts_mut(row.as_mut_ptr() as *mut u8, row.len() * LINE) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, dim: usize, seed: u64, spread: impl Fn(usize) -> f32) -> Vec<f32> {
        let mut st = seed;
        (0..n * dim)
            .map(|i| {
                ((crate::rabitq::splitmix64(&mut st) % 20001) as f32 / 10000.0 - 1.0)
                    * spread(i % dim)
            })
            .collect()
    }

    fn exact_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
            .sum()
    }

    /// Each coordinate is within half a step of its value, so a distance
    /// is within what those errors can add up to.
    #[test]
    fn distances_are_within_the_steps_of_the_exact_ones() {
        for dim in [1, 3, 50, 64, 65, 384] {
            let n = 40;
            let spread = |d: usize| 1.0 + (d % 3) as f32;
            let data = rows(n, dim, dim as u64, spread);
            let codes = Sq8::encode(&data, dim, true);
            let step = codes.unit.sqrt() as f64;
            for a in 0..n {
                for b in 0..n {
                    let (va, vb) = (&data[a * dim..(a + 1) * dim], &data[b * dim..(b + 1) * dim]);
                    // |(x - y)^2 - (x' - y')^2| <= 2 |x - y| e + e^2 with
                    // e = |x - x'| + |y - y'| <= step.
                    let bound: f64 = (0..dim)
                        .map(|d| 2.0 * (va[d] - vb[d]).abs() as f64 * step + step * step)
                        .sum();
                    let got = codes.l2(a as u32, b as u32) as f64;
                    let want = exact_l2(va, vb);
                    assert!(
                        (got - want).abs() <= bound * 1.01 + 1e-6,
                        "dim {dim} l2 {got} vs {want}"
                    );
                    let dot: f64 = va.iter().zip(vb).map(|(x, y)| *x as f64 * *y as f64).sum();
                    let dbound: f64 = (0..dim)
                        .map(|d| {
                            (va[d].abs() + vb[d].abs()) as f64 * step / 2.0 + step * step / 4.0
                        })
                        .sum();
                    let got = codes.dot(a as u32, b as u32) as f64;
                    assert!(
                        (got - dot).abs() <= dbound * 1.01 + 1e-4,
                        "dim {dim} dot {got} vs {dot}"
                    );
                }
            }
        }
    }

    #[test]
    fn equal_rows_and_no_rows_code_to_nothing() {
        let data = vec![2.0f32, 1.0, 2.0, 3.0];
        let codes = Sq8::encode(&data, 2, true);
        assert!((codes.l2(0, 1) - 4.0).abs() < 1e-5);
        assert!((codes.dot(0, 1) - 7.0).abs() < 1e-4);
        let same = Sq8::encode(&[1.5f32; 12], 3, true);
        assert_eq!(same.l2(0, 3), 0.0);
        assert!((same.dot(1, 2) - 3.0 * 2.25).abs() < 1e-5);
        let empty = Sq8::encode(&[], 8, false);
        assert!(empty.lines.is_empty());
        assert_eq!(row_bytes(1), 64);
        assert_eq!(row_bytes(64), 64);
        assert_eq!(row_bytes(65), 128);
    }

    /// Even spreads rank as exactly; one dimension a million times wider
    /// than the rest leaves the others one level, and near points no
    /// longer rank as they are.
    #[test]
    fn a_dimension_that_swamps_the_others_is_caught() {
        let (n, dim) = (4000, 16);
        for (spread, faithful) in [(1.0f32, true), (1e6, false)] {
            let data = rows(n, dim, 7, |d| if d == 0 { spread } else { 1.0 });
            let codes = Sq8::encode(&data, dim, false);
            let exact = |a: u32, b: u32| {
                let (a, b) = (a as usize, b as usize);
                exact_l2(&data[a * dim..(a + 1) * dim], &data[b * dim..(b + 1) * dim]) as f32
            };
            assert_eq!(
                Sq8::ranks_like(n, exact, |a, b| codes.l2(a, b)),
                faithful,
                "spread {spread}"
            );
        }
    }
}
