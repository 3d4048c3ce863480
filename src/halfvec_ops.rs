//! Operators and functions over `halfvec`: distances (the engine's F16C
//! kernels, `f32` sums as pgvector's), norms, elementwise arithmetic,
//! concatenation, subvector, binary quantization and the btree family.

use crate::bit_ops::new_bits;
use crate::errors::{check_dim_of, check_same_dims_of, overflow, underflow};
use crate::fmgr::{float8, Args};
use crate::halfvec_datum::{halfvec_from_slice, new_halfvec, HalfArg};
use crate::vector_ops::subvector_range;
use diskvec_engine::halfvec_kernels as k;
use diskvec_engine::halfvec_text::{from_f32, is_infinite, is_zero, to_f32};
use pgrx::pg_sys;
use std::cmp::Ordering;

/// Both halfvec arguments, checked for equal dimensions.
fn two_halfvecs(args: Args) -> (HalfArg, HalfArg) {
    let (a, b) = (args.halfvec(0), args.halfvec(1));
    check_same_dims_of("halfvec", a.dim() as i64, b.dim() as i64);
    (a, b)
}

macro_rules! distance_function {
    ($(#[$meta:meta])* $name:ident, |$a:ident, $b:ident| $expr:expr) => {
        pg_function! {
            $(#[$meta])*
            fn $name(args) {
                let (a, b) = two_halfvecs(args);
                let ($a, $b) = (a.as_slice(), b.as_slice());
                float8($expr)
            }
        }
    };
}

distance_function!(halfvec_l2_distance, |a, b| (k::l2_squared(a, b) as f64)
    .sqrt());
distance_function!(halfvec_l2_squared_distance, |a, b| k::l2_squared(a, b)
    as f64);
distance_function!(halfvec_inner_product, |a, b| k::dot(a, b) as f64);
distance_function!(halfvec_negative_inner_product, |a, b| -k::dot(a, b) as f64);
distance_function!(/// NaN when either vector is zero, as in pgvector.
    halfvec_cosine_distance, |a, b| 1.0 - k::cosine_similarity(a, b).clamp(-1.0, 1.0));
distance_function!(halfvec_l1_distance, |a, b| k::l1(a, b) as f64);
distance_function!(/// Angular distance for unit vectors (pgvector's IVFFlat helper).
    halfvec_spherical_distance, |a, b| (k::dot(a, b) as f64).clamp(-1.0, 1.0).acos() / std::f64::consts::PI);

pg_function! {
    fn halfvec_vector_dims(args) {
        pg_sys::Datum::from(args.halfvec(0).dim() as i32)
    }
}

/// The L2 norm, summed in f64 as pgvector does.
fn norm(x: &[u16]) -> f64 {
    x.iter()
        .fold(0f64, |s, &h| s + (to_f32(h) as f64).powi(2))
        .sqrt()
}

pg_function! {
    fn halfvec_l2_norm(args) {
        float8(norm(args.halfvec(0).as_slice()))
    }
}

pg_function! {
    /// Unit-length copy; a zero vector stays zero.
    fn halfvec_l2_normalize(args) {
        let a = args.halfvec(0);
        let x = a.as_slice();
        let norm = norm(x);
        new_halfvec(x.len(), |out| {
            if norm > 0.0 {
                for (o, &h) in out.iter_mut().zip(x) {
                    *o = from_f32((to_f32(h) as f64 / norm) as f32);
                    if is_infinite(*o) {
                        overflow();
                    }
                }
            }
        })
    }
}

/// Elementwise arithmetic in f32, rounded to half (correctly rounded:
/// float4 has more than twice half's precision), with pgvector's checks.
macro_rules! elementwise_function {
    ($name:ident, |$x:ident, $y:ident| $expr:expr, $check_underflow:expr) => {
        pg_function! {
            fn $name(args) {
                let (a, b) = two_halfvecs(args);
                let (ax, bx) = (a.as_slice(), b.as_slice());
                new_halfvec(ax.len(), |out| {
                    for ((o, &hx), &hy) in out.iter_mut().zip(ax).zip(bx) {
                        let ($x, $y) = (to_f32(hx), to_f32(hy));
                        *o = from_f32($expr);
                        if is_infinite(*o) {
                            overflow();
                        }
                        if $check_underflow && is_zero(*o) && !is_zero(hx) && !is_zero(hy) {
                            underflow();
                        }
                    }
                })
            }
        }
    };
}

elementwise_function!(halfvec_add, |x, y| x + y, false);
elementwise_function!(halfvec_sub, |x, y| x - y, false);
elementwise_function!(halfvec_mul, |x, y| x * y, true);

pg_function! {
    /// `||`, still limited to 16000 dimensions.
    fn halfvec_concat(args) {
        let (a, b) = (args.halfvec(0), args.halfvec(1));
        let dim = check_dim_of("halfvec", (a.dim() + b.dim()) as i64);
        new_halfvec(dim, |out| {
            out[..a.dim()].copy_from_slice(a.as_slice());
            out[a.dim()..].copy_from_slice(b.as_slice());
        })
    }
}

pg_function! {
    fn halfvec_subvector(args) {
        let a = args.halfvec(0);
        let range = subvector_range("halfvec", a.dim(), args.i32(1), args.i32(2));
        halfvec_from_slice(&a.as_slice()[range])
    }
}

pg_function! {
    /// binary_quantize(halfvec) -> bit: one bit per element, set when > 0.
    fn halfvec_binary_quantize(args) {
        let a = args.halfvec(0);
        let x = a.as_slice();
        new_bits(x.len(), |i| to_f32(x[i]) > 0.0)
    }
}

/// Elements first, then length, as Postgres arrays compare.
fn compare_args(args: Args) -> Ordering {
    let (a, b) = (args.halfvec(0), args.halfvec(1));
    for (&x, &y) in a.as_slice().iter().zip(b.as_slice()) {
        match to_f32(x).partial_cmp(&to_f32(y)) {
            Some(Ordering::Equal) | None => continue,
            Some(order) => return order,
        }
    }
    a.dim().cmp(&b.dim())
}

btree_functions!(halfvec, compare_args);
