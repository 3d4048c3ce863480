//! `aminsert`, `ambulkdelete` and `amvacuumcleanup`.
//!
//! Inserts lock pages, not the index: each changes only its own node slot,
//! code entry and meta fields, by read-modify-write under the page's
//! exclusive buffer lock (`PageStore::modify`), so any number of backends
//! insert side by side. One heavyweight lock, on the meta page's number
//! (as pgvector's HNSW has), is held by each insert in share mode (inserts
//! never block each other). VACUUM takes it exclusively for a moment only:
//! to begin consolidation with no insert in flight, which fixes the set of
//! nodes that can link to a tombstone (see the engine's `consolidate.rs`).
//! Tombstoning (`ambulkdelete`) and the graph repair itself
//! (`amvacuumcleanup`) run beside inserts; readers never take the lock.
//!
//! VACUUM's work goes in small steps with `vacuum_delay_point()` between
//! them, so cost-based vacuum delay and cancellation apply; a cancelled
//! consolidation leaves a valid index that the next VACUUM finishes.

use crate::index_attrs;
use crate::index_build::{declared_dim, indexable};
use crate::index_cache;
use crate::index_errors::engine_error;
use crate::index_options;
use crate::index_tid::{id_to_tid, tid_to_id};
use pgrx::pg_sys;

const VACUUM_LOCK_BLOCK: pg_sys::BlockNumber = 0;

/// The insert/VACUUM lock in `mode`, released on drop (also when an error
/// unwinds).
struct VacuumLock(pg_sys::Relation, i32);

impl VacuumLock {
    /// Inserts: shared with every other insert.
    fn shared(rel: pg_sys::Relation) -> Self {
        Self::take(rel, pg_sys::ShareLock)
    }
    /// VACUUM beginning a consolidation, and the first insert that sets an
    /// empty index's dimension.
    fn exclusive(rel: pg_sys::Relation) -> Self {
        Self::take(rel, pg_sys::ExclusiveLock)
    }
    fn take(rel: pg_sys::Relation, mode: u32) -> Self {
        // SAFETY: `rel` is the open index; the page lock is released in
        // `drop`, or by Postgres itself when an ERROR aborts the transaction.
        unsafe { pg_sys::LockPage(rel, VACUUM_LOCK_BLOCK, mode as i32) };
        VacuumLock(rel, mode as i32)
    }
}

impl Drop for VacuumLock {
    fn drop(&mut self) {
        // SAFETY: taken by `take` with this mode, released once.
        unsafe { pg_sys::UnlockPage(self.0, VACUUM_LOCK_BLOCK, self.1) };
    }
}

/// `aminsert`.
#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index_rel: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: Postgres passes one value and null flag per index column;
    // the first, non-null, is a vector.
    if unsafe { *isnull } {
        return false;
    }
    let (metric, key) = crate::index_key::of(index_rel);
    let mut v = Vec::new();
    // SAFETY: as above.
    unsafe { key.read(*values, &mut v) };
    let v = v.as_slice();
    let typmod_dim = declared_dim(index_rel);
    if !indexable(index_rel, metric, v, typmod_dim) {
        return false;
    }
    // SAFETY: the heap tuple's TID, valid for the call.
    let id = tid_to_id(unsafe { &*heap_tid });
    // One try at the insert, holding the lock shared or (`exclusive`)
    // exclusively; false if it needs the exclusive lock and lacks it.
    let attempt = |exclusive: bool| {
        index_cache::write(index_rel, |index| {
            let dim = index.options().dim;
            if dim != v.len() {
                if index.slots() == 0 && typmod_dim.is_none() {
                    // Built over an empty table with no declared dimension:
                    // the first row decides, with no other insert at work.
                    if !exclusive {
                        return false;
                    }
                    let bits = index_options::of(index_rel).quant_bits;
                    index
                        .set_dimension(v.len(), bits)
                        .unwrap_or_else(|e| engine_error(index_rel, e));
                } else {
                    indexable(index_rel, metric, v, Some(dim));
                }
            }
            // A TID is reused only after VACUUM removed its old entry, but
            // an interrupted VACUUM may have left one behind: replace it.
            if index.contains(id) {
                index
                    .delete(id)
                    .unwrap_or_else(|e| engine_error(index_rel, e));
            }
            // SAFETY: one value and null flag per key column (above).
            let attrs = unsafe { index_attrs::insert_values(index_rel, index, values, isnull) };
            index
                .insert_with(id, v, &attrs)
                .unwrap_or_else(|e| engine_error(index_rel, e));
            true
        })
    };
    let shared = VacuumLock::shared(index_rel);
    if !attempt(false) {
        drop(shared);
        let _exclusive = VacuumLock::exclusive(index_rel);
        attempt(true);
    }
    false
}

fn stats_or_new(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        // SAFETY: a zeroed result struct in the current memory context,
        // which Postgres takes over.
        unsafe { pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexBulkDeleteResult>()).cast() }
    } else {
        stats
    }
}

