//! Where encoded rows go: a binary COPY stream on stdout (or any writer), or a Postgres table
//! filled by `COPY … FROM STDIN (FORMAT BINARY)`, one transaction per group of documents.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context, Result};

use crate::copy::{CopyWriter, Field};

/// One output row: a window of a document with its vector.
#[derive(Debug, Clone)]
pub struct Row {
    pub doc_id: String,
    pub chunk: i32,
    pub text: String,
    pub embedding: Vec<f32>,
}

pub trait Sink {
    /// Ids already stored (for resuming); empty when the sink cannot know.
    fn existing_ids(&mut self) -> Result<HashSet<String>>;
    /// Writes one group of rows. For a database this is one committed transaction:
    /// when it returns Ok, the rows are durable.
    fn write_group(&mut self, rows: &[Row]) -> Result<()>;
    /// Ends the output.
    fn finish(self: Box<Self>) -> Result<()>;
}

fn write_row<W: Write>(w: &mut CopyWriter<W>, r: &Row) -> std::io::Result<()> {
    w.write_row(&[
        Field::Text(&r.doc_id),
        Field::Int4(r.chunk),
        Field::Text(&r.text),
        Field::Vector(&r.embedding),
    ])
}

/// A single binary COPY stream (header, all rows, trailer) to a writer, flushed after each group.
pub struct StreamSink<W: Write> {
    w: CopyWriter<W>,
}

impl<W: Write> StreamSink<W> {
    pub fn new(w: W) -> Result<Self> {
        Ok(Self {
            w: CopyWriter::new(w)?,
        })
    }
}

impl<W: Write> Sink for StreamSink<W> {
    fn existing_ids(&mut self) -> Result<HashSet<String>> {
        Ok(HashSet::new())
    }
    fn write_group(&mut self, rows: &[Row]) -> Result<()> {
        for r in rows {
            write_row(&mut self.w, r).context("writing the COPY stream")?;
        }
        self.w.flush().context("writing the COPY stream")
    }
    fn finish(self: Box<Self>) -> Result<()> {
        self.w.finish().context("writing the COPY stream")?;
        Ok(())
    }
}

/// Quotes a possibly schema-qualified name: `a.b` → `"a"."b"`.
pub fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// The SQL type of the embedding column for a model of dimension `dim`. `base` is `vector`
/// for the real thing (pgvector / diskvec); `bytea` stores the same binary wire bytes.
pub fn embedding_column_type(base: &str, dim: usize) -> String {
    if base == "vector" {
        format!("vector({dim})")
    } else {
        base.to_string()
    }
}

pub fn create_table_sql(table: &str, embedding_type: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (doc_id text NOT NULL, chunk int4 NOT NULL, text text NOT NULL, \
         embedding {embedding_type} NOT NULL, PRIMARY KEY (doc_id, chunk))",
        quote_qualified(table)
    )
}

pub struct PgSink {
    client: postgres::Client,
    table: String,
}

impl PgSink {
    /// Connects and creates the table when missing. `embedding_base_type`: see
    /// [`embedding_column_type`].
    pub fn connect(url: &str, table: &str, dim: usize, embedding_base_type: &str) -> Result<Self> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .with_context(|| format!("connecting to {}", redact(url)))?;
        let ty = embedding_column_type(embedding_base_type, dim);
        client.batch_execute(&create_table_sql(table, &ty)).map_err(|e| {
            let hint = if embedding_base_type == "vector" {
                " (is the vector type installed? CREATE EXTENSION diskvec; — or pgvector's CREATE EXTENSION vector;)"
            } else {
                ""
            };
            anyhow::anyhow!("creating table {table}: {}{hint}", pg_err(&e))
        })?;
        Ok(Self {
            client,
            table: quote_qualified(table),
        })
    }
}

fn pg_err(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

/// Hides a password in a connection URL for messages.
pub fn redact(url: &str) -> String {
    if let Some(at) = url.find('@') {
        if let Some(scheme_end) = url.find("://") {
            let userinfo = &url[scheme_end + 3..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                );
            }
        }
    }
    url.to_string()
}

impl Sink for PgSink {
    fn existing_ids(&mut self) -> Result<HashSet<String>> {
        let rows = self
            .client
            .query(&format!("SELECT DISTINCT doc_id FROM {}", self.table), &[])
            .map_err(|e| anyhow::anyhow!("reading existing ids: {}", pg_err(&e)))?;
        Ok(rows.into_iter().map(|r| r.get::<_, String>(0)).collect())
    }

    fn write_group(&mut self, rows: &[Row]) -> Result<()> {
        let mut tx = self.client.transaction()?;
        let sql = format!(
            "COPY {} (doc_id, chunk, text, embedding) FROM STDIN (FORMAT BINARY)",
            self.table
        );
        let w = tx
            .copy_in(&sql)
            .map_err(|e| anyhow::anyhow!("starting COPY: {}", pg_err(&e)))?;
        let mut cw = CopyWriter::new(w)?;
        for r in rows {
            write_row(&mut cw, r).context("sending COPY data")?;
        }
        let w = cw.finish().context("sending COPY data")?;
        w.finish()
            .map_err(|e| anyhow::anyhow!("COPY into {}: {}", self.table, pg_err(&e)))?;
        tx.commit()
            .map_err(|e| anyhow::anyhow!("commit: {}", pg_err(&e)))?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.client.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_sql() {
        assert_eq!(quote_qualified("docs"), "\"docs\"");
        assert_eq!(quote_qualified("s.t\"x"), "\"s\".\"t\"\"x\"");
        assert_eq!(embedding_column_type("vector", 384), "vector(384)");
        assert!(create_table_sql("t", "vector(384)")
            .contains("embedding vector(384) NOT NULL, PRIMARY KEY (doc_id, chunk)"));
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("host=/tmp dbname=x"), "host=/tmp dbname=x");
    }

    #[test]
    fn stream_sink_writes_one_stream() {
        let mut buf = Vec::new();
        {
            let mut s: Box<dyn Sink + '_> = Box::new(StreamSink::new(&mut buf).unwrap());
            let r = Row {
                doc_id: "a".into(),
                chunk: 0,
                text: "t".into(),
                embedding: vec![1.0, 2.0],
            };
            s.write_group(&[r.clone()]).unwrap();
            s.write_group(&[r]).unwrap();
            s.finish().unwrap();
        }
        let rows = crate::copy::parse_copy(&buf).unwrap();
        assert_eq!(rows.len(), 2);
    }
}
