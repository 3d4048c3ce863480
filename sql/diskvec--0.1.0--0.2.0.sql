-- diskvec 0.1.0 -> 0.2.0 (ALTER EXTENSION diskvec UPDATE): distance bounds
-- and attribute columns (see sql/diskvec_index.sql for what each object
-- does). The objects are the ones a fresh 0.2.0 install creates.
--
-- The index page format changed too (version 3 -> 4): an index built by
-- 0.1.0 is refused with "REINDEX required" until it is rebuilt. REINDEX is
-- left to you (it takes the table's lock for as long as a build lasts);
-- the notice below names the indexes.

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

-- CREATE OPERATOR CLASS made a family of the same name for each class.
ALTER OPERATOR FAMILY vector_l2_ops USING diskvec ADD
	OPERATOR 2 <<->> (vector, diskvec_sphere);
ALTER OPERATOR FAMILY vector_ip_ops USING diskvec ADD
	OPERATOR 2 <<#>> (vector, diskvec_sphere);
ALTER OPERATOR FAMILY vector_cosine_ops USING diskvec ADD
	OPERATOR 2 <<=>> (vector, diskvec_sphere);

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

DO $$
DECLARE names text;
BEGIN
  SELECT string_agg(format('REINDEX INDEX %s;', c.oid::regclass), ' ')
    INTO names
    FROM pg_class c JOIN pg_am a ON a.oid = c.relam
    WHERE a.amname = 'diskvec' AND c.relkind = 'i';
  IF names IS NOT NULL THEN
    RAISE NOTICE 'diskvec 0.2.0 reads a new index format; rebuild the indexes made by 0.1.0: %', names;
  END IF;
END $$;
