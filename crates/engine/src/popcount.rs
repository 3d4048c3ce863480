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

pub type Kernel = unsafe fn(&[u64], usize, &[u64], usize) -> i64;

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
    static K: OnceLock<(Kernel, Kernel, Option<Kernel>)> = OnceLock::new();
    let (pop, short, long) = *K.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let pop: Kernel = if std::is_x86_feature_detected!("popcnt") {
                x86::ip_popcnt
            } else {
                scalar
            };
            let avx512 = x86::has_avx512_popcnt();
            let short: Kernel = if avx512 { x86::ip_avx512_short } else { pop };
            let wide: Option<Kernel> = avx512.then_some(x86::ip_avx512 as Kernel);
            (pop, short, wide)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            (scalar as Kernel, scalar as Kernel, None)
        }
    });
    match long {
        Some(l) if words >= 8 && words.is_multiple_of(8) => l,
        _ if (2..=SHORT_WORDS).contains(&words) => short,
        _ => pop,
    }
}

/// Every implementation this CPU can run on codes of `words` words per
/// plane, by name, for benchmarks and tests (each must give the same
/// result).
pub fn available(words: usize) -> Vec<(&'static str, Kernel)> {
    let mut out: Vec<(&'static str, Kernel)> = vec![("scalar", scalar as Kernel)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("popcnt") {
            out.push(("popcnt", x86::ip_popcnt as Kernel));
        }
        if x86::has_avx512_popcnt() {
            out.push(("avx512-short", x86::ip_avx512_short as Kernel));
            // Whole 512-bit registers per plane.
            if words.is_multiple_of(8) {
                out.push(("avx512-wide", x86::ip_avx512 as Kernel));
            }
        }
    }
    let _ = words;
    out
}

/// Codes of 2 to this many words per plane (64 < D <= 256) take the
/// short-code kernel: 3-6x the POPCNT loop there (`benches/kernels.rs`). At
/// one word (D = 64) the AVX-512 kernel is faster in isolation (58-64
/// against 32-43 M products/s), but the engine's GloVe search showed no
/// difference beyond this VM's noise (the estimate waits on memory), and
/// single-row INSERTs through SQL looked slower with it (GloVe, 10k-row
/// index, one session: 384-488 rows/s in 4 runs against 516-522 in 2 with
/// POPCNT; noisy, not explained), so one-word codes stay on POPCNT until
/// that is understood.
const SHORT_WORDS: usize = 4;

/// Name of the kernel in use, for benchmark reports.
pub fn description(words: usize) -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        let k = kernel(words) as usize;
        if k == x86::ip_avx512 as Kernel as usize {
            return "avx512-vpopcntdq";
        }
        if k == x86::ip_avx512_short as Kernel as usize {
            return "avx512-vpopcntdq (query planes across lanes)";
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

    pub fn has_avx512_popcnt() -> bool {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vpopcntdq")
    }

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

    /// Short codes (at most [`SHORT_WORDS`] words per plane, the multi-bit
    /// low-dimension case): the 8 query planes of a word sit in the 8 lanes
    /// of one register, so each code word costs one broadcast, AND and
    /// VPOPCNTQ for all planes at once (against 8 scalar POPCNTs). Code
    /// planes are folded in by Horner's rule (`acc = 2 acc + count`), and
    /// the plane weights (`2^k`, `-2^7` for the sign plane) by a lane-wise
    /// shift and one masked negation at the end.
    ///
    /// # Safety
    /// Needs AVX-512F and AVX-512 VPOPCNTDQ. Slices as in [`ip_planes`].
    #[target_feature(enable = "avx512f,avx512vpopcntdq")]
    pub unsafe fn ip_avx512_short(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64 {
        if words > SHORT_WORDS {
            return body(code, bits, query, words);
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
        fn planes_match_reference(bits in 1usize..=4, words in prop::sample::select(vec![1usize, 2, 3, 4, 5, 8, 16, 24]), seed in any::<u64>()) {
            let d = words * 64;
            let mut s = seed | 1;
            let mut next = || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let z: Vec<u8> = (0..d).map(|_| (next() % (1 << bits)) as u8).collect();
            let q: Vec<i8> = (0..d).map(|_| next() as u8 as i8).collect();
            let (code, query) = pack(&z, bits, &q, words);
            let want = reference(&z, &q);
            prop_assert_eq!(ip_planes(&code, bits, &query, words), want);
            for (name, k) in available(words) {
                prop_assert_eq!(unsafe { k(&code, bits, &query, words) }, want, "{}", name);
            }
        }
    }
}
