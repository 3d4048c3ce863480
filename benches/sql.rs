//! The diskvec index through SQL, one client, next to exact search on the
//! same server. Prints figures; asserts nothing.
//!
//! With `DISKVEC_BENCH_AM=hnsw` the same harness measures the peer,
//! pgvector's HNSW (m = 16, ef_construction = 64, `hnsw.ef_search` swept),
//! in its own database (`benches/peers/pgvector.sh` installs it).
//!
//! ```text
//! DISKVEC_TEST_PORT=5433 cargo bench -p diskvec-e2e --bench sql
//! ```
//! Environment:
//! * `DISKVEC_TEST_PORT`: a running server with the extension installed.
//! * `DISKVEC_BENCH_DB` (default `diskvec_bench`, `pgvector_bench` for
//!   hnsw): created if missing; a set's table is loaded once and kept.
//! * `DISKVEC_BENCH_SETS` (default `glove50`), `DISKVEC_BENCH_METRICS`
//!   (default `cosine,l2`), `DISKVEC_BENCH_LISTS` (default `16,32,48,64,96,128`:
//!   WordNet's 4-bit index reaches recall@10 0.95 at list 16).
//! * `DISKVEC_BENCH_QUERIES` (default 1000) and `DISKVEC_BENCH_EXACT`
//!   (default 100): queries for the index sweep and for exact search.
//! * `DISKVEC_BENCH_N`: only the first N vectors of each set.
//! * `DISKVEC_BENCH_COPY` (default 1): time COPY in and out first.
//! * `DISKVEC_BENCH_INSERTS` (default 1): time single-row INSERTs into an
//!   indexed table from 1, 2 and 4 sessions at once.
//! * `DISKVEC_BENCH_MWM` (default `2GB`): maintenance_work_mem for CREATE INDEX.
//! * `DISKVEC_BENCH_KEEP_INDEX=1`: reuse an existing index (no build).
//! * `DISKVEC_BENCH_DROP_CACHES=1`: drop the OS page cache before every
//!   measured run (needs root); `benches/sql.sh` uses it, with a small
//!   shared_buffers, for the disk-resident regime.
//! * `DISKVEC_BENCH_WARMUP` (default 20): queries run before each measured
//!   pass, or `all` for the whole query set (steady state under a memory
//!   cap: `benches/capped.sh`).
//! * `DISKVEC_BENCH_REGIME`: the label of this run's curve lines (default
//!   `cached`, or `disk-resident` with `DISKVEC_BENCH_DROP_CACHES=1`).
//!
//! Recall@10 is against brute force computed in-process over the same
//! vectors; exact search through SQL (a sequential scan) is timed on the
//! first `DISKVEC_BENCH_EXACT` queries and its recall checked too.

use diskvec_e2e::bench::run_queries;
use diskvec_e2e::{connect, load_vectors, Vector};
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

/// The index being measured: ours or the peer's.
struct Am {
    /// `diskvec` or `hnsw`.
    name: &'static str,
    extension: &'static str,
    /// Appended to `USING name (embedding opclass)`.
    with: &'static str,
    /// The GUC swept for the recall/QPS curve.
    knob: &'static str,
    default_db: &'static str,
    default_lists: &'static str,
    /// Before the metric in plot labels ("sql glove50 <label>cosine"), so
    /// both indexes share a plot.
    label: &'static str,
}

const DISKVEC: Am = Am {
    name: "diskvec",
    extension: "diskvec",
    with: "",
    knob: "diskvec.search_list_size",
    default_db: "diskvec_bench",
    default_lists: "16,32,48,64,96,128",
    label: "",
};

const HNSW: Am = Am {
    name: "hnsw",
    extension: "vector",
    with: " WITH (m = 16, ef_construction = 64)",
    knob: "hnsw.ef_search",
    default_db: "pgvector_bench",
    default_lists: "32,48,64,96,128,200",
    label: "pgvector-hnsw ",
};

