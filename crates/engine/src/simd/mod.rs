//! Every SIMD kernel of the engine behind one run-time dispatch.
//!
//! The CPU is probed once, on first use, and the best [`Target`] it can run
//! is chosen; its [`Kernels`] table holds a function pointer per kernel, so
//! a hot loop pays one indirect call and no feature test. Nothing needs a
//! CPU feature at compile time: each target's functions carry
//! `#[target_feature]` and are only reached through a table whose features
//! were detected, and [`Target::Scalar`] runs anywhere.
//!
//! [`targets`] lists every target the running CPU can execute, not only the
//! chosen one, so tests check each kernel of each of them against the
//! scalar reference, and benchmarks can compare them.
//!
//! Kernels:
//! * `l2_f32`, `dot_f32`, `l1_f32`: accumulated in `f32`, for the graph's hot
//!   loops (build, expansions, re-ranking), where the sums only order
//!   candidates.
//! * `l2_f64`, `dot_f64`, `l1_f64`: each `f32` widened to `f64` before the
//!   arithmetic, for distances returned to SQL.
//! * bit-plane inner products (`planes_*`), the RaBitQ estimate: see
//!   [`PlaneKernel`] and [`Kernels::planes`]; `nibbles`, the same product
//!   for 4-bit codes held a dimension per nibble ([`NibbleKernel`]).
//! * `half_*`: `halfvec` (binary16) distances summed in `f32` with pgvector's
//!   F16C operation order, so every target returns pgvector's bits.
//! * `sq8_*`: the build's 8-bit scalar codes ([`crate::sq8`]), summed
//!   exactly in integers.
//! * [`prefetch`]: a cache hint (SSE, part of every x86-64).

pub mod scalar;
pub mod scalar_half;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;
#[cfg(target_arch = "x86_64")]
mod x86_f16c;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

/// A kernel over two equal-length `f32` slices. `unsafe` because a target's
/// kernel may only run on a CPU with its features: the tables guarantee it.
pub type F32Kernel = unsafe fn(&[f32], &[f32]) -> f32;
/// As [`F32Kernel`], summing in `f64`.
pub type F64Kernel = unsafe fn(&[f32], &[f32]) -> f64;
/// `<z, q>` between a code of `bits` bit planes and a query of
/// [`QUERY_PLANES`] planes, `words` u64 per plane (see [`Kernels::planes`]).
pub type PlaneKernel = unsafe fn(code: &[u64], bits: usize, query: &[u64], words: usize) -> i64;

/// `<z, q>` between a 4-bit code held a dimension per nibble and the
/// query's signed bytes, exactly (see [`nibble_index`] for which nibble
/// holds which dimension). `query` has 16 bytes per code word.
pub type NibbleKernel = unsafe fn(code: &[u64], query: &[i8]) -> i64;

/// Where dimension `i` of a 4-bit code sits in the nibble layout: its byte
/// and whether it is the high nibble. Each 64 dimensions take 32 bytes, the
/// first 32 dimensions in the low nibbles and the next 32 in the high
/// ones, so a kernel splits a 32-byte load into two vectors of 32 values
/// with one mask and one shift, in the order of the query's bytes.
#[inline]
pub fn nibble_index(i: usize) -> (usize, bool) {
    let (block, r) = (i / 64, i % 64);
    (block * 32 + r % 32, r >= 32)
}

/// A kernel over two 8-bit code rows (the build's scalar codes,
/// [`crate::sq8`]), exact in integers for rows up to [`SQ8_MAX_LEN`] bytes.
pub type Sq8Kernel = unsafe fn(&[u8], &[u8]) -> u32;

/// The longest code rows whose [`Sq8Kernel`] sums fit 31 bits
/// (`2^31 / 255^2`).
pub const SQ8_MAX_LEN: usize = 33_025;

/// `(sum a_i w_i, sum a_i^2)` over the odd grid values
/// `a_i = min(2 floor(t w_i) + 1, max)` of `w` (see [`scalar::grid_sums`]):
/// one step of RaBitQ's scale search when it encodes a vector.
pub type GridKernel = unsafe fn(w: &[f32], t: f32, max: i32) -> (f32, f32);

/// A kernel over two equal-length `halfvec` slices (raw binary16 bits).
pub type HalfKernel = unsafe fn(&[u16], &[u16]) -> f32;
/// `[a·b, a·a, b·b]` over two `halfvec` slices, for cosine.
pub type HalfCosineKernel = unsafe fn(&[u16], &[u16]) -> [f32; 3];

/// Widens binary16 bits to `f32` (`dst` at least as long as `src`).
pub type HalfWidenKernel = unsafe fn(&[u16], &mut [f32]);

