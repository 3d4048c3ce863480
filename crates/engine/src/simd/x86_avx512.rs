//! [`super::Target::Avx512`]: AVX-512F for the float kernels, AVX-512BW
//! for the 8-bit codes, AVX-512 VPOPCNTDQ for the bit planes.
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

/// One block of sixteen `f32` lanes, as it is summed: as is, or widened to
/// two blocks of eight `f64`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn as_f32(v: __m512) -> [__m512; 1] {
    [v]
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn as_f64(v: __m512) -> [__m512d; 2] {
    let high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    [
        _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
        _mm512_cvtps_pd(high),
    ]
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn sum_f32(acc: [__m512; 1]) -> f32 {
    _mm512_reduce_add_ps(acc[0])
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn sum_f64(acc: [__m512d; 2]) -> f64 {
    _mm512_reduce_add_pd(_mm512_add_pd(acc[0], acc[1]))
}

/// A kernel over sixteen `f32` lanes at a time, the tail under a mask
/// (masked-off lanes load as zero, which adds nothing to any of these
/// sums), summed in `$t`: each block goes through `$parts` (`as_f32` or
/// `as_f64`), `$lane` folds each part `$x`, `$y` into its accumulator
/// `$acc` (started at `$zero`), and `$sum` reduces them. A macro, not a
/// generic helper taking closures, so that the body is compiled inside the
/// `#[target_feature]` function and its intrinsics inline.
macro_rules! fold {
    ($name:ident -> $t:ty, $parts:ident, $zero:expr, $sum:ident,
     |$acc:ident, $x:ident, $y:ident| $lane:expr) => {
        #[target_feature(enable = "avx512f")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> $t {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut accs = $parts(_mm512_setzero_ps()).map(|_| $zero);
            let mut i = 0;
            while i < n {
                let m = if n - i >= 16 {
                    0xffff
                } else {
                    tail_mask(n - i)
                };
                let xs = $parts(_mm512_maskz_loadu_ps(m, pa.add(i)));
                let ys = $parts(_mm512_maskz_loadu_ps(m, pb.add(i)));
                for h in 0..accs.len() {
                    let ($acc, $x, $y) = (accs[h], xs[h], ys[h]);
                    accs[h] = $lane;
                }
                i += 16;
            }
            $sum(accs)
        }
    };
}

/// The three distance kernels of one lane type, from its intrinsics.
macro_rules! distances {
    ($t:ty, $parts:ident, $zero:expr, $sum:ident, $sub:ident, $fmadd:ident, $add:ident,
     $abs:ident; $l2:ident, $dot:ident, $l1:ident) => {
        fold!($l2 -> $t, $parts, $zero, $sum, |acc, x, y| $fmadd($sub(x, y), $sub(x, y), acc));
        fold!($dot -> $t, $parts, $zero, $sum, |acc, x, y| $fmadd(x, y, acc));
        fold!($l1 -> $t, $parts, $zero, $sum, |acc, x, y| $add(acc, $abs($sub(x, y))));
    };
}

distances!(f32, as_f32, _mm512_setzero_ps(), sum_f32,
    _mm512_sub_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_abs_ps;
    l2_f32, dot_f32, l1_f32);
distances!(f64, as_f64, _mm512_setzero_pd(), sum_f64,
    _mm512_sub_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_abs_pd;
    l2_f64, dot_f64, l1_f64);

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
/// per plane. The counts of the 8 query planes against one register of a
/// code plane are weighted as they are added (shifts by `k`, the sign
/// plane subtracted), code planes are folded in by Horner's rule, and the
/// lanes are summed once at the end: a horizontal sum per plane pair cost
/// more than the popcounts.
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
pub unsafe fn planes_wide(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    const _: () = assert!(QUERY_PLANES == 8);
    if !words.is_multiple_of(8) {
        return super::scalar::planes(code, bits, query, words);
    }
    let mut acc = _mm512_setzero_si512();
    for j in (0..bits).rev() {
        acc = _mm512_add_epi64(acc, acc);
        let c = code.as_ptr().add(j * words);
        let mut i = 0;
        while i < words {
            let cv = _mm512_loadu_si512(c.add(i) as *const _);
            let n = |k: usize| {
                let qv = _mm512_loadu_si512(query.as_ptr().add(k * words + i) as *const _);
                _mm512_popcnt_epi64(_mm512_and_si512(cv, qv))
            };
            // n0 + 2 n1 + 4 n2 + ... + 64 n6 - 128 n7, as a tree.
            let s01 = _mm512_add_epi64(n(0), _mm512_slli_epi64::<1>(n(1)));
            let s23 = _mm512_add_epi64(n(2), _mm512_slli_epi64::<1>(n(3)));
            let s45 = _mm512_add_epi64(n(4), _mm512_slli_epi64::<1>(n(5)));
            let s67 = _mm512_sub_epi64(n(6), _mm512_slli_epi64::<1>(n(7)));
            let s03 = _mm512_add_epi64(s01, _mm512_slli_epi64::<2>(s23));
            let s47 = _mm512_add_epi64(s45, _mm512_slli_epi64::<2>(s67));
            acc = _mm512_add_epi64(acc, _mm512_add_epi64(s03, _mm512_slli_epi64::<4>(s47)));
            i += 8;
        }
    }
    _mm512_reduce_add_epi64(acc)
}

/// `sum pair(a_i, b_i)` over 8-bit codes, over the shorter slice: 32 codes
/// a step, widened to 16 bits; `pair` sums products of neighbouring lanes
/// into 32-bit ones (`madd`). The tail goes to `scalar_pair`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
unsafe fn sq8_sum(
    a: &[u8],
    b: &[u8],
    pair: impl Fn(__m512i, __m512i) -> __m512i,
    scalar_pair: fn(&[u8], &[u8]) -> u32,
) -> u32 {
    let n = a.len().min(b.len());
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    while i + 32 <= n {
        let x = _mm512_cvtepu8_epi16(_mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i));
        let y = _mm512_cvtepu8_epi16(_mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i));
        acc = _mm512_add_epi32(acc, pair(x, y));
        i += 32;
    }
    _mm512_reduce_add_epi32(acc) as u32 + scalar_pair(&a[i..n], &b[i..n])
}

/// `sum (a_i - b_i)^2` over 8-bit codes (see `scalar::sq8_l2`). Needs
/// AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn sq8_l2(a: &[u8], b: &[u8]) -> u32 {
    let pair = |x, y| {
        let d = _mm512_sub_epi16(x, y);
        _mm512_madd_epi16(d, d)
    };
    sq8_sum(a, b, pair, super::scalar::sq8_l2)
}

/// `sum a_i b_i` over 8-bit codes (see `scalar::sq8_dot`). Needs
/// AVX-512BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn sq8_dot(a: &[u8], b: &[u8]) -> u32 {
    sq8_sum(a, b, |x, y| _mm512_madd_epi16(x, y), super::scalar::sq8_dot)
}

/// [`super::scalar::grid_sums`] compiled for AVX-512F's registers: the same
/// lanes and sums, so the same bits. Needs AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn grid_sums(w: &[f32], t: f32, max: i32) -> (f32, f32) {
    super::scalar::grid_sums(w, t, max)
}