/// Empty the OS page cache, so reads that miss shared_buffers go to disk.
fn drop_caches() {
    let ok = std::process::Command::new("sh")
        .args(["-c", "sync && echo 3 > /proc/sys/vm/drop_caches"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "could not drop the page cache (needs root)");
}

/// Load speed: the whole set into a scratch table with binary COPY, then
/// with text COPY (the same rows), and read back with binary COPY TO.
fn copy_figures(client: &mut postgres::Client, set: &str, data: &[f32], dim: usize) {
    use std::io::{Read, Write};
    let n = data.len() / dim;
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS copy_scratch; CREATE UNLOGGED TABLE copy_scratch (id int4, embedding vector({dim}))"
        ))
        .unwrap();
    let bin = diskvec_e2e::vector_rows(data, dim, 0);
    let t = Instant::now();
    diskvec_e2e::copy_in(client, "COPY copy_scratch FROM STDIN (FORMAT binary)", &bin).unwrap();
    let bin_in = t.elapsed().as_secs_f64();
    client.batch_execute("TRUNCATE copy_scratch").unwrap();
    let mut text = String::new();
    for (i, v) in data.chunks_exact(dim).enumerate() {
        text.push_str(&format!(
            "{i}\t{}\n",
            diskvec_engine::vector_text::format_vector_text(v)
        ));
    }
    let t = Instant::now();
    let mut w = client.copy_in("COPY copy_scratch FROM STDIN").unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
    let text_in = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut out = Vec::new();
    client
        .copy_out("COPY copy_scratch TO STDOUT (FORMAT binary)")
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    let bin_out = t.elapsed().as_secs_f64();
    client.batch_execute("DROP TABLE copy_scratch").unwrap();
    println!("\n## {set}: COPY of {n} rows ({dim}-d)\n");
    println!("| COPY | seconds | rows/s | MB/s |");
    println!("|---|---:|---:|---:|");
    for (what, secs, bytes) in [
        ("binary FROM STDIN", bin_in, bin.len()),
        ("text FROM STDIN", text_in, text.len()),
        ("binary TO STDOUT", bin_out, out.len()),
    ] {
        println!(
            "| {what} | {secs:.2} | {:.0} | {:.0} |",
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
}

/// Rows per second of single-row INSERTs (100 per transaction) into a
/// table with a diskvec index built over `base` rows, from 1, 2 and 4
/// sessions at once. Inserts lock only the pages they change, so more
/// sessions give more rows per second, up to the cores there are.
fn insert_figures(am: &Am, dbname: &str, set: &str, data: &[f32], dim: usize, opclass: &str) {
    let n = data.len() / dim;
    let base = (n / 2).min(20_000);
    let extra = (n - base).min(8_000);
    println!(
        "\n## {set}: INSERT into a {} index of {base} rows, {opclass}\n",
        am.name
    );
    println!("| sessions | rows | seconds | rows/s |");
    println!("|---:|---:|---:|---:|");
    for sessions in [1usize, 2, 4] {
        let mut c = connect(dbname);
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS insert_scratch;
             CREATE TABLE insert_scratch (id int4, embedding vector({dim}))"
        ))
        .unwrap();
        let rows = diskvec_e2e::vector_rows(&data[..base * dim], dim, 0);
        diskvec_e2e::copy_in(
            &mut c,
            "COPY insert_scratch FROM STDIN (FORMAT binary)",
            &rows,
        )
        .unwrap();
        c.batch_execute(&format!(
            "CREATE INDEX ON insert_scratch USING {} (embedding {opclass}){}",
            am.name, am.with
        ))
        .unwrap();
        let t = Instant::now();
        std::thread::scope(|s| {
            for w in 0..sessions {
                s.spawn(move || {
                    let mut c = connect(dbname);
                    let stmt = c
                        .prepare("INSERT INTO insert_scratch VALUES ($1, $2)")
                        .unwrap();
                    let mine: Vec<usize> = (base + w..base + extra).step_by(sessions).collect();
                    for chunk in mine.chunks(100) {
                        let mut tx = c.transaction().unwrap();
                        for &i in chunk {
                            tx.execute(
                                &stmt,
                                &[&(i as i32), &Vector(&data[i * dim..(i + 1) * dim])],
                            )
                            .unwrap();
                        }
                        tx.commit().unwrap();
                    }
                });
            }
        });
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| {sessions} | {extra} | {secs:.2} | {:.0} |",
            extra as f64 / secs
        );
        c.batch_execute("DROP TABLE insert_scratch").unwrap();
    }
}

