//! diskvec: the PostgreSQL extension.
//!
//! Thin glue over `diskvec-engine`: pgvector's types — `vector`, `halfvec`,
//! `sparsevec` and the distances over `bit` (I/O, operators, casts,
//! aggregates) — and the `diskvec` index access method. Every SQL object is declared by hand in `sql/`, so the catalog
//! matches pgvector's exactly; the Rust side only provides the C-callable
//! symbols those declarations name.

#[macro_use]
mod fmgr;
mod bit_ops;
mod errors;
mod halfvec_cast;
mod halfvec_datum;
mod halfvec_io;
mod halfvec_ops;
mod sparsevec_datum;
mod sparsevec_io;
mod sparsevec_ops;
mod type_io;
mod vector_agg;
mod vector_cast;
mod vector_datum;
mod vector_io;
mod vector_ops;

mod code_pool;
mod index_am;
mod index_attrs;
mod index_build;
mod index_cache;
mod index_cost;
mod index_errors;
mod index_info;
mod index_key;
mod index_memory;
mod index_options;
mod index_paths;
mod index_range;
mod index_scan;
mod index_store;
mod index_threads;
mod index_tid;
mod index_verify;
mod index_write;
mod pgvector_am;

pgrx::pg_module_magic!();

pgrx::extension_sql_file!("../sql/vector.sql", name = "vector_type", bootstrap);
pgrx::extension_sql_file!(
    "../sql/halfvec.sql",
    name = "halfvec_type",
    requires = ["vector_type"]
);
pgrx::extension_sql_file!(
    "../sql/sparsevec.sql",
    name = "sparsevec_type",
    requires = ["halfvec_type"]
);
pgrx::extension_sql_file!(
    "../sql/bit.sql",
    name = "bit_distances",
    requires = ["sparsevec_type"]
);
pgrx::extension_sql_file!(
    "../sql/diskvec_index.sql",
    name = "diskvec_index",
    requires = ["bit_distances"]
);
pgrx::extension_sql_file!("../sql/pgvector_am.sql", name = "pgvector_am", finalize);

#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    index_options::init();
    code_pool::init();
    pgvector_am::init();
    index_paths::init();
}
