//! Operators and functions over `vector`: distances, norms, elementwise
//! arithmetic, concatenation, subvector, binary quantization and the btree
//! comparison family. Distances use the engine's SIMD kernels.

use crate::bit_ops::new_bits;
use crate::errors::{check_dim, check_dim_of, check_same_dims, overflow, underflow};
use crate::fmgr::{float8, Args};
use crate::vector_datum::{new_vector, vector_from_slice, VectorArg};
use diskvec_engine::distance;
use pgrx::pg_sys;
use std::cmp::Ordering;

/// Both vector arguments, checked for equal dimensions.
fn two_vectors(args: Args) -> (VectorArg, VectorArg) {
    let (a, b) = (args.vector(0), args.vector(1));
    check_same_dims(a.dim(), b.dim());
    (a, b)
}

macro_rules! distance_function {
    ($(#[$meta:meta])* $name:ident, |$a:ident, $b:ident| $expr:expr) => {
        pg_function! {
            $(#[$meta])*
            fn $name(args) {
                let (a, b) = two_vectors(args);
                let ($a, $b) = (a.as_slice(), b.as_slice());
                float8($expr)
            }
        }
    };
}

// Sums in f32, as pgvector computes them (its results, overflow to
// infinity included), widened to float8 at the end.
distance_function!(/// `<->`
    l2_distance, |a, b| (distance::l2_squared_f32(a, b) as f64).sqrt());
distance_function!(
    vector_l2_squared_distance,
    |a, b| distance::l2_squared_f32(a, b) as f64
);
distance_function!(inner_product, |a, b| distance::dot_f32(a, b) as f64);
distance_function!(/// `<#>`: negated so that smaller is closer, as ORDER BY needs.
    vector_negative_inner_product, |a, b| -(distance::dot_f32(a, b) as f64));
distance_function!(/// `<=>`: NaN when either vector is zero, as in pgvector.
    cosine_distance, |a, b| distance::cosine_distance_f32(a, b));
distance_function!(/// `<+>`
    l1_distance, |a, b| distance::l1_f32(a, b) as f64);
distance_function!(/// Angular distance in [0, 1] for unit vectors (pgvector's spherical k-means helper).
    vector_spherical_distance, |a, b| (distance::dot_f32(a, b) as f64).clamp(-1.0, 1.0).acos() / std::f64::consts::PI);

pg_function! {
    fn vector_dims(args) {
        pg_sys::Datum::from(args.vector(0).dim() as i32)
    }
}

/// Norms are summed in f64 throughout, as pgvector does, so that large
/// elements (say 3e37) do not overflow an f32 accumulator.
fn norm(x: &[f32]) -> f64 {
    distance::scalar::dot(x, x).sqrt()
}

pg_function! {
    fn vector_norm(args) {
        float8(norm(args.vector(0).as_slice()))
    }
}

pg_function! {
    /// Unit-length copy; a zero vector stays zero (pgvector's behaviour).
    fn l2_normalize(args) {
        let a = args.vector(0);
        let x = a.as_slice();
        let norm = norm(x);
        new_vector(x.len(), |out| {
            if norm > 0.0 {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = (v as f64 / norm) as f32;
                    if o.is_infinite() {
                        overflow();
                    }
                }
            }
        })
    }
}

/// Elementwise arithmetic with pgvector's overflow and underflow checks.
macro_rules! elementwise_function {
    ($name:ident, |$x:ident, $y:ident| $expr:expr, $check_underflow:expr) => {
        pg_function! {
            fn $name(args) {
                let (a, b) = two_vectors(args);
                let (ax, bx) = (a.as_slice(), b.as_slice());
                new_vector(ax.len(), |out| {
                    for ((o, &$x), &$y) in out.iter_mut().zip(ax).zip(bx) {
                        *o = $expr;
                        if o.is_infinite() {
                            overflow();
                        }
                        if $check_underflow && *o == 0.0 && $x != 0.0 && $y != 0.0 {
                            underflow();
                        }
                    }
                })
            }
        }
    };
}

elementwise_function!(vector_add, |x, y| x + y, false);
elementwise_function!(vector_sub, |x, y| x - y, false);
elementwise_function!(vector_mul, |x, y| x * y, true);

pg_function! {
    /// `||`: concatenation, still limited to 16000 dimensions.
    fn vector_concat(args) {
        let (a, b) = (args.vector(0), args.vector(1));
        let dim = check_dim((a.dim() + b.dim()) as i64);
        new_vector(dim, |out| {
            out[..a.dim()].copy_from_slice(a.as_slice());
            out[a.dim()..].copy_from_slice(b.as_slice());
        })
    }
}

/// subvector's range: 1-based like substring, clipped to the vector; an
/// empty result is an error ("TYPE must have at least 1 dimension").
pub fn subvector_range(
    type_name: &str,
    dim: usize,
    start: i32,
    count: i32,
) -> std::ops::Range<usize> {
    let (start, count, dim) = (start as i64, count as i64, dim as i64);
    let end = (start + count).min(dim + 1); // i64: no overflow
    let start = start.max(1);
    let len = check_dim_of(type_name, end - start);
    let from = (start - 1) as usize;
    from..from + len
}

pg_function! {
    /// subvector(v, start, count).
    fn subvector(args) {
        let a = args.vector(0);
        let range = subvector_range("vector", a.dim(), args.i32(1), args.i32(2));
        vector_from_slice(&a.as_slice()[range])
    }
}

pg_function! {
    /// binary_quantize(vector) -> bit: one bit per element, set when > 0.
    fn binary_quantize(args) {
        let a = args.vector(0);
        let x = a.as_slice();
        new_bits(x.len(), |i| x[i] > 0.0)
    }
}

/// Elements first, then length: the same order as Postgres arrays.
fn compare(a: &[f32], b: &[f32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y) {
            Some(Ordering::Equal) | None => continue,
            Some(order) => return order,
        }
    }
    a.len().cmp(&b.len())
}

fn compare_args(args: Args) -> Ordering {
    let (a, b) = (args.vector(0), args.vector(1));
    compare(a.as_slice(), b.as_slice())
}

btree_functions!(vector, compare_args);
