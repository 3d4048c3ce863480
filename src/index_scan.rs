//! `ambeginscan`, `amrescan`, `amgettuple`, `amendscan`: ORDER BY distance,
//! conditions on attribute columns and distance bounds, through the
//! engine's streaming search (`SearchIter`).
//!
//! The search starts with `diskvec.search_list_size` (or the index's
//! option: `index_options::search_settings`) and, when the executor keeps
//! asking (a WHERE filter rejected rows), continues outwards from where it
//! stopped, never dropping a row it found, until `diskvec.max_scan_tuples`
//! more pages or the scan's memory (`work_mem` times
//! `diskvec.scan_mem_multiplier`) are spent. `diskvec.iterative_scan` says
//! when a row is returned: `strict_order` (exact distance order),
//! `relaxed_order` or `off`, as pgvector's `hnsw.iterative_scan`.
//!
//! Conditions on attribute columns are evaluated by the engine as it walks
//! (`index_attrs::scan_keys`); a distance bound (`<<=>>`, which the planner
//! derives from `embedding <=> $q < $r`) ends the walk once nothing unread
//! can be within it.

use crate::index_attrs;
use crate::index_cache::{self, PgIndex};
use crate::index_errors::engine_error;
use crate::index_options::search_settings;
use crate::index_store::PgStore;
use crate::index_tid::{id_to_block, id_to_tid};
use diskvec_engine::{Filter, Metric, Options, ScanParams, SearchIter, SearchParams};
use pgrx::pg_sys;
use std::rc::Rc;

struct ScanState {
    // Declared before `index`, which it borrows, so it is dropped first.
    iter: Option<SearchIter<'static, PgStore>>,
    index: Option<Rc<PgIndex>>,
    /// The ORDER BY query, if any.
    query: Option<Vec<f32>>,
    /// Rows must be rechecked by the executor (see `ScanKeys::recheck`).
    recheck: bool,
    /// Heap pages to ask for ahead of the rows returned, and the ids of the
    /// rows whose page was asked for lately.
    heap_ahead: usize,
    heap_asked: Vec<u64>,
    upcoming: Vec<u64>,
    /// The heap's blocks when the scan first asked: rows past them
    /// (inserted since) are not asked for.
    heap_blocks: Option<pg_sys::BlockNumber>,
    reset_hook: *mut pg_sys::MemoryContextCallback,
}

/// Rows whose heap page a scan remembers asking for.
const HEAP_ASKED: usize = 64;

impl ScanState {
    fn clear(&mut self) {
        self.iter = None;
        self.index = None;
        self.query = None;
        self.recheck = false;
        self.heap_asked.clear();
        self.heap_blocks = None;
    }

