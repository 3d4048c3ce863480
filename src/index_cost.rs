//! `amcostestimate`: the index is only worth it for ORDER BY distance.
//!
//! A search does all its work before the first row: about
//! `search_list_size` random node-page reads and a few thousand code
//! estimates. That is the startup cost; each further row is cheap. So with
//! LIMIT k the planner weighs one search against a full scan and sort, and
//! without LIMIT (every row fetched at random) the sequential scan wins.
//! Without an ORDER BY on the indexed operator the index is never chosen.

use crate::index_options::search_settings;
use crate::index_store::{Logging, PgStore};
use pgrx::pg_sys;

/// What a search of the index will do: its list size (the scan's own
/// settings) and the graph degree `R` (from the meta page; 0 if it cannot
/// be read, and the estimate then counts no neighbour estimates).
fn search_shape(index_oid: pg_sys::Oid) -> (usize, usize) {
    // SAFETY: the planner holds a lock on every index it considers, so
    // opening it with NoLock is safe; closed right after the reads.
    unsafe {
        let rel = pg_sys::index_open(index_oid, pg_sys::NoLock as i32);
        let list = search_settings(rel).search_list_size;
        let store = PgStore::new(rel, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::Generic);
        let r = diskvec_engine::read_options(&store).map_or(0, |o| o.max_degree);
        pg_sys::index_close(rel, pg_sys::NoLock as i32);
        (list, r)
    }
}

#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn amcostestimate(
    _root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: Postgres passes a valid path and output pointers.
    unsafe {
        *selectivity = 1.0;
        *correlation = 0.0;
        if (*path).indexorderbys.is_null() {
            // Not an ORDER BY distance query: never use this index.
            *startup = f64::MAX / 1e10;
            *total = f64::MAX / 1e10;
            *pages = 0.0;
            return;
        }
        let info = &*(*path).indexinfo;
        let tuples = (*info.rel).tuples.max(1.0);
        let (list, r) = search_shape(info.indexoid);
        let list = list as f64;
        let reads = (list * 1.2).min(info.pages.max(1) as f64);
        // Neighbours estimated per expanded node: about R.
        let estimates = list * r as f64;
        // Node pages are the index's hot set and mostly in shared buffers, so
        // a read is charged like a sequential page, not a random one.
        *startup = reads * pg_sys::seq_page_cost + estimates * pg_sys::cpu_operator_cost;
        *total = *startup + tuples * pg_sys::cpu_index_tuple_cost;
        *pages = reads;
    }
}
