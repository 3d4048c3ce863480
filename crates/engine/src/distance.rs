//! Distances between `f32` vectors, through the engine's one SIMD dispatch
//! ([`crate::simd`]).
//!
//! Two precisions:
//! * `*_f32`: arithmetic and sums in `f32`, as pgvector computes (so the
//!   values SQL returns match pgvector's, overflow to infinity included),
//!   and what the graph's hot loops use;
//! * `l2_squared`, `dot`, `l1`, `norm_squared`, `cosine_distance`: every
//!   element widened to `f64` first, for exact references (ground truth)
//!   and normalization.

use crate::simd::kernels;

/// A distance through the dispatch table's kernel `$kernel`.
macro_rules! dispatched {
    ($(#[$doc:meta])* $name:ident, $kernel:ident, $out:ty) => {
        $(#[$doc])*
        #[inline]
        pub fn $name(a: &[f32], b: &[f32]) -> $out {
            debug_assert_eq!(a.len(), b.len());
            // SAFETY: `kernels()` holds a target this CPU supports; kernels
            // read both slices up to the shorter length.
            unsafe { (kernels().$kernel)(a, b) }
        }
    };
}

dispatched!(/// Squared Euclidean distance.
    l2_squared, l2_f64, f64);
dispatched!(/// Inner product.
    dot, dot_f64, f64);
dispatched!(/// Manhattan (L1) distance.
    l1, l1_f64, f64);
dispatched!(/// Squared Euclidean distance, summed in `f32`.
    l2_squared_f32, l2_f32, f32);
dispatched!(/// Inner product, summed in `f32`.
    dot_f32, dot_f32, f32);
dispatched!(/// L1 distance, summed in `f32`.
    l1_f32, l1_f32, f32);

/// Squared L2 norm of one vector.
#[inline]
pub fn norm_squared(a: &[f32]) -> f64 {
    dot(a, a)
}

/// Cosine distance `1 - cos(a, b)`, clamped to `[0, 2]`, from three exact
/// sums (so `cosine_distance(x, 2x) = 0` exactly, as in pgvector). A zero
/// vector gives NaN, as in pgvector.
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

/// Cosine distance as pgvector computes it: the three sums in `f32`, their
/// ratio in `f64`, clamped to `[0, 2]`; NaN for a zero vector.
#[inline]
pub fn cosine_distance_f32(a: &[f32], b: &[f32]) -> f64 {
    cosine_from_parts(
        dot_f32(a, b) as f64,
        dot_f32(a, a) as f64,
        dot_f32(b, b) as f64,
    )
}

/// The SIMD target this process runs, for benchmark reports.
pub fn simd_description() -> &'static str {
    kernels().target.name()
}

/// The scalar references (plain loops, `f64` sums).
pub mod scalar {
    pub use crate::simd::scalar::{dot_f64 as dot, l1_f64 as l1, l2_f64 as l2_squared};

    pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
        super::cosine_from_parts(dot(a, b), dot(a, a), dot(b, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [4.0f32, 5.0, 6.0];
        assert_eq!(l2_squared(&a, &b).sqrt(), 5.196152422706632);
        assert_eq!(dot(&a, &b), 32.0);
        assert_eq!(l1(&a, &b), 9.0);
        assert_eq!(l2_squared_f32(&a, &b), 27.0);
        assert_eq!(dot_f32(&a, &b), 32.0);
        assert_eq!(l1_f32(&a, &b), 9.0);
        assert_eq!(cosine_distance_f32(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        // pgvector overflows in f32; the exact kernels do not.
        assert_eq!(l2_squared_f32(&[3e38], &[-3e38]), f32::INFINITY);
        assert!(l2_squared(&[3e38], &[-3e38]).is_finite());
        assert_eq!(cosine_distance(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        assert_eq!(cosine_distance(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        assert_eq!(cosine_distance(&[1.0, 1.0], &[-1.0, -1.0]), 2.0);
        assert!(cosine_distance(&[0.0, 0.0], &[1.0, 1.0]).is_nan());
        assert_eq!(simd_description(), kernels().target.name());
    }
}
