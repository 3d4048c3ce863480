//! Operators, functions and casts over `sparsevec`: distances (merges over
//! the sorted indices, `f32` sums as pgvector's), norm, normalization, the
//! btree family, and conversions to and from vector, halfvec and arrays.

use crate::errors::{check_dim, check_dim_of, check_expected_dim, format_error_of, overflow};
use crate::fmgr::{arg_i32, float8};
use crate::halfvec_datum::{halfvec_arg, new_halfvec};
use crate::sparsevec_datum::{new_sparsevec, sparse_ok, sparsevec_arg, SparseArg};
use crate::vector_cast::array_values;
use crate::vector_datum::{new_vector, vector_arg};
use diskvec_engine::halfvec_text::{from_f32_checked, to_f32};
use diskvec_engine::sparsevec::{self as sparse, SparseVec};
use pgrx::pg_sys;
use std::cmp::Ordering;

/// Both sparsevec arguments, checked for equal dimensions.
unsafe fn two_sparsevecs(fcinfo: pg_sys::FunctionCallInfo) -> (SparseArg, SparseArg) {
    // SAFETY: the functions are STRICT and declared over two sparsevecs.
    let (a, b) = unsafe { (sparsevec_arg(fcinfo, 0), sparsevec_arg(fcinfo, 1)) };
    crate::errors::check_same_dims_of("sparsevec", a.dim() as i64, b.dim() as i64);
    (a, b)
}

macro_rules! distance_function {
    ($(#[$meta:meta])* $name:ident, |$a:ident, $b:ident| $expr:expr) => {
        pg_function! {
            $(#[$meta])*
            fn $name(fcinfo) {
                let (a, b) = two_sparsevecs(fcinfo);
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
    fn sparsevec_l2_norm(fcinfo) {
        float8(sparse::norm(sparsevec_arg(fcinfo, 0).get()))
    }
}

pg_function! {
    /// Unit-length copy; elements that round to zero are dropped, a zero
    /// vector stays zero.
    fn sparsevec_l2_normalize(fcinfo) {
        let a = sparsevec_arg(fcinfo, 0);
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

unsafe fn compare_args(fcinfo: pg_sys::FunctionCallInfo) -> Ordering {
    // SAFETY: the functions are STRICT and declared over two sparsevecs.
    let (a, b) = unsafe { (sparsevec_arg(fcinfo, 0), sparsevec_arg(fcinfo, 1)) };
    sparse::compare(a.get(), b.get())
}

btree_functions!(sparsevec, compare_args);

/// A dense value's sparsevec, after pgvector's dimension and typmod checks.
unsafe fn to_sparse(
    fcinfo: pg_sys::FunctionCallInfo,
    dense: impl ExactSizeIterator<Item = f32>,
) -> pg_sys::Datum {
    let dim = dense.len();
    sparse_ok(sparse::check_dim(dim as i64));
    // SAFETY: argument 1 of a cast function is its int4 typmod.
    sparse_ok(sparse::check_expected_dim(
        unsafe { arg_i32(fcinfo, 1) },
        dim as i64,
    ));
    let v = SparseVec::from_dense(dense);
    sparse_ok(sparse::check_nnz(v.indices.len() as i64, dim as i64));
    new_sparsevec(dim as i32, &v.indices, &v.values)
}

pg_function! {
    /// vector_to_sparsevec(vector, int4, bool).
    fn vector_to_sparsevec(fcinfo) {
        let v = vector_arg(fcinfo, 0);
        to_sparse(fcinfo, v.as_slice().iter().copied())
    }
}

pg_function! {
    /// halfvec_to_sparsevec(halfvec, int4, bool).
    fn halfvec_to_sparsevec(fcinfo) {
        let h = halfvec_arg(fcinfo, 0);
        to_sparse(fcinfo, h.as_slice().iter().map(|&x| to_f32(x)))
    }
}

pg_function! {
    /// array_to_sparsevec(anyarray, int4, bool): the non-zero elements (at
    /// most 16,000, as pgvector master checks).
    fn array_to_sparsevec(fcinfo) {
        let values = array_values(fcinfo, |n| { sparse_ok(sparse::check_dim(n as i64)); });
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
    fn sparsevec_to_vector(fcinfo) {
        let s = sparsevec_arg(fcinfo, 0);
        let v = s.get();
        let dim = check_dim(v.dim as i64);
        check_expected_dim(arg_i32(fcinfo, 1), dim);
        new_vector(dim, |out| {
            for (&i, &x) in v.indices.iter().zip(v.values) {
                out[i as usize] = x;
            }
        })
    }
}

pg_function! {
    /// sparsevec_to_halfvec(sparsevec, int4, bool): values rounded to half.
    fn sparsevec_to_halfvec(fcinfo) {
        let s = sparsevec_arg(fcinfo, 0);
        let v = s.get();
        let dim = check_dim_of("halfvec", v.dim as i64);
        check_expected_dim(arg_i32(fcinfo, 1), dim);
        new_halfvec(dim, |out| {
            for (&i, &x) in v.indices.iter().zip(v.values) {
                out[i as usize] = from_f32_checked(x).unwrap_or_else(|e| format_error_of("halfvec", e, None));
            }
        })
    }
}
