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
