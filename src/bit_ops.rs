//! pgvector's distances over Postgres's `bit` type, `hamming_distance`
//! (`<~>`) and `jaccard_distance` (`<%>`), and the `bit` values that
//! `binary_quantize` makes.

use crate::errors::raise;
use crate::fmgr::{float8, Args};
use diskvec_engine::bitvec;
use pgrx::{pg_sys, PgSqlErrorCode::*};

/// A detoasted `bit`/`varbit`: a varlena header, int32 bit length, bytes.
pub struct BitArg {
    ptr: *const u8,
}

impl BitArg {
    /// Detoasts `datum`.
    ///
    /// # Safety
    /// `datum` must be a non-null `bit` or `varbit` datum.
    pub unsafe fn from_datum(datum: pg_sys::Datum) -> Self {
        // SAFETY: the caller's promise; detoasting gives a plain copy or
        // the value itself.
        let ptr = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as *const u8;
        BitArg { ptr }
    }

    pub fn len(&self) -> u32 {
        // SAFETY: a detoasted varbit has its int32 bit length after the header.
        unsafe { (self.ptr.add(pg_sys::VARHDRSZ) as *const i32).read() as u32 }
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the bit length's bytes, rounded up, follow the length word.
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.add(pg_sys::VARHDRSZ + 4),
                (self.len() as usize).div_ceil(8),
            )
        }
    }
}

/// Both arguments, of equal bit length.
fn two_bits(args: Args) -> (BitArg, BitArg) {
    // SAFETY: both arguments are non-null bit values (`Args::new`: the
    // functions are declared STRICT over (bit, bit)); detoasting gives a
    // plain copy or the value itself.
    let (a, b) = unsafe {
        (
            BitArg::from_datum(args.datum(0)),
            BitArg::from_datum(args.datum(1)),
        )
    };
    if a.len() != b.len() {
        raise(
            ERRCODE_DATA_EXCEPTION,
            format!("different bit lengths {} and {}", a.len(), b.len()),
            None,
        );
    }
    (a, b)
}

pg_function! {
    /// hamming_distance(bit, bit) -> float8: the number of differing bits.
    fn hamming_distance(args) {
        let (a, b) = two_bits(args);
        float8(bitvec::hamming(a.bytes(), b.bytes()) as f64)
    }
}

pg_function! {
    /// jaccard_distance(bit, bit) -> float8.
    fn jaccard_distance(args) {
        let (a, b) = two_bits(args);
        float8(bitvec::jaccard(a.bytes(), b.bytes()))
    }
}

/// A `bit(n)` datum whose bit `i` is `set(i)` (most significant first).
pub fn new_bits(n: usize, set: impl Fn(usize) -> bool) -> pg_sys::Datum {
    let nbytes = n.div_ceil(8);
    let size = pg_sys::VARHDRSZ + 4 + nbytes;
    // SAFETY: palloc0 returns `size` zeroed bytes; the length word and the
    // bytes written lie inside them.
    unsafe {
        let ptr = pg_sys::palloc0(size) as *mut u8;
        pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
        (ptr.add(pg_sys::VARHDRSZ) as *mut i32).write(n as i32);
        let bits = std::slice::from_raw_parts_mut(ptr.add(pg_sys::VARHDRSZ + 4), nbytes);
        for i in (0..n).filter(|&i| set(i)) {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        pg_sys::Datum::from(ptr)
    }
}
