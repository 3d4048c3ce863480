//! What a connection costs: diskvec with its codes held once per server,
//! the previous diskvec (codes in each backend), and pgvector's HNSW, each
//! on a server of its own, measured in the same run, alternating. Prints
//! figures; asserts nothing. `benches/connections.sh` starts the servers.
//!
//! For each data set (cosine), and each system:
//! * warm, one connection: recall@10 and QPS over a sweep of the search
//!   knob; the smallest setting with recall@10 >= 0.95 is used below;
//! * a new connection per query: the first query's latency (p50, p90;
//!   connecting not included), and queries/s counting everything (connect,
//!   query, disconnect);
//! * memory: the backend's private memory (the kernel's `RssAnon`: its own
//!   heap, not shared memory) after one query, and with 8 backends that
//!   each ran 20 queries, their private memory in all and the shared code
//!   pool's use (every index loaded so far, not only this one);
//! * pgbench (prepared statements), 1, 2, 4 and 8 clients.
//!
//! Environment:
//! * `DISKVEC_CONN_SYSTEMS` (default `diskvec=5840,hnsw=5841`):
//!   `name=port` pairs; a name starting with `hnsw` is pgvector, any other
//!   is diskvec (`prev` for an older build is customary).
//! * `DISKVEC_BENCH_SETS` (default `glove50,wordnet384`), `DISKVEC_BENCH_N`.
//! * `DISKVEC_CONN_ROUNDS` (2), `DISKVEC_CONN_NEW` (100 new connections per
//!   round), `DISKVEC_BENCH_QUERIES` (1000), `DISKVEC_BENCH_EXACT` (30).
//! * `DISKVEC_CONN_PGBENCH` (default `glove50`): the sets pgbench runs on;
//!   `DISKVEC_CONN_PGBENCH_SECS` (15).
//! * `DISKVEC_CONN_LISTS` / `DISKVEC_CONN_EFS`: the knob sweeps.

use diskvec_e2e::bench::run_queries;
use diskvec_e2e::{load_vectors, Vector};
use diskvec_engine::dataset::{self, brute_force, recall};
use diskvec_engine::Metric;
use postgres::{Client, NoTls};
use std::collections::BTreeMap;
use std::time::Instant;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn num(name: &str, default: usize) -> usize {
    env(name, &default.to_string()).parse().unwrap()
}

#[derive(Clone)]
struct System {
    name: String,
    port: u16,
    hnsw: bool,
}

impl System {
    fn db(&self) -> &'static str {
        if self.hnsw {
            "pgvector_bench"
        } else {
            "diskvec_bench"
        }
    }
    fn knob(&self) -> &'static str {
        if self.hnsw {
            "hnsw.ef_search"
        } else {
            "diskvec.search_list_size"
        }
    }
    fn config(&self, db: &str, knob: Option<usize>) -> String {
        let mut c = format!("host=/tmp port={} user=postgres dbname={db}", self.port);
        if let Some(k) = knob {
            c.push_str(&format!(" options='-c {}={k}'", self.knob()));
        }
        c
    }
    fn connect(&self, knob: Option<usize>) -> Client {
        let c = self.config(self.db(), knob);
        Client::connect(&c, NoTls).unwrap_or_else(|e| panic!("{c}: {e}"))
    }
    fn index(&self, set: &str) -> String {
        format!(
            "bench_{set}_{}_cosine",
            if self.hnsw { "hnsw" } else { "diskvec" }
        )
    }
}

/// The table, its index and a table of the queries, made once per server.
fn setup(sys: &System, set: &str, table: &str, ds: &dataset::Dataset) {
    let dim = ds.base.cols;
    let mut admin = Client::connect(&sys.config("postgres", None), NoTls).unwrap();
    if admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&sys.db()])
        .unwrap()
        .is_none()
    {
        admin
            .batch_execute(&format!("CREATE DATABASE {}", sys.db()))
            .unwrap();
    }
    let mut c = sys.connect(None);
    let ext = if sys.hnsw { "vector" } else { "diskvec" };
    c.batch_execute(&format!(
        "SET client_min_messages = error; CREATE EXTENSION IF NOT EXISTS {ext}"
    ))
    .unwrap();
    let has = |c: &mut Client, rel: &str| {
        c.query_one("SELECT count(*) FROM pg_class WHERE relname = $1", &[&rel])
            .unwrap()
            .get::<_, i64>(0)
            > 0
    };
    if !has(&mut c, table) {
        load_vectors(&mut c, table, &ds.base.data, dim);
        c.batch_execute(&format!("VACUUM ANALYZE {table}")).unwrap();
    }
    let queries = format!("{table}_queries");
    if !has(&mut c, &queries) {
        load_vectors(&mut c, &queries, &ds.queries.data, dim);
    }
    let index = sys.index(set);
    if !has(&mut c, &index) {
        let with = if sys.hnsw {
            " WITH (m = 16, ef_construction = 64)"
        } else {
            ""
        };
        let am = if sys.hnsw { "hnsw" } else { "diskvec" };
        let t = Instant::now();
        c.batch_execute(&format!(
            "SET maintenance_work_mem = '2GB'; CREATE INDEX {index} ON {table} USING {am} (embedding vector_cosine_ops){with}"
        ))
        .unwrap();
        eprintln!(
            "{}: built {index} in {:.0} s",
            sys.name,
            t.elapsed().as_secs_f64()
        );
    }
}

