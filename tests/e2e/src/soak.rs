//! The soak: connections inserting, updating, deleting and querying a
//! table with a diskvec index for a fixed time, autovacuum on with
//! aggressive settings and a hot standby attached, then everything checked.
//! The test (`tests/maintenance.rs`) runs a few minutes of it and asserts;
//! the benchmark (`benches/soak.rs`) runs 30 minutes and prints figures.
//!
//! Each writer owns the ids congruent to its number (mod the writers), so
//! it knows exactly which rows it committed and with which vectors: at the
//! end the table must hold exactly those rows. Afterwards:
//! * `diskvec_verify` (pages, graph, every live heap row indexed);
//! * recall@10 at the default settings against exact search on the final
//!   table, and the same for a fresh index built over a copy of the rows;
//! * index size against that fresh build;
//! * autovacuum stopped and the standby caught up, the same queries on
//!   both servers must give the same answers;
//! * no ERROR, FATAL or PANIC in either server's log.

use crate::server::Server;
use crate::Vector;
use diskvec_engine::dataset::{brute_force, recall, Dataset};
use diskvec_engine::Metric;
use postgres::Client;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Config {
    /// Rows in the table when the soak starts (GloVe rows `0..rows`).
    pub rows: usize,
    /// Writer connections, each inserting, updating, deleting and querying.
    pub writers: usize,
    pub duration: Duration,
    /// Queries for the recall and standby comparisons at the end.
    pub queries: usize,
    /// Primary's port; the standby gets the next.
    pub port: u16,
    /// Name for the servers' data directories.
    pub name: &'static str,
}

/// The server settings of the soak: autovacuum as often as it will go.
pub const SETTINGS: &[&str] = &[
    "wal_level = replica",
    "max_connections = 60",
    "shared_buffers = 256MB",
    "max_wal_size = 4GB",
    "autovacuum = on",
    "autovacuum_naptime = 1s",
    "autovacuum_vacuum_threshold = 200",
    "autovacuum_vacuum_scale_factor = 0.02",
    "autovacuum_vacuum_insert_threshold = 1000",
    "autovacuum_vacuum_insert_scale_factor = 0.02",
    "autovacuum_analyze_scale_factor = 0.05",
    "autovacuum_vacuum_cost_delay = 2ms",
    "autovacuum_vacuum_cost_limit = 2000",
    "log_autovacuum_min_duration = 0",
    "hot_standby_feedback = on",
];

#[derive(Debug, Default)]
pub struct Report {
    pub ops: [u64; 4],
    pub standby_queries: u64,
    /// Errors of any statement, primary or standby (the first few kept).
    pub errors: Vec<String>,
    pub error_count: u64,
    pub autovacuums: i64,
    pub rows: usize,
    pub lost_rows: usize,
    pub extra_rows: usize,
    pub wrong_vectors: usize,
    pub verify: String,
    pub recall: f64,
    pub fresh_recall: f64,
    pub size: i64,
    pub fresh_size: i64,
    /// (seconds, index bytes, live rows, autovacuums so far) every 10 s.
    pub timeline: Vec<(u64, i64, i64, i64)>,
    pub standby_mismatches: usize,
    pub log_problems: Vec<String>,
    /// Wall seconds of each autovacuum of the table, from the server log.
    pub vacuum_secs: Vec<f64>,
}

/// The elapsed seconds of each logged autovacuum of table `items`
/// (`log_autovacuum_min_duration = 0`): the message's first line names the
/// table, its `system usage` line ends with `elapsed: N s`.
pub fn autovacuum_seconds(log: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut ours = false;
    for l in log.lines() {
        if l.contains("automatic vacuum of table") {
            ours = l.contains(".items\"");
        } else if ours {
            if let Some(rest) = l.split("elapsed: ").nth(1) {
                if let Some(secs) = rest.split_whitespace().next().and_then(|x| x.parse().ok()) {
                    out.push(secs);
                }
                ours = false;
            }
        }
    }
    out
}

