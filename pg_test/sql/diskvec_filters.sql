-- Attribute columns in a diskvec index (=, IN, && evaluated by the index),
-- distance bounds served by the index, iterative scan modes, and bad
-- input. Every answer is compared with the same query with index scans off.
SET client_min_messages = warning;
CREATE TABLE docs (id int PRIMARY KEY, tenant int, big bigint, lang text,
  tags int[], embedding vector(3));
INSERT INTO docs
  SELECT i, i % 20, (i % 7)::bigint * 1000000000000, 'l' || (i % 3),
    CASE WHEN i % 11 = 0 THEN NULL WHEN i % 13 = 0 THEN '{}'
         ELSE ARRAY[i % 17, 100 + i % 5] END,
    ARRAY[sin(i), cos(i * 0.7), (i % 13) / 6.0 - 1]::vector
  FROM generate_series(1, 4000) i;
UPDATE docs SET tenant = NULL WHERE id % 19 = 0;
CREATE INDEX docs_idx ON docs USING diskvec (embedding vector_l2_ops, tenant, big, lang, tags);
ANALYZE docs;
SELECT diskvec_verify('docs_idx');

-- The conditions go inside the index scan.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE tenant = 3 ORDER BY embedding <-> '[0.3,-0.5,0.25]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE tenant IN (3, 4) AND lang = 'l1' ORDER BY embedding <-> '[0.3,-0.5,0.25]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE 3 = tenant AND tags && '{5,6}' ORDER BY embedding <-> '[0.3,-0.5,0.25]' LIMIT 5;
-- Without ORDER BY distance or a distance bound the index is not used.
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE tenant = 3;
RESET enable_seqscan;

