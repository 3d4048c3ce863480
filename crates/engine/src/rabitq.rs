//! RaBitQ quantizer (Gao & Long, SIGMOD 2024) and its multi-bit extension
//! (Extended RaBitQ, SIGMOD 2025).
//!
//! Each vector `o` is stored as its residual from a centroid `c`, rotated by a
//! random orthogonal `P`: `r = P(o - c)`, of norm `n`. Its direction `u = r/n`
//! is snapped to the nearest point `y/|y|` of a grid of odd integers
//! `y_i in {-(2^B-1), ..., -1, 1, ..., 2^B-1}` (with `B = 1`, `y = sign(u)`).
//! The code is `z = (y + 2^B - 1) / 2`, `B` bits per dimension, stored as
//! bit planes so that estimates need only AND + POPCNT (see
//! `simd::scalar::planes`). Searches read codes in their *search layout*
//! ([`RaBitQ::search_layout`]): the bit planes, except 4-bit codes (the
//! default below 1,024 dimensions), which hold a dimension per nibble so
//! that the estimate multiplies bytes (`simd::NibbleKernel`) instead of
//! counting 32 plane pairs.
//!
//! For a query residual `s = P(q - c)` the estimator is
//! `<r, s> ~ n <y, s> / <y, u>`: unbiased, and because `P` is random the part
//! of `u` orthogonal to `y` points in a uniformly random direction, so the
//! error is about `n |s| tan(theta) / sqrt(D - 1)` times a standard normal,
//! `theta` being the angle between `u` and `y`. `EPSILON0` standard deviations
//! give the error bound used to skip re-ranking reads. The query itself is
//! quantized to signed bytes; that error is bounded exactly (Cauchy-Schwarz)
//! and added to the bound.
//!
//! Distances follow from `<r, s>`:
//! * L2: `|o - q|^2 = n^2 + |s|^2 - 2 <r, s>`
//! * inner product (distance `-<o, q>`): `-<o,q> = -<o - c, c> - <c, q> - <r, s>`
//!
//! The rotation is a randomized fast Hadamard transform (three rounds of
//! random sign flips and a normalized FHT) over the vector zero-padded to a
//! power of two `D >= 64`: `O(D log D)` per vector and only `3D` signs stored.

use crate::simd::{self, NibbleKernel, PlaneKernel, QUERY_PLANES};

/// Number of standard deviations in the error bound. The estimator's error is
/// close to normal, so 3.0 covers ~99.7% of cases.
pub const EPSILON0: f32 = 3.0;

/// How an estimate turns into a distance. Cosine is handled by the caller as
/// inner product over normalized vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    L2,
    InnerProduct,
}

/// Per-vector correction factors, stored next to each code.
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Factors {
    /// Additive term: `n^2` (L2) or `-<o - c, c>` (inner product).
    pub add: f32,
    /// `n / <y, u>`: scales the code/query product into `<r, s>`.
    pub scale: f32,
    /// `n tan(theta) / sqrt(D - 1)`: the estimator's standard error per unit `|s|`.
    pub err: f32,
    /// `n / cos(theta)`: bounds the query-quantization error per unit of its norm.
    pub qerr: f32,
}

/// The quantizer: rotation, centroid and code size. Cheap to clone.
#[derive(Clone, Debug)]
pub struct RaBitQ {
    dim: usize,
    padded: usize,
    bits: usize,
    space: Space,
    signs: Vec<f32>,
    centroid: Vec<f32>,
    rotated_centroid: Vec<f32>,
    /// The bit-plane kernel for this code size, chosen once.
    planes: PlaneKernel,
    /// The nibble kernel, for 4-bit codes (whose search layout it reads).
    nibbles: Option<NibbleKernel>,
}

/// A query prepared once, then compared with many codes.
#[derive(Clone, Debug, Default)]
pub struct QueryCode {
    planes: Vec<u64>,
    /// The same signed bytes, one per (padded) dimension, for the nibble
    /// kernel; empty for other code sizes.
    bytes: Vec<i8>,
    /// `est = add + base + scale * (mul * <z,q> + offset)`
    base: f32,
    mul: f32,
    offset: f32,
    /// `bound = err * err_mul + qerr * qerr_mul`
    err_mul: f32,
    qerr_mul: f32,
}

/// Padded dimension for `dim`: the next power of two, at least 64 (one word).
pub fn padded_dim(dim: usize) -> usize {
    dim.next_power_of_two().max(64)
}

/// `u64` words of a code of `dim` dimensions at `bits` bits (all planes).
pub fn code_words(dim: usize, bits: usize) -> usize {
    bits * padded_dim(dim) / 64
}

