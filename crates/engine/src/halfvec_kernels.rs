//! Distance kernels over half-precision vectors (raw `u16` bits).
//!
//! The F16C body widens 8 halves at a time to `f32` and accumulates in 8
//! `f32` lanes with FMA, then adds the lanes left to right and the tail in
//! order: the exact arithmetic of pgvector's own F16C kernels, so distances
//! agree with pgvector bit for bit. It is chosen at run time (AVX, F16C and
//! FMA detected once); no CPU feature is needed to build. The scalar
//! fallback performs the same operations in the same order (`mul_add` is a
//! fused multiply-add too), so every CPU returns the same bits.
//!
//! Sums are `f32`, as pgvector's: a distance that overflows float4 is
//! infinite there and here.

use crate::halfvec_text::to_f32;
use std::sync::OnceLock;

/// Lane count of the F16C body, which the scalar fallback mirrors.
const LANES: usize = 8;

type Kernel = unsafe fn(&[u16], &[u16]) -> f32;
type Cosine = unsafe fn(&[u16], &[u16]) -> [f32; 3];

struct Kernels {
    l2: Kernel,
    dot: Kernel,
    l1: Kernel,
    cosine: Cosine,
    name: &'static str,
}

fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx")
                && std::is_x86_feature_detected!("f16c")
                && std::is_x86_feature_detected!("fma")
            {
                return Kernels {
                    l2: x86::l2_f16c,
                    dot: x86::dot_f16c,
                    l1: x86::l1_f16c,
                    cosine: x86::cosine_f16c,
                    name: "f16c",
                };
            }
        }
        Kernels {
            l2: scalar::l2_squared,
            dot: scalar::dot,
            l1: scalar::l1,
            cosine: scalar::cosine_parts,
            name: "scalar",
        }
    })
}

/// Which body this CPU runs ("f16c" or "scalar"), for benchmark reports.
pub fn kernel_name() -> &'static str {
    kernels().name
}

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: the kernel's CPU features were detected; lengths are equal.
    unsafe { (kernels().l2)(a, b) }
}

/// Inner product.
#[inline]
pub fn dot(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().dot)(a, b) }
}

/// Manhattan distance.
#[inline]
pub fn l1(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().l1)(a, b) }
}

/// Cosine similarity, `a·b / sqrt(|a|²|b|²)` (NaN when either is zero).
#[inline]
pub fn cosine_similarity(a: &[u16], b: &[u16]) -> f64 {
    assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    let [ab, aa, bb] = unsafe { (kernels().cosine)(a, b) };
    ab as f64 / (aa as f64 * bb as f64).sqrt()
}

/// The reference: plain Rust, the same operation order as the F16C body.
pub mod scalar {
    use super::{to_f32, LANES};

    /// Sums `term(i)` into 8 lanes with `step(acc, i)`, adds the lanes left
    /// to right, then adds the tail's terms in order with `tail(acc, i)`.
    #[inline(always)]
    fn lanes(
        n: usize,
        mut step: impl FnMut(f32, usize) -> f32,
        mut tail: impl FnMut(f32, usize) -> f32,
    ) -> f32 {
        let body = n / LANES * LANES;
        let mut acc = [0f32; LANES];
        for i in (0..body).step_by(LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                *a = step(*a, i + l);
            }
        }
        let mut sum = acc[1..].iter().fold(acc[0], |s, &a| s + a);
        for i in body..n {
            sum = tail(sum, i);
        }
        sum
    }

    pub fn l2_squared(a: &[u16], b: &[u16]) -> f32 {
        let d = |i: usize| to_f32(a[i]) - to_f32(b[i]);
        lanes(
            a.len(),
            |s, i| d(i).mul_add(d(i), s),
            |s, i| s + d(i) * d(i),
        )
    }

    pub fn dot(a: &[u16], b: &[u16]) -> f32 {
        let (x, y) = (|i: usize| to_f32(a[i]), |i: usize| to_f32(b[i]));
        lanes(
            a.len(),
            |s, i| x(i).mul_add(y(i), s),
            |s, i| s + x(i) * y(i),
        )
    }

    pub fn l1(a: &[u16], b: &[u16]) -> f32 {
        let d = |i: usize| (to_f32(a[i]) - to_f32(b[i])).abs();
        lanes(a.len(), |s, i| s + d(i), |s, i| s + d(i))
    }

    pub fn cosine_parts(a: &[u16], b: &[u16]) -> [f32; 3] {
        [dot(a, b), dot(a, a), dot(b, b)]
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{to_f32, LANES};
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
    pub unsafe fn l2_f16c(a: &[u16], b: &[u16]) -> f32 {
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
    pub unsafe fn dot_f16c(a: &[u16], b: &[u16]) -> f32 {
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
    pub unsafe fn l1_f16c(a: &[u16], b: &[u16]) -> f32 {
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
    pub unsafe fn cosine_f16c(a: &[u16], b: &[u16]) -> [f32; 3] {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::halfvec_text::{check_element, from_f32};
    use proptest::prelude::*;

    fn halves(n: usize) -> impl Strategy<Value = Vec<u16>> {
        proptest::collection::vec(
            any::<u16>().prop_filter("finite", |&h| check_element(h).is_ok()),
            n,
        )
    }

    fn pair() -> impl Strategy<Value = (Vec<u16>, Vec<u16>)> {
        (0usize..300).prop_flat_map(|n| (halves(n), halves(n)))
    }

    fn same(x: f32, y: f32) -> bool {
        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The dispatched kernel returns the scalar reference's exact bits.
        #[test]
        fn dispatched_matches_scalar_bit_for_bit((a, b) in pair()) {
            prop_assert!(same(l2_squared(&a, &b), scalar::l2_squared(&a, &b)));
            prop_assert!(same(dot(&a, &b), scalar::dot(&a, &b)));
            prop_assert!(same(l1(&a, &b), scalar::l1(&a, &b)));
            let [ab, aa, bb] = scalar::cosine_parts(&a, &b);
            let reference = ab as f64 / (aa as f64 * bb as f64).sqrt();
            let got = cosine_similarity(&a, &b);
            prop_assert!(got.to_bits() == reference.to_bits() || (got.is_nan() && reference.is_nan()));
        }

        /// And stays within f32 rounding of an exact f64 sum.
        #[test]
        fn close_to_exact((a, b) in pair()) {
            let x: Vec<f64> = a.iter().map(|&h| to_f32(h) as f64).collect();
            let y: Vec<f64> = b.iter().map(|&h| to_f32(h) as f64).collect();
            let exact: f64 = x.iter().zip(&y).map(|(p, q)| (p - q) * (p - q)).sum();
            let got = l2_squared(&a, &b) as f64;
            prop_assert!((got - exact).abs() <= 1e-4 * exact + 1e-12, "{} vs {}", got, exact);
        }
    }

    #[test]
    fn known_values() {
        let h = |v: &[f32]| v.iter().map(|&x| from_f32(x)).collect::<Vec<_>>();
        let (a, b) = (h(&[1.0, 2.0, 3.0]), h(&[4.0, 5.0, 6.0]));
        assert_eq!(l2_squared(&a, &b), 27.0);
        assert_eq!(dot(&a, &b), 32.0);
        assert_eq!(l1(&a, &b), 9.0);
        let nine = h(&[1.0; 9]);
        assert_eq!(dot(&nine, &nine), 9.0);
        assert!(cosine_similarity(&h(&[0.0, 0.0]), &h(&[1.0, 1.0])).is_nan());
        assert_eq!(cosine_similarity(&h(&[1.0, 2.0]), &h(&[2.0, 4.0])), 1.0);
    }
}
