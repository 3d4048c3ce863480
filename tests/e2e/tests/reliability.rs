//! Reliability of the diskvec index on real servers: crashes (kill -9)
//! under concurrent inserts, a streaming replica, and a pgbench mix of
//! inserts, deletes, searches and VACUUM. Each test prints its figures.

use diskvec_e2e::server::{as_postgres, pg_bin, port_for, Server};
use diskvec_e2e::{binary_copy, copy_in, fresh_database, Vector};
use diskvec_engine::dataset::{self, recall};
use postgres::Client;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn glove() -> (Vec<f32>, Vec<f32>, usize) {
    let ds = dataset::load("glove50");
    (ds.base.data, ds.queries.data, ds.base.cols)
}

/// `items (id int8 primary key, embedding vector(dim))` with rows
/// `0..n` of `base` (id = row + 1) and a cosine index.
fn setup(client: &mut Client, base: &[f32], dim: usize, n: usize) {
    client
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS diskvec;
             CREATE TABLE items (id int8 PRIMARY KEY, embedding vector({dim}))"
        ))
        .unwrap();
    let rows: Vec<Vec<Option<Vec<u8>>>> = (0..n)
        .map(|i| {
            let mut v = Vec::new();
            diskvec_engine::vector_text::encode_vector_binary(
                &base[i * dim..(i + 1) * dim],
                &mut v,
            );
            vec![Some(((i + 1) as i64).to_be_bytes().to_vec()), Some(v)]
        })
        .collect();
    copy_in(
        client,
        "COPY items FROM STDIN (FORMAT binary)",
        &binary_copy(&rows),
    )
    .unwrap();
    client
        .batch_execute(
            "CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)",
        )
        .unwrap();
}

fn verify(client: &mut Client) -> String {
    client
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .unwrap_or_else(|e| panic!("diskvec_verify: {:?}", e.as_db_error()))
        .get(0)
}

/// Does a search for the row's own vector return it (or an identical one)?
fn finds_itself(client: &mut Client, stmt: &postgres::Statement, v: &[f32], id: i64) -> bool {
    let row = client.query_one(stmt, &[&Vector(v)]).unwrap();
    let got: i64 = row.get(0);
    let got_v: String = row.get(1);
    got == id || got_v == diskvec_engine::vector_text::format_vector_text(v)
}

