-- The diskvec index access method and its operator classes.
--
-- Support function 1 names the distance the operator class orders by; the
-- index computes it itself (see src/index_build.rs, metric_of).

CREATE FUNCTION diskvec_handler(internal) RETURNS index_am_handler
	AS 'MODULE_PATHNAME' LANGUAGE C;

CREATE ACCESS METHOD diskvec TYPE INDEX HANDLER diskvec_handler;

COMMENT ON ACCESS METHOD diskvec IS 'disk-resident graph index with RaBitQ codes in memory';

-- Distance bounds: `v <<=>> diskvec_sphere(q, r)` holds when v <=> q <= r
-- (<<->> for <->, <<#>> for <#>). The planner turns a plain
-- `embedding <=> $q < $r` into it for the index (src/index_paths.rs), so
-- the index stops once nothing closer than $r is left.
CREATE TYPE diskvec_sphere AS (center vector, radius double precision);
CREATE FUNCTION diskvec_sphere(vector, double precision) RETURNS diskvec_sphere
	AS 'SELECT ROW($1, $2)::diskvec_sphere' LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_l2_within(vector, diskvec_sphere) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_ip_within(vector, diskvec_sphere) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION vector_cosine_within(vector, diskvec_sphere) RETURNS bool
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE OPERATOR <<->> (LEFTARG = vector, RIGHTARG = diskvec_sphere, PROCEDURE = vector_l2_within);
CREATE OPERATOR <<#>> (LEFTARG = vector, RIGHTARG = diskvec_sphere, PROCEDURE = vector_ip_within);
CREATE OPERATOR <<=>> (LEFTARG = vector, RIGHTARG = diskvec_sphere, PROCEDURE = vector_cosine_within);

CREATE OPERATOR CLASS vector_l2_ops
	DEFAULT FOR TYPE vector USING diskvec AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	OPERATOR 2 <<->> (vector, diskvec_sphere),
	FUNCTION 1 vector_l2_squared_distance(vector, vector);

CREATE OPERATOR CLASS vector_ip_ops
	FOR TYPE vector USING diskvec AS
	OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
	OPERATOR 2 <<#>> (vector, diskvec_sphere),
	FUNCTION 1 vector_negative_inner_product(vector, vector);

CREATE OPERATOR CLASS vector_cosine_ops
	FOR TYPE vector USING diskvec AS
	OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
	OPERATOR 2 <<=>> (vector, diskvec_sphere),
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

-- Attribute columns: key columns after the vector, whose values the index
-- keeps beside its codes, so a search filters on them as it walks:
-- CREATE INDEX ON docs USING diskvec (embedding vector_cosine_ops, tenant_id, tags);
-- = and IN on int4, int8 and text (text kept as a 64-bit hash, rows
-- rechecked), && on int4[] label sets.
CREATE OPERATOR FAMILY integer_ops USING diskvec;
CREATE OPERATOR CLASS int4_ops
	DEFAULT FOR TYPE int4 USING diskvec FAMILY integer_ops AS
	OPERATOR 1 = (int4, int4);
CREATE OPERATOR CLASS int8_ops
	DEFAULT FOR TYPE int8 USING diskvec FAMILY integer_ops AS
	OPERATOR 1 = (int8, int8);
ALTER OPERATOR FAMILY integer_ops USING diskvec ADD
	OPERATOR 1 = (int4, int8),
	OPERATOR 1 = (int8, int4);
CREATE OPERATOR CLASS text_ops
	DEFAULT FOR TYPE text USING diskvec AS
	OPERATOR 1 = (text, text);
CREATE OPERATOR CLASS int4_array_ops
	DEFAULT FOR TYPE int4[] USING diskvec AS
	OPERATOR 3 && (anyarray, anyarray);

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
