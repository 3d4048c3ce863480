//! SciFact end to end through diskvec-eval: exact search against the
//! diskvec index on real embeddings (the committed fixture, so nothing is
//! re-encoded), on the suite's server.

use std::process::Command;

#[test]
fn scifact_index_within_half_a_point_of_exact() {
    let port = std::env::var("DISKVEC_TEST_PORT")
        .expect("DISKVEC_TEST_PORT is not set: run the suite with scripts/test.sh");
    let data = diskvec_encoder::model::data_dir();
    let admin = format!("host=/tmp port={port} user=postgres dbname=postgres");
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.batch_execute("DROP DATABASE IF EXISTS eval_scifact")
        .unwrap();
    c.batch_execute("CREATE DATABASE eval_scifact").unwrap();
    let url = format!("host=/tmp port={port} user=postgres dbname=eval_scifact");
    postgres::Client::connect(&url, postgres::NoTls)
        .unwrap()
        .batch_execute("CREATE EXTENSION diskvec")
        .unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scifact");
    let out = Command::new(env!("CARGO_BIN_EXE_diskvec-eval"))
        .args(["--beir", data.join("scifact").to_str().unwrap()])
        .args([
            "--database-url",
            &url,
            "--embeddings",
            fixture,
            "--max-gap",
            "0.5",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "diskvec-eval failed");
    // The exact figure is all-MiniLM-L6-v2's known SciFact nDCG@10 (~64.5).
    let exact: f64 = text
        .lines()
        .find(|l| l.starts_with("| exact"))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|x| x.trim().parse().ok())
        .expect("an exact row");
    assert!((62.0..67.0).contains(&exact), "exact nDCG@10 {exact}");
    assert!(text.contains("300 queries with labels"), "{text}");
}
