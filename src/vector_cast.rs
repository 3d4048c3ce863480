//! Casts between `vector` and SQL arrays, with pgvector's rules:
//! int4[], float4[], float8[] and numeric[] convert to vector on assignment;
//! vector converts to real[] implicitly. `array_values` is shared with the
//! halfvec and sparsevec casts.

use crate::errors::raise;
use crate::errors::{check_dim, check_element, check_expected_dim};
use crate::fmgr::{datum_f32, datum_f64, float4, Args};
use crate::vector_datum::new_vector;
use pgrx::{pg_sys, PgSqlErrorCode::*};

/// The elements of the array argument 0 as float4, after pgvector's checks
/// in its order: 1-D, no NULLs, `check_dim` on the count, then the typmod
/// (argument 1). int4, float8 and numeric elements are rounded to float4.
/// For casts declared `(anyarray-ish, int4, bool)` (see `sql/`).
pub fn array_values(args: Args, check_dim: impl Fn(usize)) -> Vec<f32> {
    // SAFETY: argument 0 is an array (the casts' declared array types);
    // detoasting gives a readable ArrayType.
    let array =
        unsafe { pg_sys::pg_detoast_datum(args.datum(0).cast_mut_ptr()) } as *mut pg_sys::ArrayType;
    let typmod = args.i32(1);
    // SAFETY: a detoasted array, read and inspected by Postgres's own
    // functions.
    let (ndim, has_nulls, elem_type) = unsafe {
        (
            (*array).ndim,
            pg_sys::array_contains_nulls(array),
            (*array).elemtype,
        )
    };
    if ndim > 1 {
        raise(ERRCODE_DATA_EXCEPTION, "array must be 1-D", None);
    }
    if has_nulls {
        raise(
            ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "array must not contain nulls",
            None,
        );
    }
    let (mut typlen, mut typbyval, mut typalign) = (0i16, false, 0 as std::ffi::c_char);
    let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
    let mut count = 0;
    // SAFETY: the element type's storage parameters, then the array split
    // into `count` palloc'd datums (no nulls: checked above, so no null
    // bitmap is asked for).
    unsafe {
        pg_sys::get_typlenbyvalalign(elem_type, &mut typlen, &mut typbyval, &mut typalign);
        pg_sys::deconstruct_array(
            array,
            elem_type,
            typlen as i32,
            typbyval,
            typalign,
            &mut elems,
            std::ptr::null_mut(),
            &mut count,
        );
    }
    let count = count.max(0) as usize;
    check_dim(count);
    check_expected_dim(typmod, count);
    let elems = if count == 0 {
        &[][..]
    } else {
        // SAFETY: `deconstruct_array` gave `count` datums.
        unsafe { std::slice::from_raw_parts(elems, count) }
    };
    let convert: fn(pg_sys::Datum) -> f32 = match elem_type {
        pg_sys::INT4OID => |d| d.value() as i32 as f32,
        pg_sys::FLOAT8OID => |d| datum_f64(d) as f32,
        pg_sys::FLOAT4OID => datum_f32,
        // SAFETY: `d` is a numeric datum of this array.
        pg_sys::NUMERICOID => |d| unsafe {
            pgrx::direct_function_call::<f32>(pg_sys::numeric_float4, &[Some(d)])
                .expect("numeric_float4 never returns NULL")
        },
        _ => raise(ERRCODE_DATA_EXCEPTION, "unsupported array type", None),
    };
    elems.iter().map(|&d| convert(d)).collect()
}

/// A `real[]` datum holding `values`.
pub fn float4_array(values: impl Iterator<Item = f32>) -> pg_sys::Datum {
    let mut datums: Vec<pg_sys::Datum> = values.map(float4).collect();
    // SAFETY: `datums.len()` float4 datums, by value, with float4's storage
    // parameters; the array is copied out of them.
    unsafe {
        pg_sys::Datum::from(pg_sys::construct_array(
            datums.as_mut_ptr(),
            datums.len() as i32,
            pg_sys::FLOAT4OID,
            4,
            true,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        ))
    }
}

pg_function! {
    /// array_to_vector(anyarray, int4, bool) for the four numeric array types.
    fn array_to_vector(args) {
        let values = array_values(args, |n| { check_dim(n as i64); });
        new_vector(values.len(), |out| {
            for (o, &v) in out.iter_mut().zip(&values) {
                *o = check_element(v);
            }
        })
    }
}

pg_function! {
    /// vector_to_float4(vector, int4, bool) -> real[].
    fn vector_to_float4(args) {
        float4_array(args.vector(0).as_slice().iter().copied())
    }
}
