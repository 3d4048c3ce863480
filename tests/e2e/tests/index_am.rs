//! The diskvec index through a real server: recall against exact search on
//! real data for each operator class, the planner's choice, delete + VACUUM
//! cycles, and concurrent inserts from several sessions.

use diskvec_e2e::{connect, fresh_database, load_vectors, Vector};
use diskvec_engine::dataset::{self, brute_force, recall};
use diskvec_engine::Metric;
use postgres::Client;

/// A real subset: the first `n` GloVe-50 vectors and `nq` of its queries.
fn glove(n: usize, nq: usize) -> (Vec<f32>, Vec<f32>, usize) {
    let ds = dataset::load("glove50");
    let dim = ds.base.cols;
    (
        ds.base.data[..n * dim].to_vec(),
        ds.queries.data[..nq * dim].to_vec(),
        dim,
    )
}

/// Row ids (0-based, id - 1) of the index's top `k` for each query.
fn knn(
    client: &mut Client,
    table: &str,
    op: &str,
    queries: &[f32],
    dim: usize,
    k: i64,
) -> Vec<Vec<u64>> {
    let stmt = client
        .prepare(&format!(
            "SELECT id FROM {table} ORDER BY embedding {op} $1 LIMIT $2"
        ))
        .unwrap();
    queries
        .chunks_exact(dim)
        .map(|q| {
            client
                .query(&stmt, &[&Vector(q), &k])
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i32>(0) - 1) as u64)
                .collect()
        })
        .collect()
}

