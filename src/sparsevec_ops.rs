//! Operators, functions and casts over `sparsevec`: distances (merges over
//! the sorted indices, `f32` sums as pgvector's), norm, normalization, the
//! btree family, and conversions to and from vector, halfvec and arrays.

use crate::errors::{check_dim, check_dim_of, check_expected_dim, format_error_of, overflow};
use crate::fmgr::{float8, Args};
use crate::halfvec_datum::new_halfvec;
use crate::sparsevec_datum::{new_sparsevec, sparse_ok, SparseArg};
use crate::vector_cast::array_values;
use crate::vector_datum::new_vector;
use diskvec_engine::halfvec_text::{from_f32_checked, to_f32};
use diskvec_engine::sparsevec::{self as sparse, SparseVec};
use pgrx::pg_sys;
use std::cmp::Ordering;

/// Both sparsevec arguments, checked for equal dimensions.
fn two_sparsevecs(args: Args) -> (SparseArg, SparseArg) {
    let (a, b) = (args.sparsevec(0), args.sparsevec(1));
    crate::errors::check_same_dims_of("sparsevec", a.dim() as i64, b.dim() as i64);
    (a, b)
}

macro_rules! distance_function {
    ($(#[$meta:meta])* $name:ident, |$a:ident, $b:ident| $expr:expr) => {
        pg_function! {
            $(#[$meta])*
            fn $name(args) {
                let (a, b) = two_sparsevecs(args);
                let ($a, $b) = (a.get(), b.get());
                float8($expr)
            }
        }
    };
}

distance_function!(sparsevec_l2_distance, |a, b| (sparse::l2_squared(a, b)
    as f64)
    .sqrt());
distance_function!(
    sparsevec_l2_squared_distance,
    |a, b| sparse::l2_squared(a, b) as f64
);
distance_function!(sparsevec_inner_product, |a, b| sparse::dot(a, b) as f64);
distance_function!(sparsevec_negative_inner_product, |a, b| -sparse::dot(a, b)
    as f64);
distance_function!(/// NaN when either vector is zero, as in pgvector.
    sparsevec_cosine_distance, |a, b| sparse::cosine_distance(a, b));
distance_function!(sparsevec_l1_distance, |a, b| sparse::l1(a, b) as f64);

pg_function! {
    fn sparsevec_l2_norm(args) {
        float8(sparse::norm(args.sparsevec(0).get()))
    }
}

pg_function! {
    /// Unit-length copy; elements that round to zero are dropped, a zero
    /// vector stays zero.
    fn sparsevec_l2_normalize(args) {
        let a = args.sparsevec(0);
        let v = a.get();
        let norm = sparse::norm(v);
        if norm <= 0.0 {
            return new_sparsevec(v.dim, v.indices, v.values);
        }
        let (mut indices, mut values) = (Vec::new(), Vec::new());
        for (&i, &x) in v.indices.iter().zip(v.values) {
            let y = (x as f64 / norm) as f32;
            if y.is_infinite() {
                overflow();
            }
            if y != 0.0 {
                indices.push(i);
                values.push(y);
            }
        }
        new_sparsevec(v.dim, &indices, &values)
    }
}

fn compare_args(args: Args) -> Ordering {
    let (a, b) = (args.sparsevec(0), args.sparsevec(1));
    sparse::compare(a.get(), b.get())
}

btree_functions!(sparsevec, compare_args);

/// A dense value's sparsevec, after pgvector's dimension and typmod checks.
/// For casts `(TYPE, int4, bool)`: argument 1 is the typmod.
fn to_sparse(args: Args, dense: impl ExactSizeIterator<Item = f32>) -> pg_sys::Datum {
    let dim = dense.len();
    sparse_ok(sparse::check_dim(dim as i64));
    sparse_ok(sparse::check_expected_dim(args.i32(1), dim as i64));
    let v = SparseVec::from_dense(dense);
    sparse_ok(sparse::check_nnz(v.indices.len() as i64, dim as i64));
    new_sparsevec(dim as i32, &v.indices, &v.values)
}

pg_function! {
    /// vector_to_sparsevec(vector, int4, bool).
    fn vector_to_sparsevec(args) {
        let v = args.vector(0);
        to_sparse(args, v.as_slice().iter().copied())
    }
}

pg_function! {
    /// halfvec_to_sparsevec(halfvec, int4, bool).
    fn halfvec_to_sparsevec(args) {
        let h = args.halfvec(0);
        to_sparse(args, h.as_slice().iter().map(|&x| to_f32(x)))
    }
}

pg_function! {
    /// array_to_sparsevec(anyarray, int4, bool): the non-zero elements (at
    /// most 16,000, as pgvector master checks).
    fn array_to_sparsevec(args) {
        let values = array_values(args, |n| { sparse_ok(sparse::check_dim(n as i64)); });
        let v = SparseVec::from_dense(values.iter().copied());
        sparse_ok(sparse::check_nnz(v.indices.len() as i64, values.len() as i64));
        for &x in &v.values {
            if x.is_nan() {
                sparse_ok::<()>(Err(sparse::SparseFormatError::NaN));
            }
            if x.is_infinite() {
                sparse_ok::<()>(Err(sparse::SparseFormatError::Infinite));
            }
        }
        new_sparsevec(values.len() as i32, &v.indices, &v.values)
    }
}

pg_function! {
    /// sparsevec_to_vector(sparsevec, int4, bool).
    fn sparsevec_to_vector(args) {
        let s = args.sparsevec(0);
        let v = s.get();
        let dim = check_dim(v.dim as i64);
        check_expected_dim(args.i32(1), dim);
        new_vector(dim, |out| {
            for (&i, &x) in v.indices.iter().zip(v.values) {
                out[i as usize] = x;
            }
        })
    }
}

pg_function! {
    /// sparsevec_to_halfvec(sparsevec, int4, bool): values rounded to half.
    fn sparsevec_to_halfvec(args) {
        let s = args.sparsevec(0);
        let v = s.get();
        let dim = check_dim_of("halfvec", v.dim as i64);
        check_expected_dim(args.i32(1), dim);
        new_halfvec(dim, |out| {
            for (&i, &x) in v.indices.iter().zip(v.values) {
                out[i as usize] = from_f32_checked(x).unwrap_or_else(|e| format_error_of("halfvec", e, None));
            }
        })
    }
}
