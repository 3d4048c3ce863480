//! The on-disk layout of a `sparsevec` value, identical to pgvector's: a
//! 4-byte varlena header, int32 dim, int32 nnz, int32 unused (0), nnz
//! 0-based int32 indices (ascending), then nnz float4 values.

use crate::errors::raise;
use diskvec_engine::sparsevec::{SparseFormatError, SparseRef, MAX_DIM, MAX_NNZ};
use pgrx::{pg_sys, PgSqlErrorCode, PgSqlErrorCode::*};

const HEADER: usize = 16;

/// A detoasted sparsevec argument, borrowed from the function call's memory.
pub struct SparseArg {
    ptr: *const u8,
}

impl SparseArg {
    /// Detoasts `datum` into a plain 4-byte-header value.
    ///
    /// # Safety
    /// `datum` must be a non-null `sparsevec` datum.
    pub unsafe fn from_datum(datum: pg_sys::Datum) -> Self {
        // SAFETY: the caller passes a non-null varlena datum; detoasting
        // returns it, or a palloc'd plain copy, in the current context.
        let ptr = unsafe { pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) } as *const u8;
        SparseArg { ptr }
    }

    fn int(&self, at: usize) -> i32 {
        // SAFETY: a detoasted sparsevec holds its three int32 header fields
        // at offsets 4, 8 and 12, 4-byte aligned.
        unsafe { (self.ptr.add(at) as *const i32).read() }
    }

    pub fn dim(&self) -> i32 {
        self.int(4)
    }

    pub fn get(&self) -> SparseRef<'_> {
        let nnz = self.int(8) as usize;
        // SAFETY: nnz indices and then nnz floats follow the 16-byte header.
        unsafe {
            SparseRef {
                dim: self.dim(),
                indices: std::slice::from_raw_parts(self.ptr.add(HEADER) as *const i32, nnz),
                values: std::slice::from_raw_parts(
                    self.ptr.add(HEADER + 4 * nnz) as *const f32,
                    nnz,
                ),
            }
        }
    }
}

/// A new sparsevec datum in the current memory context.
pub fn new_sparsevec(dim: i32, indices: &[i32], values: &[f32]) -> pg_sys::Datum {
    let nnz = indices.len();
    debug_assert_eq!(nnz, values.len());
    let size = HEADER + 8 * nnz;
    // SAFETY: palloc0 returns `size` zeroed bytes; header, indices and
    // values are written inside them.
    unsafe {
        let ptr = pg_sys::palloc0(size) as *mut u8;
        pgrx::set_varsize_4b(ptr as *mut pg_sys::varlena, size as i32);
        (ptr.add(4) as *mut i32).write(dim);
        (ptr.add(8) as *mut i32).write(nnz as i32);
        std::ptr::copy_nonoverlapping(indices.as_ptr(), ptr.add(HEADER) as *mut i32, nnz);
        std::ptr::copy_nonoverlapping(values.as_ptr(), ptr.add(HEADER + 4 * nnz) as *mut f32, nnz);
        pg_sys::Datum::from(ptr)
    }
}

/// Reports a sparsevec parse, decode or check failure with pgvector's
/// message and SQLSTATE. `literal` is the text input, for syntax errors.
pub fn sparse_error(error: SparseFormatError, literal: Option<&str>) -> ! {
    use SparseFormatError::*;
    let syntax = format!(
        "invalid input syntax for type sparsevec: \"{}\"",
        literal.unwrap_or_default()
    );
    let data = |m: String| -> (PgSqlErrorCode, String) { (ERRCODE_DATA_EXCEPTION, m) };
    let limit = |m: String| -> (PgSqlErrorCode, String) { (ERRCODE_PROGRAM_LIMIT_EXCEEDED, m) };
    let (code, message, detail) = match error {
        MissingOpenBrace => (
            ERRCODE_INVALID_TEXT_REPRESENTATION,
            syntax,
            Some("Vector contents must start with \"{\"."),
        ),
        Syntax => (ERRCODE_INVALID_TEXT_REPRESENTATION, syntax, None),
        UnexpectedEnd => (
            ERRCODE_INVALID_TEXT_REPRESENTATION,
            syntax,
            Some("Unexpected end of input."),
        ),
        JunkAfterClose => (
            ERRCODE_INVALID_TEXT_REPRESENTATION,
            syntax,
            Some("Junk after closing."),
        ),
        OutOfRange(token) => (
            ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{token}\" is out of range for type sparsevec"),
            None,
        ),
        Truncated => (
            ERRCODE_PROTOCOL_VIOLATION,
            "insufficient data left in message".to_string(),
            None,
        ),
        other => {
            let (code, message) = match other {
                Empty => data("sparsevec must have at least 1 dimension".into()),
                TooManyDimensions => limit(format!(
                    "sparsevec cannot have more than {MAX_DIM} dimensions"
                )),
                TooManyNonZero => limit(format!(
                    "sparsevec cannot have more than {MAX_NNZ} non-zero elements"
                )),
                NegativeNonZero => data("sparsevec cannot have negative number of elements".into()),
                MoreElementsThanDimensions => {
                    limit("sparsevec cannot have more elements than dimensions".into())
                }
                ExpectedDim(typmod, dim) => {
                    data(format!("expected {typmod} dimensions, not {dim}"))
                }
                UnusedNotZero(v) => data(format!("expected unused to be 0, not {v}")),
                IndexOutOfBounds => data("sparsevec index out of bounds".into()),
                NotAscending => data("sparsevec indices must be in ascending order".into()),
                Duplicate => data("sparsevec indices must not contain duplicates".into()),
                ZeroInBinary => {
                    data("binary representation of sparsevec cannot contain zero values".into())
                }
                NaN => data("NaN not allowed in sparsevec".into()),
                Infinite => data("infinite value not allowed in sparsevec".into()),
                _ => unreachable!("handled above"),
            };
            (code, message, None)
        }
    };
    raise(code, message, detail)
}

/// Unwraps a sparsevec check, raising its error.
pub fn sparse_ok<T>(result: Result<T, SparseFormatError>) -> T {
    result.unwrap_or_else(|e| sparse_error(e, None))
}
