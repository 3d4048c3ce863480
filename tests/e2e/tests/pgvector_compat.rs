//! pgvector's own answers, recorded from a real pgvector 0.8.1 (see
//! tests/compat/README.md), replayed against diskvec: every query must give
//! the same rows, or the same SQLSTATE and message.

use diskvec_e2e::{copy_in, fresh_database, repo_root};
use postgres::SimpleQueryMessage;

/// The canonical record format of tests/compat/generate.mjs.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn canonical(client: &mut postgres::Client, sql: &str) -> String {
    match client.simple_query(sql) {
        Ok(messages) => {
            let rows: Vec<String> = messages
                .iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(escape).unwrap_or_else(|| "\\N".into()))
                            .collect::<Vec<_>>()
                            .join("|"),
                    ),
                    _ => None,
                })
                .collect();
            format!("OK\t{}", rows.join(";"))
        }
        Err(e) => {
            let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
            format!("ERR\t{}\t{}", db.code().code(), escape(db.message()))
        }
    }
}

#[test]
fn pgvector_queries_give_the_same_results_and_errors() {
    let dir = repo_root().join("tests/compat");
    let queries = std::fs::read_to_string(dir.join("queries.sql")).unwrap();
    let expected = std::fs::read_to_string(dir.join("pgvector_expected.tsv")).unwrap();
    let queries: Vec<&str> = queries.lines().filter(|l| !l.trim().is_empty()).collect();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(queries.len(), expected.len(), "fixture out of date: rerun generate.mjs");
    assert!(queries.len() > 150, "the fixture should cover the whole type");

    let mut db = fresh_database("pgvector_compat");
    let mut mismatches = Vec::new();
    for (query, want) in queries.iter().zip(&expected) {
        let (want_query, want_result) = want.split_once('\t').unwrap();
        assert_eq!(*query, want_query, "queries.sql and the fixture disagree");
        let got = canonical(&mut db, query);
        if got != want_result {
            mismatches.push(format!("{query}\n  pgvector: {want_result}\n  diskvec:  {got}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} queries differ from pgvector:\n{}",
        mismatches.len(),
        queries.len(),
        mismatches.join("\n")
    );
}

#[test]
fn binary_copy_written_by_pgvector_loads_unchanged() {
    let dir = repo_root().join("tests/compat");
    let binary = std::fs::read(dir.join("pgvector_copy.bin")).unwrap();
    let text = std::fs::read_to_string(dir.join("pgvector_copy.txt")).unwrap();
    let mut db = fresh_database("pgvector_copy");
    db.batch_execute("CREATE TABLE t (id int4, v vector)").unwrap();
    let rows = copy_in(&mut db, "COPY t FROM STDIN (FORMAT binary)", &binary).unwrap();
    assert_eq!(rows, 1000);

    // Our text COPY of what we loaded equals pgvector's text COPY of its table
    // (heap order: a table filled by one COPY keeps the file's row order).
    let mut ours = String::new();
    std::io::Read::read_to_string(
        &mut db.copy_out("COPY t TO STDOUT").unwrap(),
        &mut ours,
    )
    .unwrap();
    assert!(ours == text, "text COPY differs from pgvector's");

    // And our binary COPY is byte-for-byte pgvector's.
    let mut ours = Vec::new();
    std::io::Read::read_to_end(
        &mut db
            .copy_out("COPY t TO STDOUT (FORMAT binary)")
            .unwrap(),
        &mut ours,
    )
    .unwrap();
    assert!(ours == binary, "binary COPY differs from pgvector's");
}
