//! GloVe on one node and on Citus (a coordinator and two workers with two
//! shards each, all on this machine): COPY, CREATE INDEX, and recall@10 →
//! QPS and latency at the same search list sizes, one client. Prints
//! figures; asserts only that the shards use the index.
//!
//! `benches/citus.sh` runs it (it builds Citus first). The machine's cores
//! are shared by every server here: the workers do not add cores, so the
//! figures show what sharding costs and what it does to recall, not a
//! scale-out speed-up.
//!
//! Environment:
//! * `DISKVEC_BENCH_PORT` (default 5740): the single node; the coordinator
//!   and workers take the next three ports.
//! * `DISKVEC_BENCH_N`: only the first N vectors (default all 399,000).
//! * `DISKVEC_BENCH_QUERIES` (default 1000).
//! * `DISKVEC_BENCH_LISTS` (default `16,24,32,48,64,96,128`): search list
//!   sizes; one node sets `diskvec.search_list_size`, the cluster the
//!   index option (`ALTER INDEX ... SET (search_list_size = ...)`), which
//!   reaches every shard. The cluster is measured twice: with Citus's
//!   defaults (a worker's shards searched one after the other on one
//!   connection), and with a connection per shard.

use diskvec_e2e::bench::{run_queries, Run};
use diskvec_e2e::citus::Cluster;
use diskvec_e2e::server::Server;
use diskvec_e2e::{copy_in, vector_rows};
use diskvec_engine::dataset::{self, brute_force};
use diskvec_engine::vector_text::format_vector_text;
use diskvec_engine::Metric;
use postgres::Client;
use std::time::Instant;

const SHARDS: usize = 4;
const KNN: &str = "SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn seconds(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Load time and build time of `items` with a cosine diskvec index;
/// `distribute` runs between CREATE TABLE and COPY.
fn load_and_build(c: &mut Client, base: &[f32], dim: usize, distribute: &str) -> (f64, f64) {
    c.batch_execute(&format!(
        "CREATE TABLE items (id int4 PRIMARY KEY, embedding vector({dim})); {distribute}"
    ))
    .unwrap();
    let rows = vector_rows(base, dim, 1);
    let load = seconds(|| {
        copy_in(c, "COPY items FROM STDIN (FORMAT binary)", &rows).unwrap();
    });
    c.batch_execute("VACUUM ANALYZE items").unwrap();
    let build = seconds(|| {
        c.batch_execute(
            "CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)",
        )
        .unwrap()
    });
    (load, build)
}

/// One run per list size, after 20 warm-up queries (the first query on a
/// connection loads the index's codes).
fn sweep(
    c: &mut Client,
    lists: &[usize],
    set: impl Fn(usize) -> String,
    queries: &[f32],
    dim: usize,
    truth: &[Vec<u32>],
) -> Vec<Run> {
    lists
        .iter()
        .map(|&l| {
            c.batch_execute(&set(l)).unwrap();
            run_queries(c, KNN, &queries[..20 * dim], dim, truth);
            run_queries(c, KNN, queries, dim, truth)
        })
        .collect()
}

fn main() {
    let port: u16 = env("DISKVEC_BENCH_PORT", "5740").parse().unwrap();
    let ds = dataset::load("glove50");
    let dim = ds.base.cols;
    let n: usize = env("DISKVEC_BENCH_N", "0").parse().unwrap();
    let n = if n == 0 {
        ds.base.rows
    } else {
        n.min(ds.base.rows)
    };
    let nq: usize = env("DISKVEC_BENCH_QUERIES", "1000").parse().unwrap();
    let nq = nq.min(ds.queries.rows);
    let lists: Vec<usize> = env("DISKVEC_BENCH_LISTS", "16,24,32,48,64,96,128")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let base = &ds.base.data[..n * dim];
    let queries = &ds.queries.data[..nq * dim];
    let truth = if n == ds.base.rows {
        (0..nq)
            .map(|i| ds.gt.row(i)[..10].iter().map(|&x| x as u32).collect())
            .collect()
    } else {
        brute_force(base, dim, queries, 10, Metric::Cosine)
    };
    // The same settings on every server; the build needs about 1 GB per
    // million 50-d vectors.
    let settings = ["shared_buffers = '256MB'", "maintenance_work_mem = '1GB'"];

    let (node_load, node_build, node) = {
        let node = Server::start("bench-node", port, &settings);
        let mut c = node.connect("postgres");
        c.batch_execute("CREATE EXTENSION diskvec").unwrap();
        let (load, build) = load_and_build(&mut c, base, dim, "");
        let runs = sweep(
            &mut c,
            &lists,
            |l| format!("SET diskvec.search_list_size = {l}"),
            queries,
            dim,
            &truth,
        );
        (load, build, runs)
    };

    let cluster = Cluster::start("bench-citus", port + 1, &settings);
    let mut c = cluster.coordinator();
    let (load, build) = load_and_build(
        &mut c,
        base,
        dim,
        &format!(
            "SET citus.shard_count = {SHARDS}; SELECT create_distributed_table('items', 'id');"
        ),
    );
    let plan: String = c
        // A literal: Citus 13.2.2 cannot EXPLAIN a shard query with a parameter.
        .query(
            &format!(
                "EXPLAIN {}",
                KNN.replace("$1", &format!("'{}'", format_vector_text(&queries[..dim])))
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0) + "\n")
        .collect();
    assert!(plan.contains("Index Scan using items_idx_"), "{plan}");
    let sharded = sweep(
        &mut c,
        &lists,
        |l| format!("ALTER INDEX items_idx SET (search_list_size = {l})"),
        queries,
        dim,
        &truth,
    );
    // Each worker's shards searched side by side: one connection per shard,
    // kept open between queries.
    c.batch_execute(
        "SET citus.force_max_query_parallelization = on; SET citus.max_cached_conns_per_worker = 2",
    )
    .unwrap();
    let parallel = sweep(
        &mut c,
        &lists,
        |l| format!("ALTER INDEX items_idx SET (search_list_size = {l})"),
        queries,
        dim,
        &truth,
    );

    println!(
        "\n## GloVe ({n} x {dim}), cosine: one node vs Citus 13.2.2 ({SHARDS} shards on 2 workers), one machine\n"
    );
    println!("| | one node | Citus, {SHARDS} shards |");
    println!("|---|---:|---:|");
    println!("| binary COPY, s | {node_load:.1} | {load:.1} |");
    println!("| CREATE INDEX, s | {node_build:.1} | {build:.1} |");
    println!(
        "\n{nq} queries, one client, top 10. Left: one node; right: through the coordinator.\n"
    );
    println!("| search_list_size | recall@10 | QPS | p50 ms | p99 ms | recall@10 | QPS | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for ((l, a), b) in lists.iter().zip(&node).zip(&sharded) {
        println!(
            "| {l} | {:.4} | {:.0} | {:.2} | {:.2} | {:.4} | {:.0} | {:.2} | {:.2} |",
            a.recall, a.qps, a.p50, a.p99, b.recall, b.qps, b.p50, b.p99
        );
    }
    println!(
        "\nCitus with citus.force_max_query_parallelization = on and citus.max_cached_conns_per_worker = 2 (a connection per shard):\n"
    );
    println!("| search_list_size | recall@10 | QPS | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|");
    for (l, b) in lists.iter().zip(&parallel) {
        println!(
            "| {l} | {:.4} | {:.0} | {:.2} | {:.2} |",
            b.recall, b.qps, b.p50, b.p99
        );
    }
}
