//! `sparsevec` input and output: text `{1:1.5,3:2}/5`, binary send/recv,
//! typmod, and the typmod-checking cast.

use crate::fmgr::{arg, arg_i32};
use crate::sparsevec_datum::{new_sparsevec, sparse_error, sparse_ok, sparsevec_arg};
use crate::type_io::{cstring, cstring_arg, recv_bytes, recv_consume, typmod_in};
use crate::vector_datum::bytea;
use diskvec_engine::sparsevec::{self as sparse, MAX_DIM};

pg_function! {
    /// sparsevec_in(cstring, oid, int4).
    fn sparsevec_in(fcinfo) {
        let literal = cstring_arg(fcinfo);
        let v = sparse::parse_sparsevec_text(&literal, arg_i32(fcinfo, 2))
            .unwrap_or_else(|e| sparse_error(e, Some(&literal)));
        new_sparsevec(v.dim, &v.indices, &v.values)
    }
}

pg_function! {
    fn sparsevec_out(fcinfo) {
        cstring(&sparse::format_sparsevec_text(sparsevec_arg(fcinfo, 0).get()))
    }
}

pg_function! {
    /// sparsevec_typmod_in(cstring[]): `sparsevec(n)`, 1 <= n <= 10^9.
    fn sparsevec_typmod_in(fcinfo) {
        typmod_in(fcinfo, "sparsevec", MAX_DIM)
    }
}

pg_function! {
    /// sparsevec_recv(internal, oid, int4).
    fn sparsevec_recv(fcinfo) {
        let (v, used) = sparse_ok(sparse::decode_sparsevec_binary(recv_bytes(fcinfo), arg_i32(fcinfo, 2)));
        recv_consume(fcinfo, used);
        new_sparsevec(v.dim, &v.indices, &v.values)
    }
}

pg_function! {
    fn sparsevec_send(fcinfo) {
        let mut out = Vec::new();
        sparse::encode_sparsevec_binary(sparsevec_arg(fcinfo, 0).get(), &mut out);
        bytea(&out)
    }
}

pg_function! {
    /// sparsevec(sparsevec, int4, bool): enforces `sparsevec(n)`.
    fn sparsevec(fcinfo) {
        let dim = sparsevec_arg(fcinfo, 0).dim();
        sparse_ok(sparse::check_expected_dim(arg_i32(fcinfo, 1), dim as i64));
        arg(fcinfo, 0)
    }
}
