//! Harness for end-to-end tests against a real server.
//!
//! `scripts/test.sh` starts a throwaway cluster (as the `postgres` user, unix
//! socket in /tmp) with the extension installed and exports its port as
//! `DISKVEC_TEST_PORT`. Each test gets its own fresh database, so tests run
//! in parallel without seeing each other's tables.

pub mod bench;
pub mod citus;
pub mod server;
pub mod soak;

use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn port() -> u16 {
    std::env::var("DISKVEC_TEST_PORT")
        .expect("DISKVEC_TEST_PORT is not set: run the suite with scripts/test.sh, which starts the server")
        .parse()
        .expect("DISKVEC_TEST_PORT must be a port number")
}

pub fn connect(dbname: &str) -> Client {
    let config = format!("host=/tmp port={} user=postgres dbname={dbname}", port());
    Client::connect(&config, NoTls).unwrap_or_else(|e| panic!("connect to {config}: {e}"))
}

/// A fresh database with the extension created, named after the test.
pub fn fresh_database(test: &str) -> Client {
    let mut client = empty_database(test);
    client.batch_execute("CREATE EXTENSION diskvec").unwrap();
    client
}

/// A fresh database without the extension, named after the test.
pub fn empty_database(test: &str) -> Client {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "e2e_{}_{}_{}",
        test,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = connect("postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    connect(&name)
}

/// The repository root (tests/e2e/../..).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// SQLSTATE and message of a failed statement.
pub fn db_error(e: &postgres::Error) -> (String, String) {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e}"));
    (db.code().code().to_string(), db.message().to_string())
}

/// A Postgres binary COPY stream with a single column per row, each field
/// given as raw bytes (None for NULL).
pub fn binary_copy(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
    let mut out = b"PGCOPY\n\xff\r\n\0".to_vec();
    out.extend_from_slice(&0i32.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for row in rows {
        out.extend_from_slice(&(row.len() as i16).to_be_bytes());
        for field in row {
            match field {
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Runs `COPY ... FROM STDIN (FORMAT binary)` with `data`.
pub fn copy_in(client: &mut Client, sql: &str, data: &[u8]) -> Result<u64, postgres::Error> {
    use std::io::Write;
    let mut writer = client.copy_in(sql)?;
    writer.write_all(data).expect("write to COPY stream");
    writer.finish()
}

/// A `vector` query parameter, sent in pgvector's binary format.
#[derive(Debug)]
pub struct Vector<'a>(pub &'a [f32]);

impl postgres::types::ToSql for Vector<'_> {
    fn to_sql(
        &self,
        _ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mut buf = Vec::new();
        diskvec_engine::vector_text::encode_vector_binary(self.0, &mut buf);
        out.extend_from_slice(&buf);
        Ok(postgres::types::IsNull::No)
    }
    fn accepts(ty: &postgres::types::Type) -> bool {
        ty.name() == "vector"
    }
    postgres::types::to_sql_checked!();
}

/// Creates `table (id int4 primary key, embedding vector(dim))` and loads
/// `rows` flat vectors with binary COPY; row `i` gets id `i + 1`.
pub fn load_vectors(client: &mut Client, table: &str, data: &[f32], dim: usize) {
    client
        .batch_execute(&format!(
            "CREATE TABLE {table} (id int4 PRIMARY KEY, embedding vector({dim}))"
        ))
        .unwrap();
    copy_in(
        client,
        &format!("COPY {table} (id, embedding) FROM STDIN (FORMAT binary)"),
        &vector_rows(data, dim, 1),
    )
    .unwrap();
}

/// A binary COPY stream of `(int4 id, vector)` rows: the flat vectors in
/// `data`, numbered from `first_id`.
pub fn vector_rows(data: &[f32], dim: usize, first_id: i32) -> Vec<u8> {
    let rows: Vec<Vec<Option<Vec<u8>>>> = data
        .chunks_exact(dim)
        .zip(first_id..)
        .map(|(v, id)| {
            let mut buf = Vec::new();
            diskvec_engine::vector_text::encode_vector_binary(v, &mut buf);
            vec![Some(id.to_be_bytes().to_vec()), Some(buf)]
        })
        .collect();
    binary_copy(&rows)
}

/// A value escaped for the canonical record format of
/// tests/compat/generate.mjs.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// One statement's outcome in the canonical record format of
/// tests/compat/generate.mjs (simple-query protocol): `OK<TAB>rows`
/// (columns joined by `|`, rows by `;`, NULL as `\N`) or
/// `ERR<TAB>SQLSTATE<TAB>message`.
pub fn canonical(client: &mut Client, sql: &str) -> String {
    match client.simple_query(sql) {
        Ok(messages) => {
            let rows: Vec<String> = messages
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(row) => Some(
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
