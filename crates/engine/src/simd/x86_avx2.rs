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

/// One block of eight `f32` lanes, as it is summed: as is, or widened to
/// two blocks of four `f64`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn as_f32(v: __m256) -> [__m256; 1] {
    [v]
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn as_f64(v: __m256) -> [__m256d; 2] {
    [
        _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
        _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)),
    ]
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn sum_f32(acc: [__m256; 1]) -> f32 {
    hsum_ps(acc[0])
}

#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn sum_f64(acc: [__m256d; 2]) -> f64 {
    hsum_pd(_mm256_add_pd(acc[0], acc[1]))
}

/// A kernel over eight `f32` lanes at a time, summed in `$t`: each block
/// goes through `$parts` (`as_f32` or `as_f64`), `$lane` folds each part
/// `$x`, `$y` into its accumulator `$acc` (started at `$zero`), `$sum`
/// reduces them, and `$tail` adds each pair of the remainder. A macro, not
/// a generic helper taking closures, so that the body is compiled inside
/// the `#[target_feature]` function and its intrinsics inline.
macro_rules! fold {
    ($name:ident -> $t:ty, $parts:ident, $zero:expr, $sum:ident,
     |$acc:ident, $x:ident, $y:ident| $lane:expr, |$tx:ident, $ty:ident| $tail:expr) => {
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn $name(a: &[f32], b: &[f32]) -> $t {
            let n = a.len().min(b.len());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut accs = $parts(_mm256_setzero_ps()).map(|_| $zero);
            let mut i = 0;
            while i + 8 <= n {
                let xs = $parts(_mm256_loadu_ps(pa.add(i)));
                let ys = $parts(_mm256_loadu_ps(pb.add(i)));
                for h in 0..accs.len() {
                    let ($acc, $x, $y) = (accs[h], xs[h], ys[h]);
                    accs[h] = $lane;
                }
                i += 8;
            }
            let mut s = $sum(accs);
            while i < n {
                let ($tx, $ty) = (*pa.add(i) as $t, *pb.add(i) as $t);
                s += $tail;
                i += 1;
            }
            s
        }
    };
}

/// The three distance kernels of one lane type, from its intrinsics.
macro_rules! distances {
    ($t:ty, $parts:ident, $zero:expr, $sum:ident, $sub:ident, $fmadd:ident, $add:ident,
     $andnot:ident, $set1:ident; $l2:ident, $dot:ident, $l1:ident) => {
        fold!($l2 -> $t, $parts, $zero, $sum,
            |acc, x, y| $fmadd($sub(x, y), $sub(x, y), acc), |x, y| (x - y) * (x - y));
        fold!($dot -> $t, $parts, $zero, $sum, |acc, x, y| $fmadd(x, y, acc), |x, y| x * y);
        fold!($l1 -> $t, $parts, $zero, $sum,
            |acc, x, y| $add(acc, $andnot($set1(-0.0), $sub(x, y))), |x, y| (x - y).abs());
    };
}

distances!(f32, as_f32, _mm256_setzero_ps(), sum_f32,
    _mm256_sub_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_andnot_ps, _mm256_set1_ps;
    l2_f32, dot_f32, l1_f32);
distances!(f64, as_f64, _mm256_setzero_pd(), sum_f64,
    _mm256_sub_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_andnot_pd, _mm256_set1_pd;
    l2_f64, dot_f64, l1_f64);

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

