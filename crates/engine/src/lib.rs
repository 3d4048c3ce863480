//! diskvec's engine: everything that does not need Postgres.
//!
//! * `distance`: exact distance kernels (simsimd, run-time dispatch).
//! * `page`: the storage seam, a trait over fixed 8 KiB pages; `mem_store`
//!   and `file_store` implement it.
//! * `format`: page layouts, with magic and version.
//! * `rabitq` + `popcount`: the RaBitQ quantizer and its bit kernels.
//! * `vamana`: in-memory graph build and RobustPrune.
//! * `index`: the public API, generic over the page store.
//! * `vector_text` + `float_text`: pgvector's text and binary formats, and
//!   floats printed exactly as Postgres prints them.
//! * `halfvec_text` + `halfvec_kernels`, `sparsevec`, `bitvec`: pgvector's
//!   `halfvec` (binary16 conversions, formats, F16C kernels), `sparsevec`
//!   (formats, merge distances, order) and `bit` distances.
//! * `dataset`: `.npy` reading and brute-force ground truth for tests and benches.
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

pub mod bitvec;
pub mod dataset;
pub mod distance;
pub mod file_store;
pub mod float_text;
pub mod format;
pub mod halfvec_kernels;
pub mod halfvec_text;
pub mod index;
pub mod kernels;
pub mod mem_store;
pub mod page;
pub mod popcount;
pub mod rabitq;
pub mod search;
pub mod sparsevec;
pub mod vamana;
pub mod vector_text;

pub use file_store::FileStore;
pub use index::{Index, Metric, Options, SearchIter, SearchParams};
pub use mem_store::MemStore;
pub use page::{BlockNo, Error, PageStore, Result, PAGE_SIZE};
pub use search::SearchStats;
