//! diskvec-encoder: documents → sentence embeddings (candle + tokenizers, pure Rust) →
//! PostgreSQL binary COPY (stdout or a live connection). See README.md.

pub mod bert;
pub mod chunk;
pub mod copy;
pub mod input;
pub mod model;
pub mod pipeline;
pub mod sink;
