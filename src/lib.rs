//! diskvec: the PostgreSQL extension.
//!
//! Thin glue over `diskvec-engine`: the pgvector-compatible `vector` type
//! (I/O, operators, casts, aggregates) and the `diskvec` index access
//! method. Every SQL object is declared by hand in `sql/`, so the catalog
//! matches pgvector's exactly; the Rust side only provides the C-callable
//! symbols those declarations name.

#[macro_use]
mod fmgr;
mod errors;
mod vector_agg;
mod vector_cast;
mod vector_datum;
mod vector_io;
mod vector_ops;

mod index_am;
mod index_attrs;
mod index_build;
mod index_cache;
mod index_cost;
mod index_errors;
mod index_info;
mod index_options;
mod index_paths;
mod index_range;
mod index_scan;
mod index_store;
mod index_threads;
mod index_tid;
mod index_verify;
mod index_write;

pgrx::pg_module_magic!();

pgrx::extension_sql_file!("../sql/vector.sql", name = "vector_type", bootstrap);
pgrx::extension_sql_file!("../sql/diskvec_index.sql", name = "diskvec_index", finalize);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    index_options::init();
    index_paths::init();
}
