//! Scale-out on Citus 13 (built by `../shared/vendor/citus/build.sh`, which
//! `scripts/test.sh` runs): a coordinator and two workers of our own, a
//! table distributed over four shards with a diskvec index on it, loaded
//! with COPY and INSERT; the global top 10 against exact search on real
//! data; search settings that reach every shard; a shard move.

use diskvec_e2e::citus::Cluster;
use diskvec_e2e::server::port_for;
use diskvec_e2e::{copy_in, vector_rows, Vector};
use diskvec_engine::dataset::{self, brute_force, recall};
use diskvec_engine::distance::cosine_distance;
use diskvec_engine::vector_text::format_vector_text;
use diskvec_engine::Metric;
use postgres::Client;

const SHARDS: usize = 4;
/// Rows loaded before the index is built, then by COPY into the indexed
/// table, then by INSERT: 36,000 in all, about 9,000 a shard.
const BEFORE_INDEX: usize = 24_000;
const COPIED: usize = 8_000;
const INSERTED: usize = 4_000;
const QUERIES: usize = 100;

/// Row ids (0-based) of the top 10 for each query; `setup` runs first in
/// the same transaction (SET LOCAL needs one).
fn top10(c: &mut Client, setup: &str, queries: &[f32], dim: usize) -> Vec<Vec<u64>> {
    let mut tx = c.transaction().unwrap();
    tx.batch_execute(setup).unwrap();
    let stmt = tx
        .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    let got = queries
        .chunks_exact(dim)
        .map(|q| {
            tx.query(&stmt, &[&Vector(q)])
                .unwrap()
                .iter()
                .map(|r| (r.get::<_, i32>(0) - 1) as u64)
                .collect()
        })
        .collect();
    tx.commit().unwrap();
    got
}

/// The plan of a top-10 query. The vector is a literal: Citus 13.2.2 fails
/// to EXPLAIN a shard's query with a bound parameter ("could not determine
/// data type of parameter $1" on the worker).
fn explain(c: &mut Client, q: &[f32]) -> String {
    c.query(
        &format!(
            "EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM items ORDER BY embedding <=> '{}' LIMIT 10",
            format_vector_text(q)
        ),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get::<_, String>(0))
    .collect::<Vec<_>>()
    .join("\n")
}

/// The top 10 through the indexes has the exact top 10's distances (ties
/// may swap rows of equal distance).
fn assert_exact(got: &[Vec<u64>], truth: &[Vec<u32>], base: &[f32], queries: &[f32], dim: usize) {
    let row = |i: u64| &base[i as usize * dim..(i as usize + 1) * dim];
    for (qi, (g, t)) in got.iter().zip(truth).enumerate() {
        let q = &queries[qi * dim..(qi + 1) * dim];
        assert_eq!(g.len(), 10, "query {qi}: {g:?}");
        for (a, b) in g.iter().zip(t) {
            let (da, db) = (
                cosine_distance(q, row(*a)),
                cosine_distance(q, row(*b as u64)),
            );
            assert!(
                (da - db).abs() < 1e-6,
                "query {qi}: got rows {g:?}, exact {t:?} ({da} vs {db})"
            );
        }
    }
}

