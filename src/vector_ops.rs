//! Operators and functions over `vector`: distances, norms, elementwise
//! arithmetic, concatenation, subvector, binary quantization and the btree
//! comparison family. Distances use the engine's SIMD kernels.

use crate::errors::{check_dim, check_same_dims, overflow, underflow};
use crate::fmgr::{float8, Args};
use crate::vector_datum::{new_vector, VectorArg};
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

pg_function! {
    /// subvector(v, start, count): 1-based like substring, clipped to the
    /// vector; an empty result is an error.
    fn subvector(args) {
        let a = args.vector(0);
        let start = args.i32(1) as i64;
        let count = args.i32(2) as i64;
        let dim = a.dim() as i64;
        let end = (start + count).min(dim + 1); // i64: no overflow
        let start = start.max(1);
        let len = check_dim(end - start);
        let from = (start - 1) as usize;
        new_vector(len, |out| out.copy_from_slice(&a.as_slice()[from..from + len]))
    }
}

pg_function! {
    /// binary_quantize(vector) -> bit: one bit per element, set when > 0.
    fn binary_quantize(args) {
        let a = args.vector(0);
        let x = a.as_slice();
        let nbytes = x.len().div_ceil(8);
        let size = pg_sys::VARHDRSZ + 4 + nbytes;
        // SAFETY: a fresh zeroed `bit` value of `size` bytes (palloc is
        // MAXALIGNed): varlena header, int32 bit length, then the bytes.
        let (ptr, bits) = unsafe {
            let ptr = pg_sys::palloc0(size) as *mut u8;
            pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
            (ptr.add(pg_sys::VARHDRSZ) as *mut i32).write(x.len() as i32);
            (ptr, std::slice::from_raw_parts_mut(ptr.add(pg_sys::VARHDRSZ + 4), nbytes))
        };
        for (i, &v) in x.iter().enumerate() {
            if v > 0.0 {
                bits[i / 8] |= 0x80 >> (i % 8);
            }
        }
        pg_sys::Datum::from(ptr)
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

macro_rules! comparison_function {
    ($name:ident, $test:expr) => {
        pg_function! {
            fn $name(args) {
                let test: fn(Ordering) -> bool = $test;
                pg_sys::Datum::from(test(compare_args(args)))
            }
        }
    };
}

comparison_function!(vector_lt, |o| o.is_lt());
comparison_function!(vector_le, |o| o.is_le());
comparison_function!(vector_eq, |o| o.is_eq());
comparison_function!(vector_ne, |o| o.is_ne());
comparison_function!(vector_ge, |o| o.is_ge());
comparison_function!(vector_gt, |o| o.is_gt());

pg_function! {
    fn vector_cmp(args) {
        pg_sys::Datum::from(compare_args(args) as i32)
    }
}
