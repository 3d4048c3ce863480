//! What an index's key column holds (`vector`, `halfvec` or `bit`) and the
//! distance its operator class orders by, and each key value as the `f32`
//! vector the engine indexes.
//!
//! The operator class decides both: its support function 1 is the distance
//! function of the operator it orders by, one of ours, recognised by the C
//! function it resolves to (whatever its SQL name or schema). A `bit`
//! column is indexed as a vector of 0s and 1s under L2, whose squared
//! distance is the Hamming distance, so the graph orders rows exactly as
//! `<~>` does.

use crate::errors::raise;
use crate::{bit_ops, halfvec_datum::HalfArg, halfvec_ops, vector_datum::VectorArg, vector_ops};
use diskvec_engine::{Element, Metric};
use pgrx::{pg_sys, PgSqlErrorCode::*};

/// The type of an index's key column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Vector,
    Halfvec,
    Bit,
}

impl KeyType {
    /// How node pages store the vectors: half precision holds `halfvec`
    /// values and 0/1 bits exactly, in half the space.
    pub fn element(self) -> Element {
        match self {
            KeyType::Vector => Element::F32,
            KeyType::Halfvec | KeyType::Bit => Element::F16,
        }
    }

    /// A non-null key value (or query) of this type, as `f32`s in `out`.
    ///
    /// # Safety
    /// `datum` is a non-null value of this type.
    pub unsafe fn read(self, datum: pg_sys::Datum, out: &mut Vec<f32>) {
        out.clear();
        match self {
            // SAFETY: the caller's promise.
            KeyType::Vector => {
                out.extend_from_slice(unsafe { VectorArg::from_datum(datum) }.as_slice())
            }
            KeyType::Halfvec => {
                // SAFETY: the caller's promise.
                let h = unsafe { HalfArg::from_datum(datum) };
                out.resize(h.dim(), 0.0);
                diskvec_engine::simd::half_to_f32(h.as_slice(), out);
            }
            KeyType::Bit => {
                // SAFETY: the caller's promise.
                let b = unsafe { bit_ops::BitArg::from_datum(datum) };
                let bytes = b.bytes();
                // Postgres stores the first bit in the high bit of byte 0.
                out.extend(
                    (0..b.len() as usize).map(|i| ((bytes[i / 8] >> (7 - i % 8)) & 1) as f32),
                );
            }
        }
    }
}

type Distance = unsafe extern "C-unwind" fn(pg_sys::FunctionCallInfo) -> pg_sys::Datum;

/// The metric and key type of an index, from its operator class.
pub fn of(index: pg_sys::Relation) -> (Metric, KeyType) {
    let known: [(Distance, Metric, KeyType); 7] = [
        (
            vector_ops::vector_l2_squared_distance,
            Metric::L2,
            KeyType::Vector,
        ),
        (
            vector_ops::vector_negative_inner_product,
            Metric::InnerProduct,
            KeyType::Vector,
        ),
        (vector_ops::cosine_distance, Metric::Cosine, KeyType::Vector),
        (
            halfvec_ops::halfvec_l2_squared_distance,
            Metric::L2,
            KeyType::Halfvec,
        ),
        (
            halfvec_ops::halfvec_negative_inner_product,
            Metric::InnerProduct,
            KeyType::Halfvec,
        ),
        (
            halfvec_ops::halfvec_cosine_distance,
            Metric::Cosine,
            KeyType::Halfvec,
        ),
        (bit_ops::hamming_distance, Metric::L2, KeyType::Bit),
    ];
    // SAFETY: an open index; index_getprocinfo returns its relcache's
    // FmgrInfo for support function 1 (every operator class has it), with
    // the function's address filled in.
    let addr = unsafe { (*pg_sys::index_getprocinfo(index, 1, 1)).fn_addr }.map(|f| f as usize);
    known
        .iter()
        .find(|(f, _, _)| Some(*f as usize) == addr)
        .map(|&(_, m, k)| (m, k))
        .unwrap_or_else(|| {
            raise(
                ERRCODE_WRONG_OBJECT_TYPE,
                "diskvec: the operator class's support function 1 is not a distance diskvec implements",
                Some("Use vector_l2_ops, vector_ip_ops, vector_cosine_ops, the halfvec_ ones or bit_hamming_ops."),
            )
        })
}
