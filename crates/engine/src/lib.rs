//! diskvec's engine: everything that does not need Postgres.
//!
//! Distance kernels, and (growing) the RaBitQ quantizer, the Vamana graph,
//! page formats and the memory-mapped page store. The Postgres extension and
//! the embedded library are both thin layers over this crate.

pub mod distance;
pub mod float_text;
pub mod vector_text;
