//! I/O plumbing shared by `vector`, `halfvec` and `sparsevec`: the typmod
//! parser, the receive buffer, and cstring results.

use crate::errors::raise;
use crate::fmgr::Args;
use pgrx::{pg_sys, PgSqlErrorCode::*};

/// `TYPE(n)`: one modifier, 1 <= n <= max, with pgvector's messages. For a
/// `typmod_in(cstring[])` function.
pub fn typmod_in(args: Args, type_name: &str, max: i64) -> pg_sys::Datum {
    let mut n = 0;
    // SAFETY: argument 0 is a non-null cstring[] (`Args::new`: the
    // declaration in sql/); ArrayGetIntegerTypmods checks its element type
    // and returns `n` int4 values, the first read only when there is one.
    let first = unsafe {
        let array =
            pg_sys::pg_detoast_datum(args.datum(0).cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let typmods = pg_sys::ArrayGetIntegerTypmods(array, &mut n);
        if n >= 1 {
            *typmods
        } else {
            0
        }
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

/// The message buffer of a receive function (`recv(internal, oid, int4)`):
/// argument 0, the `StringInfo` Postgres reads the value from.
fn recv_buffer<'a>(args: Args) -> &'a mut pg_sys::StringInfoData {
    // SAFETY: argument 0 of a receive function is the message being read
    // (`Args::new`: its declaration in sql/), which nothing else touches
    // during the call.
    unsafe { &mut *args.datum(0).cast_mut_ptr::<pg_sys::StringInfoData>() }
}

/// The unread bytes of a receive function's message buffer.
pub fn recv_bytes<'a>(args: Args) -> &'a [u8] {
    let buf = recv_buffer(args);
    let (start, len) = (buf.cursor as usize, buf.len as usize);
    // SAFETY: a StringInfo holds `len` bytes at `data`.
    let bytes = unsafe { std::slice::from_raw_parts(buf.data as *const u8, len) };
    &bytes[start.min(len)..]
}

/// Marks `used` bytes of the receive buffer as read (`used` at most what
/// [`recv_bytes`] returned, so the cursor stays within the buffer).
pub fn recv_consume(args: Args, used: usize) {
    recv_buffer(args).cursor += used as i32;
}

/// A palloc'd C string holding `text` (which has no NUL: numbers only).
pub fn cstring(text: &str) -> pg_sys::Datum {
    let c = std::ffi::CString::new(text).expect("no NUL in a formatted value");
    // SAFETY: pstrdup copies the NUL-terminated string into palloc'd memory.
    pg_sys::Datum::from(unsafe { pg_sys::pstrdup(c.as_ptr()) })
}
