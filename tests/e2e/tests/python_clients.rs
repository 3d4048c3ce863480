//! pgvector-python 0.4.1's own tests for psycopg 3, psycopg2, asyncpg,
//! SQLAlchemy (over psycopg 2 and 3, asyncpg and pg8000) and SQLModel (from
//! its PyPI source release, set up by scripts/pyclients.sh), run against
//! diskvec with one change: `CREATE EXTENSION ... vector` names `diskvec`.
//! They create `vector`, `halfvec`, `bit` and `sparsevec` columns, send and
//! read each in text and binary form, and build and use HNSW and IVFFlat
//! indexes through the ORMs.
//!
//! The libpq drivers and asyncpg find the test server through `PGPORT`;
//! pg8000 always dials port 5432, so its one URL also gets the server's
//! port (a connection setting, not a change to what the tests check).

use diskvec_e2e::server::{port_for, Server};
use std::path::PathBuf;
use std::process::Command;

fn pyclients() -> PathBuf {
    let dir = std::env::var("DISKVEC_PYCLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let data = std::env::var("DISKVEC_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/diskvec-data")
                });
            data.join("pyclients")
        });
    assert!(
        dir.join("ready-2").exists(),
        "{} is not set up: run scripts/pyclients.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

#[test]
fn pgvector_python_tests_pass_unchanged_but_for_the_extension_name() {
    let dir = pyclients();
    // Their connection pools connect to localhost over TCP.
    let srv = Server::start_tcp("pyclients", port_for(25), &[]);
    srv.connect("postgres")
        .batch_execute("CREATE DATABASE pgvector_python_test")
        .unwrap();

    let tests = std::env::temp_dir().join(format!("diskvec_pyclients_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tests);
    std::fs::create_dir_all(&tests).unwrap();
    let files = [
        "test_psycopg.py",
        "test_psycopg2.py",
        "test_asyncpg.py",
        "test_sqlalchemy.py",
        "test_sqlmodel.py",
    ];
    for f in files {
        let source = std::fs::read_to_string(dir.join("pgvector-0.4.1/tests").join(f)).unwrap();
        let changed = source.replace(
            "CREATE EXTENSION IF NOT EXISTS vector",
            "CREATE EXTENSION IF NOT EXISTS diskvec",
        );
        assert_ne!(changed, source, "{f} creates the vector extension");
        let pg8000 = "@localhost/pgvector_python_test";
        let changed = changed.replace(
            pg8000,
            &format!("@localhost:{}/pgvector_python_test", srv.port),
        );
        std::fs::write(tests.join(f), changed).unwrap();
    }
    let out = Command::new(dir.join("venv/bin/python"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(files)
        .current_dir(&tests)
        .env("PGHOST", "/tmp")
        .env("PGPORT", srv.port.to_string())
        .env("PGUSER", "postgres")
        // pg8000's URL names the user from USER.
        .env("USER", "postgres")
        .output()
        .expect("run pytest");
    std::fs::remove_dir_all(&tests).ok();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default().to_string();
    eprintln!("pgvector-python: {summary}");
    assert!(
        out.status.success() && summary.contains(" passed") && !summary.contains("failed"),
        "pgvector-python's tests failed against diskvec:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let passed: usize = summary
        .split(" passed")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Every file ran (a missing client library would skip a whole file).
    assert!(passed >= 350, "{summary}");
}
