//! What the SQL benchmarks (`benches/sql.rs`, `benches/citus.rs`) share:
//! one client running top-10 queries, timed one by one.

use crate::Vector;
use diskvec_engine::dataset::recall;
use std::time::{Duration, Instant};

pub struct Run {
    pub qps: f64,
    pub p50: f64,
    pub p99: f64,
    pub recall: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Runs `sql` (one `vector` parameter, returning `int4` ids, row `i` as id
/// `i + 1`) once per query; QPS, median and 99th percentile latency in ms,
/// and recall@10 against `truth`.
pub fn run_queries(
    client: &mut postgres::Client,
    sql: &str,
    queries: &[f32],
    dim: usize,
    truth: &[Vec<u32>],
) -> Run {
    let stmt = client.prepare(sql).unwrap();
    let mut lat = Vec::new();
    let mut got = Vec::new();
    let start = Instant::now();
    for q in queries.chunks_exact(dim) {
        let t = Instant::now();
        let rows = client.query(&stmt, &[&Vector(q)]).unwrap();
        lat.push(t.elapsed());
        got.push(
            rows.iter()
                .map(|r| (r.get::<_, i32>(0) - 1) as u64)
                .collect::<Vec<u64>>(),
        );
    }
    let total = start.elapsed().as_secs_f64();
    lat.sort();
    Run {
        qps: lat.len() as f64 / total,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        recall: recall(&got, &truth[..got.len()], 10),
    }
}
