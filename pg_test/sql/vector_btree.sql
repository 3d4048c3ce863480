-- The btree operator class: ORDER BY, DISTINCT, GROUP BY, UNIQUE, index scans.
CREATE TABLE btree_t (v vector);
INSERT INTO btree_t VALUES ('[1,2,3]'), ('[1,2]'), ('[0,9]'), ('[1,2,3]'), ('[-1]'), (NULL), ('[1,1,9]');
SELECT v FROM btree_t ORDER BY v;
SELECT v FROM btree_t ORDER BY v DESC NULLS LAST;
SELECT DISTINCT v FROM btree_t ORDER BY v;
SELECT v, count(*) FROM btree_t GROUP BY v ORDER BY v;
CREATE INDEX ON btree_t (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM btree_t WHERE v = '[1,2,3]';
SELECT * FROM btree_t WHERE v = '[1,2,3]';
SELECT * FROM btree_t WHERE v > '[1,2]' ORDER BY v;
RESET enable_seqscan;
CREATE TABLE unique_t (v vector(2) UNIQUE);
INSERT INTO unique_t VALUES ('[1,2]'), ('[2,1]');
INSERT INTO unique_t VALUES ('[1,2]');
DROP TABLE btree_t, unique_t;
