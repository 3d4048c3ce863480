//! Distances between half-precision vectors (raw `u16` bits), through the
//! one SIMD dispatch ([`crate::simd`]): the F16C bodies where the CPU has
//! them, else the scalar reference, which performs the same operations in
//! the same order, so every CPU returns pgvector's bits.

use crate::simd::kernels;

/// Squared Euclidean distance.
#[inline]
pub fn l2_squared(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: the chosen table's CPU features were detected; equal lengths.
    unsafe { (kernels().half_l2)(a, b) }
}

/// Inner product.
#[inline]
pub fn dot(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().half_dot)(a, b) }
}

/// Manhattan distance.
#[inline]
pub fn l1(a: &[u16], b: &[u16]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    unsafe { (kernels().half_l1)(a, b) }
}

/// Cosine similarity, `a·b / sqrt(|a|²|b|²)` (NaN when either is zero).
#[inline]
pub fn cosine_similarity(a: &[u16], b: &[u16]) -> f64 {
    assert_eq!(a.len(), b.len());
    // SAFETY: as above.
    let [ab, aa, bb] = unsafe { (kernels().half_cosine)(a, b) };
    ab as f64 / (aa as f64 * bb as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::halfvec_text::{check_element, from_f32, to_f32};
    use proptest::prelude::*;

    fn halves(n: usize) -> impl Strategy<Value = Vec<u16>> {
        proptest::collection::vec(
            any::<u16>().prop_filter("finite", |&h| check_element(h).is_ok()),
            n,
        )
    }

    proptest! {
        /// The f32 sums stay within f32 rounding of an exact f64 sum.
        #[test]
        fn close_to_exact((a, b) in (0usize..300).prop_flat_map(|n| (halves(n), halves(n)))) {
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
