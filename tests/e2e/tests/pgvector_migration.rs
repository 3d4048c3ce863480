//! A pgvector database restored into diskvec, as the README's "Migrating
//! from pgvector" says: `CREATE EXTENSION diskvec`, then `pg_restore` of a
//! dump made by pg_dump from a real pgvector 0.8.0 database (vector,
//! halfvec and sparsevec columns; HNSW and IVFFlat indexes; made by
//! tests/compat/pgvector_dump/make.sh). Only the dump's `vector` extension
//! entries may fail; the indexes become diskvec graphs and the restored
//! database gives pgvector's exact answers.

use diskvec_e2e::{canonical, fresh_database, port, repo_root, server::pg_bin};
use std::process::Command;

#[test]
fn pgvector_dump_restores_and_answers_the_same() {
    let dir = repo_root().join("tests/compat/pgvector_dump");
    let mut db = fresh_database("pgvector_migration");
    let name: String = db
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    let out = Command::new(format!("{}/pg_restore", pg_bin()))
        .args([
            "-h",
            "/tmp",
            "-p",
            &port().to_string(),
            "-U",
            "postgres",
            "-d",
            &name,
        ])
        .arg(dir.join("pgvector.dump"))
        .output()
        .expect("run pg_restore");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Each failed entry is reported with the command it ran.
    let failed: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("Command was:"))
        .collect();
    assert!(
        !failed.is_empty()
            && failed.iter().all(|c| {
                c.contains("CREATE EXTENSION IF NOT EXISTS vector ")
                    || c.contains("COMMENT ON EXTENSION vector ")
            }),
        "only the vector extension's entries may fail:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("errors ignored on restore: {}", failed.len())),
        "{stderr}"
    );

    let methods: Vec<(String, String)> = db
        .query(
            "SELECT c.relname::text, a.amname::text FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
             WHERE i.indrelid = 'items'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let names = |am: &str| -> Vec<&str> {
        methods
            .iter()
            .filter(|(_, a)| a == am)
            .map(|(n, _)| n.as_str())
            .collect()
    };
    assert_eq!(
        names("hnsw"),
        ["items_embedding_hnsw", "items_embedding_ip"]
    );
    assert_eq!(names("ivfflat"), ["items_embedding_ivfflat"]);
    let verified: String = db
        .query_one("SELECT diskvec_verify('items_embedding_hnsw')", &[])
        .unwrap()
        .get(0);
    assert!(verified.contains("2000 live vectors"), "{verified}");

    // pgvector's exact answers, through the restored indexes where a plan
    // can use one.
    db.batch_execute("SET enable_seqscan = off").unwrap();
    for (query, index) in [
        (
            "SELECT id FROM items ORDER BY embedding <=> '[1,0,0,0,0,0,0,0]' LIMIT 3",
            "items_embedding_hnsw",
        ),
        (
            "SELECT id FROM items ORDER BY embedding <-> '[1,0,0,0,0,0,0,0]' LIMIT 3",
            "items_embedding_ivfflat",
        ),
        (
            "SELECT id FROM items ORDER BY embedding <#> '[1,0,0,0,0,0,0,0]' LIMIT 3",
            "items_embedding_ip",
        ),
    ] {
        let plan = canonical(&mut db, &format!("EXPLAIN {query}"));
        assert!(
            plan.contains(&format!("Index Scan using {index}")),
            "{query}: {plan}"
        );
    }
    let expected = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut checked = 0;
    for line in expected.lines() {
        let (query, rows) = line.split_once('\t').unwrap();
        assert_eq!(canonical(&mut db, query), format!("OK\t{rows}"), "{query}");
        checked += 1;
    }
    assert_eq!(checked, 11);

    // hnsw.ef_search is pgvector's setting, checked as pgvector checks it.
    db.batch_execute("SET hnsw.ef_search = 200").unwrap();
    let err = db.batch_execute("SET hnsw.ef_search = 0").unwrap_err();
    let (_, message) = diskvec_e2e::db_error(&err);
    assert_eq!(
        message,
        "0 is outside the valid range for parameter \"hnsw.ef_search\" (1 .. 1000)"
    );
}

#[test]
fn hnsw_options_map_onto_diskvec_with_a_notice() {
    let mut db = fresh_database("pgvector_am_options");
    let notices = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = notices.clone();
    let mut config: postgres::Config = format!(
        "host=/tmp port={} user=postgres dbname={}",
        port(),
        db.query_one("SELECT current_database()", &[])
            .unwrap()
            .get::<_, String>(0)
    )
    .parse()
    .unwrap();
    config.notice_callback(move |n| {
        sink.lock()
            .unwrap()
            .push(format!("{} {}", n.message(), n.detail().unwrap_or("")))
    });
    let mut client = config.connect(postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id int, v vector(4));
             INSERT INTO t SELECT i, ARRAY[i, i % 7, sin(i), 1]::vector FROM generate_series(1, 300) i;
             CREATE INDEX t_hnsw ON t USING hnsw (v vector_l2_ops) WITH (m = 24, ef_construction = 100);
             CREATE INDEX t_ivf ON t USING ivfflat (v vector_cosine_ops) WITH (lists = 5);",
        )
        .unwrap();
    let notices = notices.lock().unwrap().clone();
    assert!(
        notices.iter().any(
            |n| n.contains("hnsw index \"t_hnsw\" is built as a diskvec graph")
                && n.contains("max_neighbors = 48 and build_list_size = 100")
        ),
        "{notices:?}"
    );
    assert!(
        notices.iter().any(
            |n| n.contains("ivfflat index \"t_ivf\" is built as a diskvec graph")
                && n.contains("lists = 5")
        ),
        "{notices:?}"
    );
    let verified: String = client
        .query_one("SELECT diskvec_verify('t_hnsw')", &[])
        .unwrap()
        .get(0);
    assert!(verified.contains("R = 48, L = 100"), "{verified}");

    // pgvector's option checks and messages.
    for (sql, message) in [
        (
            "CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 1)",
            "value 1 out of bounds for option \"m\"",
        ),
        (
            "CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 101)",
            "value 101 out of bounds for option \"m\"",
        ),
        (
            "CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (m = 40)",
            "ef_construction must be greater than or equal to 2 * m",
        ),
        (
            "CREATE INDEX ON t USING ivfflat (v vector_l2_ops) WITH (lists = 40000)",
            "value 40000 out of bounds for option \"lists\"",
        ),
        (
            "CREATE INDEX ON t USING hnsw (v vector_l2_ops) WITH (nope = 1)",
            "unrecognized parameter \"nope\"",
        ),
    ] {
        let err = db.batch_execute(sql).unwrap_err();
        let (_, got) = diskvec_e2e::db_error(&err);
        assert_eq!(got, message, "{sql}");
    }
}
