//! Distance kernels over `f32` slices.
//!
//! Every kernel has two implementations: a SIMD one (simsimd, which picks the
//! best instruction set at run time, or `std::arch` code behind
//! `is_x86_feature_detected!`) and a plain scalar reference. Nothing here needs
//! a CPU feature at compile time, so one binary runs on any x86-64 or aarch64
//! machine: on an old CPU the dispatch simply lands on a narrower kernel.
//!
//! Sums are returned as `f64`. simsimd accumulates `f32` inputs in double
//! precision, which is at least as accurate as pgvector's `float` loops.

use simsimd::SpatialSimilarity;

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    f32::l2sq(a, b).unwrap_or_else(|| scalar::l2_squared(a, b))
}

/// Inner product (dot product).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    f32::dot(a, b).unwrap_or_else(|| scalar::dot(a, b))
}

/// Squared L2 norm of one vector.
#[inline]
pub fn norm_squared(a: &[f32]) -> f64 {
    dot(a, a)
}

/// Cosine distance `1 - cos(a, b)`, clamped to `[0, 2]`.
///
/// Built from three exact sums rather than simsimd's own `cos`, which uses an
/// approximate reciprocal square root: SQL users compare these values with
/// pgvector's and expect `cosine_distance(x, 2x) = 0` exactly. A zero vector
/// gives NaN, as in pgvector.
#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    cosine_from_parts(dot(a, b), norm_squared(a), norm_squared(b))
}

/// Cosine distance from a dot product and two squared norms.
#[inline]
pub fn cosine_from_parts(dot: f64, norm_a_sq: f64, norm_b_sq: f64) -> f64 {
    let similarity = dot / (norm_a_sq * norm_b_sq).sqrt();
    if similarity.is_nan() {
        return f64::NAN;
    }
    // Rounding can push |similarity| a hair past 1.
    1.0 - similarity.clamp(-1.0, 1.0)
}

/// Manhattan (L1) distance. simsimd has no f32 L1, so this is our own
/// AVX2 kernel, chosen at run time.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { x86::l1_avx2(a, b) };
        }
    }
    scalar::l1(a, b)
}

/// Plain loops: the reference every SIMD kernel is tested against, and the
/// fallback where no SIMD kernel applies.
pub mod scalar {
    pub fn l2_squared(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| {
                let d = x as f64 - y as f64;
                d * d
            })
            .sum()
    }

    pub fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
        super::cosine_from_parts(dot(a, b), dot(a, a), dot(b, b))
    }

    pub fn l1(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&x, &y)| (x as f64 - y as f64).abs())
            .sum()
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// L1 with AVX2: 8 lanes at a time, widened to f64 before subtracting so
    /// large magnitudes do not overflow and results match the scalar reference.
    #[target_feature(enable = "avx2")]
    pub unsafe fn l1_avx2(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len().min(b.len());
        let sign = _mm256_set1_pd(-0.0);
        let mut acc0 = _mm256_setzero_pd();
        let mut acc1 = _mm256_setzero_pd();
        let mut i = 0;
        while i + 8 <= n {
            let va = _mm256_loadu_ps(a.as_ptr().add(i));
            let vb = _mm256_loadu_ps(b.as_ptr().add(i));
            let a_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(va));
            let a_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(va, 1));
            let b_lo = _mm256_cvtps_pd(_mm256_castps256_ps128(vb));
            let b_hi = _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1));
            acc0 = _mm256_add_pd(acc0, _mm256_andnot_pd(sign, _mm256_sub_pd(a_lo, b_lo)));
            acc1 = _mm256_add_pd(acc1, _mm256_andnot_pd(sign, _mm256_sub_pd(a_hi, b_hi)));
            i += 8;
        }
        let mut lanes = [0f64; 4];
        _mm256_storeu_pd(lanes.as_mut_ptr(), _mm256_add_pd(acc0, acc1));
        let mut sum = lanes.iter().sum::<f64>();
        while i < n {
            sum += (*a.get_unchecked(i) as f64 - *b.get_unchecked(i) as f64).abs();
            i += 1;
        }
        sum
    }
}

