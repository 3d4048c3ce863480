//! Casts between `halfvec` and `vector` or SQL arrays (pgvector's rules:
//! vector and the four numeric arrays convert to halfvec, halfvec to
//! vector and real[]), and the avg aggregate's halfvec steps.

use crate::errors::{check_dim, check_dim_of, check_expected_dim, format_error_of};
use crate::halfvec_datum::new_halfvec;
use crate::vector_agg::{accumulate, state_values};
use crate::vector_cast::{array_values, float4_array};
use crate::vector_datum::new_vector;
use diskvec_engine::halfvec_text::{check_element, from_f32_checked, to_f32};

/// Rounds float4 values to half, as pgvector's `Float4ToHalf` then
/// `CheckElement`: first every out-of-range value, then NaN and infinity.
fn halves(values: &[f32], out: &mut [u16]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = from_f32_checked(v).unwrap_or_else(|e| format_error_of("halfvec", e, None));
    }
    for &h in out.iter() {
        check_element(h).unwrap_or_else(|e| format_error_of("halfvec", e, None));
    }
}

pg_function! {
    /// array_to_halfvec(anyarray, int4, bool).
    fn array_to_halfvec(args) {
        let values = array_values(args, |n| { check_dim_of("halfvec", n as i64); });
        new_halfvec(values.len(), |out| halves(&values, out))
    }
}

pg_function! {
    /// halfvec_to_float4(halfvec, int4, bool) -> real[].
    fn halfvec_to_float4(args) {
        float4_array(args.halfvec(0).as_slice().iter().map(|&h| to_f32(h)))
    }
}

pg_function! {
    /// vector_to_halfvec(vector, int4, bool): each element rounded to half.
    fn vector_to_halfvec(args) {
        let v = args.vector(0);
        check_dim_of("halfvec", v.dim() as i64);
        check_expected_dim(args.i32(1), v.dim());
        new_halfvec(v.dim(), |out| halves(v.as_slice(), out))
    }
}

pg_function! {
    /// halfvec_to_vector(halfvec, int4, bool): exact widening.
    fn halfvec_to_vector(args) {
        let h = args.halfvec(0);
        check_dim(h.dim() as i64);
        check_expected_dim(args.i32(1), h.dim());
        new_vector(h.dim(), |out| {
            for (o, &x) in out.iter_mut().zip(h.as_slice()) {
                *o = to_f32(x);
            }
        })
    }
}

pg_function! {
    /// halfvec_accum(float8[], halfvec) -> float8[] (the avg state of vector).
    fn halfvec_accum(args) {
        let state = state_values(args, 0, "halfvec_accum");
        let x: Vec<f64> = args.halfvec(1).as_slice().iter().map(|&h| to_f32(h) as f64).collect();
        accumulate(state, &x)
    }
}

pg_function! {
    /// halfvec_avg(float8[]) -> halfvec; NULL over no rows.
    fn halfvec_avg(args) {
        let state = state_values(args, 0, "halfvec_avg");
        let n = state[0];
        if n == 0.0 {
            return args.null();
        }
        let dim = check_dim_of("halfvec", (state.len() - 1) as i64);
        let means: Vec<f32> = state[1..].iter().map(|&s| (s / n) as f32).collect();
        new_halfvec(dim, |out| halves(&means, out))
    }
}
