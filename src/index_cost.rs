//! `amcostestimate`: what a scan of the index costs, for ORDER BY distance
//! and for distance bounds (nothing else is worth it).
//!
//! A search does most of its work before the first row: about
//! `search_list_size` node-page reads and `R` code estimates per read.
//! That is the startup cost. With conditions on attribute columns, the
//! engine either walks the graph until it meets enough matching nodes, or
//! estimates every matching node from the posting lists (`filter.rs`); the
//! estimate is the cheaper of the two, both priced with the engine's own
//! weights (`diskvec_engine::filtered_cost`), so that the planner expects
//! the plan the scan will take. (Priced apart, with a code estimate at
//! Postgres's operator cost, a flat scan looked cheap to the planner where
//! the engine walks, and a prepared statement filtering on an attribute was
//! planned afresh on every execution: benches/notes/50-filters.md.) Each further
//! row costs about one more page read. The scan returns only rows meeting
//! its index conditions, so the heap is visited for those alone.
//!
//! With LIMIT k and a WHERE clause the index does not hold, the planner
//! charges the rows the scan streams before k pass the filter (its LIMIT
//! fraction), so a selective filter with a btree index of its own goes to
//! that index, and a sort. A distance bound is assumed to keep about as
//! many rows as a search list (`ASSUMED_BOUND_ROWS`); the planner has no
//! statistics for distances to a point it first sees at run time.

use crate::index_options::search_settings;
use crate::index_store::{Logging, PgStore};
use pgrx::pg_sys;
use pgrx::PgList;

/// Rows a distance bound is assumed to match.
const ASSUMED_BOUND_ROWS: f64 = 1000.0;

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
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: Postgres passes a valid path (its index clauses a list of
    // IndexClause) and output pointers.
    unsafe {
        *correlation = 0.0;
        let info = &*(*path).indexinfo;
        let mut attribute_quals = PgList::<pg_sys::RestrictInfo>::new();
        let mut bounded = false;
        let clauses = PgList::<pg_sys::IndexClause>::from_pg((*path).indexclauses);
        for ic in clauses.iter_ptr() {
            if (*ic).indexcol == 0 {
                bounded = true;
            } else {
                attribute_quals.push((*ic).rinfo);
            }
        }
        if (*path).indexorderbys.is_null() && !bounded {
            // Neither ORDER BY distance nor a bound: never use this index.
            *selectivity = 1.0;
            *startup = f64::MAX / 1e10;
            *total = f64::MAX / 1e10;
            *pages = 0.0;
            return;
        }
        let tuples = (*info.rel).tuples.max(1.0);
        let matching = if attribute_quals.is_empty() {
            1.0
        } else {
            pg_sys::clauselist_selectivity(
                root,
                attribute_quals.as_ptr(),
                (*info.rel).relid as i32,
                pg_sys::JoinType::JOIN_INNER,
                std::ptr::null_mut(),
            )
            .clamp(1.0 / tuples, 1.0)
        };
        let bound = if bounded {
            (ASSUMED_BOUND_ROWS / tuples).min(1.0)
        } else {
            1.0
        };
        *selectivity = matching * bound;
        let (list, r) = search_shape(info.indexoid);
        let list = list as f64;
        // A node read: node pages are the index's hot set and mostly in
        // shared buffers, so charged like a sequential page; its neighbours'
        // estimates like operators.
        let read = pg_sys::seq_page_cost + r as f64 * pg_sys::cpu_operator_cost;
        // The walk (the list, then until the LIMIT's rows match) and the
        // flat scan of the matching nodes, in node reads as the engine
        // weighs them when it picks one.
        let (walk, flat) =
            diskvec_engine::filtered_cost(matching * tuples, tuples, list as usize, r);
        let first = read
            * if attribute_quals.is_empty() {
                walk
            } else {
                walk.min(flat)
            };
        let reads = (list * 1.2).min(info.pages.max(1) as f64);
        let rows = *selectivity * tuples;
        *startup = first;
        *total = first
            + (rows - list).max(0.0) * pg_sys::seq_page_cost
            + rows * pg_sys::cpu_index_tuple_cost;
        *pages = reads;
    }
}
