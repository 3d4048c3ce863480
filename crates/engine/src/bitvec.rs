//! Distances over Postgres `bit` strings (the bytes after `bit`'s length
//! word, most significant bit first; padding bits are zero), as pgvector's
//! `hamming_distance` and `jaccard_distance` define them.

/// Bits set in `f(a, b)`, eight bytes at a time.
fn count(a: &[u8], b: &[u8], f: impl Fn(u64, u64) -> u64) -> u64 {
    debug_assert_eq!(a.len(), b.len());
    let mut total = 0u64;
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        let x = u64::from_ne_bytes(x.try_into().expect("8 bytes"));
        let y = u64::from_ne_bytes(y.try_into().expect("8 bytes"));
        total += f(x, y).count_ones() as u64;
    }
    for (&x, &y) in ra.iter().zip(rb) {
        total += f(x as u64, y as u64).count_ones() as u64;
    }
    total
}

/// Number of positions where the bits differ.
pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
    count(a, b, |x, y| x ^ y)
}

/// `1 - |a ∧ b| / |a ∨ b|`; 1 when no bit is set in both.
pub fn jaccard(a: &[u8], b: &[u8]) -> f64 {
    let ab = count(a, b, |x, y| x & y);
    if ab == 0 {
        return 1.0;
    }
    let aa = count(a, a, |x, _| x);
    let bb = count(b, b, |x, _| x);
    1.0 - ab as f64 / (aa + bb - ab) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(hamming(&[0b1110_0000], &[0b1100_0000]), 1);
        assert_eq!(hamming(&[], &[]), 0);
        assert_eq!(jaccard(&[0b1111_0000], &[0b1100_0000]), 0.5);
        assert_eq!(jaccard(&[0b1111_0000], &[0]), 1.0);
        assert_eq!(jaccard(&[], &[]), 1.0);
    }

    proptest! {
        #[test]
        fn matches_bit_by_bit(pair in (0usize..40).prop_flat_map(|n| (
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(any::<u8>(), n)))) {
            let (a, b) = pair;
            let bit = |v: &[u8], i: usize| v[i / 8] >> (7 - i % 8) & 1 == 1;
            let n = a.len() * 8;
            let differ = (0..n).filter(|&i| bit(&a, i) != bit(&b, i)).count() as u64;
            let both = (0..n).filter(|&i| bit(&a, i) && bit(&b, i)).count() as f64;
            let either = (0..n).filter(|&i| bit(&a, i) || bit(&b, i)).count() as f64;
            prop_assert_eq!(hamming(&a, &b), differ);
            let want = if both == 0.0 { 1.0 } else { 1.0 - both / either };
            prop_assert_eq!(jaccard(&a, &b), want);
        }
    }
}