impl Report {
    pub fn print(&self, cfg: &Config) {
        let [ins, upd, del, qry] = self.ops;
        println!(
            "soak: {} writers for {} s over {} starting rows: {ins} inserts, {upd} updates, \
             {del} deletes, {qry} queries; {} standby queries; {} errors; {} autovacuums of the table",
            cfg.writers,
            cfg.duration.as_secs(),
            cfg.rows,
            self.standby_queries,
            self.error_count,
            self.autovacuums
        );
        for e in &self.errors {
            println!("  error: {e}");
        }
        if !self.vacuum_secs.is_empty() {
            let secs: Vec<String> = self.vacuum_secs.iter().map(|s| format!("{s:.1}")).collect();
            println!(
                "autovacuums of the table in the log, wall s each (total {:.1}): {}",
                self.vacuum_secs.iter().sum::<f64>(),
                secs.join(" ")
            );
        }
        println!("index size over time (s, MB, live rows, autovacuums):");
        for (t, size, live, av) in &self.timeline {
            println!("  {t:>5} {:>8.1} {live:>8} {av:>5}", *size as f64 / 1e6);
        }
        println!(
            "final table: {} rows; lost {}, unexpected {}, wrong vector {}",
            self.rows, self.lost_rows, self.extra_rows, self.wrong_vectors
        );
        println!("{}", self.verify);
        println!(
            "recall@10 (default settings): soaked index {:.4}, fresh index {:.4}; size {:.1} MB, fresh {:.1} MB ({:.2}x)",
            self.recall,
            self.fresh_recall,
            self.size as f64 / 1e6,
            self.fresh_size as f64 / 1e6,
            self.size as f64 / self.fresh_size as f64
        );
        println!(
            "standby: {} of {} answers differ; server logs: {} ERROR/FATAL/PANIC lines",
            self.standby_mismatches,
            cfg.queries,
            self.log_problems.len()
        );
        for l in self.log_problems.iter().take(10) {
            println!("  log: {l}");
        }
    }
}

/// Small deterministic generator for the writers' choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Vectors for inserts and updates: GloVe rows after the starting ones,
/// then the same shifted a little on each further pass.
struct Pool<'a> {
    base: &'a [f32],
    dim: usize,
    first: usize,
}

impl Pool<'_> {
    fn vector(&self, i: usize) -> Vec<f32> {
        let rows = self.base.len() / self.dim;
        if i < self.first {
            return self.base[i * self.dim..(i + 1) * self.dim].to_vec();
        }
        let span = rows - self.first;
        let (pass, row) = (
            (i - self.first) / span,
            self.first + (i - self.first) % span,
        );
        let mut v = self.base[row * self.dim..(row + 1) * self.dim].to_vec();
        v[pass % self.dim] += 0.01 * pass as f32;
        v
    }
}

fn setup(c: &mut Client, ds: &Dataset, rows: usize) {
    let dim = ds.base.cols;
    c.batch_execute(&format!(
        "CREATE EXTENSION diskvec;
         CREATE TABLE items (id int8 PRIMARY KEY, embedding vector({dim})) WITH (vacuum_truncate = false)"
    ))
    .unwrap();
    let data: Vec<Vec<Option<Vec<u8>>>> = (0..rows)
        .map(|i| {
            let mut v = Vec::new();
            diskvec_engine::vector_text::encode_vector_binary(ds.base.row(i), &mut v);
            vec![Some(((i + 1) as i64).to_be_bytes().to_vec()), Some(v)]
        })
        .collect();
    crate::copy_in(
        c,
        "COPY items FROM STDIN (FORMAT binary)",
        &crate::binary_copy(&data),
    )
    .unwrap();
    c.batch_execute(
        "SET maintenance_work_mem = '1GB';
         CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)",
    )
    .unwrap();
    c.batch_execute("VACUUM ANALYZE items").unwrap();
}

