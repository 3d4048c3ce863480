//! I/O plumbing shared by `vector`, `halfvec` and `sparsevec`: the typmod
//! parser, the receive buffer, and cstring results.

use crate::errors::raise;
use crate::fmgr::arg;
use pgrx::{pg_sys, PgSqlErrorCode::*};

/// `TYPE(n)`: one modifier, 1 <= n <= max, with pgvector's messages.
///
/// # Safety
/// Argument 0 of `fcinfo` must be a non-null `cstring[]`.
pub unsafe fn typmod_in(
    fcinfo: pg_sys::FunctionCallInfo,
    type_name: &str,
    max: i64,
) -> pg_sys::Datum {
    // SAFETY: the caller guarantees a cstring[] argument; Postgres parses it.
    let (n, first) = unsafe {
        let array =
            pg_sys::pg_detoast_datum(arg(fcinfo, 0).cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let mut n = 0;
        let typmods = pg_sys::ArrayGetIntegerTypmods(array, &mut n);
        (n, if n >= 1 { *typmods } else { 0 })
    };
    if n != 1 {
        raise(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "invalid type modifier",
            None,
        );
    }
    if first < 1 {
        raise(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type {type_name} must be at least 1"),
            None,
        );
    }
    if first as i64 > max {
        raise(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type {type_name} cannot exceed {max}"),
            None,
        );
    }
    pg_sys::Datum::from(first)
}

/// The unread bytes of a receive function's message buffer (argument 0).
///
/// # Safety
/// Argument 0 must be the `StringInfo` Postgres passes to a receive function.
pub unsafe fn recv_bytes<'a>(fcinfo: pg_sys::FunctionCallInfo) -> &'a [u8] {
    // SAFETY: the StringInfo holds `len` bytes at `data`; cursor <= len.
    unsafe {
        let buf = arg(fcinfo, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
        let (start, len) = ((*buf).cursor as usize, (*buf).len as usize);
        let bytes = std::slice::from_raw_parts((*buf).data as *const u8, len);
        &bytes[start.min(len)..]
    }
}

/// Marks `used` bytes of the receive buffer (argument 0) as read.
///
/// # Safety
/// As for [`recv_bytes`]; `used` must not exceed what it returned.
pub unsafe fn recv_consume(fcinfo: pg_sys::FunctionCallInfo, used: usize) {
    // SAFETY: as above; the cursor stays within the buffer.
    unsafe {
        let buf = arg(fcinfo, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
        (*buf).cursor += used as i32;
    }
}

/// A palloc'd C string holding `text` (which has no NUL: numbers only).
pub fn cstring(text: &str) -> pg_sys::Datum {
    let c = std::ffi::CString::new(text).expect("no NUL in a formatted value");
    // SAFETY: pstrdup copies the NUL-terminated string into palloc'd memory.
    pg_sys::Datum::from(unsafe { pg_sys::pstrdup(c.as_ptr()) })
}

/// The text argument 0 of an input function, lossily decoded (invalid UTF-8
/// cannot be a valid literal and fails the parse as a syntax error).
///
/// # Safety
/// Argument 0 must be a non-null cstring.
pub unsafe fn cstring_arg<'a>(fcinfo: pg_sys::FunctionCallInfo) -> std::borrow::Cow<'a, str> {
    // SAFETY: the caller guarantees a NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(arg(fcinfo, 0).cast_mut_ptr::<std::ffi::c_char>()) }
        .to_string_lossy()
}
