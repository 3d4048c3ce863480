//! Declaring Postgres "version 1" C functions without pgrx's SQL generation.
//!
//! The SQL for every function lives in `sql/`, hand-written to match
//! pgvector's catalog (argument types like `internal`, `cstring[]` and
//! typmod-taking casts that pgrx cannot express). So each function here is a
//! raw `fcinfo -> Datum` symbol plus the `pg_finfo_*` record Postgres looks
//! up, wrapped in `#[pg_guard]` so Rust panics and `ereport!` become ordinary
//! Postgres errors.

use pgrx::pg_sys;

/// `pg_function!(fn name(fcinfo) { ... })` exports `name` and `pg_finfo_name`.
macro_rules! pg_function {
    ($(#[$meta:meta])* fn $name:ident($fcinfo:ident) $body:block) => {
        paste::paste! {
            #[unsafe(no_mangle)]
            #[doc(hidden)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> &'static pgrx::pg_sys::Pg_finfo_record {
                const V1: pgrx::pg_sys::Pg_finfo_record =
                    pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
        }
        $(#[$meta])*
        #[pgrx::pg_guard]
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name(
            fcinfo: pgrx::pg_sys::FunctionCallInfo,
        ) -> pgrx::pg_sys::Datum {
            // The body lives in an inner fn so that `$fcinfo` (the caller's
            // name) survives #[pg_guard]'s rewrite, and `return` works.
            #[allow(unused_unsafe)]
            unsafe fn body($fcinfo: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
                unsafe { $body }
            }
            unsafe { body(fcinfo) }
        }
    };
}

/// `btree_functions!(vector, compare_args)` exports the btree family
/// `vector_lt`, `_le`, `_eq`, `_ne`, `_ge`, `_gt` and `vector_cmp` over
/// `unsafe fn compare_args(fcinfo) -> std::cmp::Ordering`.
macro_rules! btree_functions {
    ($prefix:ident, $compare:ident) => {
        paste::paste! {
            btree_functions!(@test [<$prefix _lt>], $compare, is_lt);
            btree_functions!(@test [<$prefix _le>], $compare, is_le);
            btree_functions!(@test [<$prefix _eq>], $compare, is_eq);
            btree_functions!(@test [<$prefix _ne>], $compare, is_ne);
            btree_functions!(@test [<$prefix _ge>], $compare, is_ge);
            btree_functions!(@test [<$prefix _gt>], $compare, is_gt);
            pg_function! {
                fn [<$prefix _cmp>](fcinfo) {
                    pgrx::pg_sys::Datum::from($compare(fcinfo) as i32)
                }
            }
        }
    };
    (@test $name:ident, $compare:ident, $test:ident) => {
        pg_function! {
            fn $name(fcinfo) {
                pgrx::pg_sys::Datum::from($compare(fcinfo).$test())
            }
        }
    };
}

/// Argument `n` as a raw datum. Every function is declared STRICT, so
/// arguments are never NULL.
#[inline]
pub unsafe fn arg(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> pg_sys::Datum {
    unsafe { pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, n) }
}

#[inline]
pub unsafe fn arg_i32(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> i32 {
    unsafe { arg(fcinfo, n).value() as i32 }
}

#[inline]
pub fn float8(v: f64) -> pg_sys::Datum {
    pg_sys::Datum::from(v.to_bits())
}

#[inline]
pub fn float4(v: f32) -> pg_sys::Datum {
    pg_sys::Datum::from(v.to_bits())
}

#[inline]
pub fn datum_f64(d: pg_sys::Datum) -> f64 {
    f64::from_bits(d.value() as u64)
}

#[inline]
pub fn datum_f32(d: pg_sys::Datum) -> f32 {
    f32::from_bits(d.value() as u32)
}
