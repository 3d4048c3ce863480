//! diskvec: the PostgreSQL extension.
//!
//! Thin glue over `diskvec-engine`: the pgvector-compatible `vector` type
//! (I/O, operators, casts, aggregates). Every SQL object is declared by hand
//! in `sql/`, so the catalog matches pgvector's exactly; the Rust side only
//! provides the C-callable symbols those declarations name.

#[macro_use]
mod fmgr;
mod errors;
mod vector_agg;
mod vector_cast;
mod vector_datum;
mod vector_io;
mod vector_ops;

pgrx::pg_module_magic!();

pgrx::extension_sql_file!("../sql/vector.sql", name = "vector_type", bootstrap);
