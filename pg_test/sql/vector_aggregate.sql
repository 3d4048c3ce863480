-- avg(vector) and sum(vector), serial and parallel.
SELECT avg(v) FROM unnest(ARRAY['[1,2,3]'::vector, '[3,5,7]']) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2,3]'::vector, '[3,5,7]', NULL]) v;
SELECT avg(v) FROM unnest(ARRAY[]::vector[]) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2]'::vector, '[3]']) v;
SELECT avg(v) FROM unnest(ARRAY['[3e38]'::vector, '[3e38]']) v;
SELECT vector_dims(avg(v)) FROM unnest(ARRAY[array_fill(5, ARRAY[16000])::vector, array_fill(5, ARRAY[16000])::vector]) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2,3]'::vector, '[3,5,7]']) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2,3]'::vector, '[3,5,7]', NULL]) v;
SELECT sum(v) FROM unnest(ARRAY[]::vector[]) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2]'::vector, '[3]']) v;
SELECT sum(v) FROM unnest(ARRAY['[3e38]'::vector, '[3e38]']) v;
-- the same through parallel workers: partial states meet in the combine function
CREATE TABLE agg_t AS SELECT i, ARRAY[i % 10, (i % 7) * 0.5, 1]::vector(3) AS v FROM generate_series(1, 200000) i;
ANALYZE agg_t;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM agg_t;
SELECT avg(v), sum(v), count(*) FROM agg_t;
RESET max_parallel_workers_per_gather;
SELECT avg(v), sum(v), count(*) FROM agg_t;
SELECT i % 3 AS g, avg(v) FROM agg_t GROUP BY 1 ORDER BY 1;
DROP TABLE agg_t;
