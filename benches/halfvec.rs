//! The diskvec index on `halfvec` beside the same vectors' `vector` index,
//! one server, one run: build time, index size, and recall@10 -> QPS at
//! each search list, the two indexes measured alternately (the VM's speed
//! drifts between minutes). Recall is against exact search over the
//! original float vectors. Prints figures; asserts nothing.
//!
//! ```text
//! DISKVEC_TEST_PORT=5433 cargo bench -p diskvec-e2e --bench halfvec
//! ```
//! Environment: `DISKVEC_BENCH_SETS` (default `wordnet384`),
//! `DISKVEC_BENCH_METRICS` (default `cosine`), `DISKVEC_BENCH_LISTS`
//! (default `32,48,64,96`), `DISKVEC_BENCH_QUERIES` (default 1000),
//! `DISKVEC_BENCH_ROUNDS` (default 3: measurements per list and index, the
//! best QPS kept), `DISKVEC_BENCH_N` (only the first N vectors).

use diskvec_e2e::bench::run_queries;
use diskvec_e2e::{connect, load_vectors};
use diskvec_engine::dataset::{self, brute_force};
use diskvec_engine::Metric;
use std::time::Instant;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn list(name: &str, default: &str) -> Vec<String> {
    env(name, default)
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn main() {
    {
        let mut admin = connect("postgres");
        let exists = admin
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = 'diskvec_halfvec_bench'",
                &[],
            )
            .unwrap()
            .is_some();
        if !exists {
            admin
                .batch_execute("CREATE DATABASE diskvec_halfvec_bench")
                .unwrap();
        }
    }
    let mut client = connect("diskvec_halfvec_bench");
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS diskvec")
        .unwrap();
    let nq: usize = env("DISKVEC_BENCH_QUERIES", "1000").parse().unwrap();
    let rounds: usize = env("DISKVEC_BENCH_ROUNDS", "3").parse().unwrap();
    for set in list("DISKVEC_BENCH_SETS", "wordnet384") {
        let mut ds = dataset::load(&set);
        let dim = ds.base.cols;
        let mut table = format!("half_{set}");
        if let Ok(n) = env("DISKVEC_BENCH_N", "").parse::<usize>() {
            let n = n.min(ds.base.rows);
            ds.base.data.truncate(n * dim);
            ds.base.rows = n;
            table = format!("half_{set}_{n}");
        }
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {table}"))
            .unwrap();
        load_vectors(&mut client, &table, &ds.base.data, dim);
        // One statement per call: VACUUM cannot run inside the implicit
        // transaction of a multi-statement batch.
        for sql in [
            format!("ALTER TABLE {table} ADD COLUMN h halfvec({dim})"),
            format!("UPDATE {table} SET h = embedding::halfvec"),
            format!("VACUUM ANALYZE {table}"),
            "SET maintenance_work_mem = '2GB'".to_string(),
        ] {
            client.batch_execute(&sql).unwrap();
        }
        let nq = nq.min(ds.queries.rows);
        let queries = &ds.queries.data[..nq * dim];
        for metric_name in list("DISKVEC_BENCH_METRICS", "cosine") {
            let (metric, op) = match metric_name.as_str() {
                "cosine" => (Metric::Cosine, "<=>"),
                "l2" => (Metric::L2, "<->"),
                "ip" => (Metric::InnerProduct, "<#>"),
                m => panic!("unknown metric {m}"),
            };
            let suffix = match metric_name.as_str() {
                "ip" => "ip",
                m => m,
            };
            let truth = brute_force(&ds.base.data, dim, queries, 10, metric);
            println!(
                "\n## {set} ({} x {dim}), {metric_name}: vector index and halfvec index",
                ds.base.rows
            );
            println!("\n| column | CREATE INDEX s | index MB | ratio |");
            println!("|---|---:|---:|---:|");
            let mut sizes = Vec::new();
            for (column, opclass) in [
                ("embedding", format!("vector_{suffix}_ops")),
                ("h", format!("halfvec_{suffix}_ops")),
            ] {
                let index = format!("{table}_{column}_{metric_name}");
                client
                    .batch_execute(&format!("DROP INDEX IF EXISTS {index}"))
                    .unwrap();
                let t = Instant::now();
                client
                    .batch_execute(&format!(
                        "CREATE INDEX {index} ON {table} USING diskvec ({column} {opclass})"
                    ))
                    .unwrap();
                let secs = t.elapsed().as_secs_f64();
                let size: i64 = client
                    .query_one(&format!("SELECT pg_relation_size('{index}')"), &[])
                    .unwrap()
                    .get(0);
                sizes.push(size as f64);
                println!(
                    "| {column} | {secs:.1} | {:.1} | {:.2} |",
                    size as f64 / 1e6,
                    size as f64 / sizes[0]
                );
            }
            let vector_sql = format!("SELECT id FROM {table} ORDER BY embedding {op} $1 LIMIT 10");
            let half_sql =
                format!("SELECT id FROM {table} ORDER BY h {op} ($1::vector)::halfvec LIMIT 10");
            println!("\n| search list | vector recall@10 | vector QPS | halfvec recall@10 | halfvec QPS | QPS ratio | halfvec p99 ms |");
            println!("|---:|---:|---:|---:|---:|---:|---:|");
            for l in list("DISKVEC_BENCH_LISTS", "32,48,64,96") {
                client
                    .batch_execute(&format!("SET diskvec.search_list_size = {l}"))
                    .unwrap();
                let warm = &queries[..dim * 20.min(nq)];
                run_queries(&mut client, &vector_sql, warm, dim, &truth);
                run_queries(&mut client, &half_sql, warm, dim, &truth);
                let (mut v, mut h) = (None, None);
                for _ in 0..rounds {
                    let rv = run_queries(&mut client, &vector_sql, queries, dim, &truth);
                    let rh = run_queries(&mut client, &half_sql, queries, dim, &truth);
                    if v.as_ref()
                        .is_none_or(|b: &diskvec_e2e::bench::Run| rv.qps > b.qps)
                    {
                        v = Some(rv);
                    }
                    if h.as_ref()
                        .is_none_or(|b: &diskvec_e2e::bench::Run| rh.qps > b.qps)
                    {
                        h = Some(rh);
                    }
                }
                let (v, h) = (v.unwrap(), h.unwrap());
                println!(
                    "| {l} | {:.4} | {:.0} | {:.4} | {:.0} | {:.2} | {:.2} |",
                    v.recall,
                    v.qps,
                    h.recall,
                    h.qps,
                    h.qps / v.qps,
                    h.p99
                );
            }
            client
                .batch_execute("RESET diskvec.search_list_size; SET enable_indexscan = off")
                .unwrap();
            let ne = 50.min(nq);
            let r = run_queries(&mut client, &vector_sql, &queries[..ne * dim], dim, &truth);
            println!(
                "| exact (seq scan, {ne} queries) | {:.4} | {:.1} | | | | |",
                r.recall, r.qps
            );
            client.batch_execute("RESET enable_indexscan").unwrap();
        }
    }
}