-- Answers equal exact search's.
CREATE FUNCTION ids(sql text, use_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
  PERFORM set_config('enable_indexscan', use_index::text, true);
  PERFORM set_config('enable_seqscan', (NOT use_index)::text, true);
  EXECUTE 'SELECT array_agg(id) FROM (' || sql || ') s' INTO r;
  RETURN r;
END $$;
CREATE TABLE cases (name text, sql text);
INSERT INTO cases VALUES
  ('=', 'SELECT id FROM docs WHERE tenant = 3 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('IN', 'SELECT id FROM docs WHERE tenant IN (3, 4, 99) ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('= ANY', 'SELECT id FROM docs WHERE tenant = ANY(''{5,NULL}'') ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('int8, int4 value', 'SELECT id FROM docs WHERE big = 3000000000000 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('int4, int8 value', 'SELECT id FROM docs WHERE tenant = 7::bigint ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('text', 'SELECT id FROM docs WHERE lang = ''l2'' ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('text IN', 'SELECT id FROM docs WHERE lang IN (''l0'', ''nope'') ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('&&', 'SELECT id FROM docs WHERE tags && ''{4,9}'' ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('&& and =', 'SELECT id FROM docs WHERE tags && ''{102}'' AND tenant = 2 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('rare', 'SELECT id FROM docs WHERE tenant = 1 AND lang = ''l0'' AND tags && ''{1,2,3}'' ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 10'),
  ('none', 'SELECT id FROM docs WHERE tenant = 12345 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'' LIMIT 10'),
  ('empty &&', 'SELECT id FROM docs WHERE tags && ''{}'' ORDER BY embedding <-> ''[0.3,-0.5,0.25]'' LIMIT 10'),
  ('bound', 'SELECT id FROM docs WHERE embedding <-> ''[0.3,-0.5,0.25]'' < 0.2 ORDER BY id'),
  ('bound <=, mirrored', 'SELECT id FROM docs WHERE 0.2 >= embedding <-> ''[0.3,-0.5,0.25]'' ORDER BY id'),
  ('bound, ordered', 'SELECT id FROM docs WHERE embedding <-> ''[0.3,-0.5,0.25]'' < 0.3 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id'),
  ('bound and =', 'SELECT id FROM docs WHERE embedding <-> ''[0.3,-0.5,0.25]'' < 0.5 AND tenant = 3 ORDER BY id'),
  ('bound, LIMIT', 'SELECT id FROM docs WHERE embedding <-> ''[0.3,-0.5,0.25]'' < 0.5 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 7'),
  ('bound, other point', 'SELECT id FROM docs WHERE embedding <-> ''[0,0,0]'' < 1.0 ORDER BY embedding <-> ''[0.3,-0.5,0.25]'', id LIMIT 5');
SELECT name, ids(sql, true) IS NOT DISTINCT FROM ids(sql, false) AS same_as_exact,
  coalesce(array_length(ids(sql, false), 1), 0) AS rows
  FROM cases ORDER BY name;
-- The bound is in the index scan; the exact comparison stays as a filter.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE embedding <-> '[0.3,-0.5,0.25]' < 0.2;
EXPLAIN (COSTS OFF) SELECT id FROM docs WHERE embedding <-> '[0.3,-0.5,0.25]' <= 0.2 AND tenant = 1
  ORDER BY embedding <-> '[0.3,-0.5,0.25]' LIMIT 3;
-- The operator itself: within the radius, inclusive.
SELECT '[1,0,0]'::vector <<->> diskvec_sphere('[0,0,0]', 1) AS on_the_edge,
  '[1,0,0]'::vector <<->> diskvec_sphere('[0,0,0]', 0.99) AS outside,
  '[1,0,0]'::vector <<=>> diskvec_sphere('[1,1,0]', 0.3) AS cosine,
  '[1,0,0]'::vector <<#>> diskvec_sphere('[2,0,0]', -1.5) AS inner_product;
RESET enable_seqscan;

-- NULL attributes match no condition; a NULL comparison value matches
-- nothing; NULL and empty label sets overlap nothing.
PREPARE by_tenant(int) AS SELECT count(*) FROM (SELECT id FROM docs WHERE tenant = $1
  ORDER BY embedding <-> '[0.3,-0.5,0.25]' LIMIT 5000) s;
SET enable_seqscan = off;
EXECUTE by_tenant(NULL);
EXECUTE by_tenant(4);
SELECT count(*) FROM (SELECT id FROM docs WHERE tags && '{1}' OR tags IS NULL
  ORDER BY embedding <-> '[0.3,-0.5,0.25]' LIMIT 5000) s;
RESET enable_seqscan;

-- Rows written after the build carry their attributes, also into an index
-- created empty; VACUUM keeps them.
INSERT INTO docs VALUES (5001, 777, 1, 'new', '{999}', '[0.3,-0.5,0.25]'),
  (5002, 777, 1, 'new', NULL, '[0.31,-0.5,0.25]');
SELECT id FROM docs WHERE tenant = 777 ORDER BY embedding <-> '[0,0,0]' LIMIT 5;
SELECT id FROM docs WHERE tags && '{999}' ORDER BY embedding <-> '[0,0,0]' LIMIT 5;
DELETE FROM docs WHERE id % 4 = 0 OR id = 5002;
VACUUM docs;
SELECT name, ids(sql, true) = ids(sql, false) AS same_after_vacuum
  FROM cases WHERE name IN ('=', '&&', 'text') ORDER BY name;
SELECT diskvec_verify('docs_idx');
CREATE TABLE docs_later (id int, e vector(2), tenant int, tags int[]);
CREATE INDEX docs_later_idx ON docs_later USING diskvec (e, tenant, tags);
INSERT INTO docs_later SELECT i, ARRAY[sin(i), cos(i)], i % 4, ARRAY[i % 9] FROM generate_series(1, 2000) i;
SELECT ids('SELECT id FROM docs_later WHERE tenant = 1 AND tags && ''{2}'' ORDER BY e <-> ''[1,0]'', id LIMIT 8', true)
  = ids('SELECT id FROM docs_later WHERE tenant = 1 AND tags && ''{2}'' ORDER BY e <-> ''[1,0]'', id LIMIT 8', false) AS same_as_exact;
SELECT diskvec_verify('docs_later_idx');

-- Iterative scan modes: off stops after the first search; strict and
-- relaxed order keep going until LIMIT is met.
CREATE FUNCTION docs_filtered() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (SELECT id FROM docs WHERE id % 50 = 7
    ORDER BY embedding <=> '[0.3,-0.5,0.25]' LIMIT 20) s $$;
CREATE INDEX docs_cos ON docs USING diskvec (embedding vector_cosine_ops);
SET enable_seqscan = off;
SET diskvec.search_list_size = 20;
SELECT current_setting('diskvec.iterative_scan') AS default_mode, docs_filtered();
SET diskvec.iterative_scan = off;
SELECT docs_filtered() < 20 AS off_stops_early;
SET diskvec.iterative_scan = relaxed_order;
SELECT docs_filtered();
SET diskvec.iterative_scan = bogus;
SET diskvec.scan_mem_multiplier = 0.5;
RESET ALL;

-- Bad input: clear errors.
SET client_min_messages = warning;
CREATE TABLE bad (id int, f float8, e vector(2), t text, tt text[]);
CREATE INDEX ON bad USING diskvec (e, f);
CREATE INDEX ON bad USING diskvec (e, tt);
CREATE INDEX ON bad USING diskvec (id, e);
CREATE INDEX ON bad USING diskvec (e, e);
CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE INDEX ON bad USING diskvec (e, t COLLATE nocase);
CREATE INDEX bad_labels ON bad USING diskvec (e, id, t) WITH (max_labels = 2000);
CREATE TABLE lab (id int, e vector(2), tags int[]);
CREATE INDEX lab_idx ON lab USING diskvec (e, tags) WITH (max_labels = 3);
INSERT INTO lab VALUES (1, '[1,0]', '{1,2,3}'), (2, '[0,1]', '{1,NULL,2}');
INSERT INTO lab VALUES (3, '[1,1]', '{1,2,3,4}');
SELECT id FROM lab WHERE tags && '{2}' ORDER BY e <-> '[1,0]' LIMIT 5;
