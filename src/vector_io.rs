//! `vector` input and output: text literal, binary send/recv, typmod.

use crate::errors::{check_dim, check_expected_dim, format_error};
use crate::type_io::{cstring, recv_bytes, recv_consume, typmod_in};
use crate::vector_datum::{bytea, vector_from_slice};
use diskvec_engine::vector_text::{self, MAX_DIM};

pg_function! {
    /// vector_in(cstring, oid, int4): parses `[1,2,3]`, then checks the typmod.
    fn vector_in(args) {
        let text = args.cstring(0);
        let typmod = args.i32(2);
        let values = vector_text::parse_vector_text(&text)
            .unwrap_or_else(|e| format_error(e, Some(&text)));
        check_expected_dim(typmod, values.len());
        vector_from_slice(&values)
    }
}

pg_function! {
    /// vector_out(vector): the shortest text that reads back exactly.
    fn vector_out(args) {
        let v = args.vector(0);
        cstring(&vector_text::format_vector_text(v.as_slice()))
    }
}

pg_function! {
    /// vector_typmod_in(cstring[]): `vector(n)` with 1 <= n <= 16000.
    fn vector_typmod_in(args) {
        typmod_in(args, "vector", MAX_DIM as i64)
    }
}

pg_function! {
    /// vector_recv(internal, oid, int4): pgvector's binary layout, big-endian.
    fn vector_recv(args) {
        let typmod = args.i32(2);
        let (values, used) = vector_text::decode_vector_binary(recv_bytes(args))
            .unwrap_or_else(|e| format_error(e, None));
        check_expected_dim(typmod, values.len());
        recv_consume(args, used);
        vector_from_slice(&values)
    }
}

pg_function! {
    /// vector_send(vector) -> bytea.
    fn vector_send(args) {
        let v = args.vector(0);
        let mut out = Vec::new();
        vector_text::encode_vector_binary(v.as_slice(), &mut out);
        bytea(&out)
    }
}

pg_function! {
    /// vector(vector, int4, bool): the length-coercion cast that enforces
    /// `vector(n)` on assignment and explicit casts.
    fn vector(args) {
        let datum = args.datum(0);
        let v = args.vector(0);
        check_expected_dim(args.i32(1), v.dim());
        let _ = check_dim(v.dim() as i64);
        datum
    }
}
