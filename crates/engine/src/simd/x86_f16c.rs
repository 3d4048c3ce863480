//! `halfvec` kernels with F16C: eight halves widened to `f32` at a time,
//! accumulated with FMA in eight lanes, lanes added left to right, tail in
//! order: pgvector's own F16C arithmetic, bit for bit.
//!
//! # Safety
//! Every function needs AVX, F16C and FMA (part of [`super::Target::Avx2`]
//! and above): only the dispatch tables reach them. Both slices have the
//! same length.

use super::HALF_LANES as LANES;
use crate::halfvec_text::to_f32;
use std::arch::x86_64::*;

#[inline(always)]
unsafe fn load(p: &[u16], i: usize) -> __m256 {
    // SAFETY (caller): i + 8 <= p.len(); F16C is enabled.
    unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.as_ptr().add(i) as *const __m128i)) }
}

#[inline(always)]
unsafe fn lanes_sum(v: __m256) -> f32 {
    let mut s = [0f32; LANES];
    // SAFETY (caller): AVX is enabled; `s` holds 8 floats.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) };
    s[1..].iter().fold(s[0], |acc, &x| acc + x)
}

#[target_feature(enable = "avx,f16c,fma")]
pub unsafe fn half_l2(a: &[u16], b: &[u16]) -> f32 {
    let body = a.len() / LANES * LANES;
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < body {
        // SAFETY: i + 8 <= body <= len of both.
        let d = unsafe { _mm256_sub_ps(load(a, i), load(b, i)) };
        acc = _mm256_fmadd_ps(d, d, acc);
        i += LANES;
    }
    // SAFETY: AVX is enabled here.
    let mut sum = unsafe { lanes_sum(acc) };
    for j in body..a.len() {
        let d = to_f32(a[j]) - to_f32(b[j]);
        sum += d * d;
    }
    sum
}

#[target_feature(enable = "avx,f16c,fma")]
pub unsafe fn half_dot(a: &[u16], b: &[u16]) -> f32 {
    let body = a.len() / LANES * LANES;
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < body {
        // SAFETY: i + 8 <= body <= len of both.
        acc = unsafe { _mm256_fmadd_ps(load(a, i), load(b, i), acc) };
        i += LANES;
    }
    // SAFETY: AVX is enabled here.
    let mut sum = unsafe { lanes_sum(acc) };
    for j in body..a.len() {
        sum += to_f32(a[j]) * to_f32(b[j]);
    }
    sum
}

#[target_feature(enable = "avx,f16c,fma")]
pub unsafe fn half_l1(a: &[u16], b: &[u16]) -> f32 {
    let body = a.len() / LANES * LANES;
    let sign = _mm256_set1_ps(-0.0);
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < body {
        // SAFETY: i + 8 <= body <= len of both.
        let d = unsafe { _mm256_sub_ps(load(a, i), load(b, i)) };
        acc = _mm256_add_ps(acc, _mm256_andnot_ps(sign, d));
        i += LANES;
    }
    // SAFETY: AVX is enabled here.
    let mut sum = unsafe { lanes_sum(acc) };
    for j in body..a.len() {
        sum += (to_f32(a[j]) - to_f32(b[j])).abs();
    }
    sum
}

#[target_feature(enable = "avx,f16c,fma")]
pub unsafe fn half_cosine(a: &[u16], b: &[u16]) -> [f32; 3] {
    let body = a.len() / LANES * LANES;
    let (mut ab, mut aa, mut bb) = (
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
        _mm256_setzero_ps(),
    );
    let mut i = 0;
    while i < body {
        // SAFETY: i + 8 <= body <= len of both.
        let (x, y) = unsafe { (load(a, i), load(b, i)) };
        ab = _mm256_fmadd_ps(x, y, ab);
        aa = _mm256_fmadd_ps(x, x, aa);
        bb = _mm256_fmadd_ps(y, y, bb);
        i += LANES;
    }
    // SAFETY: AVX is enabled here.
    let mut sums = unsafe { [lanes_sum(ab), lanes_sum(aa), lanes_sum(bb)] };
    for j in body..a.len() {
        let (x, y) = (to_f32(a[j]), to_f32(b[j]));
        sums[0] += x * y;
        sums[1] += x * x;
        sums[2] += y * y;
    }
    sums
}

#[target_feature(enable = "avx,f16c,fma")]
pub unsafe fn half_widen(src: &[u16], dst: &mut [f32]) {
    let n = src.len().min(dst.len());
    let body = n / LANES * LANES;
    let mut i = 0;
    while i < body {
        // SAFETY: i + 8 <= body <= the length of both.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(i), load(src, i)) };
        i += LANES;
    }
    for j in body..n {
        dst[j] = to_f32(src[j]);
    }
}