fn main() {
    let am = match env("DISKVEC_BENCH_AM", "diskvec").as_str() {
        "diskvec" => DISKVEC,
        "hnsw" => HNSW,
        other => panic!("DISKVEC_BENCH_AM: unknown index {other} (diskvec or hnsw)"),
    };
    let dbname = env("DISKVEC_BENCH_DB", am.default_db);
    {
        let mut admin = connect("postgres");
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&dbname])
            .unwrap()
            .is_some();
        if !exists {
            admin
                .batch_execute(&format!("CREATE DATABASE {dbname}"))
                .unwrap();
        }
    }
    let mut client = connect(&dbname);
    client
        .batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {}", am.extension))
        .unwrap();
    let nq: usize = env("DISKVEC_BENCH_QUERIES", "1000").parse().unwrap();
    let nexact: usize = env("DISKVEC_BENCH_EXACT", "100").parse().unwrap();
    let mwm = env("DISKVEC_BENCH_MWM", "2GB");
    let keep = env("DISKVEC_BENCH_KEEP_INDEX", "0") == "1";
    let cold = env("DISKVEC_BENCH_DROP_CACHES", "0") == "1";
    let regime = env(
        "DISKVEC_BENCH_REGIME",
        if cold { "disk-resident" } else { "cached" },
    );
    let warmup = env("DISKVEC_BENCH_WARMUP", "20");
    for set in list("DISKVEC_BENCH_SETS", "glove50") {
        let mut ds = dataset::load(&set);
        let dim = ds.base.cols;
        let mut table = format!("bench_{set}");
        if let Ok(n) = env("DISKVEC_BENCH_N", "").parse::<usize>() {
            // A subset (smoke runs): its own table.
            let n = n.min(ds.base.rows);
            ds.base.data.truncate(n * dim);
            ds.base.rows = n;
            table = format!("bench_{set}_{n}");
        }
        let loaded: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE tablename = $1",
                &[&table],
            )
            .unwrap()
            .get(0);
        if loaded == 0 {
            let t = Instant::now();
            load_vectors(&mut client, &table, &ds.base.data, dim);
            client
                .batch_execute(&format!("VACUUM ANALYZE {table}"))
                .unwrap();
            println!(
                "{set}: loaded {} rows with binary COPY in {:.1} s",
                ds.base.rows,
                t.elapsed().as_secs_f64()
            );
        }
        if env("DISKVEC_BENCH_COPY", "1") == "1" && am.name == "diskvec" {
            copy_figures(&mut client, &set, &ds.base.data, dim);
        }
        if env("DISKVEC_BENCH_INSERTS", "1") == "1" && !cold {
            insert_figures(&am, &dbname, &set, &ds.base.data, dim, "vector_cosine_ops");
        }
        let nq = nq.min(ds.queries.rows);
        let queries = &ds.queries.data[..nq * dim];
        for metric_name in list("DISKVEC_BENCH_METRICS", "cosine,l2") {
            let (metric, opclass, op) = match metric_name.as_str() {
                "cosine" => (Metric::Cosine, "vector_cosine_ops", "<=>"),
                "l2" => (Metric::L2, "vector_l2_ops", "<->"),
                "ip" => (Metric::InnerProduct, "vector_ip_ops", "<#>"),
                m => panic!("unknown metric {m}"),
            };
            let truth = brute_force(&ds.base.data, dim, queries, 10, metric);
            let index = format!("{table}_{}_{metric_name}", am.name);
            let have: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = $1",
                    &[&index],
                )
                .unwrap()
                .get(0);
            // Other metrics' indexes would compete for the ORDER BY.
            for other in ["cosine", "l2", "ip"] {
                if other != metric_name {
                    client
                        .batch_execute(&format!(
                            "DROP INDEX IF EXISTS {table}_{other}; DROP INDEX IF EXISTS {table}_{}_{other}",
                            am.name
                        ))
                        .unwrap();
                }
            }
            println!(
                "\n## {set} ({} x {dim}), {metric_name}, {}{}",
                ds.base.rows, am.name, am.with
            );
            if !(keep && have == 1) {
                client
                    .batch_execute(&format!("DROP INDEX IF EXISTS {index}"))
                    .unwrap();
                client
                    .batch_execute(&format!("SET maintenance_work_mem = '{mwm}'"))
                    .unwrap();
                let t = Instant::now();
                client
                    .batch_execute(&format!(
                        "CREATE INDEX {index} ON {table} USING {} (embedding {opclass}){}",
                        am.name, am.with
                    ))
                    .unwrap();
                println!("CREATE INDEX: {:.1} s", t.elapsed().as_secs_f64());
            }
            let size: i64 = client
                .query_one(&format!("SELECT pg_relation_size('{index}')"), &[])
                .unwrap()
                .get(0);
            if am.name == "diskvec" {
                let cache: i64 = client
                    .query_one(&format!("SELECT diskvec_cache_bytes('{index}')"), &[])
                    .unwrap()
                    .get(0);
                println!(
                    "index size: {:.1} MB; codes cache in a backend: {:.1} MB",
                    size as f64 / 1e6,
                    cache as f64 / 1e6
                );
            } else {
                println!("index size: {:.1} MB", size as f64 / 1e6);
            }
            let knn = format!("SELECT id FROM {table} ORDER BY embedding {op} $1 LIMIT 10");
            let plan: Vec<String> = client
                .query(&format!("EXPLAIN {knn}"), &[&Vector(&queries[..dim])])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(
                plan.iter().any(|l| l.contains(&index)),
                "the planner does not use {index}: {plan:?}"
            );
            println!("\n| {} | recall@10 | QPS | p50 ms | p99 ms |", am.knob);
            println!("|---:|---:|---:|---:|---:|");
            for l in list("DISKVEC_BENCH_LISTS", am.default_lists) {
                client
                    .batch_execute(&format!("SET {} = {l}", am.knob))
                    .unwrap();
                // Warm the cache and the plan, then measure (cold: drop the
                // OS cache first; the backend's codes stay in memory).
                let warm = if warmup == "all" {
                    nq
                } else {
                    warmup
                        .parse::<usize>()
                        .expect("DISKVEC_BENCH_WARMUP")
                        .min(nq)
                };
                run_queries(&mut client, &knn, &queries[..dim * warm], dim, &truth);
                if cold {
                    drop_caches();
                }
                let r = run_queries(&mut client, &knn, queries, dim, &truth);
                println!(
                    "| {l} | {:.4} | {:.0} | {:.2} | {:.2} |",
                    r.recall, r.qps, r.p50, r.p99
                );
                // For benches/report.sh's plots.
                eprintln!(
                    "curve\tsql {set} {}{metric_name} ({})\t{:.4}\t{:.0}",
                    am.label, regime, r.recall, r.qps
                );
            }
            client
                .batch_execute(&format!("RESET {}; SET enable_indexscan = off", am.knob))
                .unwrap();
            let ne = nexact.min(nq);
            if cold {
                drop_caches();
            }
            let r = run_queries(&mut client, &knn, &queries[..ne * dim], dim, &truth);
            println!(
                "| exact (seq scan, {ne} queries) | {:.4} | {:.1} | {:.2} | {:.2} |",
                r.recall, r.qps, r.p50, r.p99
            );
            client.batch_execute("RESET enable_indexscan").unwrap();
        }
    }
}
