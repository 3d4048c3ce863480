//! Binary COPY of `halfvec` and `sparsevec` columns between diskvec and
//! pgvector (0.8.1 in PGlite), both ways, bit for bit: diskvec's file loads
//! into pgvector, which reads the same values and writes the same bytes
//! back; those bytes load into diskvec and come out unchanged again.

use diskvec_e2e::{copy_in, fresh_database, repo_root};
use std::io::Read;

fn copy_out(db: &mut postgres::Client, sql: &str) -> Vec<u8> {
    let mut out = Vec::new();
    db.copy_out(sql).unwrap().read_to_end(&mut out).unwrap();
    out
}

fn round_trip(type_name: &str, rows_sql: &str) {
    let dir = repo_root().join("tests/compat");
    assert!(
        dir.join("node_modules/@electric-sql/pglite").exists(),
        "PGlite is not installed: run `npm ci` in tests/compat (scripts/test.sh does)"
    );
    let mut db = fresh_database(&format!("copy_interop_{type_name}"));
    db.batch_execute(&format!(
        "CREATE TABLE t (id int4, v {type_name}); INSERT INTO t {rows_sql}"
    ))
    .unwrap();
    let rows: i64 = db.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
    let ours = copy_out(&mut db, "COPY t TO STDOUT (FORMAT binary)");
    let ours_text = String::from_utf8(copy_out(&mut db, "COPY t TO STDOUT")).unwrap();

    let tmp = std::env::temp_dir();
    let (file, back) = (
        tmp.join(format!("diskvec_{type_name}_{}.bin", std::process::id())),
        tmp.join(format!("pgvector_{type_name}_{}.bin", std::process::id())),
    );
    std::fs::write(&file, &ours).unwrap();
    let output = std::process::Command::new("node")
        .arg(dir.join("load_into_pgvector.mjs"))
        .args([&file, std::path::Path::new(type_name), &back])
        .output()
        .expect("run node (is Node.js installed?)");
    std::fs::remove_file(&file).ok();
    assert!(
        output.status.success(),
        "pgvector rejected diskvec's binary {type_name} COPY: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = std::fs::read(&back).unwrap();
    std::fs::remove_file(&back).ok();
    let theirs_text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(theirs_text.lines().count() as i64, rows);
    assert!(
        theirs_text == ours_text,
        "pgvector reads other {type_name} values than diskvec wrote"
    );
    assert!(
        theirs == ours,
        "pgvector writes other {type_name} bytes than diskvec"
    );

    // pgvector's bytes into diskvec.
    db.batch_execute(&format!("CREATE TABLE t2 (id int4, v {type_name})"))
        .unwrap();
    let loaded = copy_in(&mut db, "COPY t2 FROM STDIN (FORMAT binary)", &theirs).unwrap();
    assert_eq!(loaded as i64, rows);
    assert!(copy_out(&mut db, "COPY t2 TO STDOUT (FORMAT binary)") == theirs);
}

#[test]
fn halfvec_binary_copy_interoperates_bit_for_bit() {
    // 1 to 300 dimensions; magnitudes from subnormal halves (and values that
    // round to zero) to 2^15, both signs, -0.
    round_trip(
        "halfvec",
        "SELECT i, ARRAY(
             SELECT CASE WHEN j % 17 = 0 THEN '-0'::real
                         ELSE (sin(i * 7 + j) * power(2, (i * j) % 40 - 25))::real END
             FROM generate_series(1, 1 + (i * 37) % 300) j)::halfvec
         FROM generate_series(1, 2000) i",
    );
}

#[test]
fn sparsevec_binary_copy_interoperates_bit_for_bit() {
    // Dense arrays with about one element in five non-zero, values over 60
    // decades, plus rows of 10^9 dimensions and empty ones.
    round_trip(
        "sparsevec",
        "SELECT i, ARRAY(
             SELECT CASE WHEN (i * j) % 5 = 0 THEN sin(i + j) * power(10, (i * j) % 60 - 30) ELSE 0 END
             FROM generate_series(1, 1 + (i * 37) % 300) j)::sparsevec
         FROM generate_series(1, 1500) i
         UNION ALL
         SELECT i, ('{1:1.5,' || (i * 7919) || ':-2.25e-20,999999999:3e38}/1000000000')::sparsevec
         FROM generate_series(1501, 1990) i
         UNION ALL
         SELECT i, ('{}/' || i)::sparsevec FROM generate_series(1991, 2000) i",
    );
}