/// Private and shared resident memory of backend `pid`, in bytes.
fn rss(pid: i32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("RssAnon:"), field("RssShmem:"))
}

fn pid(c: &mut Client) -> i32 {
    c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Default, Clone)]
struct Figures {
    /// knob -> (recall, best QPS)
    sweep: BTreeMap<usize, (f64, f64)>,
    exact_qps: Vec<f64>,
    first_ms: Vec<f64>,
    new_conn_qps: Vec<f64>,
    private_one: Vec<f64>,
    private_8: Vec<f64>,
    shared_8: Vec<f64>,
    pgbench: BTreeMap<usize, Vec<f64>>,
}

impl Figures {
    /// The smallest knob with recall@10 >= 0.95, its recall and QPS.
    fn at_95(&self) -> Option<(usize, f64, f64)> {
        self.sweep
            .iter()
            .find(|(_, (r, _))| *r >= 0.95)
            .map(|(k, (r, q))| (*k, *r, *q))
    }
}

fn sweep(
    sys: &System,
    table: &str,
    queries: &[f32],
    dim: usize,
    truth: &[Vec<u32>],
    f: &mut Figures,
) {
    let lists = if sys.hnsw {
        env("DISKVEC_CONN_EFS", "16,24,32,40,48,64,96")
    } else {
        env("DISKVEC_CONN_LISTS", "16,24,32,40,48,64,96")
    };
    let mut c = sys.connect(None);
    let sql = format!("SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT 10");
    for l in lists.split(',').map(|x| x.parse::<usize>().unwrap()) {
        c.batch_execute(&format!("SET {} = {l}", sys.knob()))
            .unwrap();
        run_queries(&mut c, &sql, &queries[..100 * dim], dim, truth);
        let r = run_queries(&mut c, &sql, queries, dim, truth);
        let e = f.sweep.entry(l).or_insert((r.recall, 0.0));
        e.1 = e.1.max(r.qps);
    }
    let ne = num("DISKVEC_BENCH_EXACT", 30);
    c.batch_execute("SET enable_indexscan = off").unwrap();
    let r = run_queries(&mut c, &sql, &queries[..ne * dim], dim, truth);
    f.exact_qps.push(r.qps);
}

/// A new connection per query: first-query latency and overall rate.
fn new_connections(
    sys: &System,
    table: &str,
    knob: usize,
    queries: &[f32],
    dim: usize,
    truth: &[Vec<u32>],
    f: &mut Figures,
) {
    let n = num("DISKVEC_CONN_NEW", 100);
    let sql = format!("SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT 10");
    let mut got = Vec::new();
    let start = Instant::now();
    for (i, q) in queries.chunks_exact(dim).cycle().take(n).enumerate() {
        let mut c = sys.connect(Some(knob));
        let t = Instant::now();
        let rows = c.query(&sql, &[&Vector(q)]).unwrap();
        f.first_ms.push(t.elapsed().as_secs_f64() * 1e3);
        got.push((
            i,
            rows.iter()
                .map(|r| (r.get::<_, i32>(0) - 1) as u64)
                .collect::<Vec<u64>>(),
        ));
        if i < 10 {
            let p = pid(&mut c);
            f.private_one.push(rss(p).0 as f64);
        }
    }
    f.new_conn_qps
        .push(n as f64 / start.elapsed().as_secs_f64());
    let nq = queries.len() / dim;
    let rec = recall(
        &got.iter().map(|(_, g)| g.clone()).collect::<Vec<_>>(),
        &got.iter()
            .map(|(i, _)| truth[i % nq].clone())
            .collect::<Vec<_>>(),
        10,
    );
    assert!(rec > 0.8, "{}: recall {rec} on new connections", sys.name);
}

