//! SERVER TESTS: each starts its own throwaway PostgreSQL 15 cluster (initdb + pg_ctl, data and
//! unix socket under /tmp, random port, trust auth), bounded in time, removed on drop.
//!
//! The embedding column is the real `vector(384)` when `CREATE EXTENSION diskvec` works on the
//! server; otherwise it is `bytea` holding exactly pgvector's binary wire bytes (int16 dim,
//! int16 0, dim × float4, big-endian), which COPY BINARY moves untouched. The data is read back
//! with `COPY (SELECT …) TO STDOUT (FORMAT BINARY)`, which yields `vector_send`'s bytes for a
//! vector column and the raw bytes for bytea, so the checks are the same for both.
//! To require the real type once the extension is installed on CI, flip `REQUIRE_VECTOR_TYPE`.
//!
//! Skipped (with a message) when the PostgreSQL 15 binaries are not installed, unless
//! DISKVEC_REQUIRE_PG=1.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use diskvec_encoder::copy::{parse_copy, parse_vector_wire};
use diskvec_encoder::model::Encoder;
use diskvec_encoder::sink::{PgSink, Row, Sink};

/// Set to true to fail instead of falling back to bytea when the vector type is unavailable.
const REQUIRE_VECTOR_TYPE: bool = false;
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

struct Cluster {
    dir: PathBuf,
    sock: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl Cluster {
    fn pg_cmd(&self, prog: &str) -> Command {
        let path = format!("{PG_BIN}/{prog}");
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]);
            c
        } else {
            Command::new(path)
        }
    }

    fn run_checked(&self, mut c: Command, what: &str) {
        c.stdin(Stdio::null());
        let out = run_with_timeout(&mut c, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(out.0, "{what} failed:\n{}", out.1);
    }

    /// Starts a fresh cluster, or None when PostgreSQL 15 is not installed.
    fn start() -> Option<Cluster> {
        if !Path::new(PG_BIN).join("initdb").exists() {
            if std::env::var("DISKVEC_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("PostgreSQL 15 binaries not found in {PG_BIN}");
            }
            eprintln!("SKIPPED: PostgreSQL 15 binaries not found in {PG_BIN} (set DISKVEC_REQUIRE_PG=1 to fail instead)");
            return None;
        }
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let k = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        let port = 5499 + ((t / 1000 + std::process::id() as u64 * 7 + k * 131) % 2000) as u16;
        let dir = PathBuf::from(format!(
            "/tmp/diskvec-encoder-pg-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sock")).unwrap();
        let as_postgres = is_root();
        let c = Cluster {
            sock: dir.join("sock"),
            dir,
            port,
            as_postgres,
        };
        if as_postgres {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&c.dir)
                .status()
                .unwrap();
            assert!(st.success(), "chown of {} failed", c.dir.display());
        }
        let mut init = c.pg_cmd("initdb");
        init.arg("-D").arg(c.dir.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ]);
        c.run_checked(init, "initdb");
        let mut start = c.pg_cmd("pg_ctl");
        start
            .arg("-D")
            .arg(c.dir.join("data"))
            .arg("-l")
            .arg(c.dir.join("log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses='' -c fsync=off -c full_page_writes=off",
                c.port,
                c.sock.display()
            ))
            .arg("start");
        c.run_checked(start, "pg_ctl start");
        Some(c)
    }

    fn url(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.sock.display(),
            self.port
        )
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }

    /// `vector` when the diskvec extension can be created here, else `bytea`.
    fn embedding_type(&self) -> &'static str {
        let mut cl = self.client();
        match cl.batch_execute("CREATE EXTENSION IF NOT EXISTS diskvec") {
            Ok(()) => "vector",
            Err(e) => {
                assert!(!REQUIRE_VECTOR_TYPE, "CREATE EXTENSION diskvec failed: {e}");
                eprintln!("note: CREATE EXTENSION diskvec unavailable ({e}); using bytea with pgvector's binary layout");
                "bytea"
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = self.pg_cmd("pg_ctl");
        stop.arg("-D").arg(self.dir.join("data")).args([
            "-m",
            "immediate",
            "-w",
            "-t",
            "30",
            "stop",
        ]);
        stop.stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(Stdio::null());
        let _ = run_with_timeout(&mut stop, Duration::from_secs(40));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a command with a deadline; Ok((success, combined output)).
fn run_with_timeout(c: &mut Command, limit: Duration) -> Result<(bool, String), String> {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("spawn: {e}"))?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            let mut s = String::new();
            child.stdout.take().unwrap().read_to_string(&mut s).ok();
            child.stderr.take().unwrap().read_to_string(&mut s).ok();
            return Ok((st.success(), s));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
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
    let Some(pg) = Cluster::start() else { return };
    let ty = pg.embedding_type();
    let mut sink = PgSink::connect(&pg.url(), "public.rt_docs", 384, ty).unwrap();
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
    if ty == "vector" {
        let dims: i32 = cl
            .query_one(
                "SELECT vector_dims(embedding) FROM public.rt_docs LIMIT 1",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(dims, 384);
    }
}

fn write_jsonl(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn encode_cmd(pg: &Cluster, input: &Path, ty: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diskvec-encode"));
    c.arg(input)
        .args([
            "--database-url",
            &pg.url(),
            "--table",
            "docs",
            "--embedding-type",
            ty,
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
    let Some(pg) = Cluster::start() else { return };
    let ty = pg.embedding_type();
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
    let out = encode_cmd(&pg, &input, ty, &[])
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
    let out = encode_cmd(&pg, &bad_input, ty, &[]).output().unwrap();
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
    let out = encode_cmd(&pg, &bad_input, ty, &["--skip-bad"])
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
    let out = encode_cmd(&pg, &input, ty, &[]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 docs encoded"));
    assert_eq!(dump(&mut cl, "docs").len(), rows.len());
}
