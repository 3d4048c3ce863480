//! `ambuild` and `ambuildempty`: hand the table's vectors to the engine's
//! bulk load, which builds the Vamana graph and codes on all cores and
//! writes the pages once; then WAL-log them in one pass.
//!
//! The build stays within `maintenance_work_mem`: while the vectors and the
//! in-memory build fit it they are collected in memory; past it the engine
//! writes them to the node pages as they come and builds the graph a
//! cluster at a time (a NOTICE says so: recall at a given search list can
//! be slightly lower than from the in-memory build).

use crate::index_attrs;
use crate::index_cache;
use crate::index_errors::{engine_error, relation_name};
use crate::index_key::KeyType;
use crate::index_options;
use crate::index_store::{relation_needs_wal, Logging, PgStore};
use crate::index_tid::tid_to_id;
use diskvec_engine::{AttrKind, AttrValue, BulkLoad, Index, Metric, Options};
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode::*;

// progress.h
const PROGRESS_CREATE_IDX_SUBPHASE: i32 = 10;
const PROGRESS_CREATE_IDX_TUPLES_TOTAL: i32 = 11;
const PROGRESS_CREATE_IDX_TUPLES_DONE: i32 = 12;
pub const PHASE_LOAD: i64 = 2;
pub const PHASE_GRAPH: i64 = 3;
pub const PHASE_WRITE: i64 = 4;

/// `ambuildphasename`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        PHASE_LOAD => c"loading tuples",
        PHASE_GRAPH => c"building graph",
        PHASE_WRITE => c"writing index pages",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr().cast_mut()
}

fn progress(param: i32, value: i64) {
    // SAFETY: plain progress reporting for the command this backend runs.
    unsafe { pg_sys::pgstat_progress_update_param(param, value) };
}

/// The column's declared dimension, if it has a typmod.
pub fn declared_dim(index: pg_sys::Relation) -> Option<usize> {
    // SAFETY: an open index's tuple descriptor has its one key column.
    let typmod = unsafe {
        let desc = (*index).rd_att;
        (*(*desc).attrs.as_ptr()).atttypmod
    };
    (typmod > 0).then_some(typmod as usize)
}

pub fn engine_options(index: pg_sys::Relation, dim: usize) -> Options {
    let given = index_options::of(index);
    let (metric, key) = crate::index_key::of(index);
    let mut o = Options::new(dim, metric);
    o.element = key.element();
    o.attrs = index_attrs::kinds(index);
    o.max_labels = given.max_labels;
    // 0: keep the metric's default.
    if given.max_neighbors > 0 {
        o.max_degree = given.max_neighbors;
    }
    if given.build_list_size > 0 {
        o.build_list_size = given.build_list_size;
    }
    o.alpha = given.alpha;
    o.bits = given.quant_bits;
    o
}

/// A vector as the index will hold it, or `None` for a row the index skips
/// (a zero vector under cosine, whose distance is undefined, as pgvector).
pub fn indexable(index: pg_sys::Relation, metric: Metric, v: &[f32], want: Option<usize>) -> bool {
    if let Some(d) = want {
        if v.len() != d {
            crate::errors::raise(
                ERRCODE_DATA_EXCEPTION,
                format!(
                    "index \"{}\" holds {d}-dimensional vectors, not {}",
                    relation_name(index),
                    v.len()
                ),
                Some("A diskvec index needs one dimension: declare the column with one, as vector(n), halfvec(n) or bit(n)."),
            );
        }
    }
    !(metric == Metric::Cosine && v.iter().all(|x| *x == 0.0))
}

struct BuildState {
    index_rel: pg_sys::Relation,
    metric: Metric,
    key: KeyType,
    /// The current row's value as f32s (reused).
    row: Vec<f32>,
    dim: Option<usize>,
    /// Attribute columns.
    kinds: Vec<AttrKind>,
    max_labels: usize,
    budget: usize,
    /// Made at the first row, when the dimension is known.
    load: Option<BulkLoad<PgStore>>,
    heap_tuples: f64,
    index_tuples: f64,
    tmp: pg_sys::MemoryContext,
}

impl BuildState {
    fn new_index(&self) -> Index<PgStore> {
        let store = PgStore::new(
            self.index_rel,
            pg_sys::ForkNumber::MAIN_FORKNUM,
            Logging::AtEnd,
        );
        let opts = engine_options(self.index_rel, self.dim.unwrap_or(1));
        let mut index =
            Index::create(store, opts).unwrap_or_else(|e| engine_error(self.index_rel, e));
        // A cancel or statement timeout ends the graph build and the page
        // writes within a moment (the heap scan checks for itself).
        index.set_stop(crate::index_threads::cancel_pending);
        index
    }

    fn push(&mut self, id: u64, v: &[f32], attrs: &[AttrValue]) {
        if self.load.is_none() {
            let load = BulkLoad::new(self.new_index(), self.budget);
            self.load = Some(load.unwrap_or_else(|e| engine_error(self.index_rel, e)));
        }
        let load = self.load.as_mut().expect("made above");
        let spilled = load.spilled();
        load.push(id, v, attrs)
            .unwrap_or_else(|e| engine_error(self.index_rel, e));
        if !spilled && load.spilled() {
            pgrx::notice!(
                "diskvec: index \"{}\" no longer fits in maintenance_work_mem after {} rows; building its graph a cluster at a time (recall at a given search list may be slightly lower; a larger maintenance_work_mem builds it in memory)",
                relation_name(self.index_rel),
                load.len()
            );
        }
    }

