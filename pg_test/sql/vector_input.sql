-- Text input and output of the vector type.
SELECT '[1,2,3]'::vector;
SELECT '[-1,-2,-3]'::vector;
SELECT '[1.,2.,3.]'::vector;
SELECT ' [ 1,  2 ,    3  ] '::vector;
SELECT E'[\t1,\n2\r,3\f]'::vector;
SELECT '[1.23456789]'::vector;
SELECT '[+.5,-.5,5.,1E2,1e-2]'::vector;
SELECT '[1e-5,1e-4,123456.7,1234567,1e10,-0,0]'::vector;
SELECT '[3.4028235e38,1.1754944e-38,1e-45,1e-50]'::vector;
SELECT '[hello,1]'::vector;
SELECT '[NaN,1]'::vector;
SELECT '[Infinity,1]'::vector;
SELECT '[-inf,1]'::vector;
SELECT '[1.5e38,-1.5e38]'::vector;
SELECT '[1e39,1]'::vector;
SELECT '[-4e38,1]'::vector;
SELECT '[1,2,3'::vector;
SELECT '[1,2,3]9'::vector;
SELECT '1,2,3'::vector;
SELECT ''::vector;
SELECT '['::vector;
SELECT '[ '::vector;
SELECT '[,'::vector;
SELECT '[]'::vector;
SELECT '[ ]'::vector;
SELECT '[,]'::vector;
SELECT '[1,]'::vector;
SELECT '[1a]'::vector;
SELECT '[1,,3]'::vector;
SELECT '[1, ,3]'::vector;
SELECT '[1 2]'::vector;
SELECT '[1e]'::vector;
-- typmod
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2,3]'::vector(2);
SELECT '[1,2,3]'::vector(3, 2);
SELECT '[1,2,3]'::vector('a');
SELECT '[1,2,3]'::vector(0);
SELECT '[1,2,3]'::vector(16001);
SELECT '[1,2,3]'::vector(16000);
CREATE TABLE typmod_t (v vector(3));
INSERT INTO typmod_t VALUES ('[1,2,3]');
INSERT INTO typmod_t VALUES ('[1,2]');
INSERT INTO typmod_t VALUES ('[1,2,3]'::vector(3)::vector);
UPDATE typmod_t SET v = '[1,2,3,4]';
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'typmod_t'::regclass AND attname = 'v';
DROP TABLE typmod_t;
-- dimension limits
SELECT vector_dims(array_fill(1, ARRAY[16000])::vector);
SELECT vector_dims(array_fill(1, ARRAY[16001])::vector);
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector);
SELECT vector_dims(('[' || repeat('1,', 16000) || '1]')::vector);
-- output round-trips exactly through text
WITH v AS (SELECT ARRAY[(i * 0.000123456789)::real, (i * 98765.4321)::real, (1.0 / i)::real]::vector AS x
           FROM generate_series(1, 10000) i)
SELECT count(*) FILTER (WHERE x::text::vector::text = x::text AND vector_send(x::text::vector) = vector_send(x)) AS exact,
       count(*) AS total FROM v;
