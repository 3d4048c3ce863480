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
COMMENT ON FUNCTION diskvec_cache_bytes(regclass) IS 'bytes of the index''s code area this backend holds in memory';

CREATE FUNCTION diskvec_verify(regclass) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
COMMENT ON FUNCTION diskvec_verify(regclass) IS 'checks a diskvec index (pages, format, graph, heap coverage); errors on corruption';