    /// Build the graph and write the index: all rows are in.
    fn finish(&mut self) {
        progress(PROGRESS_CREATE_IDX_SUBPHASE, PHASE_GRAPH);
        match self.load.take() {
            // Written, not read back: the handle is dropped at once.
            Some(load) => drop(
                load.write()
                    .unwrap_or_else(|e| engine_error(self.index_rel, e)),
            ),
            // No rows: an empty index of the declared dimension, if any.
            None => drop(self.new_index()),
        }
    }
}

// Called from C (the heap scan): #[pg_guard] turns an ERROR raised here
// into a Postgres error instead of a Rust unwind through C frames.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: `state` is the BuildState `ambuild` passed to the scan, which
    // outlives it; the scan gives one value and null flag per key column.
    let st = unsafe { &mut *(state as *mut BuildState) };
    st.heap_tuples += 1.0;
    // SAFETY: as above.
    if unsafe { *isnull } {
        return;
    }
    // SAFETY: `tmp` is the build's own context, reset after each row.
    let old = unsafe { pg_sys::MemoryContextSwitchTo(st.tmp) };
    let mut row = std::mem::take(&mut st.row);
    // SAFETY: a non-null value of the key column.
    unsafe { st.key.read(*values, &mut row) };
    let v = row.as_slice();
    if st.dim.is_none() {
        st.dim = Some(v.len());
    }
    if indexable(st.index_rel, st.metric, v, st.dim) {
        // SAFETY: the heap tuple's TID, valid for the call.
        let id = tid_to_id(unsafe { &*tid });
        // SAFETY: one value and null flag per key column (above).
        let attrs = unsafe {
            index_attrs::row_values(st.index_rel, &st.kinds, st.max_labels, values, isnull)
        };
        st.push(id, v, &attrs);
        st.index_tuples += 1.0;
        if (st.index_tuples as u64).is_multiple_of(1000) {
            progress(PROGRESS_CREATE_IDX_TUPLES_DONE, st.index_tuples as i64);
        }
    }
    st.row = row;
    // SAFETY: back to the caller's context; nothing of this row's is kept.
    unsafe {
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::MemoryContextReset(st.tmp);
    }
}

/// `ambuild`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index_rel: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    // SAFETY (this function's blocks): Postgres passes the open heap and
    // index, and the IndexInfo of the index being built.
    if unsafe {
        pg_sys::RelationGetNumberOfBlocksInFork(index_rel, pg_sys::ForkNumber::MAIN_FORKNUM)
    } != 0
    {
        pgrx::error!(
            "index \"{}\" already contains data",
            relation_name(index_rel)
        );
    }
    index_cache::forget(index_rel);
    // Before anything asks rayon for its thread count, which would start
    // the global pool without our signal mask.
    crate::index_threads::init();
    // The columns first: a misplaced vector column is named as such.
    let kinds = index_attrs::kinds(index_rel);
    let (metric, key) = crate::index_key::of(index_rel);
    let mut st = BuildState {
        index_rel,
        metric,
        key,
        row: Vec::new(),
        dim: declared_dim(index_rel),
        kinds,
        max_labels: index_options::of(index_rel).max_labels,
        // SAFETY: a GUC, read on the backend's thread.
        budget: unsafe { pg_sys::maintenance_work_mem } as usize * 1024,
        load: None,
        heap_tuples: 0.0,
        index_tuples: 0.0,
        // SAFETY: a child of the current context, deleted at the end.
        tmp: unsafe {
            pg_sys::AllocSetContextCreateExtended(
                pg_sys::CurrentMemoryContext,
                c"diskvec build".as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            )
        },
    };
    progress(PROGRESS_CREATE_IDX_SUBPHASE, PHASE_LOAD);
    // SAFETY: the scan calls `build_callback` with `st`, which outlives it.
    unsafe {
        let total = (*(*heap).rd_rel).reltuples;
        if total > 0.0 {
            progress(PROGRESS_CREATE_IDX_TUPLES_TOTAL, total as i64);
        }
        pg_sys::table_index_build_scan(
            heap,
            index_rel,
            index_info,
            true,
            true,
            Some(build_callback),
            (&mut st as *mut BuildState).cast(),
            std::ptr::null_mut(),
        );
    }
    st.finish();
    progress(PROGRESS_CREATE_IDX_SUBPHASE, PHASE_WRITE);
    // SAFETY: every page is written (the index handle is dropped) before
    // they are logged; the result is palloc'd for Postgres to take.
    unsafe {
        if relation_needs_wal(index_rel) {
            let n = pg_sys::RelationGetNumberOfBlocksInFork(
                index_rel,
                pg_sys::ForkNumber::MAIN_FORKNUM,
            );
            pg_sys::log_newpage_range(index_rel, pg_sys::ForkNumber::MAIN_FORKNUM, 0, n, true);
        }
        pg_sys::MemoryContextDelete(st.tmp);
        let result = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBuildResult>())
            as *mut pg_sys::IndexBuildResult;
        (*result).heap_tuples = st.heap_tuples;
        (*result).index_tuples = st.index_tuples;
        result
    }
}

/// `ambuildempty`: the init fork of an UNLOGGED index, an empty index that
/// replaces the main fork after a crash. Always WAL-logged.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index_rel: pg_sys::Relation) {
    let store = PgStore::new(index_rel, pg_sys::ForkNumber::INIT_FORKNUM, Logging::AtEnd);
    let opts = engine_options(index_rel, declared_dim(index_rel).unwrap_or(1));
    drop(Index::create(store, opts).unwrap_or_else(|e| engine_error(index_rel, e)));
    // SAFETY: the open index's init fork, fully written just above.
    unsafe {
        let n =
            pg_sys::RelationGetNumberOfBlocksInFork(index_rel, pg_sys::ForkNumber::INIT_FORKNUM);
        pg_sys::log_newpage_range(index_rel, pg_sys::ForkNumber::INIT_FORKNUM, 0, n, true);
    }
}
