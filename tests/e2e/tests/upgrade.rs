//! `ALTER EXTENSION diskvec UPDATE` from 0.1.0 to 0.2.0, for both 0.1.0
//! catalogs that exist: the first one (the vector type only) and the last
//! one (with the diskvec index). Each gets data (and an index), is updated,
//! and must then answer queries, index scans and the new types, with the
//! same extension members as a fresh 0.2.0 install.

use diskvec_e2e::{empty_database, fresh_database, repo_root, server::pg_bin};
use postgres::Client;
use std::process::Command;

fn extension_dir() -> std::path::PathBuf {
    let out = Command::new(format!("{}/pg_config", pg_bin()))
        .arg("--sharedir")
        .output()
        .expect("pg_config");
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("extension")
}

/// The extension's members, described, sorted.
fn members(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
             WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
               AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'diskvec')
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The ids of the 5 nearest rows by cosine distance, as the planner likes.
fn nearest(client: &mut Client) -> Vec<i32> {
    client
        .query(
            "SELECT id FROM items ORDER BY embedding <=> '[1,0.5,0.25]' LIMIT 5",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every operator of the diskvec operator families (ALTER OPERATOR FAMILY
/// adds some that are not extension members), one line each, sorted.
fn family_operators(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT format('%s: %s %s', f.opfname, o.amopstrategy, o.amopopr::regoperator)
             FROM pg_amop o JOIN pg_opfamily f ON f.oid = o.amopfamily
             JOIN pg_am a ON a.oid = f.opfmethod WHERE a.amname = 'diskvec'
             ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The ids `sql` returns through the index (`index`) or without it.
fn ids(client: &mut Client, sql: &str, index: bool) -> Vec<i32> {
    let mut tx = client.transaction().unwrap();
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

fn updates_from(fixture: &str, with_index: bool, fresh: &(Vec<String>, Vec<String>)) {
    let (fresh_members, fresh_operators) = fresh;
    let script = repo_root().join("tests/e2e/fixtures").join(fixture);
    let target = extension_dir().join("diskvec--0.1.0.sql");
    std::fs::copy(&script, &target).unwrap();

    let mut db = empty_database(
        fixture
            .trim_end_matches(".sql")
            .replace(['-', '.'], "_")
            .as_str(),
    );
    db.batch_execute(
        "CREATE EXTENSION diskvec VERSION '0.1.0';
         CREATE TABLE items (id int4 PRIMARY KEY, embedding vector(3));
         INSERT INTO items SELECT i, ARRAY[sin(i), cos(i), sin(i * 0.7)]::vector
         FROM generate_series(1, 500) i;",
    )
    .unwrap();
    let has_am: bool = db
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_am WHERE amname = 'diskvec')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(has_am, with_index, "{fixture}: 0.1.0 catalog as expected");
    let exact = nearest(&mut db);
    if with_index {
        db.batch_execute(
            "CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)",
        )
        .unwrap();
    }

    db.batch_execute("ALTER EXTENSION diskvec UPDATE").unwrap();
    let version: String = db
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'diskvec'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version, "0.2.0");
    assert_eq!(
        members(&mut db),
        *fresh_members,
        "{fixture}: upgraded catalog differs from a fresh 0.2.0"
    );
    assert_eq!(
        &family_operators(&mut db),
        fresh_operators,
        "{fixture}: upgraded operator families differ from a fresh 0.2.0"
    );
    // Functions that read a whole relation are revoked from PUBLIC, as in
    // a fresh install.
    for f in ["diskvec_verify(regclass)", "diskvec_cache_bytes(regclass)"] {
        let public: bool = db
            .query_one(
                "SELECT has_function_privilege('public', $1, 'EXECUTE')",
                &[&f],
            )
            .unwrap()
            .get(0);
        assert!(!public, "{fixture}: {f} still executable by PUBLIC");
    }

    if !with_index {
        db.batch_execute(
            "CREATE INDEX items_idx ON items USING diskvec (embedding vector_cosine_ops)",
        )
        .unwrap();
    }
    db.batch_execute("SET enable_seqscan = off").unwrap();
    let plan: String = db
        .query(
            "EXPLAIN SELECT id FROM items ORDER BY embedding <=> '[1,0.5,0.25]' LIMIT 5",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(
        plan.contains("items_idx"),
        "{fixture}: the index is used after the update: {plan}"
    );
    assert_eq!(
        nearest(&mut db),
        exact,
        "{fixture}: index scan after the update"
    );
    let verified: String = db
        .query_one("SELECT diskvec_verify('items_idx')", &[])
        .unwrap()
        .get(0);
    assert!(verified.contains("500"), "{verified}");

    // The 0.2.0 surface on the updated database.
    let row = db
        .query_one(
            "SELECT (embedding::halfvec <-> '[1,0,0]')::real, embedding::sparsevec::text,
                    hamming_distance(binary_quantize(embedding), B'101')
             FROM items WHERE id = 1",
            &[],
        )
        .unwrap();
    let (d, s, h): (f32, String, f64) = (row.get(0), row.get(1), row.get(2));
    assert!(d > 0.0 && s.ends_with("}/3") && h <= 3.0, "{d} {s} {h}");

    // Distance bounds, served by the index (also one built before the
    // update), and attribute columns.
    db.batch_execute("RESET enable_seqscan").unwrap();
    let bound = "SELECT id FROM items WHERE embedding <=> '[1,0.5,0.25]' < 0.05 ORDER BY id";
    let exact = ids(&mut db, bound, false);
    assert!(!exact.is_empty(), "{fixture}: the bound matches rows");
    assert_eq!(ids(&mut db, bound, true), exact, "{fixture}: bounded scan");
    db.batch_execute(
        "ALTER TABLE items ADD COLUMN tenant int4;
         UPDATE items SET tenant = id % 10;
         CREATE INDEX items_tenant ON items USING diskvec (embedding vector_cosine_ops, tenant)",
    )
    .unwrap();
    let q =
        "SELECT id FROM items WHERE tenant = 3 ORDER BY embedding <=> '[1,0.5,0.25]', id LIMIT 10";
    assert_eq!(
        ids(&mut db, q, true),
        ids(&mut db, q, false),
        "{fixture}: attribute filter"
    );
    std::fs::remove_file(&target).ok();
}

#[test]
fn updates_both_0_1_0_catalogs_to_0_2_0() {
    let mut fresh_db = fresh_database("upgrade_fresh");
    let fresh = (members(&mut fresh_db), family_operators(&mut fresh_db));
    assert!(fresh.0.iter().any(|m| m == "type halfvec"));
    assert!(fresh.0.iter().any(|m| m == "access method diskvec"));
    assert!(fresh.1.iter().any(|m| m.contains("<<=>>")));
    // Sequential: both install the same 0.1.0 script file name.
    updates_from("diskvec--0.1.0-type-only.sql", false, &fresh);
    updates_from("diskvec--0.1.0.sql", true, &fresh);
}
