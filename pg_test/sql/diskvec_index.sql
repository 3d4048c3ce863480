-- The diskvec index access method: opclasses, planner use, filters, writes,
-- options and wrong use. Results are compared with exact search (the same
-- query with index scans off); data is deterministic.
SET client_min_messages = warning;
CREATE TABLE items (id int PRIMARY KEY, category int, embedding vector(3));
INSERT INTO items
  SELECT i, i % 10, ARRAY[sin(i), cos(i * 0.7), (i % 13) / 6.0 - 1]::vector
  FROM generate_series(1, 3000) i;
INSERT INTO items VALUES (3001, 0, NULL);

-- One index per opclass; each serves its own operator.
CREATE INDEX items_l2 ON items USING diskvec (embedding vector_l2_ops);
CREATE INDEX items_ip ON items USING diskvec (embedding vector_ip_ops);
CREATE INDEX items_cos ON items USING diskvec (embedding vector_cosine_ops);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <#> '[0.1,0.2,0.3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <=> '[0.1,0.2,0.3]' LIMIT 5;
-- No ORDER BY distance: the index is never used, even with seqscan off.
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE embedding = '[0.1,0.2,0.3]';
-- An operator without an opclass in this index (L1) is not served by it.
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <+> '[0.1,0.2,0.3]' LIMIT 5;

-- Index results equal exact search, and come in distance order.
CREATE TEMP TABLE q AS SELECT '[0.3,-0.5,0.25]'::vector AS v;
CREATE FUNCTION top(op text, k int, use_index bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
  PERFORM set_config('enable_indexscan', use_index::text, true);
  EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY embedding %s (SELECT v FROM q), id LIMIT %s) s', op, k) INTO r;
  RETURN r;
END $$;
SELECT op, top(op, 10, true) = top(op, 10, false) AS same_as_exact
  FROM unnest(ARRAY['<->', '<#>', '<=>']) op;
-- (A row the walk reaches only after a farther one was returned comes
-- out late rather than being dropped: rare, and the build is parallel, so
-- bounded here rather than counted.)
SELECT count(*) FILTER (WHERE d < lag_d) <= 2 AS at_most_two_late, count(*) FROM (
  SELECT embedding <-> (SELECT v FROM q) d, lag(embedding <-> (SELECT v FROM q), 1, 0::float8) OVER () lag_d
  FROM (SELECT embedding FROM items ORDER BY embedding <-> (SELECT v FROM q) LIMIT 200) s) t;

-- A filter that rejects most rows still gets LIMIT rows (iterative scan).
SELECT count(*) FROM (SELECT id FROM items WHERE category = 3
  ORDER BY embedding <-> (SELECT v FROM q) LIMIT 50) s;
SELECT count(*) FROM (SELECT id FROM items WHERE id % 100 = 7
  ORDER BY embedding <=> (SELECT v FROM q) LIMIT 25) s;
-- ... bounded by diskvec.max_scan_tuples (pages read past the first search).
SET diskvec.max_scan_tuples = 100;
SELECT count(*) FROM (SELECT id FROM items WHERE id % 100 = 7
  ORDER BY embedding <=> (SELECT v FROM q) LIMIT 25) s;
RESET diskvec.max_scan_tuples;

-- NULL rows are not indexed. A NULL query orders from the origin (as
-- pgvector); a zero query has no cosine distance to anything.
SELECT count(*), count(embedding) FROM (SELECT embedding FROM items
  ORDER BY embedding <-> (SELECT NULL::vector) LIMIT 5) s;
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <=> '[0,0,0]' LIMIT 5) s;

-- Inserts after the build are found.
INSERT INTO items VALUES (5000, 1, '[0.3,-0.5,0.25]'), (5001, 1, '[0.31,-0.5,0.25]');
SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q) LIMIT 2;
SELECT id FROM items ORDER BY embedding <=> '[0.3,-0.5,0.25]' LIMIT 1;

-- Deletes and VACUUM: gone rows never come back; results stay exact.
DELETE FROM items WHERE id % 3 = 0 OR id = 5000;
VACUUM items;
SELECT op, top(op, 10, true) = top(op, 10, false) AS same_as_exact
  FROM unnest(ARRAY['<->', '<#>', '<=>']) op;
SELECT id FROM items ORDER BY embedding <-> (SELECT v FROM q) LIMIT 1;
SELECT diskvec_verify('items_l2');
SELECT diskvec_verify('items_cos');

