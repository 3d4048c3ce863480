//! avg(vector): the state is a float8[] of {count, sum_1, ..., sum_dim}, the
//! same as pgvector's, so partial aggregates combine across parallel workers.
//! sum(vector) needs no state of its own: it is vector_add as both the
//! transition and the combine function (see sql/vector.sql).

use crate::errors::{check_dim, check_element, check_expected_dim, overflow};
use crate::fmgr::{float8, Args};
use crate::vector_datum::new_vector;
use pgrx::pg_sys;

/// The values of argument `n`, an aggregate state (`float8[]`, the
/// aggregates' declared state type: `sql/`). Postgres owns the array; we
/// only read it.
pub(crate) fn state_values<'a>(args: Args, n: usize, caller: &str) -> &'a [f64] {
    let datum = args.datum(n);
    // SAFETY: argument `n` is a non-null float8[] (`Args::new`: the
    // declaration in sql/ says so). A detoasted float8[] is an ArrayType with its dimensions
    // after the header; the shape is checked before its data is read as
    // `dims[0]` doubles at ARR_DATA_PTR.
    unsafe {
        let array = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let a = &*array;
        let dims = (array as *const u8).add(std::mem::size_of::<pg_sys::ArrayType>()) as *const i32;
        if a.ndim != 1 || *dims < 1 || a.dataoffset != 0 || a.elemtype != pg_sys::FLOAT8OID {
            pgrx::error!("{caller}: expected state array");
        }
        // ARR_DATA_PTR for a 1-D array without a null bitmap.
        let data_offset = (std::mem::size_of::<pg_sys::ArrayType>() + 8).next_multiple_of(8);
        std::slice::from_raw_parts(
            (array as *const u8).add(data_offset) as *const f64,
            *dims as usize,
        )
    }
}

pub(crate) fn state_array(values: &[f64]) -> pg_sys::Datum {
    let mut datums: Vec<pg_sys::Datum> = values.iter().map(|&v| float8(v)).collect();
    // SAFETY: `datums.len()` float8 datums, by value, with float8's storage
    // parameters; the array is copied out of them.
    unsafe {
        pg_sys::Datum::from(pg_sys::construct_array(
            datums.as_mut_ptr(),
            datums.len() as i32,
            pg_sys::FLOAT8OID,
            8,
            true,
            pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
        ))
    }
}

fn checked(v: f64) -> f64 {
    if v.is_infinite() {
        overflow();
    }
    v
}

/// The next avg state: `state` (`{n, sum...}`, or `{0}` before the first
/// row) plus one row's elements, widened to f64.
pub(crate) fn accumulate(state: &[f64], x: &[f64]) -> pg_sys::Datum {
    let mut next = Vec::with_capacity(x.len() + 1);
    next.push(state[0] + 1.0);
    if state.len() == 1 {
        next.extend_from_slice(x);
    } else {
        check_expected_dim((state.len() - 1) as i32, x.len());
        next.extend(state[1..].iter().zip(x).map(|(&s, &e)| checked(s + e)));
    }
    state_array(&next)
}

pg_function! {
    /// vector_accum(float8[], vector) -> float8[]
    fn vector_accum(args) {
        let state = state_values(args, 0, "vector_accum");
        let v = args.vector(1);
        let x: Vec<f64> = v.as_slice().iter().map(|&e| e as f64).collect();
        accumulate(state, &x)
    }
}

pg_function! {
    /// vector_combine(float8[], float8[]) -> float8[]: partial states of
    /// parallel workers. A state without elements (`{n}`) takes the other's
    /// elements; both states' dimensions are checked, as pgvector does since
    /// 0.8.6, so a state beyond 16,000 dimensions is rejected here too.
    fn vector_combine(args) {
        let a = state_values(args, 0, "vector_combine");
        let b = state_values(args, 1, "vector_combine");
        let (da, db) = (a.len() - 1, b.len() - 1);
        let mut next = Vec::with_capacity(da.max(db) + 1);
        next.push(a[0] + b[0]);
        match (da, db) {
            (0, 0) => {}
            (0, _) => {
                check_dim(db as i64);
                next.extend_from_slice(&b[1..]);
            }
            (_, 0) => {
                check_dim(da as i64);
                next.extend_from_slice(&a[1..]);
            }
            _ => {
                check_dim(da as i64);
                check_expected_dim(da as i32, db);
                next.extend(a[1..].iter().zip(&b[1..]).map(|(&x, &y)| checked(x + y)));
            }
        }
        state_array(&next)
    }
}

pg_function! {
    /// vector_avg(float8[]) -> vector; NULL over no rows, as SQL's avg.
    fn vector_avg(args) {
        let state = state_values(args, 0, "vector_avg");
        let n = state[0];
        if n == 0.0 {
            return args.null();
        }
        let dim = check_dim((state.len() - 1) as i64);
        new_vector(dim, |out| {
            for (o, &s) in out.iter_mut().zip(&state[1..]) {
                *o = check_element((s / n) as f32);
            }
        })
    }
}
