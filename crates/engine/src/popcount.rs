//! Bit-plane inner products: the kernel behind every RaBitQ estimate.
//!
//! A data code is `bits` planes of `words` u64 each: plane `j` holds bit `j`
//! of every coordinate's unsigned code `z_i`. The query is 8 planes of the
//! two's-complement bytes `q_i` (plane 7 weighs -128). Then
//!
//! `<z, q> = sum_j sum_k 2^j * w_k * popcount(code_j & query_k)`
//!
//! which needs only AND and POPCNT: no unpacking, no multiplies. The fastest
//! implementation is picked once at run time (AVX-512 VPOPCNTDQ for long
//! codes, the POPCNT instruction otherwise, plain Rust as the fallback).

use std::sync::OnceLock;

/// Number of query bit planes (signed 8-bit query coordinates).
pub const QUERY_PLANES: usize = 8;

type Kernel = unsafe fn(&[u64], usize, &[u64], usize) -> i64;

/// `<z, q>` for one code. `code.len() == bits * words`,
/// `query.len() == QUERY_PLANES * words`.
#[inline]
pub fn ip_planes(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    debug_assert_eq!(code.len(), bits * words);
    debug_assert_eq!(query.len(), QUERY_PLANES * words);
    let k = kernel(words);
    // SAFETY: `kernel` only returns functions whose CPU features were detected.
    unsafe { k(code, bits, query, words) }
}

/// The implementation this CPU uses for codes of `words` words per plane.
pub fn kernel(words: usize) -> Kernel {
    static K: OnceLock<(Kernel, Option<Kernel>)> = OnceLock::new();
    let (short, long) = *K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let pop: Kernel = if std::is_x86_feature_detected!("popcnt") {
                x86::ip_popcnt
            } else {
                scalar
            };
            let wide: Option<Kernel> = if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vpopcntdq")
            {
                Some(x86::ip_avx512)
            } else {
                None
            };
            (pop, wide)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            (scalar as Kernel, None)
        }
    });
    match long {
        Some(l) if words >= 8 && words.is_multiple_of(8) => l,
        _ => short,
    }
}

/// Name of the kernel in use, for benchmark reports.
pub fn description(words: usize) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let k = kernel(words) as usize;
        if k == x86::ip_avx512 as Kernel as usize {
            return "avx512-vpopcntdq";
        }
        if k == x86::ip_popcnt as Kernel as usize {
            return "popcnt";
        }
    }
    let _ = words;
    "scalar"
}

#[inline(always)]
fn body(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    let mut total = 0i64;
    for j in 0..bits {
        let c = &code[j * words..(j + 1) * words];
        let mut plane = 0i64;
        for k in 0..QUERY_PLANES {
            let q = &query[k * words..(k + 1) * words];
            let mut cnt = 0u32;
            for i in 0..words {
                cnt += (c[i] & q[i]).count_ones();
            }
            let weight: i64 = if k == QUERY_PLANES - 1 {
                -(1 << k)
            } else {
                1 << k
            };
            plane += weight * cnt as i64;
        }
        total += plane << j;
    }
    total
}

/// Portable reference (and fallback) implementation.
///
/// # Safety
/// Always safe; `unsafe` only to share the kernel signature.
pub unsafe fn scalar(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
    body(code, bits, query, words)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    #[target_feature(enable = "popcnt")]
    pub unsafe fn ip_popcnt(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
        if words == 1 {
            // The common low-dimension case (D = 64): everything in registers.
            let q: [u64; QUERY_PLANES] = std::array::from_fn(|k| *query.get_unchecked(k));
            let mut total = 0i64;
            for j in 0..bits {
                let c = *code.get_unchecked(j);
                let mut plane = 0i64;
                for k in 0..QUERY_PLANES - 1 {
                    plane += ((c & q[k]).count_ones() as i64) << k;
                }
                plane -= ((c & q[QUERY_PLANES - 1]).count_ones() as i64) << (QUERY_PLANES - 1);
                total += plane << j;
            }
            return total;
        }
        body(code, bits, query, words)
    }

    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub unsafe fn ip_avx512(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
        let mut total = 0i64;
        for j in 0..bits {
            let c = code.as_ptr().add(j * words);
            let mut acc = [_mm512_setzero_si512(); QUERY_PLANES];
            let mut i = 0;
            while i < words {
                let cv = _mm512_loadu_si512(c.add(i) as *const _);
                for (k, a) in acc.iter_mut().enumerate() {
                    let qv = _mm512_loadu_si512(query.as_ptr().add(k * words + i) as *const _);
                    *a = _mm512_add_epi64(*a, _mm512_popcnt_epi64(_mm512_and_si512(cv, qv)));
                }
                i += 8;
            }
            let mut plane = 0i64;
            for (k, a) in acc.iter().enumerate() {
                let cnt = _mm512_reduce_add_epi64(*a);
                if k == QUERY_PLANES - 1 {
                    plane -= cnt << k;
                } else {
                    plane += cnt << k;
                }
            }
            total += plane << j;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Direct integer dot product from unpacked values, the ground truth.
    fn reference(z: &[u8], q: &[i8]) -> i64 {
        z.iter().zip(q).map(|(&a, &b)| a as i64 * b as i64).sum()
    }

    fn pack(z: &[u8], bits: usize, q: &[i8], words: usize) -> (Vec<u64>, Vec<u64>) {
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

    proptest! {
        #[test]
        fn planes_match_reference(bits in 1usize..=4, words in prop::sample::select(vec![1usize, 2, 3, 8, 16, 24]), seed in any::<u64>()) {
            let d = words * 64;
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let z: Vec<u8> = (0..d).map(|_| (next() % (1 << bits)) as u8).collect();
            let q: Vec<i8> = (0..d).map(|_| next() as u8 as i8).collect();
            let (code, query) = pack(&z, bits, &q, words);
            let want = reference(&z, &q);
            prop_assert_eq!(ip_planes(&code, bits, &query, words), want);
            prop_assert_eq!(unsafe { scalar(&code, bits, &query, words) }, want);
        }
    }
}
