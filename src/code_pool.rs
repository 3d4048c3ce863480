//! The server's one copy of each index's codes: a `CodePool` (see the
//! engine's `index/pool.rs`) in Postgres's shared memory.
//!
//! Why shared memory reserved at `shared_preload_libraries` time, not
//! dynamic shared memory or a cache file every backend maps:
//! * every process gets it at the same address by `fork`, with nothing to
//!   attach or map per connection: a new connection's first query reads
//!   the codes at once;
//! * it is part of the main shared memory segment (an anonymous mapping),
//!   so no `/dev/shm` limit applies (containers often cap it at 64 MB),
//!   and pages the pool has not handed out are never touched, so the
//!   reservation costs address space, not memory;
//! * Postgres drops and recreates it on every start and crash-restart, so
//!   nothing stale survives a crash; a cache file would have to be checked
//!   against the index and rebuilt;
//! * its size is a setting like `shared_buffers`: `diskvec.shared_memory`.
//!
//! Without the preload (or with `diskvec.shared_memory = 0`), each backend
//! keeps its own copy of the codes, as before; `CREATE EXTENSION` says how
//! to turn sharing on.
//!
//! Locks are LWLocks of the tranche "diskvec": one for the pool, one per
//! slot. Readers of an index hold a relation lock on it, so a slot is
//! reclaimed only when its relation file is gone, or no other backend
//! holds any lock on the index (`GetLockConflicts`) after the slot was
//! retired.

use diskvec_engine::{AreaKey, CodePool, PoolHost};
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CStr;
use std::sync::OnceLock;

/// `diskvec.shared_memory`, in kB (0: each backend keeps its own codes).
static SHARED_MEMORY_KB: GucSetting<i32> = GucSetting::<i32>::new(1 << 20);
/// Indexes the pool can hold at once.
const SLOTS: usize = 256;
const TRANCHE: &CStr = c"diskvec";
const SEGMENT: &CStr = c"diskvec code pool";

/// Set in the postmaster by the startup hook, inherited by every backend.
static mut BASE: *mut u8 = std::ptr::null_mut();
static mut LOCKS: *mut pg_sys::LWLockPadded = std::ptr::null_mut();
static mut PREV_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP: pg_sys::shmem_startup_hook_type = None;

fn bytes() -> usize {
    SHARED_MEMORY_KB.get().max(0) as usize * 1024
}

/// Whether this library is being preloaded (`shared_preload_libraries`).
fn preloading() -> bool {
    // SAFETY: a plain flag Postgres sets while it loads preload libraries.
    unsafe { pg_sys::process_shared_preload_libraries_in_progress }
}

