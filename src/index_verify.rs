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

use crate::index_build::{indexable, metric_of};
use crate::index_errors::{engine_error, relation_name};
use crate::index_store::{Logging, PgStore};
use crate::index_tid::tid_to_id;
use crate::vector_datum::VectorArg;
use diskvec_engine::{format, Index, Metric, PageStore};
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode::*;

struct HeapCheck<'a> {
    index_rel: pg_sys::Relation,
    index: &'a Index<PgStore>,
    metric: Metric,
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
    let st = unsafe { &mut *(state as *mut HeapCheck) };
    if !alive || unsafe { *isnull } {
        return;
    }
    let v = unsafe { VectorArg::from_datum(*values) };
    if !indexable(st.index_rel, st.metric, v.as_slice(), None) {
        return;
    }
    st.live += 1;
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
    fn diskvec_verify(fcinfo) {
        let oid = pg_sys::Oid::from(unsafe { crate::fmgr::arg(fcinfo, 0) }.value() as u32);
        // The table first (as amcheck does), with ShareLock: no concurrent
        // writes while we compare.
        let heap_oid = unsafe { pg_sys::IndexGetRelation(oid, true) };
        if heap_oid == pg_sys::InvalidOid {
            crate::errors::raise(ERRCODE_WRONG_OBJECT_TYPE, "relation is not a diskvec index", None);
        }
        let heap = unsafe { pg_sys::table_open(heap_oid, pg_sys::ShareLock as i32) };
        let index_rel = crate::index_info::OpenIndex::open(oid);
        let rel = index_rel.0;
        let name = relation_name(rel);

        let store = PgStore::new(rel, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::Generic);
        let pages = store.len();
        let mut unused = 0;
        for blk in 0..pages {
            pgrx::check_for_interrupts!();
            let p = store.read(blk).unwrap_or_else(|e| engine_error(rel, e));
            let h = format::header(&p);
            if h.magic == 0 && h.version == 0 && h.kind == 0 {
                // Extended but never written (a crash between the two).
                unused += 1;
                continue;
            }
            if h.magic != format::MAGIC || h.version != format::FORMAT_VERSION {
                corrupted(format!(
                    "index \"{name}\": block {blk} has magic {:#x} version {} (expected {:#x} version {})",
                    h.magic, h.version, format::MAGIC, format::FORMAT_VERSION
                ));
            }
            if !(1..=4).contains(&h.kind) {
                corrupted(format!("index \"{name}\": block {blk} has unknown page kind {}", h.kind));
            }
        }
        let index = Index::open(store).unwrap_or_else(|e| engine_error(rel, e));
        index
            .check_graph(false)
            .unwrap_or_else(|e| corrupted(format!("index \"{name}\": {e}")));

        let mut st = HeapCheck {
            index_rel: rel,
            index: &index,
            metric: metric_of(rel),
            live: 0,
            missing: 0,
            first_missing: None,
        };
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
        let summary = format!(
            "index \"{name}\" is consistent: {pages} pages ({unused} never written), {} live vectors in {} slots, graph (R = {}, L = {}) invariants hold, all {} live heap rows indexed",
            index.len(),
            index.slots(),
            index.options().max_degree,
            index.options().build_list_size,
            st.live
        );
        pgrx::IntoDatum::into_datum(summary).unwrap()
    }
}
