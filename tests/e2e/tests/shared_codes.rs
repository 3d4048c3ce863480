//! Codes held once per server: with diskvec preloaded (as the suite's
//! server and every test server here are), each index's codes live in
//! shared memory, one copy for every backend. These tests check that this
//! copy is never read stale: rows another backend committed are found,
//! rebuilds and drops release or replace it, a pool too small for every
//! index still answers (and says so in the log), and a server without the
//! preload works as before and says how to share.
//! The replica and crash cases run in `reliability.rs`, on preloaded
//! servers too.

use diskvec_e2e::server::{port_for, Server};
use diskvec_e2e::{connect, fresh_database, load_vectors, Vector};
use diskvec_engine::dataset;
use postgres::Client;

fn glove(n: usize) -> (Vec<f32>, usize) {
    let ds = dataset::load("glove50");
    let dim = ds.base.cols;
    (ds.base.data[..n * dim].to_vec(), dim)
}

fn database(c: &mut Client) -> String {
    c.query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0)
}

/// `(status, shared)` of the index's area in `diskvec_memory`, if any.
fn area(c: &mut Client, index: &str) -> Option<(String, bool)> {
    c.query_opt(
        "SELECT status, shared FROM diskvec_memory WHERE index = $1::text::regclass",
        &[&index],
    )
    .unwrap()
    .map(|r| (r.get(0), r.get(1)))
}

/// Areas in the pool for file node `node` of database `db`.
fn areas_of(c: &mut Client, db: &str, node: u32) -> i64 {
    c.query_one(
        "SELECT count(*) FROM diskvec_memory WHERE database = $1 AND relfilenode = $2",
        &[&db, &node],
    )
    .unwrap()
    .get(0)
}

fn node_of(c: &mut Client, index: &str) -> u32 {
    c.query_one(
        "SELECT relfilenode FROM pg_class WHERE relname = $1",
        &[&index],
    )
    .unwrap()
    .get(0)
}

/// The id of the row nearest to `v` through the index.
fn nearest(c: &mut Client, table: &str, v: &[f32]) -> i32 {
    c.batch_execute("SET enable_seqscan = off").unwrap();
    c.query_one(
        &format!("SELECT id FROM {table} ORDER BY embedding <-> $1 LIMIT 1"),
        &[&Vector(v)],
    )
    .unwrap()
    .get(0)
}

#[test]
fn rows_one_backend_commits_are_found_by_the_next_scan_of_another() {
    let (data, dim) = glove(12_000);
    let n = 10_000;
    let mut a = fresh_database("shared_inserts");
    let db = database(&mut a);
    load_vectors(&mut a, "items", &data[..n * dim], dim);
    a.batch_execute("CREATE INDEX items_idx ON items USING diskvec (embedding)")
        .unwrap();
    // Eight backends search: the codes are loaded once, held once.
    let mut readers: Vec<Client> = (0..8).map(|_| connect(&db)).collect();
    for (i, r) in readers.iter_mut().enumerate() {
        let row = i * 97;
        assert_eq!(
            nearest(r, "items", &data[row * dim..(row + 1) * dim]),
            row as i32 + 1
        );
    }
    assert_eq!(area(&mut a, "items_idx"), Some(("ready".into(), true)));
    let node = node_of(&mut a, "items_idx");
    assert_eq!(areas_of(&mut a, &db, node), 1);
    // Each writer commits rows; every reader's next scan finds each one,
    // whichever backend wrote it.
    let ins = a.prepare("INSERT INTO items VALUES ($1, $2)").unwrap();
    for (k, row) in (n..n + 400).enumerate() {
        let v = &data[row * dim..(row + 1) * dim];
        let writer = if k % 2 == 0 { &mut a } else { &mut readers[7] };
        let stmt = writer.prepare("INSERT INTO items VALUES ($1, $2)").unwrap();
        writer
            .execute(&stmt, &[&(row as i32 + 1), &Vector(v)])
            .unwrap();
        if k % 20 == 0 {
            for r in readers.iter_mut().take(7) {
                assert_eq!(nearest(r, "items", v), row as i32 + 1, "row {row}");
            }
        }
    }
    drop(ins);
    // After a VACUUM of deletes, no reader returns a deleted row, and slots
    // freed by it are reused by another backend's inserts.
    a.batch_execute("DELETE FROM items WHERE id % 3 = 0")
        .unwrap();
    a.batch_execute("VACUUM items").unwrap();
    for r in readers.iter_mut() {
        let row = 3 * 50 - 1; // id 150
        let got = nearest(r, "items", &data[row * dim..(row + 1) * dim]);
        assert_ne!(got, 150);
    }
    let verify: String = a
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .unwrap()
        .get(0);
    assert!(verify.contains("consistent"), "{verify}");
    assert_eq!(areas_of(&mut a, &db, node), 1);
}