/// Lanes of the `halfvec` bodies, which the scalar reference mirrors.
const HALF_LANES: usize = 8;

/// Number of query bit planes (signed 8-bit query coordinates).
pub const QUERY_PLANES: usize = 8;

/// An instruction-set level, with the CPU features it needs; ordered from
/// the plainest to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// Plain Rust: the reference, and the fallback on any CPU.
    Scalar,
    /// x86-64 with AVX2, FMA, F16C and POPCNT (Haswell, Zen and later).
    Avx2,
    /// x86-64 with AVX-512F, BW and VPOPCNTDQ (Ice Lake, Zen 4 and
    /// later), plus everything [`Target::Avx2`] needs.
    Avx512,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Scalar => "scalar",
            Target::Avx2 => "avx2",
            Target::Avx512 => "avx512",
        }
    }

    /// The target called `name` (as [`Target::name`] spells it).
    pub fn from_name(name: &str) -> Option<Target> {
        [Target::Scalar, Target::Avx2, Target::Avx512]
            .into_iter()
            .find(|t| t.name() == name.trim().to_ascii_lowercase())
    }

    /// Whether the running CPU can execute this target's kernels.
    pub fn supported(self) -> bool {
        match self {
            Target::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Target::Avx2 => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("f16c")
                    && std::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Target::Avx512 => {
                Target::Avx2.supported()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vpopcntdq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

/// One target's kernels.
pub struct Kernels {
    pub target: Target,
    pub l2_f32: F32Kernel,
    pub dot_f32: F32Kernel,
    pub l1_f32: F32Kernel,
    pub l2_f64: F64Kernel,
    pub dot_f64: F64Kernel,
    pub l1_f64: F64Kernel,
    /// Codes of one word per plane (`D = 64`).
    pub planes_one: PlaneKernel,
    /// Codes of 2 to [`SHORT_WORDS`] words per plane.
    pub planes_short: PlaneKernel,
    /// Codes of 8 words or a multiple of 8 per plane.
    pub planes_wide: PlaneKernel,
    /// 4-bit codes in the nibble layout.
    pub nibbles: NibbleKernel,
    pub half_l2: HalfKernel,
    pub half_dot: HalfKernel,
    pub half_l1: HalfKernel,
    pub half_cosine: HalfCosineKernel,
    pub half_widen: HalfWidenKernel,
    /// `sum (a_i - b_i)^2` over 8-bit codes.
    pub sq8_l2: Sq8Kernel,
    /// `sum a_i b_i` over 8-bit codes.
    pub sq8_dot: Sq8Kernel,
    /// One step of RaBitQ's scale search.
    pub grid_sums: GridKernel,
}

/// Codes of 2 to this many words per plane take `planes_short`. At one
/// word the engine stays on POPCNT even where AVX-512 is there: search
/// showed no gain at 50 dimensions and single-row inserts looked slower
/// (BENCHMARKS.md has the measurements).
pub const SHORT_WORDS: usize = 4;

impl Kernels {
    /// The bit-plane kernel for codes of `words` u64 per plane. Chosen once
    /// per quantizer (codes of one index all have the same size), never per
    /// estimate.
    pub fn planes(&self, words: usize) -> PlaneKernel {
        if words == 1 {
            self.planes_one
        } else if words <= SHORT_WORDS {
            self.planes_short
        } else if words.is_multiple_of(8) {
            self.planes_wide
        } else {
            // Not a padded RaBitQ size (those are powers of two), but valid.
            self.planes_one
        }
    }
}

static SCALAR: Kernels = Kernels {
    target: Target::Scalar,
    l2_f32: scalar::l2_f32,
    dot_f32: scalar::dot_f32,
    l1_f32: scalar::l1_f32,
    l2_f64: scalar::l2_f64,
    dot_f64: scalar::dot_f64,
    l1_f64: scalar::l1_f64,
    planes_one: scalar::planes,
    planes_short: scalar::planes,
    planes_wide: scalar::planes,
    nibbles: scalar::nibbles,
    half_l2: scalar_half::half_l2,
    half_dot: scalar_half::half_dot,
    half_l1: scalar_half::half_l1,
    half_cosine: scalar_half::half_cosine,
    half_widen: scalar_half::half_widen,
    sq8_l2: scalar::sq8_l2,
    sq8_dot: scalar::sq8_dot,
    grid_sums: scalar::grid_sums,
};

#[cfg(target_arch = "x86_64")]
static AVX2: Kernels = Kernels {
    target: Target::Avx2,
    l2_f32: x86_avx2::l2_f32,
    dot_f32: x86_avx2::dot_f32,
    l1_f32: x86_avx2::l1_f32,
    l2_f64: x86_avx2::l2_f64,
    dot_f64: x86_avx2::dot_f64,
    l1_f64: x86_avx2::l1_f64,
    planes_one: x86_avx2::planes,
    planes_short: x86_avx2::planes_wide,
    planes_wide: x86_avx2::planes_wide,
    nibbles: x86_avx2::nibbles,
    half_l2: x86_f16c::half_l2,
    half_dot: x86_f16c::half_dot,
    half_l1: x86_f16c::half_l1,
    half_cosine: x86_f16c::half_cosine,
    half_widen: x86_f16c::half_widen,
    sq8_l2: x86_avx2::sq8_l2,
    sq8_dot: x86_avx2::sq8_dot,
    grid_sums: x86_avx2::grid_sums,
};

#[cfg(target_arch = "x86_64")]
static AVX512: Kernels = Kernels {
    target: Target::Avx512,
    l2_f32: x86_avx512::l2_f32,
    dot_f32: x86_avx512::dot_f32,
    l1_f32: x86_avx512::l1_f32,
    l2_f64: x86_avx512::l2_f64,
    dot_f64: x86_avx512::dot_f64,
    l1_f64: x86_avx512::l1_f64,
    planes_one: x86_avx2::planes,
    planes_short: x86_avx512::planes_short,
    planes_wide: x86_avx512::planes_wide,
    nibbles: x86_avx2::nibbles,
    // F16C's eight lanes are pgvector's order; wider lanes would change
    // the bits.
    half_l2: x86_f16c::half_l2,
    half_dot: x86_f16c::half_dot,
    half_l1: x86_f16c::half_l1,
    half_cosine: x86_f16c::half_cosine,
    half_widen: x86_f16c::half_widen,
    sq8_l2: x86_avx512::sq8_l2,
    sq8_dot: x86_avx512::sq8_dot,
    grid_sums: x86_avx512::grid_sums,
};

/// Every target this build knows, best first.
fn all() -> Vec<&'static Kernels> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![&AVX512, &AVX2, &SCALAR]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        vec![&SCALAR]
    }
}

/// The environment variable that caps the target this process chooses:
/// `scalar`, `avx2` or `avx512`. It runs the narrower kernels on a CPU
/// that has wider ones, so that tests exercise them through the whole
/// extension and benchmarks measure what an older CPU gets, on one
/// machine and in one run. Unset, or a name it does not know: the best
/// target the CPU supports.
pub const TARGET_VAR: &str = "DISKVEC_SIMD";

/// The kernels this process uses: the best supported target, at most the
/// one [`TARGET_VAR`] names, chosen once.
#[inline]
pub fn kernels() -> &'static Kernels {
    static CHOSEN: OnceLock<&'static Kernels> = OnceLock::new();
    CHOSEN.get_or_init(|| choose(&targets(), std::env::var(TARGET_VAR).ok().as_deref()))
}