    /// Ask for the heap pages of the next rows the scan returns (the
    /// executor reads each row's page right after `amgettuple` gives it),
    /// so those reads overlap. Each row once.
    fn read_heap_ahead(&mut self, heap: pg_sys::Relation) {
        let Some(iter) = self.iter.as_ref() else {
            return;
        };
        if self.heap_ahead == 0 || heap.is_null() {
            return;
        }
        iter.upcoming(self.heap_ahead, &mut self.upcoming);
        // SAFETY: the scan's open heap relation (one lseek per scan).
        let blocks = *self.heap_blocks.get_or_insert_with(|| unsafe {
            pg_sys::RelationGetNumberOfBlocksInFork(heap, pg_sys::ForkNumber::MAIN_FORKNUM)
        });
        for &id in &self.upcoming {
            if self.heap_asked.contains(&id) {
                continue;
            }
            if self.heap_asked.len() == HEAP_ASKED {
                self.heap_asked.remove(0);
            }
            self.heap_asked.push(id);
            let block = id_to_block(id);
            if block < blocks {
                // SAFETY: an existing block of the scan's open heap
                // relation; PrefetchBuffer only looks it up in the buffer
                // table and hints the kernel.
                unsafe { pg_sys::PrefetchBuffer(heap, pg_sys::ForkNumber::MAIN_FORKNUM, block) };
            }
        }
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
            recheck: false,
            heap_ahead: 0,
            heap_asked: Vec::new(),
            upcoming: Vec::new(),
            heap_blocks: None,
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
    keys: pg_sys::ScanKey,
    nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    // SAFETY: Postgres calls amrescan on a scan ambeginscan made.
    let st = unsafe { state(scan) };
    st.clear();
    // SAFETY: `keys` and `orderbys` hold `nkeys` and `norderbys` keys, and
    // `keyData` and `orderByData` room for as many (ambeginscan's counts);
    // an ORDER BY key's argument is a vector datum unless flagged NULL.
    unsafe {
        if !keys.is_null() && nkeys > 0 {
            std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
        }
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

/// Slack added to a distance bound: the engine's distances (from
/// normalized copies, summed differently) may differ from SQL's in the
/// last bits; the executor rechecks the exact bound.
fn with_slack(r: f64) -> f32 {
    (r + r.abs() * 1e-4 + 1e-6) as f32
}

/// Start the search for what `amrescan` set; `false` if there is nothing
/// to return (an empty index, a zero query under cosine, a key no row can
/// meet).
fn start(scan: pg_sys::IndexScanDesc, st: &mut ScanState) -> bool {
    // SAFETY: a live scan descriptor, its keys as amrescan copied them.
    let (rel, keys) = unsafe {
        let rel = (*scan).indexRelation;
        let n = (*scan).numberOfKeys.max(0) as usize;
        (rel, index_attrs::scan_keys(rel, (*scan).keyData, n))
    };
    if keys.impossible {
        return false;
    }
    st.recheck = keys.recheck;
    let bound = keys.sphere.as_ref().map(|(_, r)| *r);
    let q = match (st.query.take(), keys.sphere) {
        (Some(q), Some((centre, _))) if q != centre => {
            // Bounded around another point than the one it orders by: the
            // recheck applies the bound; the walk cannot use it.
            return start_search(rel, st, q, keys.filter, None);
        }
        (Some(q), _) => q,
        (None, Some((centre, _))) => centre,
        (None, None) => crate::errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "a diskvec index scan needs ORDER BY distance or a distance bound",
            None,
        ),
    };
    start_search(rel, st, q, keys.filter, bound)
}

fn start_search(
    rel: pg_sys::Relation,
    st: &mut ScanState,
    q: Vec<f32>,
    filter: Filter,
    bound: Option<f64>,
) -> bool {
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
    let params = ScanParams {
        search: SearchParams {
            search_list_size: crate::pgvector_am::search_list_size(rel, settings.search_list_size),
            rerank: settings.rerank,
            read_ahead: settings.read_ahead,
        },
        order: settings.order,
        max_reads: settings.max_scan_tuples,
        max_memory: settings.max_memory,
        filter,
        max_distance: bound.map(with_slack),
    };
    // The executor reads each returned row's heap page at once: the next
    // rows' pages are asked for as far ahead as the index's. (Tied to
    // effective_io_concurrency instead, its default of 1 overlapped too
    // little in the memory-capped benchmark: benches/notes/60-read-ahead.md.)
    st.heap_ahead = settings.read_ahead.min(diskvec_engine::MAX_READ_AHEAD);
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
    // SAFETY: a live scan descriptor.
    let rel = unsafe { (*scan).indexRelation };
    let recheck = st.recheck;
    let iter = st.iter.as_mut().unwrap();
    pgrx::check_for_interrupts!();
    match iter.next() {
        None => false,
        Some(Err(e)) => engine_error(rel, e),
        Some(Ok((id, _))) => {
            // SAFETY: a live scan descriptor's output fields.
            unsafe {
                (*scan).xs_heaptid = id_to_tid(id);
                (*scan).xs_recheck = recheck;
                (*scan).xs_recheckorderby = false;
            }
            // SAFETY: a live scan descriptor; its heap relation is open.
            st.read_heap_ahead(unsafe { (*scan).heapRelation });
            true
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