#[test]
fn rebuilds_and_drops_replace_or_release_the_shared_area() {
    let (data, dim) = glove(6_000);
    let mut a = fresh_database("shared_rebuilds");
    let db = database(&mut a);
    load_vectors(&mut a, "items", &data[..5_000 * dim], dim);
    a.batch_execute("CREATE INDEX items_idx ON items USING diskvec (embedding)")
        .unwrap();
    // `b` keeps a handle of each file it searched; it must never use one
    // after the file is replaced.
    let mut b = connect(&db);
    let probe = |c: &mut Client, row: usize| nearest(c, "items", &data[row * dim..(row + 1) * dim]);
    assert_eq!(probe(&mut b, 10), 11);
    for rebuild in [
        "REINDEX INDEX items_idx",
        "VACUUM FULL items",
        "REINDEX INDEX CONCURRENTLY items_idx",
    ] {
        let old = node_of(&mut a, "items_idx");
        assert_eq!(probe(&mut a, 20), 21);
        a.batch_execute(rebuild).unwrap();
        let new = node_of(&mut a, "items_idx");
        assert_ne!(old, new, "{rebuild}");
        assert_eq!(probe(&mut b, 30), 31, "{rebuild}");
        assert_eq!(areas_of(&mut a, &db, old), 0, "{rebuild}: old area kept");
        assert_eq!(areas_of(&mut a, &db, new), 1, "{rebuild}");
    }
    // TRUNCATE and other rows: the old codes must not answer.
    let old = node_of(&mut a, "items_idx");
    a.batch_execute("TRUNCATE items").unwrap();
    let rows = diskvec_e2e::vector_rows(&data[5_000 * dim..6_000 * dim], dim, 5_001);
    diskvec_e2e::copy_in(&mut a, "COPY items FROM STDIN (FORMAT binary)", &rows).unwrap();
    // Row 5_010 is id 5_011 now; an old row's vector finds a new row.
    assert_eq!(probe(&mut b, 5_010), 5_011);
    assert!(probe(&mut b, 10) > 5_000);
    assert_eq!(areas_of(&mut a, &db, old), 0);
    // DROP INDEX releases its area.
    let node = node_of(&mut a, "items_idx");
    assert_eq!(areas_of(&mut a, &db, node), 1);
    a.batch_execute("DROP INDEX items_idx").unwrap();
    assert_eq!(areas_of(&mut a, &db, node), 0);
    // DROP DATABASE releases every area of the database.
    a.batch_execute("CREATE INDEX items_idx ON items USING diskvec (embedding)")
        .unwrap();
    assert_eq!(probe(&mut a, 5_100), 5_101);
    let node = node_of(&mut a, "items_idx");
    drop((a, b));
    let mut admin = fresh_database("shared_rebuilds_watch");
    assert_eq!(areas_of(&mut admin, &db, node), 1);
    admin
        .batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .unwrap();
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM diskvec_memory WHERE relfilenode = $1 AND database IS NULL",
            &[&node],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[test]
fn a_pool_too_small_for_every_index_still_answers() {
    // Two indexes of about 3.7 MB of codes each; the pool has room for one.
    let n = 50_000;
    let (data, dim) = glove(2 * n);
    let srv = Server::start(
        "smallpool",
        port_for(36),
        &["diskvec.shared_memory = '8MB'"],
    );
    let mut a = srv.connect("postgres");
    a.batch_execute("CREATE EXTENSION diskvec").unwrap();
    load_vectors(&mut a, "one", &data[..n * dim], dim);
    load_vectors(&mut a, "two", &data[n * dim..], dim);
    a.batch_execute(
        "SET maintenance_work_mem = '512MB';
         CREATE INDEX one_idx ON one USING diskvec (embedding);
         CREATE INDEX two_idx ON two USING diskvec (embedding)",
    )
    .unwrap();
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    // `a` keeps `one` open (a transaction that searched it holds its lock):
    // its area cannot go, so `two` is searched from the backend's own copy.
    a.batch_execute("BEGIN").unwrap();
    assert_eq!(nearest(&mut a, "one", row(5)), 6);
    assert_eq!(area(&mut a, "one_idx"), Some(("ready".into(), true)));
    let mut b = srv.connect("postgres");
    for i in [7, 700, 7_000] {
        assert_eq!(nearest(&mut b, "two", row(n + i)), i as i32 + 1);
    }
    assert_eq!(area(&mut b, "two_idx"), Some(("pool full".into(), false)));
    let log = srv.log();
    assert!(
        log.contains("the codes of index \"two_idx\"")
            && log.contains("do not fit in diskvec.shared_memory"),
        "no log line for the full pool:\n{log}"
    );
    // Once no transaction holds `one`, the least recently used area makes
    // room: a new connection gets `two` shared.
    a.batch_execute("COMMIT").unwrap();
    let mut c = srv.connect("postgres");
    assert_eq!(nearest(&mut c, "two", row(n + 9)), 10);
    assert_eq!(area(&mut c, "two_idx"), Some(("ready".into(), true)));
    assert_eq!(area(&mut c, "one_idx"), None);
    let evictions: i64 = c
        .query_one("SELECT evictions FROM diskvec_shared_memory", &[])
        .unwrap()
        .get(0);
    assert!(evictions >= 1);
    // And back: every answer is right wherever the codes are.
    for i in [11, 1_100, 11_000] {
        assert_eq!(nearest(&mut a, "one", row(i)), i as i32 + 1);
        assert_eq!(nearest(&mut b, "two", row(n + i)), i as i32 + 1);
        assert_eq!(nearest(&mut c, "two", row(n + i)), i as i32 + 1);
    }
}

#[test]
fn without_the_preload_it_works_and_says_how_to_share() {
    use std::sync::{Arc, Mutex};
    let (data, dim) = glove(3_000);
    let srv = Server::start(
        "nopreload",
        port_for(37),
        &["shared_preload_libraries = ''"],
    );
    let notices: Arc<Mutex<Vec<(String, Option<String>)>>> = Arc::default();
    let seen = notices.clone();
    let mut c = postgres::Config::new()
        .host("/tmp")
        .port(srv.port)
        .user("postgres")
        .dbname("postgres")
        .notice_callback(move |n| {
            seen.lock()
                .unwrap()
                .push((n.message().to_string(), n.hint().map(str::to_string)))
        })
        .connect(postgres::NoTls)
        .unwrap();
    c.batch_execute("CREATE EXTENSION diskvec").unwrap();
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices
            .iter()
            .any(|(m, h)| m.contains("codes are not shared")
                && h.as_deref()
                    .is_some_and(|h| h.contains("shared_preload_libraries"))),
        "{notices:?}"
    );
    load_vectors(&mut c, "items", &data, dim);
    c.batch_execute("CREATE INDEX items_idx ON items USING diskvec (embedding)")
        .unwrap();
    assert_eq!(nearest(&mut c, "items", &data[42 * dim..43 * dim]), 43);
    assert_eq!(area(&mut c, "items_idx"), Some(("private".into(), false)));
    let enabled: bool = c
        .query_one("SELECT enabled FROM diskvec_shared_memory", &[])
        .unwrap()
        .get(0);
    assert!(!enabled);
    let said: String = c
        .query_one("SELECT diskvec_prewarm('items_idx')", &[])
        .unwrap()
        .get(0);
    assert!(said.contains("not in shared_preload_libraries"), "{said}");
}