-- Wrong use gets a clear error.
SELECT id FROM items ORDER BY embedding <-> '[1,2]' LIMIT 1;
CREATE TABLE other (n int, t text);
CREATE INDEX ON other USING diskvec (n);
CREATE INDEX ON other USING diskvec (t vector_l2_ops);
CREATE INDEX ON items USING diskvec (embedding vector_l2_ops, (id::float8));
CREATE INDEX ON items USING diskvec (embedding) WITH (max_neighbors = 2);
CREATE INDEX ON items USING diskvec (embedding) WITH (build_list_size = 5);
CREATE INDEX ON items USING diskvec (embedding) WITH (alpha = 0.5);
CREATE INDEX ON items USING diskvec (embedding) WITH (quant_bits = 9);
CREATE INDEX ON items USING diskvec (embedding) WITH (colour = 1);
-- A column without a dimension must hold one dimension.
CREATE TABLE mixed (v vector);
INSERT INTO mixed VALUES ('[1,2,3]'), ('[1,2]');
CREATE INDEX ON mixed USING diskvec (v);
DELETE FROM mixed WHERE vector_dims(v) = 2;
CREATE INDEX mixed_v ON mixed USING diskvec (v);
INSERT INTO mixed VALUES ('[1,2]');
-- An index built on an empty column without a dimension takes the first row's.
CREATE TABLE later (v vector);
CREATE INDEX later_v ON later USING diskvec (v vector_cosine_ops);
INSERT INTO later VALUES ('[1,0,0,0]'), ('[0,1,0,0]'), ('[0.9,0.1,0,0]');
SELECT v FROM later ORDER BY v <=> '[1,0,0,0]' LIMIT 2;

-- A build that outgrows maintenance_work_mem says so and builds its graph
-- a cluster at a time over the node pages; the result is still exact here.
CREATE TABLE big AS
  SELECT i AS id, ARRAY[sin(i), cos(i * 0.3), (i % 17) / 8.0 - 1]::vector(3) AS embedding
  FROM generate_series(1, 6000) i;
SET client_min_messages = notice;
SET maintenance_work_mem = '1MB';
CREATE INDEX big_small ON big USING diskvec (embedding);
RESET maintenance_work_mem;
SET client_min_messages = warning;
SELECT array_agg(id) AS via_index
  FROM (SELECT id FROM big ORDER BY embedding <-> '[0.5,0.5,0]' LIMIT 10) s \gset
SET enable_indexscan = off;
SELECT array_agg(id) = :'via_index'::int[] AS same_as_exact
  FROM (SELECT id FROM big ORDER BY embedding <-> '[0.5,0.5,0]' LIMIT 10) s;
RESET enable_indexscan;

-- The largest vectors: 16000 dimensions, a node spanning several pages.
CREATE TABLE wide (id int, v vector(16000));
INSERT INTO wide SELECT i, (SELECT array_agg(sin(i * j)) FROM generate_series(1, 16000) j)::vector
  FROM generate_series(1, 30) i;
CREATE INDEX wide_v ON wide USING diskvec (v vector_l2_ops);
SELECT id FROM wide ORDER BY v <-> (SELECT v FROM wide WHERE id = 17) LIMIT 3;
INSERT INTO wide SELECT 31, v FROM wide WHERE id = 17;
SELECT id FROM wide ORDER BY v <-> (SELECT v FROM wide WHERE id = 17), id LIMIT 2;
SELECT diskvec_verify('wide_v');

-- Options, REINDEX, CONCURRENTLY, UNLOGGED.
CREATE INDEX items_opts ON items USING diskvec (embedding)
  WITH (max_neighbors = 16, build_list_size = 32, alpha = 1.1, quant_bits = 2);
SELECT reloptions FROM pg_class WHERE relname = 'items_opts';
SELECT diskvec_verify('items_opts');
DROP INDEX items_opts;
-- R and L left at 0 take the operator class's default (L2: 56 and 96).
CREATE INDEX items_opts ON items USING diskvec (embedding vector_l2_ops)
  WITH (max_neighbors = 0, alpha = 1.3);
