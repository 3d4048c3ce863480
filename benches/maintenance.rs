//! VACUUM of a diskvec index, alone and beside inserts. Prints figures;
//! asserts nothing. `benches/maintenance.sh` runs it against two builds
//! in turn (a baseline and this tree) on one server's data.
//!
//! One trial, on GloVe-400k (cosine):
//! 1. a fresh copy of the table and a fresh index;
//! 2. delete 10% of the rows, `VACUUM`, timed: VACUUM alone;
//! 3. two sessions insert for `DISKVEC_BENCH_INSERT_SECS` (default 20):
//!    their rows per second without VACUUM;
//! 4. delete another 10%, `VACUUM` while the two sessions insert: the
//!    VACUUM's time, and the rows per second committed while it ran;
//! 5. recall@10 at the default search settings against exact search over
//!    the final table.
//!
//! Environment: `DISKVEC_TEST_PORT` (a running server with the extension),
//! `DISKVEC_BENCH_DB` (default `diskvec_maint`), `DISKVEC_BENCH_N` (the
//! first N rows only), `DISKVEC_BENCH_MWM` (default `2GB`),
//! `DISKVEC_BENCH_LABEL` (printed with the figures).

use diskvec_e2e::{connect, load_vectors, Vector};
use diskvec_engine::dataset::{self, brute_force, recall};
use diskvec_engine::Metric;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The vectors inserted: the rows the benchmark deletes (so at the end the
/// table holds no two copies of one vector), then the same shifted a
/// little on each further pass.
struct Pool<'a> {
    data: &'a [f32],
    dim: usize,
    rows: Vec<usize>,
}

impl Pool<'_> {
    fn vector(&self, i: usize) -> Vec<f32> {
        let row = self.rows[i % self.rows.len()];
        let mut v = self.data[row * self.dim..(row + 1) * self.dim].to_vec();
        v[(i / self.rows.len()) % self.dim] += 0.01 * (i / self.rows.len()) as f32;
        v
    }
}

/// Rows committed by `sessions` sessions inserting (100 rows a
/// transaction, pool entries from `*next` on, id `1_000_000 + entry`)
/// until `stop` is set: the commit time of each transaction and its rows.
fn insert_until(
    db: &str,
    pool: &Pool,
    next: &AtomicU64,
    sessions: usize,
    stop: &AtomicBool,
) -> Vec<(Instant, u64)> {
    let commits = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..sessions {
            s.spawn(|| {
                let mut c = connect(db);
                let stmt = c.prepare("INSERT INTO maint VALUES ($1, $2)").unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let at = next.fetch_add(100, Ordering::Relaxed) as usize;
                    let mut tx = c.transaction().unwrap();
                    for i in at..at + 100 {
                        let v = pool.vector(i);
                        tx.execute(&stmt, &[&(1_000_000 + i as i32), &Vector(&v)])
                            .unwrap();
                    }
                    tx.commit().unwrap();
                    commits.lock().unwrap().push((Instant::now(), 100));
                }
            });
        }
    });
    commits.into_inner().unwrap()
}

fn rows_between(commits: &[(Instant, u64)], from: Instant, to: Instant) -> u64 {
    commits
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, n)| n)
        .sum()
}

