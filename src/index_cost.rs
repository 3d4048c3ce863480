//! `amcostestimate`: the index is only worth it for ORDER BY distance.
//!
//! A search does all its work before the first row: about
//! `search_list_size` random node-page reads and a few thousand code
//! estimates. That is the startup cost; each further row is cheap. So with
//! LIMIT k the planner weighs one search against a full scan and sort, and
//! without LIMIT (every row fetched at random) the sequential scan wins.
//! Without an ORDER BY on the indexed operator the index is never chosen.

use crate::index_options::SEARCH_LIST_SIZE;
use pgrx::pg_sys;

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
        let list = SEARCH_LIST_SIZE.get().max(1) as f64;
        let reads = (list * 1.2).min(info.pages.max(1) as f64);
        // Neighbours estimated per expanded node: about R, 48 by default
        // (56 for L2; a cost estimate need not tell them apart).
        let estimates = list * 48.0;
        // Node pages are the index's hot set and mostly in shared buffers, so
        // a read is charged like a sequential page, not a random one.
        *startup = reads * pg_sys::seq_page_cost + estimates * pg_sys::cpu_operator_cost;
        *total = *startup + tuples * pg_sys::cpu_index_tuple_cost;
        *pages = reads;
    }
}
