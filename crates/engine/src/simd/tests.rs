//! Every kernel of every target this CPU runs, against the scalar reference.

use super::*;
use proptest::prelude::*;

/// Values spanning denormals, ordinary numbers and large magnitudes.
fn value() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1.0f32..1.0,
        -1e-38f32..1e-38, // around and below f32::MIN_POSITIVE: denormals
        -1e16f32..1e16,
        Just(0.0f32),
        Just(f32::MIN_POSITIVE / 4.0),
    ]
}

fn pair(max: usize) -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (0usize..max).prop_flat_map(|n| {
        (
            proptest::collection::vec(value(), n),
            proptest::collection::vec(value(), n),
        )
    })
}

/// Magnitude against which rounding is judged: the largest squared norm.
fn scale(a: &[f32], b: &[f32]) -> f64 {
    scalar::dot_f64(a, a).max(scalar::dot_f64(b, b)) * 4.0
}

fn l1_scale(a: &[f32], b: &[f32]) -> f64 {
    a.iter().chain(b).map(|x| x.abs() as f64).sum::<f64>()
}

/// `f64` kernels widen before any arithmetic, so they differ from the
/// reference only in summation order: a few ulps of the magnitude.
fn close_f64(got: f64, want: f64, scale: f64) -> bool {
    (got - want).abs() <= 1e-13 * scale + 1e-300
}

/// `f32` kernels round every step: about `n` f32 ulps of the magnitude.
fn close_f32(got: f32, want: f64, scale: f64, n: usize) -> bool {
    let want32 = want as f32;
    if !want32.is_finite() {
        return got == want32 || !got.is_finite();
    }
    (got as f64 - want).abs() <= 1e-6 * (n as f64 + 1.0) * scale + 1e-30
}