#[test]
fn survives_kill_9_during_concurrent_inserts() {
    let (base, _, dim) = glove();
    let srv = Server::start("crash", port_for(20), &["max_connections = 40"]);
    let mut c = srv.connect("postgres");
    setup(&mut c, &base, dim, 10_000);
    drop(c);
    let committed: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sessions = 4;
    let rounds = 5;
    for round in 0..rounds {
        std::thread::scope(|s| {
            for t in 0..sessions {
                let committed = committed.clone();
                let base = &base;
                let srv = &srv;
                s.spawn(move || {
                    let Ok(mut c) = std::panic::catch_unwind(|| srv.connect("postgres")) else {
                        return;
                    };
                    let stmt = c.prepare("INSERT INTO items VALUES ($1, $2)").unwrap();
                    for i in 0.. {
                        let id = 1_000_000 * (round + 1) as i64 + 100_000 * t as i64 + i;
                        let row = 10_000 + ((id as usize * 7919) % (base.len() / dim - 10_000));
                        let v = Vector(&base[row * dim..(row + 1) * dim]);
                        match c.execute(&stmt, &[&id, &v]) {
                            Ok(_) => committed.lock().unwrap().push(id),
                            Err(_) => return, // the server is gone
                        }
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(1500 + 500 * round as u64));
            srv.kill9();
        });
        srv.up();
    }
    let committed = committed.lock().unwrap().clone();
    let mut c = srv.connect("postgres");
    // The codes are in shared memory, made anew at each restart: nothing
    // from before a crash is read.
    let shared: bool = c
        .query_one("SELECT enabled FROM diskvec_shared_memory", &[])
        .unwrap()
        .get(0);
    assert!(shared, "the crash test's server does not share its codes");
    // Every committed row is in the table...
    let present: i64 = c
        .query_one(
            "SELECT count(*) FROM items WHERE id = ANY($1)",
            &[&committed],
        )
        .unwrap()
        .get(0);
    let lost = committed.len() as i64 - present;
    // ... in the index (diskvec_verify checks every live heap row) ...
    let report = verify(&mut c);
    // ... and found by an index scan for its own vector.
    c.batch_execute("SET enable_seqscan = off").unwrap();
    let stmt = c
        .prepare("SELECT id, embedding::text FROM items ORDER BY embedding <=> $1 LIMIT 1")
        .unwrap();
    let mut found = 0;
    let sample: Vec<i64> = committed.iter().step_by(7).copied().collect();
    for &id in &sample {
        let row = 10_000 + ((id as usize * 7919) % (base.len() / dim - 10_000));
        found += finds_itself(&mut c, &stmt, &base[row * dim..(row + 1) * dim], id) as usize;
    }
    println!(
        "crashes survived: {rounds}; rows inserted and committed: {}; rows lost: {lost}; \
         committed rows found by their own vector: {found} of {} sampled; {report}",
        committed.len(),
        sample.len()
    );
    assert!(committed.len() > 100, "too few inserts to mean anything");
    assert_eq!(lost, 0);
    assert!(
        found >= sample.len() * 99 / 100,
        "{found} of {}",
        sample.len()
    );
    assert!(!srv.log().contains("PANIC"), "server log has a PANIC");
}

#[test]
fn replica_returns_the_same_results() {
    let (base, queries, dim) = glove();
    let primary = Server::start("primary", port_for(21), &["wal_level = replica"]);
    let mut p = primary.connect("postgres");
    setup(&mut p, &base, dim, 5_000);
    let replica = Server::replica_of(&primary, "replica", port_for(22));
    // The replica loads its codes (into its shared memory) before the
    // churn: what it answers afterwards comes from that area, refreshed
    // from the replayed pages, through this backend's old handle and a new
    // backend's alike.
    let mut r0 = replica.connect("postgres");
    r0.batch_execute("SET enable_seqscan = off").unwrap();
    r0.query(
        "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10",
        &[&Vector(&queries[..dim])],
    )
    .unwrap();
    let shared: bool = r0
        .query_one(
            "SELECT shared FROM diskvec_memory WHERE index = 'items_idx'::regclass",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(shared, "the replica's codes are not in shared memory");
    let mut next = 5_000usize;
    for cycle in 0..10 {
        let mut tx = p.transaction().unwrap();
        let stmt = tx.prepare("INSERT INTO items VALUES ($1, $2)").unwrap();
        for _ in 0..300 {
            tx.execute(
                &stmt,
                &[
                    &((next + 1) as i64),
                    &Vector(&base[next * dim..(next + 1) * dim]),
                ],
            )
            .unwrap();
            next += 1;
        }
        tx.commit().unwrap();
        p.execute(
            "DELETE FROM items WHERE id % 10 = $1 AND id <= $2",
            &[&(cycle as i64), &(next as i64)],
        )
        .unwrap();
        p.batch_execute("VACUUM items").unwrap();
    }
    let lsn: String = p
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    let mut r = replica.connect("postgres");
    let start = Instant::now();
    loop {
        let caught_up: bool = r
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&lsn],
            )
            .unwrap()
            .get(0);
        if caught_up {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "replica does not catch up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both sides through the index (the planner's choice is tested elsewhere).
    p.batch_execute("SET enable_seqscan = off").unwrap();
    r.batch_execute("SET enable_seqscan = off").unwrap();
    let sql = "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10";
    let (sp, sr) = (p.prepare(sql).unwrap(), r.prepare(sql).unwrap());
    let s0 = r0.prepare(sql).unwrap();
    let plan: String = r
        .query(&format!("EXPLAIN {sql}"), &[&Vector(&queries[..dim])])
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join(" / ");
    let mut mismatches = 0;
    for q in queries.chunks_exact(dim).take(100) {
        let a: Vec<i64> = p
            .query(&sp, &[&Vector(q)])
            .unwrap()
            .iter()
            .map(|x| x.get(0))
            .collect();
        let b: Vec<i64> = r
            .query(&sr, &[&Vector(q)])
            .unwrap()
            .iter()
            .map(|x| x.get(0))
            .collect();
        let c: Vec<i64> = r0
            .query(&s0, &[&Vector(q)])
            .unwrap()
            .iter()
            .map(|x| x.get(0))
            .collect();
        assert_eq!(a.len(), 10);
        mismatches += (a != b || a != c) as usize;
    }
    println!(
        "replica: 10 cycles of insert 300 / delete ~10% / VACUUM; 100 queries, {mismatches} mismatches; replica plan: {plan}"
    );
    assert!(plan.contains("items_idx"), "{plan}");
    assert_eq!(mismatches, 0);
}

#[test]
fn pgbench_mix_of_writes_searches_and_vacuum() {
    let (base, queries, dim) = glove();
    let n = 20_000;
    let mut c = fresh_database("pgbench");
    setup(&mut c, &base, dim, n);
    c.batch_execute(&format!(
        "CREATE SEQUENCE items_id START {}; ALTER TABLE items ALTER id SET DEFAULT nextval('items_id')",
        n + 1
    ))
    .unwrap();
    let db: String = c
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let dir = std::env::temp_dir().join(format!("diskvec-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = [
        (
            "search.sql",
            10,
            format!(
                "\\set id random(1, {n})\n\
                 SELECT id FROM items ORDER BY embedding <=> (SELECT embedding FROM items WHERE id = :id) LIMIT 10;\n"
            ),
        ),
        (
            "insert.sql",
            4,
            format!(
                "\\set id random(1, {n})\n\
                 INSERT INTO items (embedding) SELECT array_agg(x + (random() - 0.5) * 0.05)::vector \
                 FROM unnest((SELECT embedding FROM items WHERE id = :id)::real[]) x HAVING count(*) > 0;\n"
            ),
        ),
        ("delete.sql", 2, format!("\\set id random(1, {n})\nDELETE FROM items WHERE id = :id;\n")),
        ("vacuum.sql", 1, "VACUUM items;\n".to_string()),
    ];
    let mut args: Vec<String> = vec![
        format!("{}/pgbench", pg_bin()),
        "-h".into(),
        "/tmp".into(),
        "-p".into(),
        diskvec_e2e::port().to_string(),
        "-U".into(),
        "postgres".into(),
        "-n".into(),
        "-c".into(),
        "4".into(),
        "-j".into(),
        "2".into(),
        "-T".into(),
        "20".into(),
    ];
    for (name, weight, body) in &scripts {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        args.push("-f".into());
        args.push(format!("{}@{weight}", path.display()));
    }
    args.push(db.clone());
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = as_postgres(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let field = |key: &str| -> i64 {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.split_whitespace().next().unwrap().parse().unwrap())
            .unwrap_or_else(|| panic!("no '{key}' in pgbench output:\n{out}"))
    };
    let done = field("number of transactions actually processed: ");
    let failed = field("number of failed transactions: ");
    // Afterwards: the index is consistent and recall against exact search
    // holds.
    let report = verify(&mut c);
    let stmt = c
        .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    let mut got = Vec::new();
    let mut truth = Vec::new();
    for q in queries.chunks_exact(dim).take(100) {
        got.push(
            c.query(&stmt, &[&Vector(q)])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i64>(0) as u64)
                .collect::<Vec<_>>(),
        );
    }
    c.batch_execute("SET enable_indexscan = off").unwrap();
    for q in queries.chunks_exact(dim).take(100) {
        truth.push(
            c.query(&stmt, &[&Vector(q)])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i64>(0) as u32)
                .collect::<Vec<_>>(),
        );
    }
    let r = recall(&got, &truth, 10);
    println!("pgbench: 4 clients, 20 s: {done} transactions, {failed} failed; recall@10 afterwards {r:.4}; {report}");
    assert_eq!(failed, 0, "{out}");
    assert!(done > 100, "{out}");
    assert!(r >= 0.95, "recall@10 {r}");
}

#[test]
fn flipped_bytes_in_the_index_file_are_reported_not_returned() {
    let (base, queries, dim) = glove();
    let srv = Server::start("flips", port_for(23), &[]);
    let mut c = srv.connect("postgres");
    setup(&mut c, &base, dim, 3_000);
    c.batch_execute("CHECKPOINT").unwrap();
    let rel: String = c
        .query_one("SELECT pg_relation_filepath('items_idx')", &[])
        .unwrap()
        .get(0);
    let pages: i64 = c
        .query_one("SELECT pg_relation_size('items_idx') / 8192", &[])
        .unwrap()
        .get(0);
    drop(c);
    let path = srv.dir.join(rel);
    let (mut injected, mut detected) = (0, 0);
    for i in 0..5i64 {
        let blk = 1 + (i * 37) % (pages - 1);
        let off = (blk * 8192 + 200 + i * 911) as u64;
        srv.stop();
        let flip = |path: &std::path::Path| {
            use std::os::unix::fs::FileExt;
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            let mut b = [0u8];
            f.read_exact_at(&mut b, off).unwrap();
            b[0] ^= 0x20;
            f.write_all_at(&b, off).unwrap();
        };
        flip(&path);
        injected += 1;
        srv.up();
        let mut c = srv.connect("postgres");
        // Postgres's page checksum (the test cluster has data checksums)
        // catches the flip on read: verify fails, and so does a search that
        // reaches the page, rather than returning wrong rows.
        match c.query_one("SELECT diskvec_verify('items_idx')", &[]) {
            Err(e) => {
                let msg = e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_default();
                assert!(
                    msg.contains("invalid page") || msg.contains("corrupt"),
                    "{msg}"
                );
                detected += 1;
            }
            Ok(row) => panic!(
                "block {blk} flipped, verify says: {}",
                row.get::<_, String>(0)
            ),
        }
        drop(c);
        srv.stop();
        flip(&path); // put it back
        srv.up();
        let mut c = srv.connect("postgres");
        verify(&mut c);
        let n = c
            .query(
                "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10",
                &[&Vector(&queries[..dim])],
            )
            .unwrap()
            .len();
        assert_eq!(n, 10);
    }
    println!("index file: {injected} byte flips injected, {detected} reported (page checksum), none returned as data");
    assert_eq!(detected, injected);
}

#[test]
fn an_index_of_another_format_version_asks_for_reindex() {
    let (base, queries, dim) = glove();
    // No data checksums: the page must reach diskvec's own format check.
    let srv = Server::start_with("format", port_for(24), &[], false);
    let mut c = srv.connect("postgres");
    setup(&mut c, &base, dim, 2_000);
    c.batch_execute("CHECKPOINT").unwrap();
    let rel: String = c
        .query_one("SELECT pg_relation_filepath('items_idx')", &[])
        .unwrap()
        .get(0);
    drop(c);
    srv.stop();
    {
        // The meta page's format version: a u16 at byte 8 of the engine
        // page, after the 24-byte Postgres page header. Pretend version 1.
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(srv.dir.join(rel))
            .unwrap();
        f.write_all_at(&1u16.to_le_bytes(), 24 + 8).unwrap();
    }
    srv.up();
    let mut c = srv.connect("postgres");
    c.batch_execute("SET enable_seqscan = off").unwrap();
    let sql = "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10";
    let err = c.query(sql, &[&Vector(&queries[..dim])]).unwrap_err();
    let db = err.as_db_error().expect("a server error");
    println!("{}: {} ({:?})", db.code().code(), db.message(), db.hint());
    assert!(
        db.message().contains("format version 1"),
        "{}",
        db.message()
    );
    assert!(
        db.hint().unwrap_or_default().contains("REINDEX required"),
        "{:?}",
        db.hint()
    );
    // Inserts refuse too, rather than writing into a page they misread.
    assert!(c
        .execute(
            "INSERT INTO items VALUES (999999, $1)",
            &[&Vector(&queries[..dim])]
        )
        .is_err());
    c.batch_execute("REINDEX INDEX items_idx").unwrap();
    assert_eq!(c.query(sql, &[&Vector(&queries[..dim])]).unwrap().len(), 10);
    verify(&mut c);
}
