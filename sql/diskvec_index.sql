-- The diskvec index access method and its operator classes.
--
-- Support function 1 names the distance the operator class orders by; the
-- index computes it itself (see src/index_build.rs, metric_of).

CREATE FUNCTION diskvec_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD diskvec TYPE INDEX HANDLER diskvec_handler;

COMMENT ON ACCESS METHOD diskvec IS 'disk-resident graph index with RaBitQ codes in memory';

CREATE OPERATOR CLASS vector_l2_ops
	DEFAULT FOR TYPE vector USING diskvec AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 vector_l2_squared_distance(vector, vector);

CREATE OPERATOR CLASS vector_ip_ops
	FOR TYPE vector USING diskvec AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 vector_negative_inner_product(vector, vector);

CREATE OPERATOR CLASS vector_cosine_ops
	FOR TYPE vector USING diskvec AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	FUNCTION 1 cosine_distance(vector, vector);

-- halfvec indexes keep half-precision vectors on their node pages; a bit
-- index holds each bit as 0 or 1 under L2, whose square is the Hamming
-- distance (src/index_key.rs).

CREATE OPERATOR CLASS halfvec_l2_ops
	DEFAULT FOR TYPE halfvec USING diskvec AS
	OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 halfvec_l2_squared_distance(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_ip_ops
	FOR TYPE halfvec USING diskvec AS
	OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 halfvec_negative_inner_product(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_cosine_ops
	FOR TYPE halfvec USING diskvec AS
	OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
	FUNCTION 1 cosine_distance(halfvec, halfvec);

CREATE OPERATOR CLASS bit_hamming_ops
	DEFAULT FOR TYPE bit USING diskvec AS
	OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
	FUNCTION 1 hamming_distance(bit, bit);

CREATE FUNCTION diskvec_cache_bytes(regclass) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION diskvec_cache_bytes(regclass) IS 'bytes of the index''s code area this backend holds in memory';

CREATE FUNCTION diskvec_verify(regclass) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION diskvec_verify(regclass) IS 'checks a diskvec index (pages, format, graph, heap coverage); errors on corruption';

-- Both functions read a whole relation (the index's code area; for verify,
-- every index page and the table's heap), whatever privileges the caller
-- has on it: like amcheck's, they are not for everyone. A superuser grants
-- them: GRANT EXECUTE ON FUNCTION diskvec_verify(regclass) TO some_role.
REVOKE ALL ON FUNCTION diskvec_cache_bytes(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION diskvec_verify(regclass) FROM PUBLIC;
