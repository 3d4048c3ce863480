-- diskvec indexes on halfvec (l2, ip, cosine) and on bit (Hamming), and
-- pgvector's hnsw/ivfflat names for them: each serves its operator, and
-- its answers equal exact search (the same query with index scans off).
SET client_min_messages = warning;
CREATE TABLE hitems (id int PRIMARY KEY, embedding halfvec(5), code bit(12));
INSERT INTO hitems
  SELECT i,
         ARRAY[sin(i), cos(i * 0.7), (i % 13) / 6.0 - 1, sin(i * 0.3), (i % 7) / 3.0]::real[]::halfvec,
         ((i * 2654435761) % 4096)::int::bit(12)
  FROM generate_series(1, 2000) i;
INSERT INTO hitems VALUES (2001, NULL, NULL);
CREATE INDEX hitems_l2 ON hitems USING diskvec (embedding halfvec_l2_ops);
CREATE INDEX hitems_ip ON hitems USING diskvec (embedding halfvec_ip_ops);
CREATE INDEX hitems_cos ON hitems USING diskvec (embedding halfvec_cosine_ops);
CREATE INDEX hitems_bits ON hitems USING diskvec (code bit_hamming_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hitems ORDER BY embedding <-> '[0.1,0.2,0.3,0.4,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hitems ORDER BY embedding <#> '[0.1,0.2,0.3,0.4,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hitems ORDER BY embedding <=> '[0.1,0.2,0.3,0.4,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hitems ORDER BY code <~> '101010101010' LIMIT 5;

-- Distances of the index's top 10 equal exact search's (ties may order
-- rows differently, the distances may not differ).
CREATE FUNCTION htop(expr text, use_index bool) RETURNS float8[] LANGUAGE plpgsql AS $$
DECLARE r float8[];
BEGIN
  PERFORM set_config('enable_indexscan', use_index::text, true);
  EXECUTE format('SELECT array_agg(d) FROM (SELECT %s AS d FROM hitems ORDER BY %s LIMIT 10) s', expr, expr) INTO r;
  RETURN r;
END $$;
SELECT htop('embedding <-> ''[0.3,-0.5,0.25,0,1]''', true) = htop('embedding <-> ''[0.3,-0.5,0.25,0,1]''', false) AS l2_same;
SELECT htop('embedding <#> ''[0.3,-0.5,0.25,0,1]''', true) = htop('embedding <#> ''[0.3,-0.5,0.25,0,1]''', false) AS ip_same;
SELECT htop('embedding <=> ''[0.3,-0.5,0.25,0,1]''', true) = htop('embedding <=> ''[0.3,-0.5,0.25,0,1]''', false) AS cos_same;
SELECT htop('code <~> ''110011001100''', true) = htop('code <~> ''110011001100''', false) AS hamming_same;
SELECT htop('code <~> ''110011001100''', true) AS hamming_top;

-- Writes after the build are found.
INSERT INTO hitems VALUES (3000, '[9,9,9,9,9]', '111111111111');
SELECT id FROM hitems ORDER BY embedding <-> '[9,9,9,9,9]' LIMIT 1;
SELECT id FROM hitems ORDER BY code <~> '111111111111', id DESC LIMIT 1;
SELECT diskvec_verify('hitems_l2') LIKE 'index "hitems_l2" is consistent:%' AS l2_ok;
SELECT diskvec_verify('hitems_bits') LIKE 'index "hitems_bits" is consistent:%' AS bits_ok;

-- Half-precision node pages: the halfvec index is smaller than the same
-- vectors' vector index.
CREATE TABLE wide (id int, h halfvec(256), v vector(256));
INSERT INTO wide SELECT i, e::halfvec, e FROM (
  SELECT i, ARRAY(SELECT sin(i * j) FROM generate_series(1, 256) j)::real[]::vector AS e
  FROM generate_series(1, 500) i) s;
CREATE INDEX wide_h ON wide USING diskvec (h);
CREATE INDEX wide_v ON wide USING diskvec (v);
SELECT pg_relation_size('wide_h') < 0.7 * pg_relation_size('wide_v') AS half_smaller;

-- pgvector's names for the same.
CREATE INDEX hitems_hnsw ON hitems USING hnsw (embedding halfvec_l2_ops);
CREATE INDEX hitems_hnsw_bits ON hitems USING hnsw (code bit_hamming_ops);
CREATE INDEX hitems_ivf ON hitems USING ivfflat (embedding halfvec_cosine_ops) WITH (lists = 10);
DROP INDEX hitems_l2, hitems_bits, hitems_cos;
EXPLAIN (COSTS OFF) SELECT id FROM hitems ORDER BY embedding <-> '[0.1,0.2,0.3,0.4,0.5]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hitems ORDER BY code <~> '101010101010' LIMIT 5;
SELECT htop('code <~> ''110011001100''', true) = htop('code <~> ''110011001100''', false) AS hnsw_hamming_same;

-- Wrong use: Jaccard is not an index distance; bit strings of another
-- length, and halfvecs of another dimension, are refused.
CREATE INDEX ON hitems USING diskvec (code bit_jaccard_ops);
CREATE TABLE vb (b varbit);
INSERT INTO vb VALUES ('101'), ('1');
CREATE INDEX ON vb USING diskvec (b bit_hamming_ops);
CREATE TABLE hv (e halfvec);
INSERT INTO hv VALUES ('[1,2]'), ('[1,2,3]');
CREATE INDEX ON hv USING diskvec (e);
