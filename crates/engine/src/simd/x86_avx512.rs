//! [`super::Target::Avx512`]: AVX-512F for the float kernels, AVX-512
//! VPOPCNTDQ for the bit planes.
//!
//! # Safety
//! Every function needs AVX-512F (and VPOPCNTDQ for the planes); the
//! dispatch table only reaches them where those were detected. Float
//! kernels read both slices up to the shorter one's length; plane kernels
//! take the slices [`super::PlaneKernel`] describes.

use super::{QUERY_PLANES, SHORT_WORDS};
use std::arch::x86_64::*;

/// Mask of the first `rem` (< 16) lanes.
#[inline(always)]
fn tail_mask(rem: usize) -> __mmask16 {
    ((1u32 << rem) - 1) as u16
}

/// Lanes 8..16 of `v`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn high_half(v: __m512) -> __m256 {
    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
}

/// A kernel over sixteen `f32` lanes at a time, the tail under a mask
/// (masked-off lanes load as zero, which adds nothing to any of these
/// sums): `$lane` folds one block of `$x`, `$y` into `$acc`. A macro, not a
/// generic helper taking closures, so that the body is compiled inside the
/// `#[target_feature]` function and its intrinsics inline.
macro_rules! fold_ps {
    ($name:ident, |$acc:ident, $x:ident, $y:ident| $lane:expr) => {
        #[target_feature(enable = "avx512f")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut $acc = _mm512_setzero_ps();
            let mut i = 0;
            while i < n {
                let m = if n - i >= 16 {
                    0xffff
                } else {
                    tail_mask(n - i)
                };
                let $x = _mm512_maskz_loadu_ps(m, pa.add(i));
                let $y = _mm512_maskz_loadu_ps(m, pb.add(i));
                $acc = $lane;
                i += 16;
            }
            _mm512_reduce_add_ps($acc)
        }
    };
}

/// As [`fold_ps`], each block of sixteen widened to two `f64` blocks of
/// eight before `$lane` sees it.
macro_rules! fold_pd {
    ($name:ident, |$acc:ident, $x:ident, $y:ident| $lane:expr) => {
        #[target_feature(enable = "avx512f")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> f64 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let (mut lo, mut hi) = (_mm512_setzero_pd(), _mm512_setzero_pd());
            let mut i = 0;
            while i < n {
                let m = if n - i >= 16 {
                    0xffff
                } else {
                    tail_mask(n - i)
                };
                let va = _mm512_maskz_loadu_ps(m, pa.add(i));
                let vb = _mm512_maskz_loadu_ps(m, pb.add(i));
                {
                    let $acc = lo;
                    let $x = _mm512_cvtps_pd(_mm512_castps512_ps256(va));
                    let $y = _mm512_cvtps_pd(_mm512_castps512_ps256(vb));
                    lo = $lane;
                }
                {
                    let $acc = hi;
                    let $x = _mm512_cvtps_pd(high_half(va));
                    let $y = _mm512_cvtps_pd(high_half(vb));
                    hi = $lane;
                }
                i += 16;
            }
            _mm512_reduce_add_pd(_mm512_add_pd(lo, hi))
        }
    };
}

fold_ps!(l2_f32, |acc, x, y| {
    let d = _mm512_sub_ps(x, y);
    _mm512_fmadd_ps(d, d, acc)
});

fold_ps!(dot_f32, |acc, x, y| _mm512_fmadd_ps(x, y, acc));

fold_ps!(l1_f32, |acc, x, y| _mm512_add_ps(
    acc,
    _mm512_abs_ps(_mm512_sub_ps(x, y))
));

fold_pd!(l2_f64, |acc, x, y| {
    let d = _mm512_sub_pd(x, y);
    _mm512_fmadd_pd(d, d, acc)
});

fold_pd!(dot_f64, |acc, x, y| _mm512_fmadd_pd(x, y, acc));

fold_pd!(l1_f64, |acc, x, y| _mm512_add_pd(
    acc,
    _mm512_abs_pd(_mm512_sub_pd(x, y))
));

/// Short codes (2 to [`SHORT_WORDS`] words per plane, the multi-bit
/// low-dimension case): the 8 query planes of a word sit in the 8 lanes of
/// one register, so each code word costs one broadcast, AND and VPOPCNTQ
/// for all planes at once. Code planes are folded in by Horner's rule
/// (`acc = 2 acc + count`), the plane weights (`2^k`, `-2^7` for the sign
/// plane) by a lane-wise shift and one masked negation at the end.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub unsafe fn planes_short(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    if words > SHORT_WORDS {
        return super::scalar::planes(code, bits, query, words);
    }
    let mut qv = [_mm512_setzero_si512(); SHORT_WORDS];
    for (i, v) in qv.iter_mut().enumerate().take(words) {
        let q = |k: usize| *query.get_unchecked(k * words + i) as i64;
        *v = _mm512_set_epi64(q(7), q(6), q(5), q(4), q(3), q(2), q(1), q(0));
    }
    let mut acc = _mm512_setzero_si512();
    for j in (0..bits).rev() {
        acc = _mm512_add_epi64(acc, acc);
        for (i, v) in qv.iter().enumerate().take(words) {
            let c = _mm512_set1_epi64(*code.get_unchecked(j * words + i) as i64);
            acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_and_si512(c, *v)));
        }
    }
    let weighted = _mm512_sllv_epi64(acc, _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    let signed = _mm512_mask_sub_epi64(weighted, 0x80, _mm512_setzero_si512(), weighted);
    _mm512_reduce_add_epi64(signed)
}

/// Long codes (a multiple of 8 words per plane): whole 512-bit registers
/// per plane, one accumulator per query plane.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub unsafe fn planes_wide(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    if !words.is_multiple_of(8) {
        return super::scalar::planes(code, bits, query, words);
    }
    let mut total = 0i64;
    for j in 0..bits {
        let c = code.as_ptr().add(j * words);
        let mut acc = [_mm512_setzero_si512(); QUERY_PLANES];
        let mut i = 0;
        while i < words {
            let cv = _mm512_loadu_si512(c.add(i) as *const _);
            for (k, a) in acc.iter_mut().enumerate() {
                let qv = _mm512_loadu_si512(query.as_ptr().add(k * words + i) as *const _);
                *a = _mm512_add_epi64(*a, _mm512_popcnt_epi64(_mm512_and_si512(cv, qv)));
            }
            i += 8;
        }
        let mut plane = 0i64;
        for (k, a) in acc.iter().enumerate() {
            plane += super::scalar::plane_weight(k) * _mm512_reduce_add_epi64(*a);
        }
        total += plane << j;
    }
    total
}
