-- COPY round trips of 100,000 vectors, text and binary, compared exactly
-- (bit patterns via vector_send, not float equality, so -0 and denormals count).
CREATE TABLE copy_src (id int PRIMARY KEY, v vector);
-- Magnitudes from 1e-41 (denormal) to 5e29, never below the smallest
-- denormal: a double that rounds to 0 as real is an underflow error.
SELECT setseed(0.42);
INSERT INTO copy_src
  SELECT i, ARRAY(SELECT (CASE WHEN random() < 0.5 THEN -1 ELSE 1 END
                          * (0.1 + 0.4 * random())
                          * power(10, (random() * 70 - 40)::int))::real
                  FROM generate_series(1, 1 + i % 24) WHERE i > 0)::vector
  FROM generate_series(1, 100000) i;
UPDATE copy_src SET v = '[-0,0,1e-45,3.4028235e38,-3.4028235e38,1.1754944e-38]' WHERE id = 1;
\copy copy_src TO '/tmp/diskvec_regress_copy.bin' WITH (FORMAT binary)
\copy copy_src TO '/tmp/diskvec_regress_copy.txt'
CREATE TABLE copy_bin (LIKE copy_src);
CREATE TABLE copy_txt (LIKE copy_src);
\copy copy_bin FROM '/tmp/diskvec_regress_copy.bin' WITH (FORMAT binary)
\copy copy_txt FROM '/tmp/diskvec_regress_copy.txt'
SELECT count(*) AS rows,
       count(*) FILTER (WHERE vector_send(s.v) = vector_send(b.v)) AS binary_exact,
       count(*) FILTER (WHERE vector_send(s.v) = vector_send(t.v)) AS text_exact
FROM copy_src s JOIN copy_bin b USING (id) JOIN copy_txt t USING (id);
SELECT v FROM copy_bin WHERE id = 1;
-- a typmod column rejects rows of the wrong dimension, row by row
CREATE TABLE copy_typmod (id int, v vector(3));
COPY copy_typmod FROM STDIN;
1	[1,2,3]
2	[1,2]
\.
COPY copy_typmod FROM STDIN;
1	[1,2,3]
2	[1,2,NaN]
\.
COPY copy_typmod FROM STDIN;
1	[1,2,3
\.
SELECT count(*) FROM copy_typmod;
DROP TABLE copy_src, copy_bin, copy_txt, copy_typmod;