/// Eight backends, twenty queries each: their private memory in all, and
/// the shared code pool's use (diskvec's, every index loaded so far).
fn eight(sys: &System, table: &str, knob: usize, queries: &[f32], dim: usize, f: &mut Figures) {
    let sql = format!("SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT 10");
    let mut cs: Vec<Client> = (0..8).map(|_| sys.connect(Some(knob))).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        for q in queries.chunks_exact(dim).skip(i * 20).take(20) {
            c.query(&sql, &[&Vector(q)]).unwrap();
        }
    }
    let total: u64 = cs.iter_mut().map(|c| rss(pid(c)).0).sum();
    f.private_8.push(total as f64);
    let shared = if sys.hnsw {
        0
    } else {
        cs[0]
            .query_opt("SELECT used_bytes FROM diskvec_shared_memory", &[])
            .ok()
            .flatten()
            .map_or(0, |r| r.get::<_, i64>(0))
    };
    f.shared_8.push(shared as f64);
}

fn pgbench(sys: &System, table: &str, knob: usize, clients: usize, f: &mut Figures) {
    let secs = num("DISKVEC_CONN_PGBENCH_SECS", 15);
    let script = std::env::temp_dir().join(format!("conn-bench-{}-{table}.sql", sys.name));
    std::fs::write(
        &script,
        format!(
            "\\set q random(1, 1000)\nSELECT id FROM {table} ORDER BY embedding <=> (SELECT embedding FROM {table}_queries WHERE id = :q) LIMIT 10;\n"
        ),
    )
    .unwrap();
    let bin = format!(
        "{}/pgbench",
        std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into())
    );
    let out = std::process::Command::new(bin)
        .args(["-n", "-M", "prepared", "-h", "/tmp", "-U", "postgres"])
        .args(["-p", &sys.port.to_string()])
        .args(["-c", &clients.to_string(), "-j", &clients.to_string()])
        .args([
            "-T",
            &secs.to_string(),
            "-f",
            script.to_str().unwrap(),
            sys.db(),
        ])
        .env("PGOPTIONS", format!("-c {}={knob}", sys.knob()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("pgbench: {text}{}", String::from_utf8_lossy(&out.stderr)));
    f.pgbench.entry(clients).or_default().push(tps);
}

fn mb(b: f64) -> String {
    format!("{:.1}", b / 1e6)
}

fn main() {
    let systems: Vec<System> = env("DISKVEC_CONN_SYSTEMS", "diskvec=5840,hnsw=5841")
        .split(',')
        .map(|s| {
            let (name, port) = s.split_once('=').expect("name=port");
            System {
                name: name.into(),
                port: port.parse().unwrap(),
                hnsw: name.starts_with("hnsw"),
            }
        })
        .collect();
    let rounds = num("DISKVEC_CONN_ROUNDS", 2);
    let pgbench_sets = env("DISKVEC_CONN_PGBENCH", "glove50");
    for set in env("DISKVEC_BENCH_SETS", "glove50,wordnet384").split(',') {
        let mut ds = dataset::load(set);
        let dim = ds.base.cols;
        let mut table = format!("bench_{set}");
        if let Ok(n) = env("DISKVEC_BENCH_N", "").parse::<usize>() {
            let n = n.min(ds.base.rows);
            ds.base.data.truncate(n * dim);
            ds.base.rows = n;
            table = format!("bench_{set}_{n}");
        }
        for sys in &systems {
            setup(sys, set, &table, &ds);
        }
        if env("DISKVEC_CONN_SETUP_ONLY", "0") == "1" {
            continue;
        }
        let nq = num("DISKVEC_BENCH_QUERIES", 1000).min(ds.queries.rows);
        let queries = &ds.queries.data[..nq * dim];
        let truth = brute_force(&ds.base.data, dim, queries, 10, Metric::Cosine);
        let mut figs: Vec<Figures> = vec![Figures::default(); systems.len()];
        for round in 0..rounds {
            for (sys, f) in systems.iter().zip(figs.iter_mut()) {
                eprintln!("{set}, round {}: {}", round + 1, sys.name);
                sweep(sys, &table, queries, dim, &truth, f);
                let knob = f.at_95().map_or(96, |x| x.0);
                new_connections(sys, &table, knob, queries, dim, &truth, f);
                eight(sys, &table, knob, queries, dim, f);
            }
        }
        if pgbench_sets.split(',').any(|s| s == set) {
            for clients in [1usize, 2, 4, 8] {
                for (sys, f) in systems.iter().zip(figs.iter_mut()) {
                    let knob = f.at_95().map_or(96, |x| x.0);
                    eprintln!("{set}: pgbench, {clients} clients: {}", sys.name);
                    pgbench(sys, &table, knob, clients, f);
                }
            }
        }
        report(set, &ds, &systems, &mut figs);
    }
}

