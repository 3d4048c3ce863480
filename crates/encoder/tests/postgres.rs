//! Server tests: the encoder streams into a real PostgreSQL 15 server with the
//! diskvec extension, through `COPY … FROM STDIN (FORMAT BINARY)` into a
//! `vector(384)` column, and the vectors come back bit for bit.
//!
//! `scripts/test.sh` starts the server and exports `DISKVEC_TEST_PORT` (unix
//! socket in /tmp, user postgres); each test makes its own database.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::*;
use diskvec_encoder::copy::{parse_copy, parse_vector_wire};
use diskvec_encoder::model::Encoder;
use diskvec_encoder::sink::{PgSink, Row, Sink};

/// A fresh database with the extension, on the suite's server.
struct Server {
    url: String,
}

impl Server {
    fn start(test: &str) -> Server {
        let port: u16 = std::env::var("DISKVEC_TEST_PORT")
            .expect("DISKVEC_TEST_PORT is not set: run the suite with scripts/test.sh, which starts the server")
            .parse()
            .expect("DISKVEC_TEST_PORT must be a port number");
        let db = format!("encoder_{test}_{}", std::process::id());
        let admin = format!("host=/tmp port={port} user=postgres dbname=postgres");
        let mut cl = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        cl.batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .unwrap();
        cl.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
        let url = format!("host=/tmp port={port} user=postgres dbname={db}");
        let mut cl = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        cl.batch_execute("CREATE EXTENSION diskvec")
            .expect("the diskvec extension must be installed");
        Server { url }
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

/// All rows of a table as (doc_id, chunk, text, embedding bytes), via binary COPY TO.
fn dump(cl: &mut postgres::Client, table: &str) -> Vec<(String, i32, String, Vec<u8>)> {
    let mut r = cl
        .copy_out(&format!("COPY (SELECT doc_id, chunk, text, embedding FROM {table} ORDER BY doc_id, chunk) TO STDOUT (FORMAT BINARY)"))
        .unwrap();
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).unwrap();
    parse_copy(&buf)
        .unwrap()
        .into_iter()
        .map(|f| {
            (
                String::from_utf8(f[0].clone().unwrap()).unwrap(),
                i32::from_be_bytes(f[1].clone().unwrap().try_into().unwrap()),
                String::from_utf8(f[2].clone().unwrap()).unwrap(),
                f[3].clone().unwrap(),
            )
        })
        .collect()
}

#[test]
fn server_copy_round_trips_vectors_bit_for_bit() {
    let pg = Server::start("round_trip");
    let mut sink = PgSink::connect(&pg.url(), "public.rt_docs", 384, "vector").unwrap();
    assert!(sink.existing_ids().unwrap().is_empty());

    // Real model vectors plus adversarial bit patterns (signed zero, subnormals, extremes).
    let enc = Encoder::load(&model_dir()).unwrap();
    let texts = [
        "This is an example sentence",
        "",
        "héllo wörld ✓ 日本語",
        "tab\tand\nnewline",
    ];
    let mut rows = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let (v, _) = enc.embed_query(t).unwrap();
        rows.push(Row {
            doc_id: format!("real-{i}"),
            chunk: 0,
            text: t.to_string(),
            embedding: v,
        });
    }
    let mut state = 0x9e37_79b9u32;
    for i in 0..300 {
        let v: Vec<f32> = (0..384)
            .map(|j| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                match (i + j) % 9 {
                    0 => -0.0,
                    1 => f32::from_bits(state & 0x007f_ffff), // subnormal
                    2 => f32::MAX,
                    3 => -f32::MIN_POSITIVE,
                    _ => f32::from_bits(state & 0xbfff_ffff), // finite, any sign
                }
            })
            .collect();
        rows.push(Row {
            doc_id: format!("syn-{i:04}"),
            chunk: i % 3,
            text: format!("row {i}"),
            embedding: v,
        });
    }
    sink.write_group(&rows[..150]).unwrap();
    sink.write_group(&rows[150..]).unwrap();
    assert_eq!(sink.existing_ids().unwrap().len(), rows.len());
    Box::new(sink).finish().unwrap();

    let mut cl = pg.client();
    let got = dump(&mut cl, "public.rt_docs");
    assert_eq!(got.len(), rows.len());
    let mut want = rows.clone();
    want.sort_by(|a, b| (a.doc_id.as_str(), a.chunk).cmp(&(b.doc_id.as_str(), b.chunk)));
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, g.1, &g.2), (&w.doc_id, w.chunk, &w.text));
        let v = parse_vector_wire(&g.3).expect("pgvector binary layout");
        let gb: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        let wb: Vec<u32> = w.embedding.iter().map(|x| x.to_bits()).collect();
        assert_eq!(gb, wb, "vector of {} differs", w.doc_id);
    }
    let dims: i32 = cl
        .query_one(
            "SELECT vector_dims(embedding) FROM public.rt_docs LIMIT 1",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(dims, 384);
}

