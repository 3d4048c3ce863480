//! `ALTER EXTENSION diskvec UPDATE` from 0.1.0 (sql/diskvec--0.1.0--0.2.0.sql):
//! the updated catalog is a fresh install's, and what 0.2.0 added (distance
//! bounds, attribute columns) works on it.
//!
//! A build installs only the current version's script, so the test puts
//! 0.1.0's (tests/e2e/fixtures) beside it in the server's extension
//! directory first (tests run as root, like the rest of the suite).

use diskvec_e2e::{db_error, fresh_database, repo_root, server::pg_bin};
use postgres::Client;
use std::process::Command;

/// Extension members and every operator of the diskvec operator families,
/// one line each, sorted.
fn catalog(c: &mut Client) -> Vec<String> {
    let sql = "
        SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
          WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
            AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'diskvec')
        UNION ALL
        SELECT format('%s: %s %s', f.opfname, o.amopstrategy, o.amopopr::regoperator)
          FROM pg_amop o JOIN pg_opfamily f ON f.oid = o.amopfamily
          JOIN pg_am a ON a.oid = f.opfmethod WHERE a.amname = 'diskvec'
        ORDER BY 1";
    c.query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn version(c: &mut Client) -> String {
    c.query_one(
        "SELECT extversion FROM pg_extension WHERE extname = 'diskvec'",
        &[],
    )
    .unwrap()
    .get(0)
}

fn ids(c: &mut Client, sql: &str, index: bool) -> Vec<i32> {
    let mut tx = c.transaction().unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL enable_seqscan = {}; SET LOCAL enable_indexscan = {index}",
        !index
    ))
    .unwrap();
    let got = tx
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().unwrap();
    got
}

#[test]
fn update_from_0_1_0() {
    let out = Command::new(format!("{}/pg_config", pg_bin()))
        .arg("--sharedir")
        .output()
        .expect("pg_config");
    let share = String::from_utf8(out.stdout).unwrap();
    let script = format!("{}/extension/diskvec--0.1.0.sql", share.trim());
    std::fs::copy(
        repo_root().join("tests/e2e/fixtures/diskvec--0.1.0.sql"),
        &script,
    )
    .unwrap_or_else(|e| panic!("copy 0.1.0's script to {script}: {e}"));

    let mut fresh = fresh_database("upgrade_fresh");
    let want = catalog(&mut fresh);
    let mut c = fresh_database("upgrade");
    c.batch_execute(
        "SET client_min_messages = warning; DROP EXTENSION diskvec; CREATE EXTENSION diskvec VERSION '0.1.0'",
    )
    .unwrap();
    assert_eq!(version(&mut c), "0.1.0");
    c.batch_execute(
        "CREATE TABLE docs (id int, tenant int, e vector(3));
         INSERT INTO docs SELECT i, i % 10, ARRAY[sin(i), cos(i), i % 7] FROM generate_series(1, 3000) i;
         CREATE INDEX docs_e ON docs USING diskvec (e)",
    )
    .unwrap();
    // 0.1.0 has no operator class for an attribute column.
    let err = c
        .batch_execute("CREATE INDEX ON docs USING diskvec (e, tenant)")
        .unwrap_err();
    let (_, message) = db_error(&err);
    assert!(message.contains("no default operator class"), "{message}");

    c.batch_execute("ALTER EXTENSION diskvec UPDATE").unwrap();
    assert_eq!(version(&mut c), "0.2.0");
    assert_eq!(
        catalog(&mut c),
        want,
        "updated catalog differs from a fresh install's"
    );

    // The index made before the update serves a distance bound now.
    let bound = "SELECT id FROM docs WHERE e <-> '[0.2,0.9,3]' < 1.5 ORDER BY id";
    c.batch_execute("SET enable_seqscan = off").unwrap();
    let plan: Vec<String> = c
        .query(&format!("EXPLAIN (COSTS OFF) {bound}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    c.batch_execute("RESET enable_seqscan").unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("docs_e") && plan.contains("<<->>"), "{plan}");
    let exact = ids(&mut c, bound, false);
    assert!(!exact.is_empty());
    assert_eq!(ids(&mut c, bound, true), exact);

    // And attribute columns.
    c.batch_execute("CREATE INDEX docs_e_tenant ON docs USING diskvec (e, tenant)")
        .unwrap();
    let q = "SELECT id FROM docs WHERE tenant = 3 ORDER BY e <-> '[0.2,0.9,3]', id LIMIT 10";
    assert_eq!(ids(&mut c, q, true), ids(&mut c, q, false));
}