/// The first of `supported` (best first) at or below the target `cap`
/// names; the best when `cap` is unset or names no target.
fn choose(supported: &[&'static Kernels], cap: Option<&str>) -> &'static Kernels {
    let cap = cap.and_then(Target::from_name);
    supported
        .iter()
        .copied()
        .find(|k| cap.is_none_or(|c| k.target <= c))
        .unwrap_or(&SCALAR)
}

/// Every target the running CPU can execute, best first (the scalar one
/// last, always present).
pub fn targets() -> Vec<&'static Kernels> {
    all().into_iter().filter(|k| k.target.supported()).collect()
}

/// `dst[i] = src[i]` widened from binary16 to `f32`, exactly.
#[inline]
pub fn half_to_f32(src: &[u16], dst: &mut [f32]) {
    assert!(dst.len() >= src.len());
    // SAFETY: the chosen table's CPU features were detected; `dst` holds
    // `src.len()` floats.
    unsafe { (kernels().half_widen)(src, dst) }
}

/// Ask the CPU to pull `data` into cache ahead of use: the graph searches
/// are bound by memory latency (random vectors, codes and visited marks),
/// so the neighbours of a node are prefetched before any of them is used.
#[inline(always)]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(data);
        let p = data.as_ptr() as *const i8;
        let mut off = 0;
        while off < bytes {
            // SAFETY: a prefetch never faults, whatever the address; SSE is
            // part of every x86-64 CPU.
            unsafe {
                std::arch::x86_64::_mm_prefetch(p.wrapping_add(off), std::arch::x86_64::_MM_HINT_T0)
            };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
