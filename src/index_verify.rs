//! `diskvec_verify(regclass)`: an amcheck-style check of one index.
//!
//! * every page is read through the buffer manager, so Postgres verifies its
//!   checksum (clusters with data checksums), and its diskvec header (magic,
//!   format version, page kind) is checked;
//! * a fresh copy of the index is opened (meta page, code area), never the
//!   backend's cache;
//! * the graph invariants: each live node's page agrees with its code
//!   entry, degree <= R, no self loops, no link to a free slot;
//! * every live heap row with a vector is in the index.
//!
//! Any failure is an ERROR (`index_corrupted`); success returns a summary.

use crate::index_build::indexable;
use crate::index_errors::{engine_error, relation_name};
use crate::index_store::{Logging, PgStore};
use crate::index_tid::tid_to_id;
use diskvec_engine::{check_pages, Index, Metric};
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode::*;

struct HeapCheck<'a> {
    index_rel: pg_sys::Relation,
    index: &'a Index<PgStore>,
    metric: Metric,
    key: crate::index_key::KeyType,
    live: u64,
    missing: u64,
    first_missing: Option<u64>,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn heap_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: `state` is the HeapCheck `diskvec_verify` passed to the
    // scan, which outlives it; one value and null flag (one column).
    let st = unsafe { &mut *(state as *mut HeapCheck) };
    // SAFETY: as above.
    if !alive || unsafe { *isnull } {
        return;
    }
    let mut v = Vec::new();
    // SAFETY: a non-null value of the key column.
    unsafe { st.key.read(*values, &mut v) };
    if !indexable(st.index_rel, st.metric, &v, None) {
        return;
    }
    st.live += 1;
    // SAFETY: the heap tuple's TID, valid for the call.
    let id = tid_to_id(unsafe { &*tid });
    if !st.index.contains(id) {
        st.missing += 1;
        st.first_missing.get_or_insert(id);
    }
}

fn corrupted(msg: String) -> ! {
    crate::errors::raise(ERRCODE_INDEX_CORRUPTED, msg, None)
}

pg_function! {
    /// `diskvec_verify(regclass) RETURNS text`.
    fn diskvec_verify(args) {
        let oid = args.oid(0);
        // The table first (as amcheck does), with ShareLock: no concurrent
        // writes while we compare.
        // SAFETY: a catalog lookup; InvalidOid when `oid` is no index.
        let heap_oid = unsafe { pg_sys::IndexGetRelation(oid, true) };
        if heap_oid == pg_sys::InvalidOid {
            crate::errors::raise(ERRCODE_WRONG_OBJECT_TYPE, "relation is not a diskvec index", None);
        }
        // SAFETY: an existing table (its index exists); closed below, or by
        // the transaction's end if an ERROR intervenes.
        let heap = unsafe { pg_sys::table_open(heap_oid, pg_sys::ShareLock as i32) };
        let index_rel = crate::index_info::OpenIndex::open(oid);
        let rel = index_rel.0;
        let name = relation_name(rel);

        let store = PgStore::new(rel, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::Generic);
        let summary = check_pages(&store, || { pgrx::check_for_interrupts!(); })
            .unwrap_or_else(|e| engine_error(rel, e));
        let (pages, unused) = (summary.pages, summary.never_written);
        let index = Index::open(store).unwrap_or_else(|e| engine_error(rel, e));
        index
            .check_graph(false)
            .unwrap_or_else(|e| corrupted(format!("index \"{name}\": {e}")));

        let (metric, key) = crate::index_key::of(rel);
        let mut st = HeapCheck {
            index_rel: rel,
            index: &index,
            metric,
            key,
            live: 0,
            missing: 0,
            first_missing: None,
        };
        // SAFETY: the open heap and index; the scan calls `heap_callback`
        // with `st`, which outlives it.
        unsafe {
            let info = pg_sys::BuildIndexInfo(rel);
            pg_sys::table_index_build_scan(
                heap,
                rel,
                info,
                true,
                false,
                Some(heap_callback),
                (&mut st as *mut HeapCheck).cast(),
                std::ptr::null_mut(),
            );
            pg_sys::table_close(heap, pg_sys::ShareLock as i32);
        }
        if st.missing > 0 {
            let id = st.first_missing.unwrap();
            corrupted(format!(
                "index \"{name}\" lacks {} of {} live heap rows (first: block {}, offset {})",
                st.missing, st.live, id >> 16, id & 0xffff
            ));
        }
        // Not corruption: inserts can leave a node that no list holds
        // until VACUUM links it (the engine's `reach.rs`), but until then
        // no scan returns it, so say so.
        let unreached = index
            .unreachable_nodes()
            .unwrap_or_else(|e| engine_error(rel, e));
        let reach = match unreached {
            0 => "every live vector reachable from the entry point".to_string(),
            n => format!("{n} live vectors not reachable from the entry point until the next VACUUM"),
        };
        let summary = format!(
            "index \"{name}\" is consistent: {pages} pages ({unused} never written), {} live vectors in {} slots, graph (R = {}, L = {}) invariants hold, {reach}, all {} live heap rows indexed",
            index.len(),
            index.slots(),
            index.options().max_degree,
            index.options().build_list_size,
            st.live
        );
        pgrx::IntoDatum::into_datum(summary).unwrap()
    }
}
