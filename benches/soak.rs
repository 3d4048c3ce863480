//! The soak as a benchmark: `DISKVEC_SOAK_SECS` (default 1800) of four
//! connections inserting, updating, deleting and querying a GloVe table
//! with a diskvec index, aggressive autovacuum and a hot standby attached
//! (tests/e2e/src/soak.rs), then the checks, printed. Exits non-zero if a
//! check fails, after printing everything.
//!
//!   DISKVEC_TEST_PORT=5440 PG_BIN=... cargo bench -p diskvec-e2e --bench soak
//!
//! `DISKVEC_SOAK_ROWS` (default 100000) rows at the start; the servers
//! take the ports `DISKVEC_TEST_PORT + 40` and `+ 41`.

use diskvec_e2e::server::port_for;
use diskvec_e2e::soak;
use diskvec_engine::dataset;
use std::time::Duration;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let ds = dataset::load("glove50");
    let cfg = soak::Config {
        rows: env("DISKVEC_SOAK_ROWS", 100_000) as usize,
        writers: 4,
        duration: Duration::from_secs(env("DISKVEC_SOAK_SECS", 1800)),
        queries: 1000,
        port: port_for(40),
        name: "soak-bench",
    };
    let r = soak::run(&cfg, &ds);
    r.print(&cfg);
    let checks = [
        ("no errors", r.error_count == 0),
        (
            "no lost, unexpected or altered rows",
            (r.lost_rows, r.extra_rows, r.wrong_vectors) == (0, 0, 0),
        ),
        ("diskvec_verify passes", r.verify.contains("is consistent")),
        (
            "recall@10 within 1 point of a fresh index",
            r.recall >= r.fresh_recall - 0.01,
        ),
        (
            "index size within 1.3x of a fresh build",
            r.size as f64 <= 1.3 * r.fresh_size as f64,
        ),
        ("standby answers identical", r.standby_mismatches == 0),
        (
            "no ERROR/FATAL/PANIC in the logs",
            r.log_problems.is_empty(),
        ),
    ];
    let mut ok = true;
    for (what, pass) in checks {
        println!("{} {what}", if pass { "PASS" } else { "FAIL" });
        ok &= pass;
    }
    if !ok {
        std::process::exit(1);
    }
}
