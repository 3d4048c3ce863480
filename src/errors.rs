//! The extension's error reports. Messages and SQLSTATEs follow pgvector's,
//! so applications that match on them keep working.

use diskvec_engine::vector_text::{VectorFormatError, MAX_DIM};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode, PgSqlErrorCode::*};

/// Raises an ERROR with a SQLSTATE, a message and an optional detail.
/// (pgrx's `ereport!` is a statement; this is usable as an expression.)
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, detail: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "diskvec");
    if let Some(detail) = detail {
        report = report.set_detail(detail);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("an ERROR report does not return")
}

/// Both operands of a binary operator must have the same dimension.
#[inline]
pub fn check_same_dims(a: usize, b: usize) {
    check_same_dims_of("vector", a as i64, b as i64)
}

/// The same for `halfvec` or `sparsevec` (named in the message).
#[inline]
pub fn check_same_dims_of(type_name: &str, a: i64, b: i64) {
    if a != b {
        raise(
            ERRCODE_DATA_EXCEPTION,
            format!("different {type_name} dimensions {a} and {b}"),
            None,
        );
    }
}

/// A typmod of -1 means "any dimension".
#[inline]
pub fn check_expected_dim(typmod: i32, dim: usize) {
    if typmod != -1 && typmod as i64 != dim as i64 {
        raise(
            ERRCODE_DATA_EXCEPTION,
            format!("expected {typmod} dimensions, not {dim}"),
            None,
        );
    }
}

pub fn check_dim(dim: i64) -> usize {
    check_dim_of("vector", dim)
}

/// `check_dim` with the type named in the message (vector, halfvec).
pub fn check_dim_of(type_name: &str, dim: i64) -> usize {
    match diskvec_engine::vector_text::check_dim(dim) {
        Ok(d) => d,
        Err(e) => format_error_of(type_name, e, None),
    }
}

pub fn overflow() -> ! {
    raise(
        ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: overflow",
        None,
    );
}

pub fn underflow() -> ! {
    raise(
        ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        "value out of range: underflow",
        None,
    );
}

/// Reports a parse/decode failure. `literal` is the text input, quoted in
/// syntax errors as `float4in` does.
pub fn format_error(error: VectorFormatError, literal: Option<&str>) -> ! {
    format_error_of("vector", error, literal)
}

/// `format_error` for `vector` or `halfvec`, named in the messages.
pub fn format_error_of(t: &str, error: VectorFormatError, literal: Option<&str>) -> ! {
    use VectorFormatError::*;
    let syntax = format!(
        "invalid input syntax for type {t}: \"{}\"",
        literal.unwrap_or_default()
    );
    match error {
        MissingOpenBracket => raise(
            ERRCODE_INVALID_TEXT_REPRESENTATION,
            syntax,
            Some("Vector contents must start with \"[\"."),
        ),
        Syntax => raise(ERRCODE_INVALID_TEXT_REPRESENTATION, syntax, None),
        JunkAfterClose => raise(
            ERRCODE_INVALID_TEXT_REPRESENTATION,
            syntax,
            Some("Junk after closing right brace."),
        ),
        Empty => raise(
            ERRCODE_DATA_EXCEPTION,
            format!("{t} must have at least 1 dimension"),
            None,
        ),
        TooManyDimensions => raise(
            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("{t} cannot have more than {MAX_DIM} dimensions"),
            None,
        ),
        OutOfRange(token) => raise(
            ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{token}\" is out of range for type {t}"),
            None,
        ),
        NaN => raise(
            ERRCODE_DATA_EXCEPTION,
            format!("NaN not allowed in {t}"),
            None,
        ),
        Infinite => raise(
            ERRCODE_DATA_EXCEPTION,
            format!("infinite value not allowed in {t}"),
            None,
        ),
        Truncated => raise(
            ERRCODE_PROTOCOL_VIOLATION,
            "insufficient data left in message",
            None,
        ),
        UnusedNotZero(v) => raise(
            ERRCODE_DATA_EXCEPTION,
            format!("expected unused to be 0, not {v}"),
            None,
        ),
    }
}

/// Rejects NaN and infinity in a computed element.
#[inline]
pub fn check_element(v: f32) -> f32 {
    match diskvec_engine::vector_text::check_element(v) {
        Ok(v) => v,
        Err(e) => format_error(e, None),
    }
}
