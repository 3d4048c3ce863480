-- Every live row stays reachable from the graph's entry point, so a scan
-- that walks the whole graph (filters, distance bounds) can return it.
-- Under inner product, pruning keeps the large norms and drops the small
-- ones from neighbour lists: an index grown by single inserts is left with
-- rows that no list holds, and VACUUM links them.
CREATE TABLE reach (id int PRIMARY KEY, v vector(16));
CREATE INDEX reach_ip ON reach USING diskvec (v vector_ip_ops)
  WITH (max_neighbors = 12, build_list_size = 32);
-- 20 clusters, norms spread fivefold, from a fixed formula.
INSERT INTO reach
SELECT i, (SELECT array_agg((sin((i % 20) * 7.1 + d * 3.3)
            + 0.2 * (sin(i * 12.9898 + d * 78.233) * 43758.5453
                     - floor(sin(i * 12.9898 + d * 78.233) * 43758.5453)))
           * (1 + (i / 20) % 5) ORDER BY d)::vector
          FROM generate_series(1, 16) d)
FROM generate_series(1, 3000) i;
SELECT diskvec_verify('reach_ip') LIKE '%live vectors not reachable from the entry point until the next VACUUM%'
  AS some_unreached;
-- Every row, in the index's order: a full walk returns fewer before VACUUM.
SET enable_seqscan = off;
SET diskvec.max_scan_tuples = 1000000;
CREATE FUNCTION reach_walk() RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM (SELECT id FROM reach
    ORDER BY v <#> (SELECT v FROM reach WHERE id = 1) LIMIT 3000) s $$;
SELECT reach_walk() < 3000 AS walk_misses_rows;
VACUUM reach;
SELECT diskvec_verify('reach_ip') LIKE '%every live vector reachable from the entry point%'
  AS all_reached;
SELECT reach_walk() AS walked;
-- A second VACUUM, with nothing changed since (it skips the walk), keeps
-- them so.
VACUUM reach;
SELECT reach_walk() AS walked_again;
RESET enable_seqscan;
RESET diskvec.max_scan_tuples;
DROP TABLE reach;
DROP FUNCTION reach_walk();