/// Default code size: 4 bits per dimension below 1,024 dimensions, 3 from
/// there up. The codes do more than steer the walk: a streaming scan (the
/// default, `ScanOrder::Strict`) returns a row only once no unread
/// candidate's lower bound (estimate less the error bound) can beat it, and
/// under a filter it walks by the estimates for many more nodes than it
/// returns. The bound shrinks as `2^-B / sqrt(padded dimension)`: 1 bit at
/// 384 dimensions left it so loose that an unfiltered scan read several
/// times the pages of a 4-bit one at the same list, and the list size
/// stopped mattering (benches/notes/64-code-bits.md). 3 bits from 1,024
/// dimensions keep about the bound 4 bits give at 384-512 for three
/// quarters of the memory, and keep a code within a page up to
/// [`crate::vector_text::MAX_DIM`]. The price is memory: half a byte per
/// padded dimension, a sixth of a 384-dimensional `f32` vector where 1 bit
/// was a 24th.
pub fn default_bits(dim: usize) -> usize {
    if dim < 1024 {
        4
    } else {
        3
    }
}

/// SplitMix64: a tiny generator fixed here so the rotation is part of the
/// on-disk format (it must not change with a dependency's version).
/// Public for the benches' reproducible data.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// In-place normalized fast Walsh-Hadamard transform (orthogonal).
fn fht(x: &mut [f32]) {
    let n = x.len();
    let mut h = 1;
    while h < n {
        for i in (0..n).step_by(2 * h) {
            let (a, b) = x[i..i + 2 * h].split_at_mut(h);
            for (p, q) in a.iter_mut().zip(b.iter_mut()) {
                let (u, v) = (*p, *q);
                *p = u + v;
                *q = u - v;
            }
        }
        h *= 2;
    }
    let s = 1.0 / (n as f32).sqrt();
    x.iter_mut().for_each(|v| *v *= s);
}