/// Bit planes for codes of a multiple of four words per plane (`D` of 256
/// and up, where POPCNT's one word at a time was a third of a filtered
/// query's time): 256 bits a step, each byte's bits counted by nibble
/// lookups (`vpshufb`, Mula's method). For one query plane the code planes
/// are folded in by Horner's rule in the bytes themselves (a byte's total
/// stays below `8 * 2^bits`, so up to 5 bits fit), summed into four 64-bit
/// lanes once (`vpsadbw`), and weighted by shifts as in the AVX-512 kernel;
/// one horizontal sum at the end. Other shapes go to [`planes`].
#[target_feature(enable = "avx2,popcnt")]
pub unsafe fn planes_wide(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    const _: () = assert!(QUERY_PLANES == 8);
    if bits > 5 || !words.is_multiple_of(4) {
        return planes(code, bits, query, words);
    }
    let counts = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    let nibble = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let load = |p: *const u64| _mm256_loadu_si256(p as *const __m256i);
    let mut acc = zero;
    let mut i = 0;
    while i < words {
        // Each code plane's low and high nibbles, once for all 8 query planes.
        let mut lo = [zero; 5];
        let mut hi = [zero; 5];
        for j in 0..bits {
            let c = load(code.as_ptr().add(j * words + i));
            lo[j] = _mm256_and_si256(c, nibble);
            hi[j] = _mm256_and_si256(_mm256_srli_epi16::<4>(c), nibble);
        }
        let n = |k: usize| {
            let q = load(query.as_ptr().add(k * words + i));
            let (q_lo, q_hi) = (
                _mm256_and_si256(q, nibble),
                _mm256_and_si256(_mm256_srli_epi16::<4>(q), nibble),
            );
            let mut b = zero;
            for j in (0..bits).rev() {
                let c = _mm256_add_epi8(
                    _mm256_shuffle_epi8(counts, _mm256_and_si256(lo[j], q_lo)),
                    _mm256_shuffle_epi8(counts, _mm256_and_si256(hi[j], q_hi)),
                );
                b = _mm256_add_epi8(_mm256_add_epi8(b, b), c);
            }
            _mm256_sad_epu8(b, zero)
        };
        // n0 + 2 n1 + 4 n2 + ... + 64 n6 - 128 n7, as a tree.
        let s01 = _mm256_add_epi64(n(0), _mm256_slli_epi64::<1>(n(1)));
        let s23 = _mm256_add_epi64(n(2), _mm256_slli_epi64::<1>(n(3)));
        let s45 = _mm256_add_epi64(n(4), _mm256_slli_epi64::<1>(n(5)));
        let s67 = _mm256_sub_epi64(n(6), _mm256_slli_epi64::<1>(n(7)));
        let s03 = _mm256_add_epi64(s01, _mm256_slli_epi64::<2>(s23));
        let s47 = _mm256_add_epi64(s45, _mm256_slli_epi64::<2>(s67));
        acc = _mm256_add_epi64(acc, _mm256_add_epi64(s03, _mm256_slli_epi64::<4>(s47)));
        i += 4;
    }
    let mut lanes = [0i64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
    lanes.iter().sum()
}

/// `<z, q>` for 4-bit codes in the nibble layout: each 32-byte load is 64
/// dimensions, split by a mask and a shift into the two halves' values
/// (0 to 15), multiplied with the query's signed bytes and summed in
/// pairs (`vpmaddubsw`: at most 2 * 15 * 128 a lane, no saturation), the
/// halves' sums added in 16 bits (at most 7,680) and widened to 32 bits
/// (`vpmaddwd` by ones): a 32-bit lane gains at most 8 * 15 * 128 a step,
/// exact far past the longest vector. Against the bit planes' 8 x 4
/// lookups per 256 bits, a few instructions per 64 dimensions. `query`
/// holds 16 bytes per code word.
#[target_feature(enable = "avx2")]
pub unsafe fn nibbles(code: &[u64], query: &[i8]) -> i64 {
    debug_assert!(code.len().is_multiple_of(4) && query.len() >= code.len() * 16);
    let mask = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi16(1);
    let c = code.as_ptr() as *const __m256i;
    let q = query.as_ptr() as *const __m256i;
    let mut acc = _mm256_setzero_si256();
    for b in 0..code.len() / 4 {
        let x = _mm256_loadu_si256(c.add(b));
        let lo = _mm256_and_si256(x, mask);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), mask);
        let s = _mm256_add_epi16(
            _mm256_maddubs_epi16(lo, _mm256_loadu_si256(q.add(2 * b))),
            _mm256_maddubs_epi16(hi, _mm256_loadu_si256(q.add(2 * b + 1))),
        );
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
    }
    hsum_epi32(acc) as i64
}

#[target_feature(enable = "avx2")]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// `sum pair(a_i, b_i)` over 8-bit codes, over the shorter slice: 16 codes
/// a step, widened to 16 bits; `pair` sums products of neighbouring lanes
/// into 32-bit ones (`madd`). The tail goes to `scalar_pair`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn sq8_sum(
    a: &[u8],
    b: &[u8],
    pair: impl Fn(__m256i, __m256i) -> __m256i,
    scalar_pair: fn(&[u8], &[u8]) -> u32,
) -> u32 {
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        let x = _mm256_cvtepu8_epi16(_mm_loadu_si128(a.as_ptr().add(i) as *const __m128i));
        let y = _mm256_cvtepu8_epi16(_mm_loadu_si128(b.as_ptr().add(i) as *const __m128i));
        acc = _mm256_add_epi32(acc, pair(x, y));
        i += 16;
    }
    hsum_epi32(acc) as u32 + scalar_pair(&a[i..n], &b[i..n])
}

/// `sum (a_i - b_i)^2` over 8-bit codes (see `scalar::sq8_l2`).
#[target_feature(enable = "avx2")]
pub unsafe fn sq8_l2(a: &[u8], b: &[u8]) -> u32 {
    let pair = |x, y| {
        let d = _mm256_sub_epi16(x, y);
        _mm256_madd_epi16(d, d)
    };
    sq8_sum(a, b, pair, scalar::sq8_l2)
}

/// `sum a_i b_i` over 8-bit codes (see `scalar::sq8_dot`).
#[target_feature(enable = "avx2")]
pub unsafe fn sq8_dot(a: &[u8], b: &[u8]) -> u32 {
    sq8_sum(a, b, |x, y| _mm256_madd_epi16(x, y), scalar::sq8_dot)
}

/// [`super::scalar::grid_sums`] compiled for AVX2's registers: the same
/// lanes and sums, so the same bits. Needs AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn grid_sums(w: &[f32], t: f32, max: i32) -> (f32, f32) {
    super::scalar::grid_sums(w, t, max)
}
