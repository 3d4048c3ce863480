//! The on-disk layout of a `vector` value, identical to pgvector's:
//! a 4-byte varlena header, int16 dim, int16 unused (0), then dim float4.
//! Keeping the layout means pg_upgrade-style binary compatibility and lets the
//! index read heap values without conversion.

use pgrx::pg_sys;

const HEADER: usize = 8;

/// A detoasted vector argument. Borrowed from the function call's memory.
pub struct VectorArg {
    ptr: *const u8,
}

impl VectorArg {
    /// Detoasts `datum` (short headers, compression and out-of-line storage
    /// all end up as a plain 4-byte-header copy).
    ///
    /// # Safety
    /// `datum` must be a non-null `vector` datum.
    pub unsafe fn from_datum(datum: pg_sys::Datum) -> Self {
        // SAFETY: the caller passes a non-null varlena datum; detoasting
        // returns it, or a palloc'd plain copy, in the current context.
        let ptr = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as *const u8;
        VectorArg { ptr }
    }

    #[inline]
    pub fn dim(&self) -> usize {
        // SAFETY: a detoasted vector has its int16 dim at byte 4, within
        // its 8-byte header, 2-aligned.
        unsafe { (self.ptr.add(4) as *const i16).read() as usize }
    }

    #[inline]
    pub fn as_slice(&self) -> &[f32] {
        // SAFETY: a detoasted vector is 4-byte aligned (typalign int4) and
        // holds dim floats after the header.
        unsafe { std::slice::from_raw_parts(self.ptr.add(HEADER) as *const f32, self.dim()) }
    }
}

/// Allocates a zeroed vector of `dim` elements in the current memory context
/// and lets `fill` write the elements.
pub fn new_vector(dim: usize, fill: impl FnOnce(&mut [f32])) -> pg_sys::Datum {
    let size = HEADER + dim * 4;
    // SAFETY: a fresh zeroed allocation of `size` bytes (palloc is
    // MAXALIGNed), written within its bounds: the varlena size, the dim at
    // byte 4, the floats after the 8-byte header.
    unsafe {
        let ptr = pg_sys::palloc0(size) as *mut u8;
        pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
        (ptr.add(4) as *mut i16).write(dim as i16);
        fill(std::slice::from_raw_parts_mut(
            ptr.add(HEADER) as *mut f32,
            dim,
        ));
        pg_sys::Datum::from(ptr)
    }
}

pub fn vector_from_slice(values: &[f32]) -> pg_sys::Datum {
    new_vector(values.len(), |out| out.copy_from_slice(values))
}

/// A `bytea` datum holding `bytes`.
pub fn bytea(bytes: &[u8]) -> pg_sys::Datum {
    let size = pg_sys::VARHDRSZ + bytes.len();
    // SAFETY: a fresh allocation of `size` bytes, filled with its varlena
    // header and then exactly `bytes`.
    unsafe {
        let ptr = pg_sys::palloc(size) as *mut u8;
        pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.add(pg_sys::VARHDRSZ), bytes.len());
        pg_sys::Datum::from(ptr)
    }
}
