//! The worker threads of an index build.
//!
//! The engine's build runs its parallel parts (graph build, encoding) on
//! rayon's global pool, while page writes stay on the calling thread, the
//! backend's own. The workers run only pure engine code, never a Postgres
//! call, and block every signal: Postgres's handlers (cancel, die, latch)
//! must run on the backend's thread.

use std::sync::Once;

static START: Once = Once::new();

/// Start the global pool (all cores) with signals blocked in its threads.
pub fn init() {
    START.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("diskvec-build-{i}"))
            // SAFETY: a zeroed sigset_t is a valid argument to sigfillset,
            // and pthread_sigmask changes only the calling (new) thread's mask.
            .start_handler(|_| unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
            })
            .build_global();
    });
}

/// Whether this backend has a cancel (statement timeout included) or a
/// termination pending: the stop check of a build (`Index::set_stop`),
/// asked from the workers too, so a cancel ends the graph build within a
/// moment, not when it is done. The caller then raises the error with
/// `pgrx::check_for_interrupts!()` on the backend's thread.
pub fn cancel_pending() -> bool {
    // SAFETY: plain reads of sig_atomic_t globals that Postgres's signal
    // handlers set on the backend's thread and ProcessInterrupts clears;
    // a read from a worker may see a change a moment late, never a torn
    // value, and nothing else is touched.
    unsafe {
        std::ptr::read_volatile(&raw const pgrx::pg_sys::QueryCancelPending) != 0
            || std::ptr::read_volatile(&raw const pgrx::pg_sys::ProcDiePending) != 0
    }
}
