//! `ambeginscan`, `amrescan`, `amgettuple`, `amendscan`: ORDER BY distance
//! through the engine's streaming search.
//!
//! The first batch is a search with `diskvec.search_list_size` (or the
//! index's option: `index_options::search_settings`); when a
//! filter rejects rows and the executor keeps asking, each further batch
//! doubles the list and continues where the last stopped (pgvector's
//! iterative scan), until `diskvec.max_scan_tuples`. Rows come out in strict
//! distance order: within a batch they are exact, and a row a later batch
//! finds closer than one already returned is skipped, as pgvector's
//! `strict_order` does.

use crate::index_cache::{self, PgIndex};
use crate::index_errors::engine_error;
use crate::index_options::search_settings;
use crate::index_store::PgStore;
use crate::index_tid::id_to_tid;
use diskvec_engine::{Metric, Options, SearchIter, SearchParams};
use pgrx::pg_sys;
use std::rc::Rc;

struct ScanState {
    // Declared before `index`, which it borrows, so it is dropped first.
    iter: Option<SearchIter<'static, PgStore>>,
    index: Option<Rc<PgIndex>>,
    query: Option<Vec<f32>>,
    last: f32,
    seen: usize,
    max_scan_tuples: usize,
    reset_hook: *mut pg_sys::MemoryContextCallback,
}

impl ScanState {
    fn clear(&mut self) {
        self.iter = None;
        self.index = None;
        self.query = None;
        self.last = f32::NEG_INFINITY;
        self.seen = 0;
    }
}

/// Frees the state if the scan's memory goes away without `amendscan` (an
/// error aborted the query).
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn free_on_reset(arg: *mut std::ffi::c_void) {
    if !arg.is_null() {
        // SAFETY: `arg` is the Box `ambeginscan` leaked, still owned by
        // the scan: `amendscan` clears it before freeing the state itself.
        drop(unsafe { Box::from_raw(arg as *mut ScanState) });
    }
}

/// # Safety
/// `scan` is a scan `ambeginscan` set up and `amendscan` has not ended.
unsafe fn state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut ScanState {
    // SAFETY: the caller's promise: `opaque` is our live ScanState, used by
    // one callback at a time.
    unsafe { &mut *((*scan).opaque as *mut ScanState) }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(
    index_rel: pg_sys::Relation,
    nkeys: i32,
    norderbys: i32,
) -> pg_sys::IndexScanDesc {
    unsafe {
        // SAFETY: Postgres hands us the open index; the scan descriptor and
        // the reset hook live in the current (scan) memory context, and the
        // hook frees the state if that context goes without `amendscan`.
        let scan = pg_sys::RelationGetIndexScan(index_rel, nkeys, norderbys);
        let hook = pg_sys::palloc0(std::mem::size_of::<pg_sys::MemoryContextCallback>())
            as *mut pg_sys::MemoryContextCallback;
        let st = Box::into_raw(Box::new(ScanState {
            iter: None,
            index: None,
            query: None,
            last: f32::NEG_INFINITY,
            seen: 0,
            max_scan_tuples: 1,
            reset_hook: hook,
        }));
        (*hook).func = Some(free_on_reset);
        (*hook).arg = st.cast();
        pg_sys::MemoryContextRegisterResetCallback(pg_sys::CurrentMemoryContext, hook);
        (*scan).opaque = st.cast();
        scan
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    // SAFETY: Postgres calls amrescan on a scan ambeginscan made.
    let st = unsafe { state(scan) };
    st.clear();
    // SAFETY: `orderbys` holds `norderbys` keys and `orderByData` room for
    // as many (ambeginscan's `norderbys`); an ORDER BY key's argument is a
    // vector datum unless flagged NULL.
    unsafe {
        if !orderbys.is_null() && norderbys > 0 {
            std::ptr::copy(orderbys, (*scan).orderByData, norderbys as usize);
        }
        if norderbys > 0 {
            let key = &*(*scan).orderByData;
            st.query = Some(if key.sk_flags & pg_sys::SK_ISNULL as i32 == 0 {
                let mut q = Vec::new();
                crate::index_key::of((*scan).indexRelation)
                    .1
                    .read(key.sk_argument, &mut q);
                q
            } else {
                // A NULL query orders from the origin, as pgvector does
                // (every distance is NULL, so any order is correct).
                Vec::new()
            });
        }
    }
}

/// Start the search for the query set by `amrescan`; `false` if there is
/// nothing to return (an empty index, or a zero query under cosine).
fn start(scan: pg_sys::IndexScanDesc, st: &mut ScanState) -> bool {
    let Some(q) = st.query.take() else {
        return false;
    };
    // SAFETY: a live scan descriptor.
    let rel = unsafe { (*scan).indexRelation };
    let index = index_cache::reader(rel);
    let Options { dim, metric, .. } = index.options();
    let q = if q.is_empty() { vec![0.0; dim] } else { q };
    if q.len() != dim && !index.is_empty() {
        crate::errors::check_same_dims(dim, q.len());
    }
    if index.is_empty() || (metric == Metric::Cosine && q.iter().all(|x| *x == 0.0)) {
        return false;
    }
    let settings = search_settings(rel);
    st.max_scan_tuples = settings.max_scan_tuples;
    let params = SearchParams {
        search_list_size: crate::pgvector_am::search_list_size(rel, settings.search_list_size),
        rerank: settings.rerank,
    };
    let iter = index
        .search_iter(&q, &params)
        .unwrap_or_else(|e| engine_error(rel, e));
    // SAFETY: the iterator borrows the index inside the Rc kept next to it
    // in `st` (a stable heap address), and is dropped before it.
    let iter: SearchIter<'static, PgStore> = unsafe { std::mem::transmute(iter) };
    st.index = Some(index);
    st.iter = Some(iter);
    true
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(
    scan: pg_sys::IndexScanDesc,
    _direction: pg_sys::ScanDirection::Type,
) -> bool {
    // SAFETY: Postgres calls amgettuple on a scan ambeginscan made.
    let st = unsafe { state(scan) };
    if st.iter.is_none() && !start(scan, st) {
        return false;
    }
    let max = st.max_scan_tuples;
    // SAFETY: a live scan descriptor.
    let rel = unsafe { (*scan).indexRelation };
    let iter = st.iter.as_mut().unwrap();
    loop {
        pgrx::check_for_interrupts!();
        if st.seen >= max {
            return false;
        }
        match iter.next() {
            None => return false,
            Some(Err(e)) => engine_error(rel, e),
            Some(Ok((id, d))) => {
                st.seen += 1;
                if d < st.last {
                    continue;
                }
                st.last = d;
                // SAFETY: a live scan descriptor's output fields.
                unsafe {
                    (*scan).xs_heaptid = id_to_tid(id);
                    (*scan).xs_recheck = false;
                    (*scan).xs_recheckorderby = false;
                }
                return true;
            }
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    // SAFETY: the state ambeginscan leaked, freed once: the reset hook is
    // disarmed first and `opaque` cleared after.
    unsafe {
        let st = (*scan).opaque as *mut ScanState;
        if st.is_null() {
            return;
        }
        (*(*st).reset_hook).arg = std::ptr::null_mut();
        drop(Box::from_raw(st));
        (*scan).opaque = std::ptr::null_mut();
    }
}
