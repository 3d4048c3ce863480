//! `halfvec` input and output: text literal, binary send/recv, typmod.

use crate::errors::{check_expected_dim, format_error_of};
use crate::halfvec_datum::halfvec_from_slice;
use crate::type_io::{cstring, recv_bytes, recv_consume, typmod_in};
use crate::vector_datum::bytea;
use diskvec_engine::halfvec_text::{self as text, MAX_DIM};

pg_function! {
    /// halfvec_in(cstring, oid, int4): `[1,2,3]`, each number rounded to half.
    fn halfvec_in(args) {
        let literal = args.cstring(0);
        let values = text::parse_halfvec_text(&literal)
            .unwrap_or_else(|e| format_error_of("halfvec", e, Some(&literal)));
        check_expected_dim(args.i32(2), values.len());
        halfvec_from_slice(&values)
    }
}

pg_function! {
    /// halfvec_out(halfvec): each element as the float4 it widens to.
    fn halfvec_out(args) {
        cstring(&text::format_halfvec_text(args.halfvec(0).as_slice()))
    }
}

pg_function! {
    /// halfvec_typmod_in(cstring[]): `halfvec(n)` with 1 <= n <= 16000.
    fn halfvec_typmod_in(args) {
        typmod_in(args, "halfvec", MAX_DIM as i64)
    }
}

pg_function! {
    /// halfvec_recv(internal, oid, int4): int16 dim, int16 unused, halves.
    fn halfvec_recv(args) {
        let (values, used) = text::decode_halfvec_binary(recv_bytes(args))
            .unwrap_or_else(|e| format_error_of("halfvec", e, None));
        check_expected_dim(args.i32(2), values.len());
        recv_consume(args, used);
        halfvec_from_slice(&values)
    }
}

pg_function! {
    /// halfvec_send(halfvec) -> bytea.
    fn halfvec_send(args) {
        let mut out = Vec::new();
        text::encode_halfvec_binary(args.halfvec(0).as_slice(), &mut out);
        bytea(&out)
    }
}

pg_function! {
    /// halfvec(halfvec, int4, bool): enforces `halfvec(n)`.
    fn halfvec(args) {
        check_expected_dim(args.i32(1), args.halfvec(0).dim());
        args.datum(0)
    }
}