fn write_jsonl(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn encode_cmd(pg: &Server, input: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diskvec-encode"));
    c.arg(input)
        .args([
            "--database-url",
            &pg.url(),
            "--table",
            "docs",
            "--embedding-type",
            "vector",
            "--progress",
            "log",
        ])
        .args(["--group-size", "10", "--batch-size", "8"])
        .args(extra)
        .env("DISKVEC_MODEL", model_dir());
    c
}

#[test]
fn server_resume_after_crash_and_after_bad_input() {
    let pg = Server::start("resume");
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = wordnet_lines(45);
    // one long document (several chunks) and one empty one
    let long_text = reference()
        .into_iter()
        .find(|r| r.tokens_with_special > 500)
        .unwrap()
        .text;
    lines.insert(
        12,
        serde_json::json!({"id": "long-doc", "text": long_text}).to_string(),
    );
    lines.insert(
        20,
        serde_json::json!({"id": "empty-doc", "text": ""}).to_string(),
    );
    let n_docs = lines.len(); // 47
    let input = tmp.path().join("docs.jsonl");
    write_jsonl(&input, &lines);

    // 1. A crash (abort, no cleanup) after 3 committed groups of 10 documents.
    let out = encode_cmd(&pg, &input, &[])
        .env("DISKVEC_ENCODE_TEST_ABORT_AFTER_GROUPS", "3")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let mut cl = pg.client();
    let count = |cl: &mut postgres::Client| -> i64 {
        cl.query_one("SELECT count(DISTINCT doc_id) FROM docs", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(
        count(&mut cl),
        30,
        "exactly the committed groups survive the crash"
    );

    // 2. A bad line: fatal by default, reported with its line number; what came before is kept.
    let mut bad = lines.clone();
    bad.insert(40, "{\"id\": \"x\", \"text\": ".to_string()); // line 41
    let bad_input = tmp.path().join("bad.jsonl");
    write_jsonl(&bad_input, &bad);
    let out = encode_cmd(&pg, &bad_input, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.jsonl:41:") && err.contains("invalid JSON"),
        "{err}"
    );
    assert!(
        err.contains("30 documents already stored will be skipped"),
        "{err}"
    );
    assert_eq!(
        count(&mut cl),
        40,
        "documents before the bad line are committed"
    );

    // 3. --skip-bad finishes the job; the re-run skips what is stored.
    let out = encode_cmd(&pg, &bad_input, &["--skip-bad"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("skipping bad record") && err.contains(":41:"),
        "{err}"
    );
    assert_eq!(count(&mut cl), n_docs as i64);

    // 4. Nothing is duplicated or lost; the long doc has its chunks, vectors match a fresh stdout run.
    let rows = dump(&mut cl, "docs");
    let long_chunks: Vec<_> = rows.iter().filter(|r| r.0 == "long-doc").collect();
    assert!(long_chunks.len() >= 2);
    assert!(long_chunks.iter().enumerate().all(|(i, r)| r.1 == i as i32));
    let stdout_run = Command::new(env!("CARGO_BIN_EXE_diskvec-encode"))
        .arg(&input)
        .args(["--progress", "none"])
        .env("DISKVEC_MODEL", model_dir())
        .output()
        .unwrap();
    assert!(stdout_run.status.success());
    let mut fresh: Vec<_> = parse_copy(&stdout_run.stdout).unwrap();
    assert_eq!(fresh.len(), rows.len());
    fresh.sort_by(|a, b| (a[0].clone(), a[1].clone()).cmp(&(b[0].clone(), b[1].clone())));
    for (db, st) in rows.iter().zip(&fresh) {
        assert_eq!(db.0.as_bytes(), st[0].as_deref().unwrap());
        let a = parse_vector_wire(&db.3).unwrap();
        let b = parse_vector_wire(st[3].as_deref().unwrap()).unwrap();
        assert!(cosine(&a, &b) > 0.99999, "{}", db.0);
    }

    // 5. A complete re-run is a no-op.
    let out = encode_cmd(&pg, &input, &[]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 docs encoded"));
    assert_eq!(dump(&mut cl, "docs").len(), rows.len());
}
