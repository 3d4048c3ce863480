//! Casts between `vector` and SQL arrays, with pgvector's rules:
//! int4[], float4[], float8[] and numeric[] convert to vector on assignment;
//! vector converts to real[] implicitly.

use crate::errors::raise;
use crate::errors::{check_dim, check_element, check_expected_dim};
use crate::fmgr::{datum_f32, datum_f64, float4};
use crate::vector_datum::new_vector;
use pgrx::{pg_sys, PgSqlErrorCode::*};

pg_function! {
    /// array_to_vector(anyarray, int4, bool) for the four numeric array types.
    fn array_to_vector(args) {
        // SAFETY: argument 0 is an array (the casts' declared anyarray
        // types); detoasting gives a readable ArrayType.
        let array = unsafe {
            &*(pg_sys::pg_detoast_datum(args.datum(0).cast_mut_ptr()) as *mut pg_sys::ArrayType)
        };
        let typmod = args.i32(1);
        if array.ndim > 1 {
            raise(ERRCODE_DATA_EXCEPTION, "array must be 1-D", None);
        }
        let array_ptr = array as *const pg_sys::ArrayType as *mut pg_sys::ArrayType;
        // SAFETY: a detoasted array.
        if unsafe { pg_sys::array_contains_nulls(array_ptr) } {
            raise(ERRCODE_NULL_VALUE_NOT_ALLOWED, "array must not contain nulls", None);
        }
        let elem_type = array.elemtype;
        let (mut typlen, mut typbyval, mut typalign) = (0i16, false, 0 as std::ffi::c_char);
        let mut elems: *mut pg_sys::Datum = std::ptr::null_mut();
        let mut count = 0;
        // SAFETY: the element type's storage parameters, then the array
        // split into `count` palloc'd datums (no nulls: checked above, so
        // no null bitmap is asked for).
        unsafe {
            pg_sys::get_typlenbyvalalign(elem_type, &mut typlen, &mut typbyval, &mut typalign);
            pg_sys::deconstruct_array(array_ptr, elem_type, typlen as i32, typbyval, typalign,
                &mut elems, std::ptr::null_mut(), &mut count);
        }
        let dim = check_dim(count as i64);
        check_expected_dim(typmod, dim);
        // SAFETY: `deconstruct_array` gave `count` (= `dim`) datums.
        let elems = unsafe { std::slice::from_raw_parts(elems, dim) };
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
        new_vector(dim, |out| {
            for (o, &d) in out.iter_mut().zip(elems) {
                *o = check_element(convert(d));
            }
        })
    }
}

pg_function! {
    /// vector_to_float4(vector, int4, bool) -> real[].
    fn vector_to_float4(args) {
        let v = args.vector(0);
        let mut datums: Vec<pg_sys::Datum> = v.as_slice().iter().map(|&x| float4(x)).collect();
        // SAFETY: `datums.len()` float4 datums, by value, with float4's
        // storage parameters; the array is copied out of them.
        let array = unsafe {
            pg_sys::construct_array(datums.as_mut_ptr(), datums.len() as i32,
                pg_sys::FLOAT4OID, 4, true, pg_sys::TYPALIGN_INT as std::ffi::c_char)
        };
        pg_sys::Datum::from(array)
    }
}
