//! The on-disk layout of a `halfvec` value, identical to pgvector's: a
//! 4-byte varlena header, int16 dim, int16 unused (0), then dim IEEE half
//! floats, kept here as their raw `u16` bits.

use pgrx::pg_sys;

const HEADER: usize = 8;

/// A detoasted halfvec argument, borrowed from the function call's memory.
pub struct HalfArg {
    ptr: *const u8,
}

impl HalfArg {
    /// Detoasts `datum` (short headers, compression and out-of-line storage
    /// all end up as a plain 4-byte-header copy).
    ///
    /// # Safety
    /// `datum` must be a non-null `halfvec` datum.
    pub unsafe fn from_datum(datum: pg_sys::Datum) -> Self {
        // SAFETY: the caller passes a non-null varlena datum; detoasting
        // returns it, or a palloc'd plain copy, in the current context.
        let ptr = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as *const u8;
        HalfArg { ptr }
    }

    #[inline]
    pub fn dim(&self) -> usize {
        // SAFETY: a detoasted halfvec has its int16 dim at offset 4.
        unsafe { (self.ptr.add(4) as *const i16).read() as usize }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u16] {
        // SAFETY: a detoasted halfvec is at least 4-byte aligned and holds
        // dim halves after the 8-byte header.
        unsafe { std::slice::from_raw_parts(self.ptr.add(HEADER) as *const u16, self.dim()) }
    }
}

/// Allocates a zeroed halfvec of `dim` elements in the current memory
/// context and lets `fill` write the elements.
pub fn new_halfvec(dim: usize, fill: impl FnOnce(&mut [u16])) -> pg_sys::Datum {
    let size = HEADER + dim * 2;
    // SAFETY: palloc0 returns `size` zeroed bytes (or raises); the header
    // and the dim elements all lie inside them.
    unsafe {
        let ptr = pg_sys::palloc0(size) as *mut u8;
        pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
        (ptr.add(4) as *mut i16).write(dim as i16);
        fill(std::slice::from_raw_parts_mut(
            ptr.add(HEADER) as *mut u16,
            dim,
        ));
        pg_sys::Datum::from(ptr)
    }
}

pub fn halfvec_from_slice(values: &[u16]) -> pg_sys::Datum {
    new_halfvec(values.len(), |out| out.copy_from_slice(values))
}