/// From `_PG_init`: the setting and, when preloaded, the shared memory.
pub fn init() {
    if !preloading() {
        return;
    }
    GucRegistry::define_int_guc(
        c"diskvec.shared_memory",
        c"Shared memory for the codes of diskvec indexes (0: each connection keeps its own).",
        c"Every index's codes are held once for the whole server, in this much shared memory. When they do not all fit, the least recently used are dropped, and an index that still does not fit is searched from each connection's own copy (logged). Pages not yet used cost no memory. Needs a restart.",
        &SHARED_MEMORY_KB,
        0,
        i32::MAX,
        GucContext::Postmaster,
        GucFlags::UNIT_KB,
    );
    // SAFETY: hooks are installed once, while the postmaster loads
    // preload libraries, keeping the previous ones to call first.
    unsafe {
        PREV_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request);
        PREV_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn request() {
    // SAFETY: the hook chain Postgres calls in the postmaster, in which
    // shared memory and named LWLocks may be requested.
    unsafe {
        if let Some(prev) = PREV_REQUEST {
            prev();
        }
        if bytes() >= CodePool::MIN_BYTES {
            pg_sys::RequestAddinShmemSpace(bytes() + 64);
            pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), SLOTS as i32 + 1);
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn startup() {
    // SAFETY: Postgres calls this in the postmaster (at start and after a
    // crash-restart) with the segment just made: the struct is ours, laid
    // out once under AddinShmemInitLock, and its address and the lock
    // array are set before any backend is forked.
    unsafe {
        if let Some(prev) = PREV_STARTUP {
            prev();
        }
        BASE = std::ptr::null_mut();
        if bytes() < CodePool::MIN_BYTES {
            return;
        }
        let init_lock = &mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let raw = pg_sys::ShmemInitStruct(SEGMENT.as_ptr(), bytes() + 64, &mut found) as *mut u8;
        let base = raw.add(raw.align_offset(64));
        let ok = found || CodePool::init(base, bytes(), SLOTS);
        LOCKS = pg_sys::GetNamedLWLockTranche(TRANCHE.as_ptr());
        pg_sys::LWLockRelease(init_lock);
        if ok {
            BASE = base;
        }
    }
}

struct PgHost;

fn lwlock(i: usize) -> *mut pg_sys::LWLock {
    assert!(i <= SLOTS);
    // SAFETY: lock `i` of the SLOTS + 1 of our tranche, set up before this
    // backend was forked.
    unsafe { &raw mut (*LOCKS.add(i)).lock }
}

/// Whether the main file of relation file node `rel` (not a temporary
/// relation's) is gone: dropped, or replaced by a new file (see
/// `PgHost::is_gone`).
pub fn relation_gone(db: u32, spc: u32, rel: u32) -> bool {
    // SAFETY: GetRelationPath returns a palloc'd path, relative to the
    // data directory (the current directory of every backend).
    let path = unsafe {
        let p = pg_sys::GetRelationPath(
            db.into(),
            spc.into(),
            rel.into(),
            -1, // InvalidBackendId: not a temporary relation
            pg_sys::ForkNumber::MAIN_FORKNUM,
        );
        let s = CStr::from_ptr(p).to_string_lossy().into_owned();
        pg_sys::pfree(p.cast());
        s
    };
    match std::fs::metadata(path) {
        Ok(m) => m.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

impl PoolHost for PgHost {
    fn lock(&self, i: usize, exclusive: bool) {
        let mode = if exclusive {
            pg_sys::LWLockMode::LW_EXCLUSIVE
        } else {
            pg_sys::LWLockMode::LW_SHARED
        };
        // SAFETY: one of our LWLocks; released by `unlock`, or by
        // Postgres's LWLockReleaseAll if an ERROR intervenes.
        unsafe { pg_sys::LWLockAcquire(lwlock(i), mode) };
    }

    fn try_lock(&self, i: usize) -> bool {
        // SAFETY: as in `lock`.
        unsafe { pg_sys::LWLockConditionalAcquire(lwlock(i), pg_sys::LWLockMode::LW_EXCLUSIVE) }
    }

    fn unlock(&self, i: usize) {
        // SAFETY: the pool releases only locks it took through `lock`.
        unsafe { pg_sys::LWLockRelease(lwlock(i)) };
    }

    /// Gone when its main file is: missing, or truncated to nothing, as
    /// Postgres leaves the file of a relation dropped (or replaced by a new
    /// file) at commit until the next checkpoint unlinks it. Those happen
    /// under an AccessExclusiveLock, so no backend can still be reading.
    fn is_gone(&self, key: &AreaKey) -> bool {
        relation_gone(key.db, key.spc, key.rel)
    }

    /// Whether another backend holds any lock on the index: every reader
    /// does while it reads.
    fn in_use(&self, key: &AreaKey) -> bool {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: key.db,
            locktag_field2: key.oid,
            locktag_field3: 0,
            locktag_field4: 0,
            locktag_type: pg_sys::LockTagType::LOCKTAG_RELATION as u8,
            locktag_lockmethodid: 1, // DEFAULT_LOCKMETHOD
        };
        let mut count = 0;
        // SAFETY: a relation lock tag; the result is palloc'd in the
        // current context and only its count is used.
        unsafe {
            let vxids =
                pg_sys::GetLockConflicts(&tag, pg_sys::AccessExclusiveLock as i32, &mut count);
            pg_sys::pfree(vxids.cast());
        }
        count > 0
    }
}

/// The pool, if this server has one: `shared_preload_libraries` names
/// diskvec and `diskvec.shared_memory` is not 0.
pub fn pool() -> Option<&'static CodePool> {
    static POOL: OnceLock<Option<CodePool>> = OnceLock::new();
    POOL.get_or_init(|| {
        // SAFETY: BASE is the region laid out by `startup` in the
        // postmaster, mapped at this address in every child for the life
        // of the process, and reached only under our tranche's locks.
        unsafe {
            let base = BASE;
            (!base.is_null())
                .then(|| CodePool::attach(base, Box::new(PgHost)))
                .flatten()
        }
    })
    .as_ref()
}

/// The pool key of an index: none for a temporary one (only its backend
/// can see it, and its file is named after that backend).
pub fn key_of(rel: pg_sys::Relation) -> Option<AreaKey> {
    // SAFETY: callers pass an open relation.
    let (n, oid, persistence) = unsafe {
        let r = &*rel;
        (r.rd_node, r.rd_id, (*r.rd_rel).relpersistence as u8)
    };
    (persistence != pg_sys::RELPERSISTENCE_TEMP).then(|| AreaKey {
        db: n.dbNode.into(),
        spc: n.spcNode.into(),
        rel: n.relNode.into(),
        oid: oid.into(),
    })
}

/// The configured size in bytes (0 when sharing is off).
pub fn configured_bytes() -> usize {
    if pool().is_some() {
        bytes()
    } else {
        0
    }
}

/// How to turn sharing on, for messages.
pub const HOW_TO_SHARE: &str = "Add diskvec to shared_preload_libraries (ALTER SYSTEM SET shared_preload_libraries = 'diskvec', keeping any libraries already there) and restart the server; diskvec.shared_memory sets the size (default 1GB).";