fn report(set: &str, ds: &dataset::Dataset, systems: &[System], figs: &mut [Figures]) {
    println!(
        "\n## {set} ({} x {}), cosine: a connection's cost\n",
        ds.base.rows, ds.base.cols
    );
    println!(
        "| | {} |",
        systems
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---:|".repeat(systems.len()));
    let row = |label: &str, cells: Vec<String>| println!("| {label} | {} |", cells.join(" | "));
    row(
        "knob at recall@10 >= 0.95 (recall)",
        figs.iter()
            .zip(systems)
            .map(|(f, s)| {
                f.at_95().map_or("-".into(), |(k, r, _)| {
                    format!("{}={k} ({r:.3})", s.knob().split('.').next_back().unwrap())
                })
            })
            .collect(),
    );
    row(
        "warm, one connection: QPS at that knob (best of rounds)",
        figs.iter()
            .map(|f| f.at_95().map_or("-".into(), |x| format!("{:.0}", x.2)))
            .collect(),
    );
    row(
        "exact search (seq scan) QPS, same run",
        figs.iter()
            .map(|f| format!("{:.1}", median(&mut f.exact_qps.clone())))
            .collect(),
    );
    row(
        "first query on a new connection, p50 ms",
        figs.iter_mut()
            .map(|f| format!("{:.2}", median(&mut f.first_ms)))
            .collect(),
    );
    row(
        "first query on a new connection, p90 ms",
        figs.iter_mut()
            .map(|f| format!("{:.2}", pct(&mut f.first_ms, 0.9)))
            .collect(),
    );
    row(
        "queries/s, one new connection per query",
        figs.iter_mut()
            .map(|f| format!("{:.1}", median(&mut f.new_conn_qps)))
            .collect(),
    );
    row(
        "private memory per backend after one query, MB (median)",
        figs.iter_mut()
            .map(|f| mb(median(&mut f.private_one)))
            .collect(),
    );
    row(
        "8 backends x 20 queries: private memory in all, MB",
        figs.iter_mut()
            .map(|f| mb(median(&mut f.private_8)))
            .collect(),
    );
    row(
        "8 backends: diskvec's shared code pool in use (all indexes loaded so far), MB",
        figs.iter_mut()
            .map(|f| mb(median(&mut f.shared_8)))
            .collect(),
    );
    for (clients, _) in figs[0].pgbench.clone() {
        row(
            &format!("pgbench, prepared, {clients} clients: TPS (best)"),
            figs.iter()
                .map(|f| {
                    f.pgbench.get(&clients).map_or("-".into(), |v| {
                        format!("{:.0}", v.iter().cloned().fold(0.0, f64::max))
                    })
                })
                .collect(),
        );
    }
    println!("\nRecall@10 and QPS by knob, warm, one connection (best of rounds):\n");
    for (s, f) in systems.iter().zip(figs.iter()) {
        let pts: Vec<String> = f
            .sweep
            .iter()
            .map(|(k, (r, q))| format!("{k}: {r:.3} / {q:.0}"))
            .collect();
        println!("- {} ({}): {}", s.name, s.knob(), pts.join(", "));
    }
    // Ratios against the first system.
    if systems.len() > 1 {
        println!();
        let (f0, s0) = (&figs[0], &systems[0]);
        for (s, f) in systems.iter().zip(figs.iter()).skip(1) {
            if let (Some(a), Some(b)) = (f0.at_95(), f.at_95()) {
                println!(
                    "- {} / {}: warm QPS at recall >= 0.95: {:.2}",
                    s0.name,
                    s.name,
                    a.2 / b.2
                );
            }
            for (c, v) in &f0.pgbench {
                if let Some(w) = f.pgbench.get(c) {
                    let best = |x: &Vec<f64>| x.iter().cloned().fold(0.0, f64::max);
                    println!(
                        "- {} / {}: pgbench {c} clients: {:.2}",
                        s0.name,
                        s.name,
                        best(v) / best(w)
                    );
                }
            }
        }
    }
}
