//! diskvec's engine: everything that does not need Postgres.
//!
//! # Architecture
//!
//! ```text
//!   Postgres extension (src/, pgrx)      encoder, benches, embedded users
//!     type I/O, operators, index AM        |
//!     callbacks, PgStore (buffers+WAL)     |
//!                  \                       /
//!                   Index<S: PageStore>   (index/)
//!   search · stream · insert · vacuum · consolidate · build · verify
//!        codes · area · pool · attrs · filter · node_io · alloc
//!                   |            |               |
//!          beam + prune      vamana (bulk      rabitq (codes, estimates)
//!          (shared walk and  graph build)            |
//!           neighbour choice)      \                /
//!                               distance ── simd (one run-time dispatch)
//!                   |
//!               page: PageStore trait, format: page layouts
//!                   |                 |
//!               MemStore          FileStore (mmap, CRC, write-ahead log)
//! ```
//!
//! Where each operation lives:
//! * [`index`]: the public [`Index`], one file per operation: `search`
//!   (the `k` nearest), `stream` (the streaming [`SearchIter`]: iterative
//!   scans in strict or relaxed order, filters, distance bounds), `insert`,
//!   `vacuum` (deletes), `consolidate` (removing deleted nodes beside
//!   inserts), `build` (bulk), `verify` (page and graph checks), `codes`
//!   (the code area on pages and [`Index::refresh`]), `area` and `pool`
//!   (the code area in memory, private or in a shared [`CodePool`]),
//!   `attrs` (attribute columns beside the codes), `filter` ([`Filter`]s
//!   on them, and the plan that serves one), `node_io`
//!   (node slots on pages), `alloc` (meta page, page chains, free slots).
//! * `beam`: the one beam search both the build and the index walk run;
//!   `prune`: RobustPrune, for the build, inserts and consolidation.
//! * `vamana`: the in-memory two-pass graph build.
//! * [`rabitq`]: the RaBitQ quantizer; [`simd`]: every SIMD kernel behind
//!   one dispatch, chosen once; [`distance`]: exact distances on top.
//! * [`page`]: the storage seam ([`PageStore`]); `format`: page layouts with
//!   magic and version; [`MemStore`] and [`FileStore`] implement it.
//! * [`vector_text`] + [`float_text`]: pgvector's text and binary formats,
//!   and floats printed exactly as Postgres prints them.
//! * [`halfvec_text`] + [`halfvec_kernels`], [`sparsevec`], [`bitvec`]:
//!   pgvector's `halfvec` (binary16 conversions, formats, distances),
//!   `sparsevec` (formats, merge distances, order) and `bit` distances.
//! * `dataset` (feature `testing`): `.npy` data sets and brute-force
//!   ground truth for tests and benches.
//!
//! ```
//! use diskvec_engine::{FileStore, Index, Metric, Options, SearchParams};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("vectors.dv");
//! let mut index = Index::create(FileStore::create(&path)?, Options::new(3, Metric::Cosine))?;
//! index.insert(1, &[1.0, 0.0, 0.0])?;
//! index.insert(2, &[0.0, 1.0, 0.0])?;
//! index.commit()?; // durable from here
//! let hits = index.search(&[0.9, 0.1, 0.0], 1, &SearchParams::default())?;
//! assert_eq!(hits[0].0, 1);
//! index.delete(1)?;
//! index.consolidate()?;
//! drop(index);
//! let index = Index::open(FileStore::open(&path)?)?;
//! assert_eq!(index.len(), 1);
//! # Ok::<(), diskvec_engine::Error>(())
//! ```

mod adjacency;
mod beam;
pub mod bitvec;
pub mod distance;
pub mod file_store;
pub mod float_text;
mod format;
pub mod halfvec_kernels;
pub mod halfvec_text;
pub mod index;
mod mem_store;
pub mod page;
mod permute;
mod prune;
pub mod rabitq;
pub mod simd;
pub mod sparsevec;
mod sq8;
mod vamana;
pub mod vector_text;

#[cfg(feature = "testing")]
pub mod dataset;
#[cfg(feature = "testing")]
pub mod heap_pool;

pub use beam::MAX_AHEAD as MAX_READ_AHEAD;
pub use file_store::{FileStore, Verify};
pub use index::{
    check_pages, filtered_cost, read_options, text_hash, AreaKey, AttrKind, AttrValue, BulkLoad,
    CodePool, Cond, Consolidation, Element, Filter, Index, Metric, Options, Placement, PoolHost,
    PoolStats, ScanOrder, ScanParams, SearchIter, SearchParams, SearchStats, SlotInfo, MAX_ATTRS,
    MAX_LABELS,
};
pub use mem_store::MemStore;
pub use page::{BlockNo, Error, Page, PageStore, Result, PAGE_SIZE};
