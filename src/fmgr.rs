//! Declaring Postgres "version 1" C functions without pgrx's SQL generation.
//!
//! The SQL for every function lives in `sql/`, hand-written to match
//! pgvector's catalog (argument types like `internal`, `cstring[]` and
//! typmod-taking casts that pgrx cannot express). So each function here is a
//! raw `fcinfo -> Datum` symbol plus the `pg_finfo_*` record Postgres looks
//! up, wrapped in `#[pg_guard]` so Rust panics and `ereport!` become ordinary
//! Postgres errors.
//!
//! Bodies are safe code: they read their arguments through [`Args`], whose
//! one `unsafe` construction is justified once, here, and keep `unsafe`
//! blocks (with their own SAFETY comments) for the raw pointers they touch.

use crate::halfvec_datum::HalfArg;
use crate::sparsevec_datum::SparseArg;
use crate::vector_datum::VectorArg;
use pgrx::pg_sys;

/// `pg_function!(fn name(args) { ... })` exports `name` and `pg_finfo_name`;
/// the body sees the call's arguments as `args: Args`.
macro_rules! pg_function {
    ($(#[$meta:meta])* fn $name:ident($args:ident) $body:block) => {
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
            // The body lives in an inner fn so that `$args` (the caller's
            // name) survives #[pg_guard]'s rewrite, and `return` works.
            fn body($args: $crate::fmgr::Args) -> pgrx::pg_sys::Datum $body
            // SAFETY: Postgres calls this symbol only through the SQL
            // declaration in sql/ that names it, with that declaration's
            // arguments (see `Args::new`).
            body(unsafe { $crate::fmgr::Args::new(fcinfo) })
        }
    };
}

/// `btree_functions!(vector, compare_args)` exports the btree family
/// `vector_lt`, `_le`, `_eq`, `_ne`, `_ge`, `_gt` and `vector_cmp` over
/// `fn compare_args(Args) -> std::cmp::Ordering`.
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
                fn [<$prefix _cmp>](args) {
                    pgrx::pg_sys::Datum::from($compare(args) as i32)
                }
            }
        }
    };
    (@test $name:ident, $compare:ident, $test:ident) => {
        pg_function! {
            fn $name(args) {
                pgrx::pg_sys::Datum::from($compare(args).$test())
            }
        }
    };
}

/// The arguments of one function call, as Postgres passed them.
#[derive(Clone, Copy)]
pub struct Args(pg_sys::FunctionCallInfo);

impl Args {
    /// # Safety
    /// `fcinfo` is the live call's own, and the function's SQL declaration
    /// (in `sql/`) matches how the body reads it: every function is
    /// declared STRICT, so no argument is NULL, and argument `n` has the
    /// type the accessor for `n` assumes. That pairing of each body with
    /// its declaration is what every accessor below relies on.
    pub unsafe fn new(fcinfo: pg_sys::FunctionCallInfo) -> Self {
        Args(fcinfo)
    }

    /// Argument `n` as a raw datum.
    #[inline]
    pub fn datum(self, n: usize) -> pg_sys::Datum {
        // SAFETY: a live call's fcinfo with at least `n + 1` arguments
        // (`Args::new`).
        unsafe { pgrx::fcinfo::pg_getarg_datum_raw(self.0, n) }
    }

    /// Argument `n`, an `int4`.
    #[inline]
    pub fn i32(self, n: usize) -> i32 {
        self.datum(n).value() as i32
    }

    /// Argument `n`, a `vector`, detoasted.
    #[inline]
    pub fn vector(self, n: usize) -> VectorArg {
        // SAFETY: argument `n` is a non-null vector (`Args::new`).
        unsafe { VectorArg::from_datum(self.datum(n)) }
    }

    /// Argument `n`, a `halfvec`, detoasted.
    #[inline]
    pub fn halfvec(self, n: usize) -> HalfArg {
        // SAFETY: argument `n` is a non-null halfvec (`Args::new`).
        unsafe { HalfArg::from_datum(self.datum(n)) }
    }

    /// Argument `n`, a `sparsevec`, detoasted.
    #[inline]
    pub fn sparsevec(self, n: usize) -> SparseArg {
        // SAFETY: argument `n` is a non-null sparsevec (`Args::new`).
        unsafe { SparseArg::from_datum(self.datum(n)) }
    }

    /// Argument `n`, a `cstring`, lossily decoded (invalid UTF-8 cannot be
    /// a valid literal and fails the parse as a syntax error).
    pub fn cstring<'a>(self, n: usize) -> std::borrow::Cow<'a, str> {
        // SAFETY: argument `n` is a non-null cstring (`Args::new`): a
        // NUL-terminated string alive for the call.
        unsafe { std::ffi::CStr::from_ptr(self.datum(n).cast_mut_ptr::<std::ffi::c_char>()) }
            .to_string_lossy()
    }

    /// Argument `n`, a `boolean`.
    #[inline]
    pub fn bool(self, n: usize) -> bool {
        self.datum(n).value() != 0
    }

    /// Argument `n`, an `oid` (`regclass` too).
    #[inline]
    pub fn oid(self, n: usize) -> pg_sys::Oid {
        pg_sys::Oid::from(self.datum(n).value() as u32)
    }

    /// A NULL result.
    pub fn null(self) -> pg_sys::Datum {
        // SAFETY: the live call's fcinfo (`Args::new`).
        unsafe { pgrx::fcinfo::pg_return_null(self.0) }
    }
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
