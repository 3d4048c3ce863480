//! End-to-end tests of the `diskvec-encode` binary without a server: stdout COPY stream,
//! input formats, order, bad input, model errors, --query.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use diskvec_encoder::copy::{parse_copy, parse_vector_wire};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diskvec-encode"));
    c.env("DISKVEC_MODEL", model_dir())
        .env_remove("DATABASE_URL");
    c
}

fn run_stdin(mut c: Command, stdin: &str) -> Output {
    let mut ch = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ch.stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    ch.wait_with_output().unwrap()
}

/// (doc_id, chunk, text, vector) rows of a COPY stream.
fn rows(out: &[u8]) -> Vec<(String, i32, String, Vec<f32>)> {
    parse_copy(out)
        .unwrap()
        .into_iter()
        .map(|f| {
            assert_eq!(f.len(), 4);
            (
                String::from_utf8(f[0].clone().unwrap()).unwrap(),
                i32::from_be_bytes(f[1].clone().unwrap().try_into().unwrap()),
                String::from_utf8(f[2].clone().unwrap()).unwrap(),
                parse_vector_wire(f[3].as_deref().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn query_prints_the_vector_literal() {
    let refs = reference();
    let out = bin().args(["--query", &refs[0].text]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8(out.stdout).unwrap();
    let s = s.trim_end();
    assert!(s.starts_with('[') && s.ends_with(']') && !s.contains(' '));
    let v: Vec<f32> = s[1..s.len() - 1]
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(v.len(), 384);
    assert!(cosine(&v, &refs[0].embedding) >= 0.9999);
}

#[test]
fn model_folder_errors_name_what_is_missing() {
    let out = bin()
        .args(["--model", "/nonexistent/model", "--query", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("/nonexistent/model") && e.contains("does not exist"),
        "{e}"
    );

    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir().join("config.json"),
        d.path().join("config.json"),
    )
    .unwrap();
    std::fs::write(d.path().join("tokenizer.json"), "").unwrap();
    let out = bin()
        .arg("--model")
        .arg(d.path())
        .args(["--query", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("incomplete")
            && e.contains("model.safetensors")
            && e.contains("tokenizer.json (empty"),
        "{e}"
    );
}

#[test]
fn stdout_stream_keeps_input_order_and_chunks_long_docs() {
    let refs = reference();
    let long = refs.iter().find(|r| r.tokens_with_special > 500).unwrap();
    let mut lines = wordnet_lines(150);
    lines.insert(
        70,
        serde_json::json!({"id": "long", "text": long.text}).to_string(),
    );
    lines.insert(
        3,
        serde_json::json!({"id": "empty", "text": ""}).to_string(),
    );
    let want_ids: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut c = bin();
    c.args([
        "--progress",
        "none",
        "--group-size",
        "40",
        "--batch-size",
        "7",
    ]);
    let out = run_stdin(c, &(lines.join("\n") + "\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rs = rows(&out.stdout);
    let mut ids: Vec<String> = rs.iter().map(|r| r.0.clone()).collect();
    ids.dedup();
    assert_eq!(ids, want_ids, "documents come out in input order");
    let long_rows: Vec<_> = rs.iter().filter(|r| r.0 == "long").collect();
    assert_eq!(
        long_rows.len(),
        3,
        "545 content tokens, windows of 254 overlapping by 32"
    );
    for (i, r) in long_rows.iter().enumerate() {
        assert_eq!(r.1, i as i32);
        assert!(long.text.contains(&r.2));
    }
    assert!(
        cosine(&long_rows[0].3, &long.embedding) >= 0.9999,
        "chunk 0 = sentence-transformers' truncation"
    );
    let empty = rs.iter().find(|r| r.0 == "empty").unwrap();
    assert_eq!(empty.2, "");
    let e_ref = refs.iter().find(|r| r.text.is_empty()).unwrap();
    assert!(cosine(&empty.3, &e_ref.embedding) >= 0.9999);
}

#[test]
fn bad_json_lines_are_reported_and_fatal_or_skipped() {
    let input = "{\"id\":\"a\",\"text\":\"one\"}\n{\"id\":\"b\",\"text\":\n{\"id\":\"c\",\"text\":\"three\"}\n{\"id\":\"d\"}\n";
    let mut c = bin();
    c.args(["--progress", "log"]);
    let out = run_stdin(c, input);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("<stdin>:2:") && e.contains("invalid JSON") && e.contains("--skip-bad"),
        "{e}"
    );
    assert_eq!(
        rows(&out.stdout).len(),
        1,
        "the document before the bad line is still written, stream well-formed"
    );

    let mut c = bin();
    c.args(["--progress", "log", "--skip-bad"]);
    let out = run_stdin(c, input);
    assert!(out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("<stdin>:2:") && e.contains("<stdin>:4:") && e.contains("missing text field"),
        "{e}"
    );
    let ids: Vec<String> = rows(&out.stdout).into_iter().map(|r| r.0).collect();
    assert_eq!(ids, ["a", "c"]);
}

#[test]
fn csv_columns_and_plain_text() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("docs.csv");
    std::fs::write(
        &csv,
        "doc,title,body\nx1,Cats,\"Cats purr, and sleep.\"\nx2,Dogs,bark\nx3,broken\n",
    )
    .unwrap();
    let out = bin()
        .arg(&csv)
        .args([
            "--id-field",
            "doc",
            "--text-field",
            "title,body",
            "--skip-bad",
            "--progress",
            "log",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("docs.csv:4:"));
    let rs = rows(&out.stdout);
    assert_eq!(
        rs.iter()
            .map(|r| (r.0.as_str(), r.2.as_str()))
            .collect::<Vec<_>>(),
        [("x1", "Cats Cats purr, and sleep."), ("x2", "Dogs bark")]
    );

    let mut c = bin();
    c.args(["--format", "text", "--progress", "none"]);
    let out = run_stdin(c, "first line\n\nthird line\n");
    assert!(out.status.success());
    let rs = rows(&out.stdout);
    assert_eq!(
        rs.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        ["1", "3"]
    );
    // same text, same vector as the query path
    let q = bin().args(["--query", "third line"]).output().unwrap();
    let s = String::from_utf8(q.stdout).unwrap();
    let v: Vec<f32> = s.trim()[1..s.trim().len() - 1]
        .split(',')
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(cosine(&v, &rs[1].3) > 0.999999);
}
