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
COMMENT ON FUNCTION diskvec_cache_bytes(regclass) IS 'bytes this backend holds in its own memory for the index (all its codes when they are not shared)';

CREATE FUNCTION diskvec_verify(regclass) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION diskvec_verify(regclass) IS 'checks a diskvec index (pages, format, graph, heap coverage); errors on corruption';

-- Both functions read a whole relation (the index's code area; for verify,
-- every index page and the table's heap), whatever privileges the caller
-- has on it: like amcheck's, they are not for everyone. A superuser grants
-- them: GRANT EXECUTE ON FUNCTION diskvec_verify(regclass) TO some_role.
REVOKE ALL ON FUNCTION diskvec_cache_bytes(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION diskvec_verify(regclass) FROM PUBLIC;

CREATE FUNCTION diskvec_prewarm(regclass, node_pages boolean DEFAULT false) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION diskvec_prewarm(regclass, boolean) IS 'loads the index''s codes (into shared memory when diskvec is preloaded) and, with node_pages, its pages into shared buffers; says what it loaded';

CREATE FUNCTION diskvec_memory_report() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION diskvec_memory_report() IS 'JSON behind the views diskvec_memory, diskvec_shared_memory and diskvec_backend_memory';

CREATE VIEW diskvec_memory AS
	SELECT CASE WHEN m.database = d.oid AND d.datname = current_database() THEN m.index_oid::regclass END AS index,
		d.datname AS database, m.index_oid, m.relfilenode, m.status, m.shared, m.entries, m.live,
		m.shared_bytes, m.backend_bytes
	FROM json_to_recordset(diskvec_memory_report()::json -> 'indexes')
		AS m(database oid, index_oid oid, relfilenode oid, status text, shared boolean,
			entries bigint, live bigint, shared_bytes bigint, backend_bytes bigint)
	LEFT JOIN pg_database d ON d.oid = m.database;
COMMENT ON VIEW diskvec_memory IS 'diskvec indexes with codes in memory: in the server''s shared memory (shared, shared_bytes, for every connection) or in this connection''s own (backend_bytes: what this connection holds for the index)';

CREATE VIEW diskvec_shared_memory AS
	SELECT * FROM json_to_record(diskvec_memory_report()::json -> 'pool')
		AS p(enabled boolean, size_bytes bigint, used_bytes bigint, indexes bigint, max_indexes bigint,
			loads bigint, evictions bigint, refusals bigint);
COMMENT ON VIEW diskvec_shared_memory IS 'the shared memory that holds diskvec codes (diskvec.shared_memory): size, use, and areas loaded, evicted and refused since the server started';

CREATE VIEW diskvec_backend_memory AS
	SELECT * FROM json_to_record(diskvec_memory_report()::json -> 'backend')
		AS b(pid integer, private_bytes bigint, diskvec_bytes bigint);
COMMENT ON VIEW diskvec_backend_memory IS 'this connection''s private memory (the kernel''s RssAnon) and what diskvec holds of it';

CREATE FUNCTION diskvec_shared_mode_hint() RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;

DO $$
DECLARE hint text := diskvec_shared_mode_hint();
BEGIN
	IF hint IS NOT NULL THEN
		-- A WARNING: CREATE EXTENSION runs its script with client_min_messages
		-- raised to warning, which would swallow a NOTICE.
		RAISE WARNING 'diskvec: index codes are not shared: each connection loads its own copy of every index it searches'
			USING HINT = hint;
	END IF;
END
$$;
