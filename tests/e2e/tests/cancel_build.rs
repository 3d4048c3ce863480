//! CREATE INDEX answers a cancel and a statement timeout within about a
//! second in each phase (the heap scan, the graph build on the worker
//! threads, in memory or a cluster at a time when maintenance_work_mem is
//! far below the vectors), leaves nothing behind, and the next build is
//! whole. Prints how long each cancel took to return.

use diskvec_e2e::{connect, fresh_database, load_vectors};
use diskvec_engine::dataset;
use std::time::{Duration, Instant};

const CREATE: &str = "CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)";

/// Longest a cancelled build may take to return (about a second, with
/// room for a loaded machine).
const PROMPT: Duration = Duration::from_secs(3);

fn phase(c: &mut postgres::Client, pid: i32) -> Option<String> {
    c.query_opt(
        "SELECT phase FROM pg_stat_progress_create_index WHERE pid = $1",
        &[&pid],
    )
    .unwrap()
    .map(|r| r.get(0))
}

fn code(e: &postgres::Error) -> Option<String> {
    e.as_db_error().map(|d| d.code().code().to_string())
}

/// diskvec indexes on `items` (its primary key aside).
fn indexes(c: &mut postgres::Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_am a ON a.oid = c.relam
         WHERE i.indrelid = 'items'::regclass AND a.amname = 'diskvec'",
        &[],
    )
    .unwrap()
    .get(0)
}

/// Start CREATE INDEX on another connection, cancel it once its progress
/// shows `wanted`, and return how long the cancel took to end it.
fn cancel_in_phase(c: &mut postgres::Client, db: &str, wanted: &str) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel();
    let build = std::thread::spawn({
        let db = db.to_string();
        move || {
            let mut b = connect(&db);
            let pid: i32 = b.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
            tx.send(pid).unwrap();
            let r = b.batch_execute(CREATE);
            (r, Instant::now())
        }
    });
    let pid = rx.recv().unwrap();
    // The view names an access method's own phases after Postgres's.
    let shown = format!("building index: {wanted}");
    while phase(c, pid).as_deref() != Some(shown.as_str()) {
        assert!(
            !build.is_finished(),
            "the build ended before {shown:?} was seen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    if wanted == "building graph" {
        // Well into it: the worker threads are busy.
        std::thread::sleep(Duration::from_millis(500));
    }
    let cancelled = Instant::now();
    let sent: bool = c
        .query_one("SELECT pg_cancel_backend($1)", &[&pid])
        .unwrap()
        .get(0);
    assert!(sent);
    let (result, ended) = build.join().unwrap();
    let err = result.expect_err("CREATE INDEX should have been cancelled");
    assert_eq!(code(&err).as_deref(), Some("57014"), "{err:?}");
    ended - cancelled
}

#[test]
fn create_index_stops_soon_after_a_cancel_and_leaves_nothing() {
    let ds = dataset::load("glove50");
    let dim = ds.base.cols;
    let n = 200_000;
    let mut c = fresh_database("cancel_build");
    load_vectors(&mut c, "items", &ds.base.data[..n * dim], dim);
    c.batch_execute("ANALYZE items").unwrap();
    let db: String = c
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    // Room for the in-memory graph build on every connection (the default
    // 64 MB would build it a cluster at a time: tried further down).
    c.batch_execute(&format!(
        "ALTER DATABASE {db} SET maintenance_work_mem = '512MB'; SET maintenance_work_mem = '512MB'"
    ))
    .unwrap();

    // A statement timeout during the graph build.
    c.batch_execute("SET statement_timeout = '3s'").unwrap();
    let t = Instant::now();
    let err = c
        .batch_execute(CREATE)
        .expect_err("the timeout should end the build");
    let timed_out = t.elapsed();
    c.batch_execute("RESET statement_timeout").unwrap();
    assert_eq!(code(&err).as_deref(), Some("57014"), "{err:?}");
    assert!(
        timed_out < Duration::from_secs(3) + PROMPT,
        "a 3 s statement timeout ended the build after {timed_out:?}"
    );
    assert_eq!(indexes(&mut c), 0);

    // pg_cancel_backend in the heap scan and in the graph build.
    let mut took = Vec::new();
    for wanted in ["loading tuples", "building graph"] {
        let latency = cancel_in_phase(&mut c, &db, wanted);
        assert!(
            latency < PROMPT,
            "cancelled in {wanted:?}, the build returned after {latency:?}"
        );
        assert_eq!(
            indexes(&mut c),
            0,
            "left behind after a cancel in {wanted:?}"
        );
        took.push(format!("{wanted}: {:.3} s", latency.as_secs_f64()));
    }

    // The cluster-at-a-time build (16 MB for 40 MB of vectors): cancelled
    // in its graph phase, then left to finish, whole.
    c.batch_execute(&format!(
        "ALTER DATABASE {db} SET maintenance_work_mem = '16MB'"
    ))
    .unwrap();
    let latency = cancel_in_phase(&mut c, &db, "building graph");
    assert!(
        latency < PROMPT,
        "cancelled in the cluster build, it returned after {latency:?}"
    );
    assert_eq!(indexes(&mut c), 0, "left behind after a cancel by clusters");
    took.push(format!(
        "building graph by clusters: {:.3} s",
        latency.as_secs_f64()
    ));
    c.batch_execute("SET maintenance_work_mem = '16MB'")
        .unwrap();
    let t = Instant::now();
    c.batch_execute(CREATE).unwrap();
    let by_clusters = t.elapsed();
    let report: String = c
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .unwrap()
        .get(0);
    assert!(report.contains(&format!("{n} live")), "{report}");
    c.batch_execute(&format!(
        "DROP INDEX items_idx; RESET maintenance_work_mem; ALTER DATABASE {db} SET maintenance_work_mem = '512MB'"
    ))
    .unwrap();

    // Nothing stale: the next build is whole.
    let t = Instant::now();
    c.batch_execute(CREATE).unwrap();
    let full = t.elapsed();
    let report: String = c
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .unwrap()
        .get(0);
    assert!(report.contains(&format!("{n} live")), "{report}");
    println!(
        "statement_timeout 3 s: returned after {:.3} s; cancel returned after {}; the whole build took {:.1} s ({:.1} s by clusters in 16 MB)",
        timed_out.as_secs_f64(),
        took.join(", "),
        full.as_secs_f64(),
        by_clusters.as_secs_f64()
    );
}
