//! [`super::Target::Avx2`]: AVX2 + FMA for the float kernels, POPCNT for
//! the bit planes.
//!
//! # Safety
//! Every function needs AVX2, FMA and POPCNT: the dispatch table only
//! reaches them where those were detected. Float kernels read both slices
//! up to the shorter one's length; plane kernels take the slices
//! [`super::PlaneKernel`] describes.

use super::scalar::{self, plane_weight};
use super::QUERY_PLANES;
use std::arch::x86_64::*;

#[target_feature(enable = "avx2,fma")]
unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn hsum_pd(v: __m256d) -> f64 {
    let mut lanes = [0f64; 4];
    _mm256_storeu_pd(lanes.as_mut_ptr(), v);
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
}

/// A kernel over eight `f32` lanes at a time: `$lane` folds one block of
/// `$x`, `$y` into `$acc`, `$tail` one pair of the remainder. A macro, not
/// a generic helper taking closures, so that the body is compiled inside
/// the `#[target_feature]` function and its intrinsics inline.
macro_rules! fold_ps {
    ($name:ident, |$acc:ident, $x:ident, $y:ident| $lane:expr, |$tx:ident, $ty:ident| $tail:expr) => {
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut $acc = _mm256_setzero_ps();
            let mut i = 0;
            while i + 8 <= n {
                let $x = _mm256_loadu_ps(pa.add(i));
                let $y = _mm256_loadu_ps(pb.add(i));
                $acc = $lane;
                i += 8;
            }
            let mut s = hsum_ps($acc);
            while i < n {
                let ($tx, $ty) = (*pa.add(i), *pb.add(i));
                s += $tail;
                i += 1;
            }
            s
        }
    };
}

/// As [`fold_ps`], each block of eight widened to two `f64` blocks of four
/// before `$lane` sees it.
macro_rules! fold_pd {
    ($name:ident, |$acc:ident, $x:ident, $y:ident| $lane:expr, |$tx:ident, $ty:ident| $tail:expr) => {
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> f64 {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
            let mut i = 0;
            while i + 8 <= n {
                let va = _mm256_loadu_ps(pa.add(i));
                let vb = _mm256_loadu_ps(pb.add(i));
                {
                    let $acc = lo;
                    let $x = _mm256_cvtps_pd(_mm256_castps256_ps128(va));
                    let $y = _mm256_cvtps_pd(_mm256_castps256_ps128(vb));
                    lo = $lane;
                }
                {
                    let $acc = hi;
                    let $x = _mm256_cvtps_pd(_mm256_extractf128_ps(va, 1));
                    let $y = _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1));
                    hi = $lane;
                }
                i += 8;
            }
            let mut s = hsum_pd(_mm256_add_pd(lo, hi));
            while i < n {
                let ($tx, $ty) = (*pa.add(i) as f64, *pb.add(i) as f64);
                s += $tail;
                i += 1;
            }
            s
        }
    };
}

fold_ps!(
    l2_f32,
    |acc, x, y| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    },
    |x, y| (x - y) * (x - y)
);

fold_ps!(dot_f32, |acc, x, y| _mm256_fmadd_ps(x, y, acc), |x, y| x
    * y);

fold_ps!(
    l1_f32,
    |acc, x, y| _mm256_add_ps(
        acc,
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, y))
    ),
    |x, y| (x - y).abs()
);

fold_pd!(
    l2_f64,
    |acc, x, y| {
        let d = _mm256_sub_pd(x, y);
        _mm256_fmadd_pd(d, d, acc)
    },
    |x, y| (x - y) * (x - y)
);

fold_pd!(dot_f64, |acc, x, y| _mm256_fmadd_pd(x, y, acc), |x, y| x
    * y);

fold_pd!(
    l1_f64,
    |acc, x, y| _mm256_add_pd(
        acc,
        _mm256_andnot_pd(_mm256_set1_pd(-0.0), _mm256_sub_pd(x, y))
    ),
    |x, y| (x - y).abs()
);

/// Bit planes with the POPCNT instruction; one-word codes (`D = 64`, the
/// common low-dimension case) keep all eight query words in registers.
#[target_feature(enable = "popcnt")]
pub unsafe fn planes(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    if words != 1 {
        return scalar::planes(code, bits, query, words);
    }
    let q: [u64; QUERY_PLANES] = std::array::from_fn(|k| *query.get_unchecked(k));
    let mut total = 0i64;
    for j in 0..bits {
        let c = *code.get_unchecked(j);
        let mut plane = 0i64;
        for (k, qk) in q.iter().enumerate() {
            plane += plane_weight(k) * (c & qk).count_ones() as i64;
        }
        total += plane << j;
    }
    total
}