SELECT diskvec_verify('items_opts');
DROP INDEX items_opts;
REINDEX INDEX items_l2;
SELECT top('<->', 10, true) = top('<->', 10, false) AS same_after_reindex;
DROP INDEX items_l2;
CREATE INDEX CONCURRENTLY items_l2 ON items USING diskvec (embedding vector_l2_ops);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_l2'::regclass;
SELECT top('<->', 10, true) = top('<->', 10, false) AS same_after_concurrently;
CREATE UNLOGGED TABLE u (id int, v vector(2));
CREATE INDEX ON u USING diskvec (v);
INSERT INTO u SELECT i, ARRAY[i, i % 5] FROM generate_series(1, 100) i;
SELECT id FROM u ORDER BY v <-> '[10,0]' LIMIT 3;
SELECT diskvec_cache_bytes('items_l2') > 0 AS cached;
SELECT diskvec_cache_bytes('items_pkey');
SELECT diskvec_verify('items_pkey');
SELECT diskvec_verify('big_small');

-- Search options: an index's own defaults for the diskvec.* search settings
-- (Citus runs ALTER INDEX on every shard). A scan takes the session's value
-- if it set one, else the index's, else the database's, server's or the
-- built-in one. A filtered scan bounded by max_scan_tuples = 100 finds 1 row.
CREATE FUNCTION filtered() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (SELECT id FROM items WHERE id % 100 = 7
    ORDER BY embedding <=> '[0.3,-0.5,0.25]' LIMIT 25) s $$;
SET enable_seqscan = off;
SELECT filtered() AS unbounded;
ALTER INDEX items_cos SET (max_scan_tuples = 100, search_list_size = 40, rerank = 0);
SELECT reloptions FROM pg_class WHERE relname = 'items_cos';
SELECT filtered() AS index_option;
SET diskvec.max_scan_tuples = 20000;
SELECT filtered() AS session_over_index;
RESET diskvec.max_scan_tuples;
SELECT filtered() AS index_option_again;
SELECT format('ALTER DATABASE %I SET diskvec.max_scan_tuples = 20000', current_database()) \gexec
\c -
SET client_min_messages = warning;
SET enable_seqscan = off;
SELECT filtered() AS index_over_database;
SELECT format('ALTER DATABASE %I SET diskvec.max_scan_tuples = 100', current_database()) \gexec
ALTER INDEX items_cos RESET (max_scan_tuples);
\c -
SET client_min_messages = warning;
SET enable_seqscan = off;
SELECT filtered() AS database_without_index_option;
SELECT format('ALTER DATABASE %I RESET diskvec.max_scan_tuples', current_database()) \gexec
-- -1 is "not set"; below that, and 0 where the setting starts at 1, are errors.
ALTER INDEX items_cos SET (search_list_size = -1, rerank = -1);
ALTER INDEX items_cos SET (search_list_size = 0);
ALTER INDEX items_cos SET (max_scan_tuples = 0);
ALTER INDEX items_cos SET (rerank = -2);
SELECT reloptions FROM pg_class WHERE relname = 'items_cos';
SELECT diskvec_verify('items_cos');

-- Codes held once per server (this server preloads diskvec): what the views
-- say, prewarm, who may prewarm, and a dropped index's area released.
SELECT shared, status, entries = 3002 AND live = 2000 AS counts, backend_bytes < shared_bytes AS small_view
  FROM diskvec_memory WHERE index = 'items_cos'::regclass;
SELECT enabled, used_bytes > 0 AS in_use, indexes > 0 AS has_indexes FROM diskvec_shared_memory;
SELECT private_bytes > 0 AS measured, diskvec_bytes < 1000000 AS small FROM diskvec_backend_memory;
SELECT diskvec_prewarm('items_cos', true)
  ~ '^index "items_cos": codes of 2000 vectors \([0-9.]+ MB\) in shared memory, for every connection; [0-9]+ index pages \([0-9.]+ MB\) read into shared buffers$' AS prewarmed;
SELECT diskvec_prewarm('items_pkey');
DROP ROLE IF EXISTS regress_diskvec_nopriv;
CREATE ROLE regress_diskvec_nopriv;
SET ROLE regress_diskvec_nopriv;
SELECT diskvec_prewarm('items_cos');
RESET ROLE;
DROP ROLE regress_diskvec_nopriv;
CREATE INDEX items_tmp ON items USING diskvec (embedding vector_cosine_ops);
SELECT diskvec_prewarm('items_tmp') ~ 'in shared memory' AS loaded;
SELECT relfilenode AS tmp_node FROM pg_class WHERE relname = 'items_tmp' \gset
SELECT count(*) AS areas FROM diskvec_memory WHERE relfilenode = :tmp_node;
DROP INDEX items_tmp;
SELECT count(*) AS areas_after_drop FROM diskvec_memory WHERE relfilenode = :tmp_node;