#[test]
fn the_chosen_target_is_the_best_supported_and_scalar_is_always_there() {
    let all = targets();
    let cap = std::env::var(TARGET_VAR).ok();
    match cap.as_deref().and_then(Target::from_name) {
        None => assert_eq!(kernels().target, all[0].target),
        Some(c) => assert!(kernels().target <= c),
    }
    assert_eq!(all.last().unwrap().target, Target::Scalar);
    for k in &all {
        assert!(k.target.supported(), "{:?}", k.target);
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_environment_caps_the_target_and_nothing_else() {
    let (wide, mid, plain): (&'static Kernels, &'static Kernels, &'static Kernels) =
        (&AVX512, &AVX2, &SCALAR);
    let every = [wide, mid, plain];
    let pick = |supported: &[&'static Kernels], cap| choose(supported, cap).target;
    assert_eq!(pick(&every, None), Target::Avx512);
    assert_eq!(pick(&every, Some("avx2")), Target::Avx2);
    assert_eq!(pick(&every, Some(" AVX2 ")), Target::Avx2);
    assert_eq!(pick(&every, Some("scalar")), Target::Scalar);
    assert_eq!(pick(&every, Some("avx512")), Target::Avx512);
    // A name it does not know is no cap.
    assert_eq!(pick(&every, Some("sse4")), Target::Avx512);
    assert_eq!(pick(&every, Some("")), Target::Avx512);
    // A cap never picks a target the CPU lacks.
    assert_eq!(pick(&[mid, plain], Some("avx512")), Target::Avx2);
    assert_eq!(pick(&[plain], Some("avx2")), Target::Scalar);
    for t in [Target::Scalar, Target::Avx2, Target::Avx512] {
        assert_eq!(Target::from_name(t.name()), Some(t));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn f64_kernels_match_the_reference((a, b) in pair(4100)) {
        let s = scale(&a, &b);
        let (l2, dot, l1) = (scalar::l2_f64(&a, &b), scalar::dot_f64(&a, &b), scalar::l1_f64(&a, &b));
        for k in targets() {
            let name = k.target.name();
            // SAFETY: `targets` lists only kernels this CPU supports; equal lengths.
            let (gl2, gdot, gl1) = unsafe { ((k.l2_f64)(&a, &b), (k.dot_f64)(&a, &b), (k.l1_f64)(&a, &b)) };
            prop_assert!(close_f64(gl2, l2, s), "{name} l2 {gl2} vs {l2}");
            prop_assert!(close_f64(gdot, dot, s), "{name} dot {gdot} vs {dot}");
            prop_assert!(close_f64(gl1, l1, l1_scale(&a, &b)), "{name} l1 {gl1} vs {l1}");
        }
    }

    #[test]
    fn f32_kernels_match_the_reference(n in 0usize..300, seed in any::<u64>()) {
        let mut st = seed;
        let mut v = || (crate::rabitq::splitmix64(&mut st) % 2000) as f32 / 1000.0 - 1.0;
        let a: Vec<f32> = (0..n).map(|_| v()).collect();
        let b: Vec<f32> = (0..n).map(|_| v()).collect();
        let s = scale(&a, &b);
        let (l2, dot, l1) = (scalar::l2_f64(&a, &b), scalar::dot_f64(&a, &b), scalar::l1_f64(&a, &b));
        for k in targets() {
            let name = k.target.name();
            // SAFETY: as above.
            let (gl2, gdot, gl1) = unsafe { ((k.l2_f32)(&a, &b), (k.dot_f32)(&a, &b), (k.l1_f32)(&a, &b)) };
            prop_assert!(close_f32(gl2, l2, s, n), "{name} l2 {gl2} vs {l2}");
            prop_assert!(close_f32(gdot, dot, s, n), "{name} dot {gdot} vs {dot}");
            prop_assert!(close_f32(gl1, l1, l1_scale(&a, &b), n), "{name} l1 {gl1} vs {l1}");
        }
    }

    #[test]
    fn sq8_kernels_match_the_reference(n in 0usize..1200, seed in any::<u64>(), top in any::<bool>()) {
        let mut st = seed;
        // All 255s against 0s as well as random bytes: the largest sums
        // must not wrap.
        let mut next = || crate::rabitq::splitmix64(&mut st) as u8;
        let a: Vec<u8> = (0..n).map(|_| if top { 255 } else { next() }).collect();
        let b: Vec<u8> = (0..n).map(|i| if top { (i % 2) as u8 * 255 } else { next() }).collect();
        let l2: u64 = a.iter().zip(&b).map(|(&x, &y)| (x as i64 - y as i64).pow(2) as u64).sum();
        let dot: u64 = a.iter().zip(&b).map(|(&x, &y)| x as u64 * y as u64).sum();
        for k in targets() {
            let name = k.target.name();
            // SAFETY: as above.
            let (gl2, gdot) = unsafe { ((k.sq8_l2)(&a, &b), (k.sq8_dot)(&a, &b)) };
            prop_assert_eq!(gl2 as u64, l2, "{} sq8 l2", name);
            prop_assert_eq!(gdot as u64, dot, "{} sq8 dot", name);
        }
    }

    #[test]
    fn sq8_kernels_are_exact_at_the_longest_rows(x in any::<u8>()) {
        let a = vec![255u8; SQ8_MAX_LEN];
        let b = vec![x; SQ8_MAX_LEN];
        for k in targets() {
            // SAFETY: as above.
            let (gl2, gdot) = unsafe { ((k.sq8_l2)(&a, &b), (k.sq8_dot)(&a, &b)) };
            prop_assert_eq!(gl2 as u64, SQ8_MAX_LEN as u64 * (255 - x as u64).pow(2));
            prop_assert_eq!(gdot as u64, SQ8_MAX_LEN as u64 * 255 * x as u64);
        }
    }

    #[test]
    fn plane_kernels_match_the_integer_product(
        // RaBitQ codes have 1 to 4 bits; 5 and 6 reach the kernels' limits.
        bits in 1usize..=6,
        words in prop::sample::select(vec![1usize, 2, 3, 4, 5, 8, 16, 24]),
        seed in any::<u64>(),
    ) {
        let d = words * 64;
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
        let z: Vec<u8> = (0..d).map(|_| (next() % (1 << bits)) as u8).collect();
        let q: Vec<i8> = (0..d).map(|_| next() as u8 as i8).collect();
        let (code, query) = pack_planes(&z, bits, &q, words);
        let want: i64 = z.iter().zip(&q).map(|(&a, &b)| a as i64 * b as i64).sum();
        for k in targets() {
            for (which, f) in [("one", k.planes_one), ("short", k.planes_short), ("wide", k.planes_wide), ("chosen", k.planes(words))] {
                // SAFETY: as above; every plane kernel accepts any word count.
                prop_assert_eq!(unsafe { f(&code, bits, &query, words) }, want, "{} {}", k.target.name(), which);
            }
        }
    }

    #[test]
    fn nibble_kernels_match_the_integer_product(
        blocks in 1usize..=40,
        seed in any::<u64>(),
    ) {
        let d = blocks * 64;
        let mut s = seed | 1;
        let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
        let z: Vec<u8> = (0..d).map(|_| (next() % 16) as u8).collect();
        // The extremes, -128 included, must not saturate.
        let q: Vec<i8> = (0..d).map(|i| match i % 17 { 0 => -128, 1 => 127, _ => next() as u8 as i8 }).collect();
        let mut code = vec![0u64; d / 16];
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut code);
        for (i, &v) in z.iter().enumerate() {
            let (at, high) = super::nibble_index(i);
            bytes[at] |= if high { v << 4 } else { v };
        }
        let want: i64 = z.iter().zip(&q).map(|(&a, &b)| a as i64 * b as i64).sum();
        for k in targets() {
            // SAFETY: the target is supported; 16 query bytes per code word.
            prop_assert_eq!(unsafe { (k.nibbles)(&code, &q) }, want, "{}", k.target.name());
        }
    }
}

proptest! {
    /// Every target's grid kernel gives the scalar one's bits (the same
    /// lanes and sums compiled wider), so codes do not depend on the CPU
    /// that encoded them; NaN and infinite inputs included.
    #[test]
    fn grid_kernels_match_the_scalar_one_bit_for_bit(
        n in 0usize..1100,
        seed in any::<u64>(),
        t in 0.0f32..12.0,
        bits in 2u32..=4,
    ) {
        let mut st = seed;
        let w: Vec<f32> = (0..n)
            .map(|i| match crate::rabitq::splitmix64(&mut st) % 64 {
                0 if i % 7 == 0 => f32::NAN,
                1 if i % 5 == 0 => f32::INFINITY,
                r => r as f32 / 64.0 * 1.3,
            })
            .collect();
        let max = (1i32 << bits) - 1;
        let (want_u, want_y) = super::scalar::grid_sums(&w, t, max);
        for k in targets() {
            // SAFETY: as above.
            let (u, y) = unsafe { (k.grid_sums)(&w, t, max) };
            prop_assert_eq!(u.to_bits(), want_u.to_bits(), "{} yu", k.target.name());
            prop_assert_eq!(y.to_bits(), want_y.to_bits(), "{} yy", k.target.name());
        }
    }
}

/// Codes `z` (`bits` bits each) and query bytes `q` as bit planes.
fn pack_planes(z: &[u8], bits: usize, q: &[i8], words: usize) -> (Vec<u64>, Vec<u64>) {
    let mut code = vec![0u64; bits * words];
    let mut query = vec![0u64; QUERY_PLANES * words];
    for i in 0..z.len() {
        for j in 0..bits {
            if (z[i] >> j) & 1 == 1 {
                code[j * words + i / 64] |= 1 << (i % 64);
            }
        }
        for k in 0..QUERY_PLANES {
            if ((q[i] as u8) >> k) & 1 == 1 {
                query[k * words + i / 64] |= 1 << (i % 64);
            }
        }
    }
    (code, query)
}

/// Finite binary16 values (NaN and infinity are rejected on input).
fn halves(n: usize) -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::vec(
        any::<u16>().prop_filter("finite", |&h| crate::halfvec_text::check_element(h).is_ok()),
        n,
    )
}

fn same_bits(x: f32, y: f32) -> bool {
    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every target's halfvec kernels return the scalar reference's exact
    /// bits (pgvector's F16C order), not merely close values.
    #[test]
    fn half_kernels_match_the_reference_bit_for_bit(
        (a, b) in (0usize..300).prop_flat_map(|n| (halves(n), halves(n))),
    ) {
        let want = [
            scalar_half::half_l2(&a, &b),
            scalar_half::half_dot(&a, &b),
            scalar_half::half_l1(&a, &b),
        ];
        let want_cos = scalar_half::half_cosine(&a, &b);
        for k in targets() {
            // SAFETY: `targets` lists only kernels this CPU supports; equal lengths.
            let got = unsafe { [(k.half_l2)(&a, &b), (k.half_dot)(&a, &b), (k.half_l1)(&a, &b)] };
            // SAFETY: as above.
            let got_cos = unsafe { (k.half_cosine)(&a, &b) };
            for (g, w) in got.iter().chain(&got_cos).zip(want.iter().chain(&want_cos)) {
                prop_assert!(same_bits(*g, *w), "{}: {} vs {}", k.target.name(), g, w);
            }
            let mut wide = vec![f32::NAN; a.len()];
            // SAFETY: as above; `wide` is as long as `a`.
            unsafe { (k.half_widen)(&a, &mut wide) };
            for (w, &h) in wide.iter().zip(&a) {
                prop_assert!(same_bits(*w, crate::halfvec_text::to_f32(h)), "{} widen", k.target.name());
            }
        }
    }
}
