//! `sparsevec` input and output: text `{1:1.5,3:2}/5`, binary send/recv,
//! typmod, and the typmod-checking cast.

use crate::sparsevec_datum::{new_sparsevec, sparse_error, sparse_ok};
use crate::type_io::{cstring, recv_bytes, recv_consume, typmod_in};
use crate::vector_datum::bytea;
use diskvec_engine::sparsevec::{self as sparse, MAX_DIM};

pg_function! {
    /// sparsevec_in(cstring, oid, int4).
    fn sparsevec_in(args) {
        let literal = args.cstring(0);
        let v = sparse::parse_sparsevec_text(&literal, args.i32(2))
            .unwrap_or_else(|e| sparse_error(e, Some(&literal)));
        new_sparsevec(v.dim, &v.indices, &v.values)
    }
}

pg_function! {
    fn sparsevec_out(args) {
        cstring(&sparse::format_sparsevec_text(args.sparsevec(0).get()))
    }
}

pg_function! {
    /// sparsevec_typmod_in(cstring[]): `sparsevec(n)`, 1 <= n <= 10^9.
    fn sparsevec_typmod_in(args) {
        typmod_in(args, "sparsevec", MAX_DIM)
    }
}

pg_function! {
    /// sparsevec_recv(internal, oid, int4).
    fn sparsevec_recv(args) {
        let (v, used) = sparse_ok(sparse::decode_sparsevec_binary(recv_bytes(args), args.i32(2)));
        recv_consume(args, used);
        new_sparsevec(v.dim, &v.indices, &v.values)
    }
}

pg_function! {
    fn sparsevec_send(args) {
        let mut out = Vec::new();
        sparse::encode_sparsevec_binary(args.sparsevec(0).get(), &mut out);
        bytea(&out)
    }
}

pg_function! {
    /// sparsevec(sparsevec, int4, bool): enforces `sparsevec(n)`.
    fn sparsevec(args) {
        let dim = args.sparsevec(0).dim();
        sparse_ok(sparse::check_expected_dim(args.i32(1), dim as i64));
        args.datum(0)
    }
}
