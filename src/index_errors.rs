//! Engine errors as Postgres errors, naming the index.

use diskvec_engine::Error;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{pg_sys, PgLogLevel, PgSqlErrorCode, PgSqlErrorCode::*};

pub fn relation_name(rel: pg_sys::Relation) -> String {
    // SAFETY: callers pass an open relation, whose rd_rel holds its
    // NUL-terminated name.
    unsafe {
        let name = &(*(*rel).rd_rel).relname;
        std::ffi::CStr::from_ptr(name.data.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

fn report(code: PgSqlErrorCode, message: String, hint: Option<&str>) -> ! {
    let mut r = ErrorReport::new(code, message, "diskvec");
    if let Some(h) = hint {
        r = r.set_hint(h);
    }
    r.report(PgLogLevel::ERROR);
    unreachable!("an ERROR report does not return")
}

/// Raise `e`, which happened on index `rel`.
pub fn engine_error(rel: pg_sys::Relation, e: Error) -> ! {
    let name = relation_name(rel);
    match e {
        Error::Format { found, expected } => report(
            ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("index \"{name}\" has {found}, this build of diskvec reads {expected}"),
            Some(&format!("REINDEX required: REINDEX INDEX \"{name}\";")),
        ),
        Error::Corrupt { blkno, reason } => report(
            ERRCODE_INDEX_CORRUPTED,
            format!("index \"{name}\" is corrupt: block {blkno}: {reason}"),
            Some(&format!(
                "REINDEX INDEX \"{name}\"; rebuilds it from the table."
            )),
        ),
        Error::OutOfRange(b) => report(
            ERRCODE_INDEX_CORRUPTED,
            format!("index \"{name}\" is corrupt: block {b} is past its end"),
            Some(&format!(
                "REINDEX INDEX \"{name}\"; rebuilds it from the table."
            )),
        ),
        Error::Invalid(msg) => report(ERRCODE_DATA_EXCEPTION, msg, None),
        Error::Io(err) => report(ERRCODE_IO_ERROR, format!("index \"{name}\": {err}"), None),
        Error::Interrupted => {
            // The build stopped for a pending cancel or termination: let
            // Postgres raise it as it would have (statement timeout,
            // pg_cancel_backend, shutdown).
            pgrx::check_for_interrupts!();
            report(
                ERRCODE_QUERY_CANCELED,
                format!("building index \"{name}\" was interrupted"),
                None,
            )
        }
    }
}
