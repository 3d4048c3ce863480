//! A [`CodePool`] on the heap with in-process locks, for tests and
//! benchmarks that share one code area between handles the way backends
//! share one in Postgres (threads stand in for processes).

use crate::index::{AreaKey, CodePool, PoolHost};
use parking_lot::lock_api::RawRwLock as _;
use parking_lot::{Mutex, RawRwLock};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The pool's host: one reader-writer lock per slot (and one for the
/// pool), and the indexes a test has marked dropped.
pub struct HeapHost {
    locks: Vec<RawRwLock>,
    /// Shared holders of each lock: `unlock` has no mode, and the lock's own
    /// state cannot tell (a writer waiting for readers to leave already
    /// shows as exclusive), so the host counts them.
    readers: Vec<AtomicUsize>,
    gone: Mutex<HashSet<AreaKey>>,
}

impl HeapHost {
    /// From now on the index `key` no longer exists (as after DROP INDEX).
    pub fn mark_gone(&self, key: AreaKey) {
        self.gone.lock().insert(key);
    }
}

struct HostRef(Arc<HeapHost>);

impl PoolHost for HostRef {
    fn lock(&self, i: usize, exclusive: bool) {
        if exclusive {
            self.0.locks[i].lock_exclusive()
        } else {
            self.0.locks[i].lock_shared();
            self.0.readers[i].fetch_add(1, Ordering::AcqRel);
        }
    }
    fn try_lock(&self, i: usize) -> bool {
        self.0.locks[i].try_lock_exclusive()
    }
    fn unlock(&self, i: usize) {
        let l = &self.0.locks[i];
        // SAFETY: the pool unlocks only what it locked. While any reader
        // holds the lock no one holds it exclusively, so a count above zero
        // means the caller is one of the readers; zero, the one writer.
        unsafe {
            if self.0.readers[i].load(Ordering::Acquire) > 0 {
                self.0.readers[i].fetch_sub(1, Ordering::AcqRel);
                l.unlock_shared()
            } else {
                l.unlock_exclusive()
            }
        }
    }
    fn is_gone(&self, key: &AreaKey) -> bool {
        self.0.gone.lock().contains(key)
    }
    fn in_use(&self, _key: &AreaKey) -> bool {
        // The pool itself skips areas any handle of this process holds,
        // and every "process" here is a thread of this one.
        false
    }
}

/// A pool of `bytes` with `slots` slots, alive until the process ends.
pub fn heap_pool(bytes: usize, slots: usize) -> (&'static CodePool, Arc<HeapHost>) {
    let layout = std::alloc::Layout::from_size_align(bytes, 4096).expect("pool size");
    // SAFETY: a non-zero size; the region is leaked, so it outlives the pool.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    assert!(!base.is_null(), "out of memory for a {bytes}-byte pool");
    // SAFETY: fresh, zeroed, aligned, ours alone.
    assert!(
        unsafe { CodePool::init(base, bytes, slots) },
        "pool too small"
    );
    let host = Arc::new(HeapHost {
        locks: (0..=slots).map(|_| RawRwLock::INIT).collect(),
        readers: (0..=slots).map(|_| AtomicUsize::new(0)).collect(),
        gone: Mutex::new(HashSet::new()),
    });
    // SAFETY: the region just laid out, never freed, and reached only
    // through this host's locks.
    let pool = unsafe { CodePool::attach(base, Box::new(HostRef(host.clone()))) }
        .expect("attach to a pool just made");
    (Box::leak(Box::new(pool)), host)
}