fn main() {
    let db = env("DISKVEC_BENCH_DB", "diskvec_maint");
    let label = env("DISKVEC_BENCH_LABEL", "");
    let secs: u64 = env("DISKVEC_BENCH_INSERT_SECS", "20").parse().unwrap();
    {
        let mut admin = connect("postgres");
        if admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .unwrap()
            .is_none()
        {
            admin
                .batch_execute(&format!("CREATE DATABASE {db}"))
                .unwrap();
        }
    }
    let mut c = connect(&db);
    c.batch_execute("CREATE EXTENSION IF NOT EXISTS diskvec")
        .unwrap();
    let mut ds = dataset::load("glove50");
    let dim = ds.base.cols;
    if let Ok(n) = env("DISKVEC_BENCH_N", "").parse::<usize>() {
        ds.base.data.truncate(n.min(ds.base.rows) * dim);
    }
    let n = ds.base.data.len() / dim;
    let src = format!("maint_src_{n}");
    let have: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = $1",
            &[&src],
        )
        .unwrap()
        .get(0);
    if have == 0 {
        load_vectors(&mut c, &src, &ds.base.data, dim);
    }
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS maint;
         CREATE TABLE maint (id int4 PRIMARY KEY, embedding vector({dim})) WITH (autovacuum_enabled = off);
         INSERT INTO maint SELECT * FROM {src};
         SET maintenance_work_mem = '{}'",
        env("DISKVEC_BENCH_MWM", "2GB")
    ))
    .unwrap();
    c.batch_execute("VACUUM ANALYZE maint").unwrap();
    let t = Instant::now();
    c.batch_execute("CREATE INDEX maint_idx ON maint USING diskvec (embedding vector_cosine_ops)")
        .unwrap();
    let build = t.elapsed().as_secs_f64();
    let size0: i64 = c
        .query_one("SELECT pg_relation_size('maint_idx')", &[])
        .unwrap()
        .get(0);

    // 2. VACUUM alone.
    let deleted = c
        .execute("DELETE FROM maint WHERE id % 10 = 3", &[])
        .unwrap();
    let t = Instant::now();
    c.batch_execute("VACUUM maint").unwrap();
    let vacuum_alone = t.elapsed().as_secs_f64();

    // 3. Inserts without VACUUM.
    let pool = Pool {
        data: &ds.base.data,
        dim,
        rows: (0..n).filter(|i| matches!((i + 1) % 10, 3 | 7)).collect(),
    };
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let t = Instant::now();
    let commits = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_secs(secs));
            stop.store(true, Ordering::Relaxed);
        });
        insert_until(&db, &pool, &next, 2, &stop)
    });
    let quiet_secs = t.elapsed().as_secs_f64();
    let quiet_rows: u64 = commits.iter().map(|x| x.1).sum();
    let quiet_rate = quiet_rows as f64 / quiet_secs;

    // 4. VACUUM beside the same inserts.
    let deleted2 = c
        .execute("DELETE FROM maint WHERE id % 10 = 7", &[])
        .unwrap();
    let stop = AtomicBool::new(false);
    let span = Mutex::new(None);
    let commits = std::thread::scope(|s| {
        s.spawn(|| {
            // Let the inserts get going first.
            std::thread::sleep(Duration::from_secs(2));
            let mut v = connect(&db);
            let from = Instant::now();
            v.batch_execute("VACUUM maint").unwrap();
            *span.lock().unwrap() = Some((from, Instant::now()));
            stop.store(true, Ordering::Relaxed);
        });
        insert_until(&db, &pool, &next, 2, &stop)
    });
    let (from, to) = span.into_inner().unwrap().unwrap();
    let vacuum_busy = (to - from).as_secs_f64();
    let busy_rows = rows_between(&commits, from, to);
    let busy_rate = busy_rows as f64 / vacuum_busy;
    let size1: i64 = c
        .query_one("SELECT pg_relation_size('maint_idx')", &[])
        .unwrap()
        .get(0);

    // 5. Recall on the final table, default search settings.
    let rows: Vec<(i32, Vec<f32>)> = c
        .query("SELECT id, embedding::real[] FROM maint", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let base: Vec<f32> = rows.iter().flat_map(|r| r.1.clone()).collect();
    let nq = 200;
    let queries = &ds.queries.data[..nq * dim];
    let truth: Vec<Vec<u32>> = brute_force(&base, dim, queries, 10, Metric::Cosine)
        .into_iter()
        .map(|t| t.into_iter().map(|i| rows[i as usize].0 as u32).collect())
        .collect();
    let stmt = c
        .prepare("SELECT id FROM maint ORDER BY embedding <=> $1 LIMIT 10")
        .unwrap();
    let got: Vec<Vec<u64>> = queries
        .chunks_exact(dim)
        .map(|q| {
            c.query(&stmt, &[&Vector(q)])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, i32>(0) as u64)
                .collect()
        })
        .collect();
    let r = recall(&got, &truth, 10);

    println!("\n## VACUUM of a diskvec index, GloVe {n} (cosine){label}\n");
    println!("| step | figure |");
    println!("|---|---:|");
    println!(
        "| CREATE INDEX | {build:.1} s, {:.1} MB |",
        size0 as f64 / 1e6
    );
    println!("| VACUUM alone ({deleted} rows deleted) | {vacuum_alone:.1} s |");
    println!("| INSERT, 2 sessions, no VACUUM ({quiet_rows} rows in {quiet_secs:.1} s) | {quiet_rate:.0} rows/s |");
    println!("| VACUUM beside them ({deleted2} rows deleted) | {vacuum_busy:.1} s |");
    println!(
        "| INSERT, 2 sessions, during that VACUUM ({busy_rows} rows) | {busy_rate:.0} rows/s |"
    );
    println!(
        "| during / without | {:.2} |",
        busy_rate / quiet_rate.max(1e-9)
    );
    println!(
        "| recall@10 afterwards ({} rows, {nq} queries, default settings) | {r:.4} |",
        rows.len()
    );
    println!("| index size afterwards | {:.1} MB |", size1 as f64 / 1e6);
    // One line for benches/maintenance.sh to collect.
    eprintln!(
        "maint\t{label}\t{vacuum_alone:.2}\t{quiet_rate:.1}\t{vacuum_busy:.2}\t{busy_rate:.1}\t{r:.4}"
    );
    c.batch_execute("DROP TABLE maint").unwrap();
}
