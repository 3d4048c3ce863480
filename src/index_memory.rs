//! What the codes cost in memory, and loading them ahead of traffic:
//! `diskvec_prewarm(regclass, boolean)` and the report behind the views
//! `diskvec_memory`, `diskvec_shared_memory` and `diskvec_backend_memory`
//! (sql/diskvec_index.sql).

use crate::code_pool;
use crate::index_cache;
use crate::index_errors::relation_name;
use crate::index_info::OpenIndex;
use diskvec_engine::Placement;
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode::*;

/// The caller may read the table of index `oid` (as pg_prewarm asks of
/// the relation it loads: SELECT).
fn check_can_read(oid: pg_sys::Oid) {
    // SAFETY: catalog lookups by oid; InvalidOid when `oid` is no index.
    let heap = unsafe { pg_sys::IndexGetRelation(oid, true) };
    if heap == pg_sys::InvalidOid {
        crate::errors::raise(
            ERRCODE_WRONG_OBJECT_TYPE,
            "relation is not a diskvec index",
            None,
        );
    }
    // SAFETY: as above; aclcheck_error raises an ERROR.
    unsafe {
        let r = pg_sys::pg_class_aclcheck(heap, pg_sys::GetUserId(), pg_sys::ACL_SELECT as _);
        if r != pg_sys::AclResult::ACLCHECK_OK {
            let kind = pg_sys::get_relkind_objtype(pg_sys::get_rel_relkind(heap));
            pg_sys::aclcheck_error(r, kind, pg_sys::get_rel_name(heap));
        }
    }
}

fn where_codes_are(p: Placement) -> &'static str {
    match p {
        Placement::Shared => "in shared memory, for every connection",
        Placement::PoolFull => {
            "in this connection's own memory (diskvec.shared_memory has no room for them)"
        }
        Placement::Private => {
            "in this connection's own memory (diskvec is not in shared_preload_libraries)"
        }
    }
}

pg_function! {
    /// `diskvec_prewarm(regclass, node_pages boolean DEFAULT false)
    /// RETURNS text`: load the index's codes (into the shared pool when
    /// there is one) and, with `node_pages`, read every page of the index
    /// into shared buffers; says what it loaded.
    fn diskvec_prewarm(args) {
        let oid = args.oid(0);
        let node_pages = args.bool(1);
        check_can_read(oid);
        let rel = OpenIndex::open(oid);
        let index = index_cache::reader(rel.0);
        let mut text = format!(
            "index \"{}\": codes of {} vectors ({:.1} MB) {}",
            relation_name(rel.0),
            index.len(),
            index.code_memory_bytes() as f64 / 1e6,
            where_codes_are(index.placement())
        );
        if node_pages {
            // SAFETY: the open index; each block is pinned (read into a
            // shared buffer if it was not there) and released at once.
            let pages = unsafe {
                let n = pg_sys::RelationGetNumberOfBlocksInFork(rel.0, pg_sys::ForkNumber::MAIN_FORKNUM);
                for b in 0..n {
                    pgrx::check_for_interrupts!();
                    let buf = pg_sys::ReadBufferExtended(
                        rel.0,
                        pg_sys::ForkNumber::MAIN_FORKNUM,
                        b,
                        pg_sys::ReadBufferMode::RBM_NORMAL,
                        std::ptr::null_mut(),
                    );
                    pg_sys::ReleaseBuffer(buf);
                }
                n
            };
            text.push_str(&format!(
                "; {pages} index pages ({:.1} MB) read into shared buffers",
                pages as f64 * pg_sys::BLCKSZ as f64 / 1e6
            ));
        }
        pgrx::IntoDatum::into_datum(text).unwrap()
    }
}

/// This process's private memory as the kernel counts it (`RssAnon`: its
/// own heap and stack, not shared memory or mapped files), in bytes.
fn private_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pg_function! {
    /// `diskvec_memory_report() RETURNS text`: JSON with the pool
    /// (`pool`), one entry per index with codes in memory, in the pool or
    /// in this backend (`indexes`), and this backend (`backend`).
    fn diskvec_memory_report(_args) {
        index_cache::prune();
        let handles = index_cache::handles();
        let mine = |db: u32, oid: u32, rel: u32| {
            handles
                .iter()
                .find(|h| (h.0, h.1, h.2) == (db, oid, rel))
                .map(|h| h.3.private_memory_bytes())
        };
        let opt = |v: Option<usize>| v.map_or("null".to_string(), |b| b.to_string());
        let mut rows = Vec::new();
        let pool = code_pool::pool();
        if let Some(pool) = pool {
            pool.sweep();
            for s in pool.slots() {
                let k = s.key;
                rows.push(format!(
                    r#"{{"database":{},"index_oid":{},"relfilenode":{},"status":"{}","shared":true,"entries":{},"live":{},"shared_bytes":{},"backend_bytes":{}}}"#,
                    k.db, k.oid, k.rel, s.status, s.entries, s.live, s.bytes, opt(mine(k.db, k.oid, k.rel))
                ));
            }
        }
        for (db, oid, rel, h) in &handles {
            let status = match h.placement() {
                Placement::Shared => continue,
                Placement::PoolFull => "pool full",
                Placement::Private => "private",
            };
            rows.push(format!(
                r#"{{"database":{db},"index_oid":{oid},"relfilenode":{rel},"status":"{status}","shared":false,"entries":{},"live":{},"shared_bytes":0,"backend_bytes":{}}}"#,
                h.slots(), h.len(), h.private_memory_bytes()
            ));
        }
        let st = pool.map(|p| p.stats()).unwrap_or_default();
        let diskvec_bytes: usize = handles.iter().map(|h| h.3.private_memory_bytes()).sum();
        // SAFETY: a plain process-global integer.
        let pid = unsafe { pg_sys::MyProcPid };
        let json = format!(
            r#"{{"pool":{{"enabled":{},"size_bytes":{},"used_bytes":{},"indexes":{},"max_indexes":{},"loads":{},"evictions":{},"refusals":{}}},"indexes":[{}],"backend":{{"pid":{pid},"private_bytes":{},"diskvec_bytes":{diskvec_bytes}}}}}"#,
            pool.is_some(), st.bytes, st.bytes_used, st.slots_used, st.slots, st.loads, st.evictions, st.refusals,
            rows.join(","),
            private_rss()
        );
        pgrx::IntoDatum::into_datum(json).unwrap()
    }
}

pg_function! {
    /// `diskvec_shared_mode_hint() RETURNS text`: NULL when the codes are
    /// shared, else how to share them (for `CREATE EXTENSION`'s notice).
    fn diskvec_shared_mode_hint(args) {
        if code_pool::pool().is_some() {
            return args.null();
        }
        pgrx::IntoDatum::into_datum(code_pool::HOW_TO_SHARE.to_string()).unwrap()
    }
}
