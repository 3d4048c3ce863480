//! Per-backend cache of open indexes.
//!
//! Opening an index reads its whole code area (the RaBitQ codes, a few MiB
//! per 100k vectors), so a backend keeps it: the coarse search then touches
//! no page at all. Each use first calls `Index::refresh`, which reads the
//! meta page and reloads only what other backends changed since (the meta
//! page's change log), or everything after a rebuild.
//!
//! Entries are keyed by the relation's file node, so REINDEX, TRUNCATE and
//! VACUUM FULL (new files) never meet a stale entry.

use crate::index_errors::engine_error;
use crate::index_store::{Logging, PgStore};
use diskvec_engine::Index;
use pgrx::pg_sys;
use std::cell::RefCell;
use std::rc::Rc;

pub type PgIndex = Index<PgStore>;

/// At most this many indexes stay open per backend (least recently used
/// goes first).
const CAPACITY: usize = 8;

struct Entry {
    key: (u32, u32, u32),
    index: Rc<PgIndex>,
}

thread_local! {
    static CACHE: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
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
    CACHE.with_borrow_mut(|c| {
        c.retain(|e| e.key != k);
        if c.len() >= CAPACITY {
            c.remove(0);
        }
        c.push(Entry { key: k, index });
    });
}

fn open(rel: pg_sys::Relation) -> PgIndex {
    let store = PgStore::new(rel, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::Generic);
    Index::open(store).unwrap_or_else(|e| engine_error(rel, e))
}

/// The index, current as of now, for searching. Shared with any scan of the
/// same index still open in this backend.
pub fn reader(rel: pg_sys::Relation) -> Rc<PgIndex> {
    let index = match take(rel) {
        Some(mut rc) => match Rc::get_mut(&mut rc) {
            Some(index) => {
                index.store().set_relation(rel);
                index.refresh().unwrap_or_else(|e| engine_error(rel, e));
                rc
            }
            // An open scan holds it and it may be stale: a fresh copy for
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
    index.store().set_relation(rel);
    index.refresh().unwrap_or_else(|e| engine_error(rel, e));
    let r = f(&mut index);
    put(rel, Rc::new(index));
    r
}

/// Forget a relation's entry (after a build, which wrote it from scratch).
pub fn forget(rel: pg_sys::Relation) {
    drop(take(rel));
}
