//! pgvector's own answers, recorded from a real pgvector 0.8.1 (see
//! tests/compat/README.md), replayed against diskvec: every query must give
//! the same rows, or the same SQLSTATE and message.

use diskvec_e2e::{canonical, copy_in, fresh_database, repo_root};

#[test]
fn pgvector_queries_give_the_same_results_and_errors() {
    let dir = repo_root().join("tests/compat");
    let queries = std::fs::read_to_string(dir.join("queries.sql")).unwrap();
    let expected = std::fs::read_to_string(dir.join("pgvector_expected.tsv")).unwrap();
    let queries: Vec<&str> = queries.lines().filter(|l| !l.trim().is_empty()).collect();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(
        queries.len(),
        expected.len(),
        "fixture out of date: rerun generate.mjs"
    );
    assert!(
        queries.len() > 150,
        "the fixture should cover the whole type"
    );

    let mut db = fresh_database("pgvector_compat");
    let mut mismatches = Vec::new();
    for (query, want) in queries.iter().zip(&expected) {
        let (want_query, want_result) = want.split_once('\t').unwrap();
        assert_eq!(*query, want_query, "queries.sql and the fixture disagree");
        let got = canonical(&mut db, query);
        if got != want_result {
            mismatches.push(format!(
                "{query}\n  pgvector: {want_result}\n  diskvec:  {got}"
            ));
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
    db.batch_execute("CREATE TABLE t (id int4, v vector)")
        .unwrap();
    let rows = copy_in(&mut db, "COPY t FROM STDIN (FORMAT binary)", &binary).unwrap();
    assert_eq!(rows, 1000);

    // Our text COPY of what we loaded equals pgvector's text COPY of its table
    // (heap order: a table filled by one COPY keeps the file's row order).
    let mut ours = String::new();
    std::io::Read::read_to_string(&mut db.copy_out("COPY t TO STDOUT").unwrap(), &mut ours)
        .unwrap();
    assert!(ours == text, "text COPY differs from pgvector's");

    // And our binary COPY is byte-for-byte pgvector's.
    let mut ours = Vec::new();
    std::io::Read::read_to_end(
        &mut db.copy_out("COPY t TO STDOUT (FORMAT binary)").unwrap(),
        &mut ours,
    )
    .unwrap();
    assert!(ours == binary, "binary COPY differs from pgvector's");
}

#[test]
fn binary_copy_written_by_diskvec_loads_into_pgvector() {
    let dir = repo_root().join("tests/compat");
    assert!(
        dir.join("node_modules/@electric-sql/pglite").exists(),
        "PGlite is not installed: run `npm ci` in tests/compat (scripts/test.sh does)"
    );
    let mut db = fresh_database("copy_to_pgvector");
    // Our own vectors, made by diskvec: 2,000 rows, 1 to 300 dimensions,
    // values spanning many magnitudes, signs and -0.
    db.batch_execute(
        "CREATE TABLE t (id int4, v vector);
         INSERT INTO t SELECT i, ARRAY(
             SELECT CASE WHEN j % 17 = 0 THEN '-0'::real
                         ELSE (sin(i * 7 + j) * power(10, (i * j) % 60 - 30))::real END
             FROM generate_series(1, 1 + (i * 37) % 300) j)::vector
         FROM generate_series(1, 2000) i;",
    )
    .unwrap();
    let mut binary = Vec::new();
    std::io::Read::read_to_end(
        &mut db.copy_out("COPY t TO STDOUT (FORMAT binary)").unwrap(),
        &mut binary,
    )
    .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut db.copy_out("COPY t TO STDOUT").unwrap(), &mut text)
        .unwrap();

    let file = std::env::temp_dir().join(format!("diskvec_to_pgvector_{}.bin", std::process::id()));
    std::fs::write(&file, &binary).unwrap();
    let output = std::process::Command::new("node")
        .arg(dir.join("load_into_pgvector.mjs"))
        .arg(&file)
        .output()
        .expect("run node (is Node.js installed?)");
    std::fs::remove_file(&file).ok();
    assert!(
        output.status.success(),
        "pgvector rejected diskvec's binary COPY: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pgvector_text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(pgvector_text.lines().count(), 2000);
    assert!(
        pgvector_text == text,
        "pgvector reads back different vectors than diskvec wrote"
    );
}