fn note_error(report: &Mutex<Report>, what: &str, e: &postgres::Error) {
    let mut r = report.lock().unwrap();
    r.error_count += 1;
    if r.errors.len() < 10 {
        let msg = e
            .as_db_error()
            .map(|d| format!("{}: {}", d.code().code(), d.message()))
            .unwrap_or_else(|| e.to_string());
        r.errors.push(format!("{what}: {msg}"));
    }
}

/// One writer: its own rows (id, pool index) and a mix of statements until
/// `stop`. Returns its rows as committed.
#[allow(clippy::too_many_arguments)]
fn writer(
    srv: &Server,
    w: usize,
    writers: usize,
    mut mine: Vec<(i64, usize)>,
    pool: &Pool,
    next_vector: &AtomicU64,
    queries: &[f32],
    stop: &AtomicBool,
    report: &Mutex<Report>,
) -> Vec<(i64, usize)> {
    let mut c = srv.connect("postgres");
    let ins = c.prepare("INSERT INTO items VALUES ($1, $2)").unwrap();
    let upd = c
        .prepare("UPDATE items SET embedding = $2 WHERE id = $1")
        .unwrap();
    let del = c.prepare("DELETE FROM items WHERE id = $1").unwrap();
    let knn = c
        .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    let dim = pool.dim;
    let nq = queries.len() / dim;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1) * 0x1234_5678);
    let mut next_id = 10_000_000 + w as i64;
    let mut ops = [0u64; 4];
    while !stop.load(Ordering::Relaxed) {
        let op = match rng.below(10) {
            0 | 1 => 0,
            2 | 3 => 1,
            4 | 5 => 2,
            _ => 3,
        };
        match op {
            0 => {
                let p = next_vector.fetch_add(1, Ordering::Relaxed) as usize;
                match c.execute(&ins, &[&next_id, &Vector(&pool.vector(p))]) {
                    Ok(_) => mine.push((next_id, p)),
                    Err(e) => note_error(report, "insert", &e),
                }
                next_id += writers as i64;
            }
            1 | 2 if mine.is_empty() => continue,
            1 => {
                let at = rng.below(mine.len());
                let p = next_vector.fetch_add(1, Ordering::Relaxed) as usize;
                match c.execute(&upd, &[&mine[at].0, &Vector(&pool.vector(p))]) {
                    Ok(1) => mine[at].1 = p,
                    Ok(n) => {
                        let mut r = report.lock().unwrap();
                        r.error_count += 1;
                        r.errors
                            .push(format!("update of {} hit {n} rows", mine[at].0));
                    }
                    Err(e) => note_error(report, "update", &e),
                }
            }
            2 => {
                let at = rng.below(mine.len());
                match c.execute(&del, &[&mine[at].0]) {
                    Ok(1) => {
                        mine.swap_remove(at);
                    }
                    Ok(n) => {
                        let mut r = report.lock().unwrap();
                        r.error_count += 1;
                        r.errors
                            .push(format!("delete of {} hit {n} rows", mine[at].0));
                    }
                    Err(e) => note_error(report, "delete", &e),
                }
            }
            _ => {
                let q = &queries[rng.below(nq) * dim..][..dim];
                match c.query(&knn, &[&Vector(q)]) {
                    Ok(rows) if rows.len() == 10 => {}
                    Ok(rows) => {
                        let mut r = report.lock().unwrap();
                        r.error_count += 1;
                        r.errors.push(format!("query returned {} rows", rows.len()));
                    }
                    Err(e) => note_error(report, "query", &e),
                }
            }
        }
        ops[op] += 1;
    }
    let mut r = report.lock().unwrap();
    for (a, b) in r.ops.iter_mut().zip(ops) {
        *a += b;
    }
    mine
}