impl RaBitQ {
    /// `centroid` is in the original space (`dim` values); `seed` picks the rotation.
    pub fn new(dim: usize, bits: usize, space: Space, centroid: Vec<f32>, seed: u64) -> Self {
        assert!(
            (1..=4).contains(&bits),
            "RaBitQ codes have 1 to 4 bits per dimension"
        );
        assert_eq!(centroid.len(), dim);
        let padded = padded_dim(dim);
        let mut state = seed;
        let signs = (0..3 * padded)
            .map(|_| {
                if splitmix64(&mut state) & 1 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let mut q = RaBitQ {
            dim,
            padded,
            bits,
            space,
            signs,
            centroid,
            rotated_centroid: Vec::new(),
            planes: simd::kernels().planes(padded / 64),
            nibbles: (bits == 4).then_some(simd::kernels().nibbles),
        };
        let c = q.centroid.clone();
        q.rotated_centroid = q.rotate(&c);
        q
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn padded_dim(&self) -> usize {
        self.padded
    }
    pub fn bits(&self) -> usize {
        self.bits
    }
    pub fn centroid(&self) -> &[f32] {
        &self.centroid
    }
    /// u64 words per bit plane.
    pub fn plane_words(&self) -> usize {
        self.padded / 64
    }
    /// u64 words per code (all planes).
    pub fn code_words(&self) -> usize {
        self.bits * self.plane_words()
    }

    /// Turn a code as [`RaBitQ::encode`] writes it (and pages store it: bit
    /// planes) into the layout [`RaBitQ::estimate`] reads: 4-bit codes a
    /// dimension per nibble (`simd::nibble_index`), the same size; other
    /// sizes unchanged.
    pub fn search_layout(&self, code: &mut [u64]) {
        if self.nibbles.is_none() {
            return;
        }
        // Every code of an index goes through here as its pages load, so
        // 64 dimensions at a time: each plane byte spreads to 8 bytes of
        // 0/1 (a table), shifted to its bit of the 4-bit values.
        const SPREAD: [u64; 256] = {
            let mut t = [0u64; 256];
            let mut b = 0;
            while b < 256 {
                let mut i = 0;
                while i < 8 {
                    t[b] |= (((b >> i) & 1) as u64) << (8 * i);
                    i += 1;
                }
                b += 1;
            }
            t
        };
        let words = self.plane_words();
        let planes = code[..self.code_words()].to_vec();
        for w in 0..words {
            // Byte i of `vals[t]` is dimension 64 w + 8 t + i's value.
            let mut vals = [0u64; 8];
            for j in 0..self.bits {
                let p = planes[j * words + w];
                for (t, v) in vals.iter_mut().enumerate() {
                    *v |= SPREAD[((p >> (8 * t)) & 0xff) as usize] << j;
                }
            }
            // Low nibbles: dimensions 0..32 of the block, high: 32..64
            // (`simd::nibble_index`), bytes in memory order.
            for m in 0..4 {
                code[w * 4 + m] = (vals[m] | vals[m + 4] << 4).to_le();
            }
        }
    }

    /// `P x` with `x` zero-padded to `D`.
    pub fn rotate(&self, x: &[f32]) -> Vec<f32> {
        let mut v = vec![0.0f32; self.padded];
        v[..x.len()].copy_from_slice(x);
        for round in 0..3 {
            let s = &self.signs[round * self.padded..(round + 1) * self.padded];
            v.iter_mut().zip(s).for_each(|(a, b)| *a *= b);
            fht(&mut v);
        }
        v
    }

    /// Encode one vector: `code` (length `code_words()`) is overwritten.
    pub fn encode(&self, o: &[f32], code: &mut [u64]) -> Factors {
        assert_eq!(o.len(), self.dim);
        let d = self.padded;
        let mut r = self.rotate(o);
        r.iter_mut()
            .zip(&self.rotated_centroid)
            .for_each(|(a, c)| *a -= c);
        let n = r.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        let add = match self.space {
            Space::L2 => (n * n) as f32,
            Space::InnerProduct => -(o
                .iter()
                .zip(&self.centroid)
                .map(|(a, c)| (*a as f64 - *c as f64) * *c as f64))
            .sum::<f64>() as f32,
        };
        code.iter_mut().for_each(|w| *w = 0);
        if n == 0.0 {
            // The vector is the centroid: every estimate is exact with scale 0.
            return Factors {
                add,
                scale: 0.0,
                err: 0.0,
                qerr: 0.0,
            };
        }
        let u: Vec<f32> = r.iter().map(|v| (*v as f64 / n) as f32).collect();
        let y = self.snap(&u);
        let max = (1i32 << self.bits) - 1;
        let words = self.plane_words();
        let (mut yu, mut yy) = (0f64, 0f64);
        for i in 0..d {
            yu += y[i] as f64 * u[i] as f64;
            yy += (y[i] as f64).powi(2);
            let z = ((y[i] + max) / 2) as u64;
            for j in 0..self.bits {
                code[j * words + i / 64] |= ((z >> j) & 1) << (i % 64);
            }
        }
        let cos = (yu / yy.sqrt()).clamp(1e-6, 1.0);
        let tan = (1.0 - cos * cos).max(0.0).sqrt() / cos;
        Factors {
            add,
            scale: (n / yu) as f32,
            err: (n * tan / ((d - 1) as f64).sqrt()) as f32,
            qerr: (n / cos) as f32,
        }
    }

    /// The odd-integer grid point whose direction is closest to `u`.
    ///
    /// For `B > 1` this scans scale factors `t`: `y_i = sign(u_i) (2 floor(t|u_i|) + 1)`,
    /// clipped to `2^B - 1`, keeping the `t` with the best cosine. A finite scan
    /// is slightly below the exact optimum of Extended RaBitQ but costs
    /// `O(32 D)` instead of a sort of all breakpoints.
    fn snap(&self, u: &[f32]) -> Vec<i32> {
        let max = (1i32 << self.bits) - 1;
        if self.bits == 1 {
            return u.iter().map(|v| if *v >= 0.0 { 1 } else { -1 }).collect();
        }
        let abs: Vec<f32> = u.iter().map(|v| v.abs()).collect();
        let m = abs.iter().fold(0f32, |a, v| a.max(*v));
        let t_hi = (1 << (self.bits - 1)) as f32 / m * 1.3;
        let steps = 32;
        let (mut best_t, mut best_cos) = (0f32, -1f64);
        let grid_sums = crate::simd::kernels().grid_sums;
        for step in 1..=steps {
            let t = t_hi * step as f32 / steps as f32;
            // SAFETY: the chosen table's CPU features were detected.
            let (yu, yy) = unsafe { grid_sums(&abs, t, max) };
            let cos = yu as f64 / (yy as f64).sqrt();
            if cos > best_cos {
                best_cos = cos;
                best_t = t;
            }
        }
        u.iter()
            .map(|v| {
                let a = (2 * (best_t * v.abs()) as i32 + 1).min(max);
                if *v >= 0.0 {
                    a
                } else {
                    -a
                }
            })
            .collect()
    }

    /// Prepare a query (in the original space, already normalized for cosine).
    pub fn prepare(&self, q: &[f32], out: &mut QueryCode) {
        assert_eq!(q.len(), self.dim);
        let words = self.plane_words();
        let mut s = self.rotate(q);
        s.iter_mut()
            .zip(&self.rotated_centroid)
            .for_each(|(a, c)| *a -= c);
        let s_norm_sq: f64 = s.iter().map(|v| (*v as f64).powi(2)).sum();
        let m = s.iter().fold(0f32, |a, v| a.max(v.abs()));
        let delta = if m > 0.0 { m / 127.0 } else { 1.0 };
        // One form of the query: the bytes for the nibble kernel, or the
        // planes for the bit-plane one.
        let nibbles = self.nibbles.is_some();
        out.planes.clear();
        out.planes
            .resize(if nibbles { 0 } else { QUERY_PLANES * words }, 0);
        out.bytes.clear();
        let (mut sum_q, mut e_sq) = (0i64, 0f64);
        for (i, v) in s.iter().enumerate() {
            let qi = (v / delta).round().clamp(-127.0, 127.0) as i32;
            sum_q += qi as i64;
            e_sq += (*v as f64 - qi as f64 * delta as f64).powi(2);
            if nibbles {
                out.bytes.push(qi as i8);
                continue;
            }
            let byte = qi as i8 as u8;
            for k in 0..QUERY_PLANES {
                out.planes[k * words + i / 64] |= (((byte >> k) & 1) as u64) << (i % 64);
            }
        }
        let (coef, base) = match self.space {
            Space::L2 => (-2.0f32, s_norm_sq as f32),
            Space::InnerProduct => (
                -1.0f32,
                -(q.iter()
                    .zip(&self.centroid)
                    .map(|(a, c)| *a as f64 * *c as f64)
                    .sum::<f64>() as f32),
            ),
        };
        let max = ((1i64 << self.bits) - 1) as f32;
        // <y, s> ~ delta * (2 <z, q> - (2^B - 1) sum q)
        out.base = base;
        out.mul = coef * delta * 2.0;
        out.offset = -coef * delta * max * sum_q as f32;
        out.err_mul = coef.abs() * (s_norm_sq.sqrt() as f32) * EPSILON0;
        out.qerr_mul = coef.abs() * e_sq.sqrt() as f32;
    }

    /// Estimated distance and its error bound for one code, in its search
    /// layout ([`RaBitQ::search_layout`]).
    #[inline]
    pub fn estimate(&self, q: &QueryCode, code: &[u64], f: &Factors) -> (f32, f32) {
        let words = self.plane_words();
        // Kernels read unchecked: a code or query of another geometry must
        // not reach them.
        assert!(code.len() >= self.bits * words);
        let ip = match self.nibbles {
            Some(nibbles) => {
                assert!(q.bytes.len() >= self.padded);
                // SAFETY: from the dispatch table of a target this CPU
                // supports; 4 bits a dimension make 16 query bytes a code
                // word, as the kernel reads.
                unsafe { nibbles(&code[..self.code_words()], &q.bytes) }
            }
            None => {
                assert!(q.planes.len() >= QUERY_PLANES * words);
                // SAFETY: `planes` came from the dispatch table of a target
                // this CPU supports, and the slices are as long as the
                // kernel reads.
                unsafe { (self.planes)(code, self.bits, &q.planes, words) }
            }
        };
        let est = f.add + q.base + f.scale * (q.mul * ip as f32 + q.offset);
        let bound = f.err * q.err_mul + f.qerr * q.qerr_mul;
        (est, bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vec(state: &mut u64, d: usize) -> Vec<f32> {
        (0..d)
            .map(|_| ((splitmix64(state) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32)
            .collect()
    }

    /// The lane-wise grid scan sums what the plain formula gives, for
    /// lengths with and without a remainder and every code size.
    #[test]
    fn grid_sums_match_the_formula() {
        let mut st = 5;
        for len in [16usize, 50, 64, 512] {
            let w: Vec<f32> = rand_vec(&mut st, len).iter().map(|v| v.abs()).collect();
            for bits in 2..=4 {
                let max = (1i32 << bits) - 1;
                for t in [0.3f32, 1.7, 4.0, 9.5] {
                    let (mut yu, mut yy) = (0f64, 0f64);
                    for v in &w {
                        let a = (2 * (t * v).floor() as i32 + 1).min(max) as f64;
                        yu += a * *v as f64;
                        yy += a * a;
                    }
                    let (gu, gy) = crate::simd::scalar::grid_sums(&w, t, max);
                    assert_eq!(gy as f64, yy, "len {len} bits {bits} t {t}");
                    assert!((gu as f64 - yu).abs() <= 1e-5 * yu, "len {len} t {t}");
                }
            }
        }
        // Out-of-range products are clamped, never undefined.
        let (_, yy) = crate::simd::scalar::grid_sums(&[f32::NAN, f32::INFINITY, 1e30], 1.0, 15);
        assert_eq!(yy, 3.0 * 225.0);
    }

    #[test]
    fn rotation_is_orthogonal() {
        let q = RaBitQ::new(50, 4, Space::L2, vec![0.0; 50], 7);
        let mut st = 1;
        let a = rand_vec(&mut st, 50);
        let b = rand_vec(&mut st, 50);
        let (ra, rb) = (q.rotate(&a), q.rotate(&b));
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(a, b)| a * b).sum::<f32>();
        assert!((dot(&a, &b) - dot(&ra, &rb)).abs() < 1e-4);
        assert!((dot(&a, &a) - dot(&ra, &ra)).abs() < 1e-4);
    }

    /// The search layout puts each dimension's 4-bit value where
    /// `simd::nibble_index` says, for every padded size.
    #[test]
    fn search_layout_holds_each_value_at_its_nibble() {
        for dim in [50usize, 128, 300, 700] {
            let q = RaBitQ::new(dim, 4, Space::L2, vec![0.0; dim], 7);
            let mut st = dim as u64;
            let z: Vec<u8> = (0..q.padded_dim())
                .map(|_| (splitmix64(&mut st) % 16) as u8)
                .collect();
            let words = q.plane_words();
            let mut code = vec![0u64; q.code_words()];
            for (i, &v) in z.iter().enumerate() {
                for j in 0..4 {
                    code[j * words + i / 64] |= (((v >> j) & 1) as u64) << (i % 64);
                }
            }
            q.search_layout(&mut code);
            let bytes: &[u8] = bytemuck::cast_slice(&code);
            for (i, &v) in z.iter().enumerate() {
                let (at, high) = simd::nibble_index(i);
                let got = if high { bytes[at] >> 4 } else { bytes[at] & 15 };
                assert_eq!(got, v, "dim {dim}, coordinate {i}");
            }
        }
    }

    /// The estimate is within its bound for nearly all pairs, every code size,
    /// both spaces. (The bound is probabilistic: EPSILON0 = 3 standard errors.)
    #[test]
    fn estimator_within_bound_random() {
        for &(dim, bits) in &[
            (50usize, 4usize),
            (50, 2),
            (100, 1),
            (300, 1),
            (300, 3),
            (300, 4),
        ] {
            for space in [Space::L2, Space::InnerProduct] {
                let mut st = dim as u64 * 31 + bits as u64;
                let data: Vec<Vec<f32>> = (0..300).map(|_| rand_vec(&mut st, dim)).collect();
                let mut c = vec![0f32; dim];
                for v in &data {
                    c.iter_mut()
                        .zip(v)
                        .for_each(|(a, b)| *a += b / data.len() as f32);
                }
                let q = RaBitQ::new(dim, bits, space, c, 42);
                let codes: Vec<(Vec<u64>, Factors)> = data
                    .iter()
                    .map(|v| {
                        let mut code = vec![0; q.code_words()];
                        let f = q.encode(v, &mut code);
                        q.search_layout(&mut code);
                        (code, f)
                    })
                    .collect();
                let (mut bad, mut total, mut err_sum) = (0, 0, 0f64);
                let mut qc = QueryCode::default();
                for _ in 0..30 {
                    let query = rand_vec(&mut st, dim);
                    q.prepare(&query, &mut qc);
                    for (v, (code, f)) in data.iter().zip(&codes) {
                        let exact = match space {
                            Space::L2 => crate::distance::scalar::l2_squared(v, &query),
                            Space::InnerProduct => -crate::distance::scalar::dot(v, &query),
                        } as f32;
                        let (est, bound) = q.estimate(&qc, code, f);
                        total += 1;
                        err_sum += (est - exact).abs() as f64;
                        if (est - exact).abs() > bound + 1e-4 * exact.abs().max(1.0) {
                            bad += 1;
                        }
                    }
                }
                let rate = bad as f64 / total as f64;
                assert!(
                    rate < 0.01,
                    "dim {dim} bits {bits} {space:?}: {rate} outside the bound"
                );
                assert!(err_sum / (total as f64) < 10.0, "mean error too large");
            }
        }
    }
}
