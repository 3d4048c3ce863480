//! Plain loops: the reference every SIMD kernel is tested against, and the
//! kernels of [`super::Target::Scalar`]. Safe functions: the dispatch table
//! stores them as `unsafe fn` pointers like every other target's.

use super::QUERY_PLANES;

pub fn l2_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

pub fn l2_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum()
}

pub fn dot_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

pub fn l1_f64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum()
}

/// `<z, q>` from bit planes: plane `j` of the code holds bit `j` of every
/// coordinate's unsigned code `z_i`; plane `k` of the query bit `k` of its
/// two's-complement byte `q_i` (plane 7 weighs -128). So
/// `<z, q> = sum_j sum_k 2^j * w_k * popcount(code_j & query_k)`: AND and
/// POPCNT only, no unpacking, no multiplies.
#[inline(always)]
pub fn planes(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    let mut total = 0i64;
    for j in 0..bits {
        let c = &code[j * words..(j + 1) * words];
        let mut plane = 0i64;
        for k in 0..QUERY_PLANES {
            let q = &query[k * words..(k + 1) * words];
            let cnt: u32 = c.iter().zip(q).map(|(a, b)| (a & b).count_ones()).sum();
            plane += plane_weight(k) * cnt as i64;
        }
        total += plane << j;
    }
    total
}

/// `<z, q>` for a 4-bit code in the nibble layout (see
/// [`super::nibble_index`]): per 64 dimensions, byte `k` holds dimension
/// `k` in its low nibble and `32 + k` in its high one.
pub fn nibbles(code: &[u64], query: &[i8]) -> i64 {
    let bytes: &[u8] = bytemuck::cast_slice(code);
    bytes
        .chunks_exact(32)
        .zip(query.chunks_exact(64))
        .map(|(c, q)| {
            c.iter()
                .enumerate()
                .map(|(k, &b)| (b & 15) as i64 * q[k] as i64 + (b >> 4) as i64 * q[32 + k] as i64)
                .sum::<i64>()
        })
        .sum()
}

/// Weight of query plane `k`: `2^k`, and `-2^7` for the sign plane.
#[inline(always)]
pub fn plane_weight(k: usize) -> i64 {
    if k == QUERY_PLANES - 1 {
        -(1 << k)
    } else {
        1 << k
    }
}

/// `sum (a_i - b_i)^2` over 8-bit codes (the build's scalar codes,
/// `crate::sq8`); exact for rows up to [`super::SQ8_MAX_LEN`] bytes.
pub fn sq8_l2(a: &[u8], b: &[u8]) -> u32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as i32 - y as i32).pow(2) as u32)
        .sum()
}

/// `sum a_i b_i` over 8-bit codes; exact as [`sq8_l2`].
pub fn sq8_dot(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| x as u32 * y as u32).sum()
}

/// `sum a_i w_i` and `sum a_i^2` over `a_i = min(2 floor(t w_i) + 1, max)`
/// (`w_i >= 0`), the grid scan of `RaBitQ::snap`: in independent lanes so
/// the compiler vectorizes it (a single running sum would make each step
/// wait on the last, and this scan was most of a build's encoding time).
/// Both sum in `f32` per lane: `a_i^2` exactly (odd integers up to 15,
/// far below 2^24 in any sum), `a_i w_i` close enough to rank the scan's
/// steps.
///
/// Inlined into the AVX2 and AVX-512 kernels, which are this body
/// compiled for their wider registers: the lanes and the order of every
/// sum are the same, so each target gives the same bits.
#[inline(always)]
pub fn grid_sums(w: &[f32], t: f32, max: i32) -> (f32, f32) {
    const LANES: usize = 16;
    // `floor(t w)` for `t w` in [0, 16] (the scan's `t` keeps it below
    // 11); `min` and `max` map a NaN to a bound, so the value is always
    // finite and in range.
    #[allow(clippy::manual_clamp)] // `clamp` keeps a NaN
    let grid = |v: f32| {
        let x = (t * v).min(16.0).max(0.0);
        // SAFETY: `x` is finite and in [0, 16], so it fits an `i32`; the
        // unchecked conversion truncates like `as` (floor for these
        // values) without the saturation checks that keep `as` from
        // vectorizing.
        (2 * unsafe { x.to_int_unchecked::<i32>() } + 1).min(max) as f32
    };
    let (mut yu, mut yy) = ([0f32; LANES], [0f32; LANES]);
    let chunks = w.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            let a = grid(c[k]);
            yu[k] += a * c[k];
            yy[k] += a * a;
        }
    }
    for (k, v) in rest.iter().enumerate() {
        let a = grid(*v);
        yu[k] += a * v;
        yy[k] += a * a;
    }
    (yu.iter().sum(), yy.iter().sum())
}