/// Queries on the standby while the primary changes under it.
fn standby_reader(
    srv: &Server,
    queries: &[f32],
    dim: usize,
    stop: &AtomicBool,
    report: &Mutex<Report>,
) {
    let mut c = srv.connect("postgres");
    let knn = c
        .prepare("SELECT id FROM items ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    let mut n = 0u64;
    let nq = queries.len() / dim;
    while !stop.load(Ordering::Relaxed) {
        let q = &queries[(n as usize % nq) * dim..][..dim];
        match c.query(&knn, &[&Vector(q)]) {
            Ok(rows) if rows.len() == 10 => {}
            Ok(rows) => {
                let mut r = report.lock().unwrap();
                r.error_count += 1;
                r.errors
                    .push(format!("standby query returned {} rows", rows.len()));
            }
            Err(e) => note_error(report, "standby query", &e),
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    report.lock().unwrap().standby_queries = n;
}

fn one_i64(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn knn_ids(c: &mut Client, table: &str, queries: &[f32], dim: usize) -> Vec<Vec<u64>> {
    let stmt = c
        .prepare(&format!(
            "SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT 10"
        ))
        .unwrap();
    queries
        .chunks_exact(dim)
        .map(|q| {
            c.query(&stmt, &[&Vector(q)])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i64>(0) as u64)
                .collect()
        })
        .collect()
}

/// Run the soak on servers of its own and check everything afterwards.
pub fn run(cfg: &Config, ds: &Dataset) -> Report {
    let dim = ds.base.cols;
    let primary = Server::start(&format!("{}-primary", cfg.name), cfg.port, SETTINGS);
    let mut c = primary.connect("postgres");
    setup(&mut c, ds, cfg.rows);
    let standby = Server::replica_of(&primary, &format!("{}-standby", cfg.name), cfg.port + 1);
    let pool = Pool {
        base: &ds.base.data,
        dim,
        first: cfg.rows,
    };
    let next_vector = AtomicU64::new(cfg.rows as u64);
    let queries = &ds.queries.data;
    let stop = AtomicBool::new(false);
    let report = Mutex::new(Report::default());
    let start = Instant::now();
    let rows: Vec<Vec<(i64, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cfg.writers)
            .map(|w| {
                let mine: Vec<(i64, usize)> = (0..cfg.rows)
                    .filter(|i| (i + 1) % cfg.writers == w)
                    .map(|i| ((i + 1) as i64, i))
                    .collect();
                let (pool, next_vector, stop, report) = (&pool, &next_vector, &stop, &report);
                let primary = &primary;
                s.spawn(move || {
                    writer(
                        primary,
                        w,
                        cfg.writers,
                        mine,
                        pool,
                        next_vector,
                        queries,
                        stop,
                        report,
                    )
                })
            })
            .collect();
        s.spawn(|| standby_reader(&standby, queries, dim, &stop, &report));
        s.spawn(|| {
            let mut m = primary.connect("postgres");
            while start.elapsed() < cfg.duration {
                let t = start.elapsed().as_secs();
                let size = one_i64(&mut m, "SELECT pg_relation_size('items_idx')");
                let live = one_i64(
                    &mut m,
                    "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'items'",
                );
                let av = one_i64(
                    &mut m,
                    "SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'items'",
                );
                report.lock().unwrap().timeline.push((t, size, live, av));
                let left = cfg.duration.saturating_sub(start.elapsed());
                std::thread::sleep(left.min(Duration::from_secs(10)));
            }
            stop.store(true, Ordering::Relaxed);
        });
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut report = report.into_inner().unwrap();

    // Autovacuum off, and whatever run is under way finished, so both
    // servers hold still for the comparison.
    c.batch_execute("ALTER SYSTEM SET autovacuum = off")
        .unwrap();
    c.batch_execute("SELECT pg_reload_conf()").unwrap();
    let waited = Instant::now();
    while one_i64(
        &mut c,
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
    ) > 0
    {
        assert!(
            waited.elapsed() < Duration::from_secs(1800),
            "autovacuum does not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    report.autovacuums = one_i64(
        &mut c,
        "SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'items'",
    );

    // Exactly the committed rows, with their vectors.
    let expected: std::collections::HashMap<i64, usize> = rows.into_iter().flatten().collect();
    let table: Vec<(i64, Vec<f32>)> = c
        .query("SELECT id, embedding::real[] FROM items", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    report.rows = table.len();
    let present: std::collections::HashSet<i64> = table.iter().map(|r| r.0).collect();
    report.lost_rows = expected.keys().filter(|id| !present.contains(id)).count();
    report.extra_rows = table
        .iter()
        .filter(|r| !expected.contains_key(&r.0))
        .count();
    report.wrong_vectors = table
        .iter()
        .filter(|r| expected.get(&r.0).is_some_and(|&p| pool.vector(p) != r.1))
        .count();
    report.verify = c
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .map(|r| r.get(0))
        .unwrap_or_else(|e| format!("diskvec_verify FAILED: {e:?}"));

    // Recall against exact search on the final rows, next to a fresh index.
    let queries = &ds.queries.data[..cfg.queries * dim];
    let base: Vec<f32> = table.iter().flat_map(|r| r.1.iter().copied()).collect();
    let truth: Vec<Vec<u32>> = brute_force(&base, dim, queries, 10, Metric::Cosine)
        .into_iter()
        .map(|t| t.into_iter().map(|i| table[i as usize].0 as u32).collect())
        .collect();
    let soaked = knn_ids(&mut c, "items", queries, dim);
    report.recall = recall(&soaked, &truth, 10);
    report.size = one_i64(&mut c, "SELECT pg_relation_size('items_idx')");
    c.batch_execute(
        "SET maintenance_work_mem = '1GB';
         CREATE TABLE items_fresh AS SELECT * FROM items;
         CREATE INDEX items_fresh_idx ON items_fresh USING diskvec (embedding vector_cosine_ops)",
    )
    .unwrap();
    report.fresh_recall = recall(&knn_ids(&mut c, "items_fresh", queries, dim), &truth, 10);
    report.fresh_size = one_i64(&mut c, "SELECT pg_relation_size('items_fresh_idx')");

    // The standby, caught up, answers the same.
    let lsn: String = c
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .unwrap()
        .get(0);
    let mut r = standby.connect("postgres");
    let waited = Instant::now();
    while !r
        .query_one(
            "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
            &[&lsn],
        )
        .unwrap()
        .get::<_, bool>(0)
    {
        assert!(
            waited.elapsed() < Duration::from_secs(600),
            "standby does not catch up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut fresh_primary = primary.connect("postgres");
    let on_primary = knn_ids(&mut fresh_primary, "items", queries, dim);
    let on_standby = knn_ids(&mut r, "items", queries, dim);
    report.standby_mismatches = on_primary
        .iter()
        .zip(&on_standby)
        .filter(|(a, b)| a != b)
        .count();
    report.vacuum_secs = autovacuum_seconds(&primary.log());
    report.log_problems = [&primary, &standby]
        .iter()
        .flat_map(|s| {
            s.log()
                .lines()
                .filter(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("PANIC"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    report
}

#[cfg(test)]
mod tests {
    /// Two vacuums of `items` and one of another table, as PostgreSQL 15
    /// logs them.
    #[test]
    fn reads_each_autovacuum_of_the_table() {
        let log = "LOG:  automatic vacuum of table \"postgres.public.items\": index scans: 1\n\
                   \tpages: 0 removed, 10 remain\n\
                   \tsystem usage: CPU: user: 0.10 s, system: 0.00 s, elapsed: 2.50 s\n\
                   LOG:  automatic vacuum of table \"postgres.pg_catalog.pg_class\": index scans: 0\n\
                   \tsystem usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.01 s\n\
                   LOG:  automatic analyze of table \"postgres.public.items\"\n\
                   \tsystem usage: CPU: user: 0.01 s, system: 0.00 s, elapsed: 0.30 s\n\
                   LOG:  automatic vacuum of table \"postgres.public.items\": index scans: 1\n\
                   \tsystem usage: CPU: user: 1.00 s, system: 0.00 s, elapsed: 12.25 s\n";
        assert_eq!(super::autovacuum_seconds(log), vec![2.5, 12.25]);
    }
}
