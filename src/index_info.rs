//! SQL-callable facts about a diskvec index.

use crate::index_cache;
use pgrx::pg_sys;

/// The index `oid` (a regclass argument), opened for the call.
pub struct OpenIndex(pub pg_sys::Relation);

impl OpenIndex {
    pub fn open(oid: pg_sys::Oid) -> Self {
        // SAFETY: index_open raises an ERROR for an oid that is not an
        // index; otherwise the relation stays open (and locked) until the
        // matching index_close in `drop`.
        let rel = unsafe { pg_sys::index_open(oid, pg_sys::AccessShareLock as i32) };
        let ours = crate::pgvector_am::is_diskvec_graph(rel);
        if !ours {
            // SAFETY: opened just above with the same lock mode.
            unsafe { pg_sys::index_close(rel, pg_sys::AccessShareLock as i32) };
            crate::errors::raise(
                pgrx::PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
                "relation is not a diskvec index",
                None,
            );
        }
        OpenIndex(rel)
    }
}

impl Drop for OpenIndex {
    fn drop(&mut self) {
        // SAFETY: opened by `open` with this lock mode, closed only here.
        unsafe { pg_sys::index_close(self.0, pg_sys::AccessShareLock as i32) };
    }
}

pg_function! {
    /// `diskvec_cache_bytes(regclass) RETURNS bigint`: bytes this backend
    /// holds in its own memory for the index: the whole code area when it
    /// is not shared, else its view of the shared one; with search scratch.
    fn diskvec_cache_bytes(args) {
        let rel = OpenIndex::open(args.oid(0));
        let bytes = index_cache::reader(rel.0).private_memory_bytes();
        pg_sys::Datum::from(bytes as i64)
    }
}
