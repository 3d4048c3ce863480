//! Per-backend cache of open indexes.
//!
//! A handle's codes live in the server's shared code pool (`code_pool.rs`)
//! when there is one: opening an index then only attaches to the area the
//! first backend loaded, and costs this backend a small view. Without the
//! pool (or when it is full) the handle loads the whole code area into
//! this backend's memory. Either way a backend keeps its handles: each use
//! first calls `Index::refresh`, which reads the meta page and catches up
//! with what other backends changed since (the meta page's change log),
//! or reloads everything after a rebuild.
//!
//! Entries are keyed by the relation's file node, so REINDEX, TRUNCATE and
//! VACUUM FULL (new files) never meet a stale entry; the build of the new
//! file frees the old file's shared area (`forget`).

use crate::code_pool;
use crate::index_errors::{engine_error, relation_name};
use crate::index_store::{Logging, PgStore};
use diskvec_engine::{Index, Placement};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

pub type PgIndex = Index<PgStore>;

/// At most this many indexes stay open per backend (least recently used
/// goes first).
const CAPACITY: usize = 8;

struct Entry {
    key: (u32, u32, u32),
    oid: u32,
    /// A temporary relation's (its file is named after this backend).
    temp: bool,
    index: Rc<PgIndex>,
}

thread_local! {
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// Indexes this backend already logged as not fitting the pool.
    static LOGGED_FULL: RefCell<HashSet<u32>> = RefCell::new(HashSet::new());
}

fn key(rel: pg_sys::Relation) -> (u32, u32, u32) {
    // SAFETY: callers pass an open relation.
    let n = unsafe { (*rel).rd_node };
    (n.spcNode.into(), n.dbNode.into(), n.relNode.into())
}

fn take(rel: pg_sys::Relation) -> Option<Rc<PgIndex>> {
    let k = key(rel);
    CACHE.with_borrow_mut(|c| {
        let at = c.iter().position(|e| e.key == k)?;
        Some(c.remove(at).index)
    })
}

fn put(rel: pg_sys::Relation, index: Rc<PgIndex>) {
    let k = key(rel);
    // SAFETY: an open relation.
    let oid = unsafe { (*rel).rd_id }.into();
    CACHE.with_borrow_mut(|c| {
        c.retain(|e| e.key != k);
        if c.len() >= CAPACITY {
            c.remove(0);
        }
        let temp = code_pool::key_of(rel).is_none();
        c.push(Entry {
            key: k,
            oid,
            temp,
            index,
        });
    });
}

/// Drop the handles of relations that are gone (dropped, or rebuilt into
/// a new file): they can never be used again, and would keep their shared
/// areas from being reclaimed by this backend.
pub fn prune() {
    CACHE.with_borrow_mut(|c| {
        c.retain(|e| {
            let (spc, db, rel) = e.key;
            e.temp || !code_pool::relation_gone(db, spc, rel)
        })
    });
}

fn open(rel: pg_sys::Relation) -> PgIndex {
    prune();
    let store = PgStore::new(rel, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::Generic);
    let index = match (code_pool::pool(), code_pool::key_of(rel)) {
        (Some(pool), Some(key)) => Index::open_in(store, pool, key),
        _ => Index::open(store),
    }
    .unwrap_or_else(|e| engine_error(rel, e));
    note_placement(rel, &index);
    index
}

fn refresh(rel: pg_sys::Relation, index: &mut PgIndex) {
    index.store().set_relation(rel);
    index.refresh().unwrap_or_else(|e| engine_error(rel, e));
    note_placement(rel, index);
}

/// A LOG line, once per backend and index, when an index's codes do not
/// fit the pool and this backend keeps its own copy.
fn note_placement(rel: pg_sys::Relation, index: &PgIndex) {
    if index.placement() != Placement::PoolFull {
        return;
    }
    // SAFETY: an open relation.
    let oid: u32 = unsafe { (*rel).rd_id }.into();
    if LOGGED_FULL.with_borrow_mut(|l| l.insert(oid)) {
        pgrx::log!(
            "diskvec: the codes of index \"{}\" ({:.1} MB) do not fit in diskvec.shared_memory ({} MB, in use by other indexes): this backend keeps its own copy. Raise diskvec.shared_memory (needs a restart) or drop unused diskvec indexes.",
            relation_name(rel),
            index.code_memory_bytes() as f64 / 1e6,
            code_pool::configured_bytes() >> 20
        );
    }
}

/// The index, current as of now, for searching. Shared with any scan of the
/// same index still open in this backend.
pub fn reader(rel: pg_sys::Relation) -> Rc<PgIndex> {
    let index = match take(rel) {
        Some(mut rc) => match Rc::get_mut(&mut rc) {
            Some(index) => {
                refresh(rel, index);
                rc
            }
            // An open scan holds it and it may be stale: a fresh handle for
            // us; the scan keeps the old one until it ends.
            None => Rc::new(open(rel)),
        },
        None => Rc::new(open(rel)),
    };
    put(rel, index.clone());
    index
}

/// Run `f` on an up-to-date handle this backend owns alone (other backends
/// may be writing through theirs: see `index_write.rs`). If `f` fails, the
/// handle is dropped, not cached, so a half-applied change never lingers
/// in memory.
pub fn write<R>(rel: pg_sys::Relation, f: impl FnOnce(&mut PgIndex) -> R) -> R {
    let mut index = match take(rel).map(Rc::try_unwrap) {
        Some(Ok(index)) => index,
        _ => open(rel),
    };
    refresh(rel, &mut index);
    let r = f(&mut index);
    put(rel, Rc::new(index));
    r
}

/// Forget a relation's entry (after a build, which wrote it from scratch),
/// and free the shared areas of the index's earlier files: the build
/// holds the index exclusively, so no backend reads them.
pub fn forget(rel: pg_sys::Relation) {
    drop(take(rel));
    // SAFETY: an open relation.
    let oid: u32 = unsafe { (*rel).rd_id }.into();
    // Handles of the index's earlier files (they would keep those areas).
    CACHE.with_borrow_mut(|c| c.retain(|e| e.oid != oid));
    if let (Some(pool), Some(key)) = (code_pool::pool(), code_pool::key_of(rel)) {
        pool.forget(key.db, key.oid, Some(&key));
    }
}

/// The handles this backend holds: (database, index oid, file node, handle).
pub fn handles() -> Vec<(u32, u32, u32, Rc<PgIndex>)> {
    CACHE.with_borrow(|c| {
        c.iter()
            .map(|e| (e.key.1, e.oid, e.key.2, e.index.clone()))
            .collect()
    })
}