fn plan(client: &mut Client, sql: &str, q: &[f32]) -> String {
    client
        .query(&format!("EXPLAIN {sql}"), &[&Vector(q)])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn recall_and_planner_for_each_opclass() {
    let (base, queries, dim) = glove(40_000, 200);
    let mut client = fresh_database("index_recall");
    load_vectors(&mut client, "items", &base, dim);
    client.batch_execute("ANALYZE items").unwrap();
    for (metric, opclass, op) in [
        (Metric::Cosine, "vector_cosine_ops", "<=>"),
        (Metric::L2, "vector_l2_ops", "<->"),
        (Metric::InnerProduct, "vector_ip_ops", "<#>"),
    ] {
        client
            .batch_execute(&format!(
                "SET maintenance_work_mem = '512MB';
                 CREATE INDEX items_idx ON items USING diskvec (embedding {opclass})"
            ))
            .unwrap();
        // The planner picks the index for ORDER BY ... LIMIT on its own,
        // and not for a full ordering or a plain filter.
        let q = &queries[..dim];
        let limited = plan(
            &mut client,
            &format!("SELECT id FROM items ORDER BY embedding {op} $1 LIMIT 10"),
            q,
        );
        assert!(limited.contains("Index Scan using items_idx"), "{limited}");
        let full = plan(
            &mut client,
            &format!("SELECT id FROM items ORDER BY embedding {op} $1"),
            q,
        );
        assert!(!full.contains("items_idx"), "{full}");
        let filter = plan(&mut client, "SELECT id FROM items WHERE embedding = $1", q);
        assert!(!filter.contains("items_idx"), "{filter}");

        let truth = brute_force(&base, dim, &queries, 10, metric);
        let got = knn(&mut client, "items", op, &queries, dim, 10);
        let r = recall(&got, &truth, 10);
        println!("{opclass}: recall@10 {r:.4} at the default settings");
        assert!(r >= 0.95, "{opclass}: recall@10 {r}");
        client.batch_execute("DROP INDEX items_idx").unwrap();
    }
}

#[test]
fn delete_vacuum_cycles_keep_recall_and_reuse_space() {
    let (base, queries, dim) = glove(20_000, 100);
    let n = base.len() / dim;
    let mut client = fresh_database("index_vacuum");
    load_vectors(&mut client, "items", &base, dim);
    client
        .batch_execute("CREATE INDEX items_idx ON items USING diskvec (embedding vector_l2_ops)")
        .unwrap();
    let insert = client
        .prepare("INSERT INTO items (id, embedding) VALUES ($1, $2)")
        .unwrap();
    let mut sizes = Vec::new();
    for cycle in 0..5 {
        // Delete a different 10% each time, vacuum, and put them back.
        let ids: Vec<usize> = (0..n).filter(|i| i % 10 == cycle).collect();
        client
            .execute(
                "DELETE FROM items WHERE (id - 1) % 10 = $1",
                &[&(cycle as i32)],
            )
            .unwrap();
        client.batch_execute("VACUUM items").unwrap();
        // Deleted rows are never returned.
        let got = knn(&mut client, "items", "<->", &queries, dim, 10);
        assert!(got.iter().flatten().all(|&i| i as usize % 10 != cycle));
        let mut tx = client.transaction().unwrap();
        for &i in &ids {
            tx.execute(
                &insert,
                &[&((i + 1) as i32), &Vector(&base[i * dim..(i + 1) * dim])],
            )
            .unwrap();
        }
        tx.commit().unwrap();
        let size: i64 = client
            .query_one("SELECT pg_relation_size('items_idx')", &[])
            .unwrap()
            .get(0);
        sizes.push(size);
        let got = knn(&mut client, "items", "<->", &queries, dim, 10);
        let r = recall(&got, &brute_force(&base, dim, &queries, 10, Metric::L2), 10);
        println!("cycle {cycle}: index {size} bytes, recall@10 {r:.4}");
        assert!(r >= 0.95, "cycle {cycle}: recall@10 {r}");
    }
    // Freed slots are reused: after the first cycle the index stops growing.
    assert!(
        sizes[4] <= sizes[0] + sizes[0] / 50,
        "index keeps growing across cycles: {sizes:?}"
    );
}

#[test]
fn concurrent_inserts_from_several_sessions() {
    let (base, _, dim) = glove(8_000, 0);
    let mut client = fresh_database("index_concurrent");
    client
        .batch_execute(&format!(
            "CREATE TABLE items (id int4 PRIMARY KEY, embedding vector({dim}));
             CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)"
        ))
        .unwrap();
    let dbname: String = client
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let sessions = 4;
    std::thread::scope(|s| {
        for t in 0..sessions {
            let base = &base;
            let dbname = &dbname;
            s.spawn(move || {
                let mut c = connect(dbname);
                let stmt = c
                    .prepare("INSERT INTO items (id, embedding) VALUES ($1, $2)")
                    .unwrap();
                for i in (t..base.len() / dim).step_by(sessions) {
                    c.execute(
                        &stmt,
                        &[&((i + 1) as i32), &Vector(&base[i * dim..(i + 1) * dim])],
                    )
                    .unwrap();
                }
            });
        }
    });
    let n = base.len() / dim;
    // Pages, code entries and every live heap row agree.
    let report: String = client
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .unwrap_or_else(|e| panic!("diskvec_verify: {:?}", e.as_db_error()))
        .get(0);
    assert!(
        report.contains(&format!("{n} live vectors in {n} slots")),
        "{report}"
    );
    // Every row is reachable in the graph: a search whose list is larger
    // than the table visits all of them.
    client
        .batch_execute(
            "SET diskvec.max_scan_tuples = 1000000; SET diskvec.search_list_size = 10000;
             SET enable_seqscan = off",
        )
        .unwrap();
    let all: i64 = client
        .query_one(
            "SELECT count(DISTINCT id) FROM (SELECT id FROM items
               ORDER BY embedding <=> (SELECT embedding FROM items WHERE id = 1) LIMIT 100000) s",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(all as usize, n, "the graph reaches {all} of {n} rows");
    client
        .batch_execute("RESET diskvec.search_list_size")
        .unwrap();
    // And each row's own vector finds it first (sampled).
    let stmt = client
        .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 1")
        .unwrap();
    let mut found = 0;
    let sample: Vec<usize> = (0..n).step_by(8).collect();
    for &i in &sample {
        let row = client
            .query_one(&stmt, &[&Vector(&base[i * dim..(i + 1) * dim])])
            .unwrap();
        let id: i32 = row.get(0);
        let hit = id as usize == i + 1
            || base[(id as usize - 1) * dim..id as usize * dim] == base[i * dim..(i + 1) * dim];
        found += hit as usize;
    }
    assert!(
        found >= sample.len() * 99 / 100,
        "{found} of {} rows found by their own vector",
        sample.len()
    );
}

#[test]
fn build_reports_progress() {
    let (base, _, dim) = glove(60_000, 0);
    let mut client = fresh_database("index_progress");
    load_vectors(&mut client, "items", &base, dim);
    let dbname: String = client
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let phases = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut c = connect(&dbname);
            let mut seen = std::collections::BTreeSet::new();
            let start = std::time::Instant::now();
            // Until the build has been seen and is gone (or 120 s).
            while start.elapsed().as_secs() < 120 {
                let rows = c
                    .query(
                        "SELECT phase, tuples_done FROM pg_stat_progress_create_index
                          WHERE datname = current_database()",
                        &[],
                    )
                    .unwrap();
                if rows.is_empty() && !seen.is_empty() {
                    break;
                }
                for r in rows {
                    seen.insert(r.get::<_, String>(0));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            seen
        });
        client
            .batch_execute(
                "SET maintenance_work_mem = '512MB';
                 CREATE INDEX ON items USING diskvec (embedding vector_l2_ops)",
            )
            .unwrap();
        watcher.join().unwrap()
    });
    println!("phases seen: {phases:?}");
    assert!(
        phases.contains("building index: building graph"),
        "{phases:?}"
    );
}
