//! pgvector 0.8.1's own regression SQL (vector, halfvec, sparsevec, bit,
//! casts, btree, COPY; tests/compat/regression/*.sql, unmodified) replayed
//! against diskvec, each file in a fresh database, statement by statement,
//! next to pgvector's answers recorded in PGlite (record_regression.mjs).
//!
//! Every statement must give pgvector's rows, or its SQLSTATE and message,
//! except the few listed in `KNOWN_DIFFERENCES` with the reason; and each
//! binary `COPY ... TO` must write pgvector's bytes exactly, while each
//! `COPY ... FROM` loads the bytes pgvector wrote.

use diskvec_e2e::{canonical, copy_in, fresh_database, repo_root};
use std::io::Read;

/// Statements whose answer differs from pgvector's, and why. Each must
/// still differ (a fixed one is removed from here).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[];

/// The statements of a regression file, as record_regression.mjs reads them.
fn statements(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--"))
        .collect()
}

/// `\copy TABLE TO|FROM 'file' OPTIONS` -> (table, is_to, options).
fn parse_copy(line: &str) -> (&str, bool, &str) {
    let rest = line.strip_prefix("\\copy ").expect("a \\copy meta-command");
    let (table, rest) = rest.split_once(' ').unwrap();
    let (direction, rest) = rest.split_once(' ').unwrap();
    let options = rest.split_once("' ").expect("a quoted file name").1;
    (table, direction == "TO", options)
}

#[test]
fn pgvector_regression_sql_gives_pgvector_answers() {
    let dir = repo_root().join("tests/compat/regression");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bit",
            "btree",
            "cast",
            "copy",
            "halfvec",
            "sparsevec",
            "vector_type"
        ],
        "the regression files of pgvector this test covers"
    );

    let (mut total, mut differ, mut unexpected, mut copies) = (0, Vec::new(), Vec::new(), 0);
    for name in &names {
        let sql = std::fs::read_to_string(dir.join(format!("{name}.sql"))).unwrap();
        let expected = std::fs::read_to_string(dir.join(format!("{name}.tsv"))).unwrap();
        let (lines, expected) = (statements(&sql), expected.lines().collect::<Vec<_>>());
        assert_eq!(
            lines.len(),
            expected.len(),
            "{name}: rerun record_regression.mjs"
        );
        let mut db = fresh_database(&format!("pgvector_regression_{name}"));
        let mut copy_files = 0;
        for (line, want) in lines.iter().zip(&expected) {
            let (want_line, want) = want.split_once('\t').unwrap();
            assert_eq!(*line, want_line, "{name}: the fixture is for other SQL");
            total += 1;
            let got = if line.starts_with('\\') {
                let (table, to, options) = parse_copy(line);
                if to {
                    copy_files += 1;
                    copies += 1;
                    let mut ours = Vec::new();
                    db.copy_out(&format!("COPY {table} TO STDOUT {options}"))
                        .unwrap()
                        .read_to_end(&mut ours)
                        .unwrap();
                    let theirs =
                        std::fs::read(dir.join(format!("{name}.{copy_files}.bin"))).unwrap();
                    assert!(
                        ours == theirs,
                        "{line}: diskvec's binary COPY differs from pgvector's"
                    );
                    "OK\t".to_string()
                } else {
                    // The bytes pgvector wrote at the last `\copy ... TO`.
                    let theirs =
                        std::fs::read(dir.join(format!("{name}.{copy_files}.bin"))).unwrap();
                    match copy_in(
                        &mut db,
                        &format!("COPY {table} FROM STDIN {options}"),
                        &theirs,
                    ) {
                        Ok(_) => "OK\t".to_string(),
                        Err(e) => format!("ERR\t{e}"),
                    }
                }
            } else {
                canonical(&mut db, line)
            };
            if got != want {
                let known = KNOWN_DIFFERENCES.iter().any(|(q, _)| q == line);
                let report = format!("{name}: {line}\n  pgvector: {want}\n  diskvec:  {got}");
                if known {
                    differ.push(report);
                } else {
                    unexpected.push(report);
                }
            }
        }
    }
    let same = total - differ.len() - unexpected.len();
    eprintln!(
        "pgvector regression SQL: {same} of {total} statements identical ({:.1}%), {copies} binary COPY files bit for bit",
        100.0 * same as f64 / total as f64
    );
    for d in &differ {
        eprintln!("known difference: {d}");
    }
    assert!(
        unexpected.is_empty(),
        "{} statements differ from pgvector:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert_eq!(
        differ.len(),
        KNOWN_DIFFERENCES.len(),
        "a known difference no longer differs: remove it from KNOWN_DIFFERENCES"
    );
    assert!(same as f64 >= 0.97 * total as f64);
    assert_eq!(copies, 3, "vector, halfvec and sparsevec binary COPY");
}