/// Which SIMD path the running CPU takes, for benchmark reports.
pub fn simd_description() -> String {
    use simsimd::capabilities as c;
    let mut found = Vec::new();
    for (name, on) in [
        ("sapphire", c::uses_sapphire()),
        ("genoa", c::uses_genoa()),
        ("ice", c::uses_ice()),
        ("skylake", c::uses_skylake()),
        ("haswell", c::uses_haswell()),
        ("sve", c::uses_sve()),
        ("neon", c::uses_neon()),
    ] {
        if on {
            found.push(name);
        }
    }
    if found.is_empty() {
        "serial".to_string()
    } else {
        found.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values spanning denormals, ordinary numbers and large magnitudes.
    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            -1.0f32..1.0,
            -1e-38f32..1e-38, // around and below f32::MIN_POSITIVE: denormals
            // Large: simsimd sums squares in f32 on some paths, so keep
            // 4100 squares of (2e16)^2 under f32::MAX, as pgvector's own
            // float accumulators would need too.
            -1e16f32..1e16,
            Just(0.0f32),
            Just(f32::MIN_POSITIVE / 4.0),
        ]
    }

    fn pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
        (1usize..4100).prop_flat_map(|n| {
            (
                proptest::collection::vec(value(), n),
                proptest::collection::vec(value(), n),
            )
        })
    }

    /// Closeness relative to the inputs' magnitude. SIMD kernels sum in another
    /// order and some subtract in f32 before widening, so they agree with the
    /// f64 reference to about f32 precision (1e-6), not to the last bit. The
    /// 1e-30 floor absorbs squares of denormals, which underflow in f32.
    fn close(simd: f64, reference: f64, scale: f64) -> bool {
        if simd.is_nan() || reference.is_nan() {
            return simd.is_nan() && reference.is_nan();
        }
        (simd - reference).abs() <= 1e-6 * scale + 1e-30
    }

    fn magnitude(a: &[f32], b: &[f32]) -> f64 {
        scalar::dot(a, a).max(scalar::dot(b, b)).max(1e-300) * 4.0
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn l2_matches_scalar((a, b) in pair()) {
            let reference = scalar::l2_squared(&a, &b);
            prop_assert!(close(l2_squared(&a, &b), reference, magnitude(&a, &b)),
                "simd {} scalar {}", l2_squared(&a, &b), reference);
        }

        #[test]
        fn dot_matches_scalar((a, b) in pair()) {
            let reference = scalar::dot(&a, &b);
            prop_assert!(close(dot(&a, &b), reference, magnitude(&a, &b)));
        }

        #[test]
        fn cosine_matches_scalar((a, b) in pair()) {
            // Norms of all-denormal vectors underflow in f32 sums (giving NaN,
            // as in pgvector) but not in the f64 reference: not comparable.
            prop_assume!(scalar::dot(&a, &a) > 1e-30 && scalar::dot(&b, &b) > 1e-30);
            let simd = cosine_distance(&a, &b);
            let reference = scalar::cosine_distance(&a, &b);
            prop_assert!(close(simd, reference, 2.0) || (simd - reference).abs() < 1e-6,
                "simd {} scalar {}", simd, reference);
        }

        #[test]
        fn l1_matches_scalar((a, b) in pair()) {
            let reference = scalar::l1(&a, &b);
            let scale = reference.abs().max(1e-300);
            prop_assert!(close(l1(&a, &b), reference, scale));
        }
    }

    #[test]
    fn known_values() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [4.0f32, 5.0, 6.0];
        assert_eq!(l2_squared(&a, &b).sqrt(), 5.196152422706632);
        assert_eq!(dot(&a, &b), 32.0);
        assert_eq!(l1(&a, &b), 9.0);
        assert_eq!(cosine_distance(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        assert_eq!(cosine_distance(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        assert_eq!(cosine_distance(&[1.0, 1.0], &[-1.0, -1.0]), 2.0);
        assert!(cosine_distance(&[0.0, 0.0], &[1.0, 1.0]).is_nan());
    }
}