/// Between two steps of VACUUM's work: cost-based vacuum delay, and any
/// pending cancel. pgrx guards every `pg_sys` call: an ERROR it raises
/// comes back as a Rust panic, which unwinds through the engine (stopped
/// between two steps, with a valid index) to the callback's `pg_guard`.
/// (Wrapping it in another `pg_guard_ffi_boundary` would raise that panic
/// inside a frame that cannot unwind, and abort the server.)
/// The memory VACUUM may use, in bytes: `autovacuum_work_mem` in an
/// autovacuum worker when it is set, else `maintenance_work_mem` (as
/// PostgreSQL sizes its own dead-row store).
fn vacuum_work_mem() -> usize {
    // SAFETY: backend globals read on the backend's thread; GetConfigOption
    // with missing_ok returns NULL or a NUL-terminated string it owns.
    let kb = unsafe {
        let autovacuum = pg_sys::MyBackendType == pg_sys::BackendType::B_AUTOVAC_WORKER;
        let set = if autovacuum {
            let v = pg_sys::GetConfigOption(c"autovacuum_work_mem".as_ptr(), true, false);
            (!v.is_null())
                .then(|| {
                    std::ffi::CStr::from_ptr(v)
                        .to_str()
                        .ok()?
                        .parse::<i64>()
                        .ok()
                })
                .flatten()
                .filter(|&kb| kb > 0)
        } else {
            None
        };
        set.unwrap_or(pg_sys::maintenance_work_mem as i64)
    };
    kb.max(0) as usize * 1024
}

fn vacuum_pause() -> diskvec_engine::Result<()> {
    // SAFETY: a plain call on the backend's thread, guarded by pgrx.
    unsafe { pg_sys::vacuum_delay_point() };
    Ok(())
}

/// `ambulkdelete`: tombstone every entry whose heap row is dead. Inserts
/// go on meanwhile. The graph is repaired in `amvacuumcleanup`, once per
/// VACUUM however many passes of this there are; until then a tombstone
/// routes searches and is never returned.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: Postgres passes a valid IndexVacuumInfo for the open index.
    let rel = unsafe { (*info).index };
    let stats = stats_or_new(stats);
    let Some(callback) = callback else {
        return stats;
    };
    let (removed, live) = index_cache::write(rel, |index| {
        let removed = index
            .delete_where_with(
                |id| {
                    let mut tid = id_to_tid(id);
                    // SAFETY: VACUUM's own callback and state, called on the
                    // backend's thread; the guard turns an ERROR it raises
                    // (a longjmp) into a Rust panic, so it unwinds through our
                    // frames instead of jumping over them.
                    unsafe {
                        pg_sys::ffi::pg_guard_ffi_boundary(|| callback(&mut tid, callback_state))
                    }
                },
                vacuum_pause,
            )
            .unwrap_or_else(|e| engine_error(rel, e));
        (removed, index.len())
    });
    // SAFETY: `stats` is ours or Postgres's result struct; `rel` is open.
    unsafe {
        (*stats).tuples_removed += removed as f64;
        (*stats).num_index_tuples = live as f64;
        (*stats).num_pages =
            pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
    }
    stats
}

/// `amvacuumcleanup`: consolidation (FreshDiskANN), when there are
/// tombstones: those of this VACUUM's `ambulkdelete`, and any an
/// interrupted VACUUM left. Each live node that linked to a tombstone is
/// re-pruned over that node's neighbours, so the graph stays navigable,
/// and the tombstones' slots go to later inserts. Inserts wait only while
/// it begins; then it runs beside them.
///
/// Then, if anything was inserted or deleted since it last ran, a walk
/// from the entry point links every live node it does not reach (the
/// engine's `reach.rs`): back edges and repairs re-prune lists, and a node
/// pruned out of every list that held it (common under inner product)
/// would be missing from every filtered or distance-bounded scan. Also
/// beside inserts.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: Postgres passes a valid IndexVacuumInfo for the open index.
    let (analyze_only, rel) = unsafe { ((*info).analyze_only, (*info).index) };
    if analyze_only {
        return stats;
    }
    let stats = stats_or_new(stats);
    let live = index_cache::write(rel, |index| {
        if index.has_tombstones() {
            let plan = {
                let _exclusive = VacuumLock::exclusive(rel);
                index
                    .begin_consolidation()
                    .unwrap_or_else(|e| engine_error(rel, e))
            };
            if let Some(mut plan) = plan {
                plan.set_memory(vacuum_work_mem());
                index
                    .consolidate_with(plan, vacuum_pause)
                    .unwrap_or_else(|e| engine_error(rel, e));
            }
        }
        let checked = index
            .reach_checked()
            .unwrap_or_else(|e| engine_error(rel, e));
        if !checked {
            index
                .link_unreached_with(vacuum_pause)
                .unwrap_or_else(|e| engine_error(rel, e));
        }
        index.len()
    });
    // SAFETY: as in `ambulkdelete`.
    unsafe {
        (*stats).num_index_tuples = live as f64;
        (*stats).num_pages =
            pg_sys::RelationGetNumberOfBlocksInFork(rel, pg_sys::ForkNumber::MAIN_FORKNUM);
    }
    stats
}
