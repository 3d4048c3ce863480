//! Distance bounds: `diskvec_sphere(centre, radius)` and the operators
//! `<<->>`, `<<#>>`, `<<=>>` (the distance of `<->`, `<#>`, `<=>` is at
//! most the radius). The index serves them as a bound on its walk; the
//! planner derives them from plain `embedding <=> $q < $r` clauses
//! (`index_paths.rs`).

use crate::vector_datum::VectorArg;
use diskvec_engine::distance;
use pgrx::pg_sys;

/// Centre and radius of a `diskvec_sphere` datum; `None` if either is NULL.
///
/// # Safety
/// `d` is a non-null `diskvec_sphere` datum (a vector, then a float8).
pub unsafe fn sphere(d: pg_sys::Datum) -> Option<(Vec<f32>, f64)> {
    // SAFETY: the caller's promise: a composite datum, detoasted to its
    // tuple header, whose attribute 1 is a vector and 2 a float8 (by value).
    unsafe {
        let tup = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
        let (mut cnull, mut rnull) = (false, false);
        let centre = pg_sys::GetAttributeByNum(tup, 1, &mut cnull);
        let radius = pg_sys::GetAttributeByNum(tup, 2, &mut rnull);
        if cnull || rnull {
            return None;
        }
        let v = VectorArg::from_datum(centre).as_slice().to_vec();
        Some((v, f64::from_bits(radius.value() as u64)))
    }
}

macro_rules! within_function {
    ($(#[$meta:meta])* $name:ident, |$a:ident, $b:ident| $expr:expr) => {
        pg_function! {
            $(#[$meta])*
            fn $name(args) {
                let v = args.vector(0);
                // SAFETY: argument 1 is a non-null diskvec_sphere (the
                // function is STRICT and declared on that type).
                let within = match unsafe { sphere(args.datum(1)) } {
                    Some((centre, radius)) => {
                        crate::errors::check_same_dims(v.dim(), centre.len());
                        let ($a, $b) = (v.as_slice(), centre.as_slice());
                        let d: f64 = $expr;
                        d <= radius
                    }
                    None => false,
                };
                pg_sys::Datum::from(within)
            }
        }
    };
}

within_function!(/// `<<->>`: L2 distance at most the radius.
    vector_l2_within, |a, b| (distance::l2_squared_f32(a, b) as f64).sqrt());
within_function!(/// `<<#>>`: negative inner product at most the radius.
    vector_ip_within, |a, b| -(distance::dot_f32(a, b) as f64));
within_function!(/// `<<=>>`: cosine distance at most the radius.
    vector_cosine_within, |a, b| distance::cosine_distance_f32(a, b));