#[test]
fn distributed_table_with_diskvec_index() {
    let ds = dataset::load("glove50");
    let dim = ds.base.cols;
    let n = BEFORE_INDEX + COPIED + INSERTED;
    let base = &ds.base.data[..n * dim];
    let queries = &ds.queries.data[..QUERIES * dim];
    let truth = brute_force(base, dim, queries, 10, Metric::Cosine);

    let cluster = Cluster::start("citus", port_for(30), &[]);
    let mut c = cluster.coordinator();
    c.batch_execute(&format!(
        "CREATE TABLE items (id int4 PRIMARY KEY, embedding vector({dim}));
         SET citus.shard_count = {SHARDS};
         SELECT create_distributed_table('items', 'id');"
    ))
    .unwrap();
    let copy = "COPY items (id, embedding) FROM STDIN (FORMAT binary)";
    copy_in(
        &mut c,
        copy,
        &vector_rows(&base[..BEFORE_INDEX * dim], dim, 1),
    )
    .unwrap();

    // The index reaches every shard, two on each worker.
    c.batch_execute("CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)")
        .unwrap();
    for w in 0..2 {
        let idx = cluster.shard_indexes(w, "items_idx");
        assert_eq!(idx.len(), SHARDS / 2, "worker {w}: {idx:?}");
    }

    // COPY and INSERT into the indexed shards, through the coordinator.
    let from = BEFORE_INDEX;
    let rows = vector_rows(
        &base[from * dim..(from + COPIED) * dim],
        dim,
        from as i32 + 1,
    );
    assert_eq!(copy_in(&mut c, copy, &rows).unwrap(), COPIED as u64);
    {
        let mut tx = c.transaction().unwrap();
        let stmt = tx.prepare("INSERT INTO items VALUES ($1, $2)").unwrap();
        for i in from + COPIED..n {
            tx.execute(
                &stmt,
                &[&(i as i32 + 1), &Vector(&base[i * dim..(i + 1) * dim])],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let count: i64 = c
        .query_one("SELECT count(*) FROM items", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, n as i64);

    // Each shard runs its own Index Scan under ORDER BY ... LIMIT 10 (it
    // needs only its own top 10); the coordinator merges the four.
    let plan = explain(&mut c, &queries[..dim]);
    assert!(plan.contains("Task Count: 4"), "{plan}");
    assert!(plan.contains("Index Scan using items_idx_"), "{plan}");
    assert!(
        plan.contains("LIMIT '10'::bigint") || plan.contains("LIMIT 10"),
        "the shards' query has no LIMIT:\n{plan}"
    );

    // Recall across shards at the default settings, against exact search
    // over all rows.
    let default = top10(&mut c, "", queries, dim);
    let r_default = recall(&default, &truth, 10);
    println!("recall@10 over {SHARDS} shards at the defaults: {r_default:.4}");
    assert!(r_default >= 0.95, "recall@10 {r_default}");

    // A plain SET on the coordinator does not reach the workers.
    let plain = top10(&mut c, "SET diskvec.search_list_size = 8", queries, dim);
    assert_eq!(plain, default, "a plain SET reached the workers");
    c.batch_execute("RESET diskvec.search_list_size").unwrap();

    // The index option, set once on the coordinator, reaches every shard's
    // index (Citus runs the ALTER INDEX on each) and every session.
    c.batch_execute("ALTER INDEX items_idx SET (search_list_size = 8)")
        .unwrap();
    for w in 0..2 {
        for (name, opts) in cluster.shard_indexes(w, "items_idx") {
            assert_eq!(
                opts,
                Some(vec!["search_list_size=8".to_string()]),
                "{name} on worker {w}"
            );
        }
    }
    let narrow = top10(&mut cluster.coordinator(), "", queries, dim);
    let r_narrow = recall(&narrow, &truth, 10);
    println!("recall@10 with the index option search_list_size = 8: {r_narrow:.4}");
    assert!(r_narrow < r_default - 0.01, "{r_narrow} vs {r_default}");
    // SET LOCAL, propagated by Citus inside a transaction, gives the same
    // searches, and a session's value takes precedence over the index's.
    let propagate = "SET LOCAL citus.propagate_set_commands = 'local';";
    let local = top10(
        &mut c,
        &format!("{propagate} SET LOCAL diskvec.search_list_size = 128"),
        queries,
        dim,
    );
    assert_eq!(
        local, default,
        "SET LOCAL 128 should override the index's 8"
    );
    c.batch_execute("ALTER INDEX items_idx RESET (search_list_size)")
        .unwrap();
    let local = top10(
        &mut c,
        &format!("{propagate} SET LOCAL diskvec.search_list_size = 8"),
        queries,
        dim,
    );
    assert_eq!(local, narrow, "SET LOCAL 8 and the index option 8 differ");
    // Citus 13 also runs ALTER DATABASE ... SET on the workers: sessions
    // that start afterwards (and their new worker connections) take it.
    c.batch_execute("ALTER DATABASE postgres SET diskvec.search_list_size = 8")
        .unwrap();
    let db = top10(&mut cluster.coordinator(), "", queries, dim);
    assert_eq!(
        db, narrow,
        "ALTER DATABASE ... SET did not reach the shards"
    );
    c.batch_execute("ALTER DATABASE postgres RESET diskvec.search_list_size")
        .unwrap();

    // A search list longer than a shard visits all of it: the merged top 10
    // is the exact one.
    let largest: i64 = c
        .query_one(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM items GROUP BY get_shard_id_for_distribution_column('items', id)) s",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(largest < 10_000, "a shard holds {largest} rows");
    c.batch_execute("ALTER INDEX items_idx SET (search_list_size = 10000)")
        .unwrap();
    let exact_q = 30;
    let got = top10(&mut c, "", &queries[..exact_q * dim], dim);
    assert_exact(&got, &truth[..exact_q], base, queries, dim);
    c.batch_execute("ALTER INDEX items_idx SET (search_list_size = 64)")
        .unwrap();

    // Move a shard from the first worker to the second: its index is
    // rebuilt there, valid, with the option; searches and inserts go on.
    let shard: i64 = c
        .query_one(
            "SELECT shardid FROM citus_shards WHERE table_name = 'items'::regclass AND nodeport = $1 ORDER BY shardid LIMIT 1",
            &[&(cluster.workers[0].port as i32)],
        )
        .unwrap()
        .get(0);
    c.execute(
        "SELECT citus_move_shard_placement($1, '/tmp', $2, '/tmp', $3, shard_transfer_mode := 'block_writes')",
        &[
            &shard,
            &(cluster.workers[0].port as i32),
            &(cluster.workers[1].port as i32),
        ],
    )
    .unwrap();
    let moved = format!("items_idx_{shard}");
    let on_target = cluster.shard_indexes(1, "items_idx");
    assert_eq!(on_target.len(), SHARDS / 2 + 1, "{on_target:?}");
    let (_, opts) = on_target.iter().find(|(name, _)| *name == moved).unwrap();
    assert_eq!(opts, &Some(vec!["search_list_size=64".to_string()]));
    let row: i32 = c
        .query_one(
            "SELECT min(id) FROM items WHERE get_shard_id_for_distribution_column('items', id) = $1",
            &[&shard],
        )
        .unwrap()
        .get(0);
    let extra = n as i32 + 1;
    let v = &base[(row as usize - 1) * dim..row as usize * dim];
    c.execute("INSERT INTO items VALUES ($1, $2)", &[&extra, &Vector(v)])
        .unwrap();
    let found: Vec<i32> = c
        .query(
            "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 2",
            &[&Vector(v)],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(sorted, vec![row, extra], "{found:?}");
    c.execute("DELETE FROM items WHERE id = $1", &[&extra])
        .unwrap();
    let after = top10(&mut c, "", queries, dim);
    let r_after = recall(&after, &truth, 10);
    println!("recall@10 at search_list_size = 64 after the move: {r_after:.4}");
    assert!(r_after >= 0.95, "recall@10 {r_after} after the move");

    // UPDATE, DELETE, VACUUM and REINDEX run on every shard; then every
    // shard index on every worker passes diskvec_verify.
    for sql in [
        "UPDATE items SET embedding = embedding + embedding WHERE id % 97 = 0",
        "DELETE FROM items WHERE id % 101 = 0",
        "VACUUM items",
        "REINDEX INDEX items_idx",
    ] {
        c.batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    for w in 0..2 {
        let mut wc = cluster.worker(w);
        for (name, _) in cluster.shard_indexes(w, "items_idx") {
            let report: String = wc
                .query_one("SELECT diskvec_verify($1::text::regclass)", &[&name])
                .unwrap_or_else(|e| panic!("diskvec_verify({name}) on worker {w}: {e:?}"))
                .get(0);
            assert!(report.contains("is consistent"), "{report}");
        }
    }
}
