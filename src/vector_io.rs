//! `vector` input and output: text literal, binary send/recv, typmod.

use crate::errors::raise;
use crate::errors::{check_dim, check_expected_dim, format_error};
use crate::vector_datum::{bytea, vector_from_slice};
use diskvec_engine::vector_text::{self, MAX_DIM};
use pgrx::{pg_sys, PgSqlErrorCode::*};
use std::ffi::CStr;

pg_function! {
    /// vector_in(cstring, oid, int4): parses `[1,2,3]`, then checks the typmod.
    fn vector_in(args) {
        // SAFETY: argument 0 is a cstring: NUL-terminated, alive for the call.
        let literal = unsafe { CStr::from_ptr(args.datum(0).cast_mut_ptr::<std::ffi::c_char>()) };
        let typmod = args.i32(2);
        // Invalid UTF-8 cannot be a valid literal; report it as a syntax error.
        let text = literal.to_string_lossy();
        let values = vector_text::parse_vector_text(&text)
            .unwrap_or_else(|e| format_error(e, Some(&text)));
        check_expected_dim(typmod, values.len());
        vector_from_slice(&values)
    }
}

pg_function! {
    /// vector_out(vector): the shortest text that reads back exactly.
    fn vector_out(args) {
        let v = args.vector(0);
        let text = std::ffi::CString::new(vector_text::format_vector_text(v.as_slice()))
            .expect("no NUL in numbers");
        // SAFETY: pstrdup copies a NUL-terminated string into palloc'd memory.
        pg_sys::Datum::from(unsafe { pg_sys::pstrdup(text.as_ptr()) })
    }
}

pg_function! {
    /// vector_typmod_in(cstring[]): `vector(n)` with 1 <= n <= 16000.
    fn vector_typmod_in(args) {
        let mut n = 0;
        // SAFETY: argument 0 is a cstring[]; ArrayGetIntegerTypmods checks
        // its element type and returns `n` int4 values.
        let typmods = unsafe {
            let array = pg_sys::pg_detoast_datum(args.datum(0).cast_mut_ptr()) as *mut pg_sys::ArrayType;
            pg_sys::ArrayGetIntegerTypmods(array, &mut n)
        };
        if n != 1 {
            raise(ERRCODE_INVALID_PARAMETER_VALUE, "invalid type modifier", None);
        }
        // SAFETY: exactly one value, checked above.
        let dim = unsafe { *typmods };
        if dim < 1 {
            raise(ERRCODE_INVALID_PARAMETER_VALUE, "dimensions for type vector must be at least 1", None);
        }
        if dim as usize > MAX_DIM {
            raise(ERRCODE_INVALID_PARAMETER_VALUE, format!("dimensions for type vector cannot exceed {MAX_DIM}"), None);
        }
        pg_sys::Datum::from(dim)
    }
}

pg_function! {
    /// vector_recv(internal, oid, int4): pgvector's binary layout, big-endian.
    fn vector_recv(args) {
        // SAFETY: argument 0 is the message being read (`internal`, a
        // StringInfo), whose `data` holds `len` bytes; nothing else uses it
        // during the call.
        let buf = unsafe { &mut *args.datum(0).cast_mut_ptr::<pg_sys::StringInfoData>() };
        let typmod = args.i32(2);
        let (start, len) = (buf.cursor as usize, buf.len as usize);
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(buf.data as *const u8, len) };
        let (values, used) = vector_text::decode_vector_binary(&bytes[start.min(len)..])
            .unwrap_or_else(|e| format_error(e, None));
        check_expected_dim(typmod, values.len());
        buf.cursor += used as i32;
        vector_from_slice(&values)
    }
}

pg_function! {
    /// vector_send(vector) -> bytea.
    fn vector_send(args) {
        let v = args.vector(0);
        let mut out = Vec::new();
        vector_text::encode_vector_binary(v.as_slice(), &mut out);
        bytea(&out)
    }
}

pg_function! {
    /// vector(vector, int4, bool): the length-coercion cast that enforces
    /// `vector(n)` on assignment and explicit casts.
    fn vector(args) {
        let datum = args.datum(0);
        let v = args.vector(0);
        check_expected_dim(args.i32(1), v.dim());
        let _ = check_dim(v.dim() as i64);
        datum
    }
}
