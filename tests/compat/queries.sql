SELECT '[1,2,3]'::vector
SELECT '  [ 1 , 2 , 3 ]  '::vector
SELECT (E'\t[\n1 ,\r2\f,' || chr(11) || E'3 ]\n')::vector
SELECT '[ -1e-05 , 1.5E+3 ]'::vector
SELECT '[1.5,-2.25,0]'::vector
SELECT '[1e-05,1.234567e+06]'::vector
SELECT '[0.00001,1234567]'::vector
SELECT '[-0,0,-0.0]'::vector
SELECT '[1e-38,-1e-38,3e38,-3e38]'::vector
SELECT '[1e-45,1.4e-45]'::vector
SELECT '[3.4028235e38,-3.4028235e38]'::vector
SELECT '[0.1,0.2,0.3]'::vector
SELECT '[1.0000001,123456789,0.333333333333]'::vector
SELECT '[+1,-1,.5,5.]'::vector
SELECT '[1E2,2e+2,3e-2]'::vector
SELECT '[100000,1000000,10000000]'::vector
SELECT '[0.0001,0.001,123.456]'::vector
SELECT '[1]'::vector
SELECT '[1,2,3]'::vector::text
SELECT '[1e39]'::vector
SELECT '[-1e39]'::vector
SELECT '[1e-50]'::vector
SELECT '[NaN]'::vector
SELECT '[1,nan]'::vector
SELECT '[Infinity]'::vector
SELECT '[-inf]'::vector
SELECT '[1,2'::vector
SELECT '[1,,2]'::vector
SELECT 'abc'::vector
SELECT '[1]x'::vector
SELECT '[]'::vector
SELECT ''::vector
SELECT '[1,2,]'::vector
SELECT '[,1]'::vector
SELECT '1,2,3'::vector
SELECT '[1 2]'::vector
SELECT '[a]'::vector
SELECT '[1,2] [3]'::vector
SELECT vector_dims(array_fill(1.5, ARRAY[16000])::vector)
SELECT md5(array_fill(1.5, ARRAY[16000])::vector::text)
SELECT vector_norm(array_fill(1, ARRAY[16000])::vector)
SELECT array_fill(1, ARRAY[16001])::vector
SELECT vector_dims(('[' || string_agg(i::text, ',') || ']')::vector) FROM generate_series(1, 16000) i
SELECT md5(('[' || string_agg(i::text, ',') || ']')::vector::text) FROM generate_series(1, 16000) i
SELECT ('[' || string_agg('1', ',') || ']')::vector FROM generate_series(1, 16001) i
SELECT '[1,2,3]'::vector(3)
SELECT '[1,2,3]'::vector(3)::vector(3)::text
SELECT '[1,2]'::vector(3)
SELECT '[1,2,3]'::vector::vector(2)
SELECT '[1,2,3]'::vector(0)
SELECT '[1,2,3]'::vector(16001)
SELECT '[1,2,3]'::vector(16000)
SELECT ARRAY[1,2]::vector(3)
SELECT ARRAY[1,2,3]::vector(3)
SELECT ARRAY[1,2,3]::int[]::vector
SELECT ARRAY[1.5,2.5]::float8[]::vector
SELECT ARRAY[1.5,-2.5]::real[]::vector
SELECT ARRAY[1.25,2.125]::numeric[]::vector
SELECT ARRAY[1e-05,1234567]::float8[]::vector
SELECT ARRAY[0.1]::float8[]::vector
SELECT ARRAY[1,NULL,3]::int[]::vector
SELECT ARRAY[1.0,NULL]::real[]::vector
SELECT ARRAY[[1,2],[3,4]]::int[]::vector
SELECT ARRAY[[1.5,2],[3,4]]::float8[]::vector
SELECT '{}'::int[]::vector
SELECT '{}'::real[]::vector
SELECT '{}'::float8[]::vector
SELECT ARRAY['NaN']::float8[]::vector
SELECT ARRAY['Infinity']::real[]::vector
SELECT ARRAY[1e39]::float8[]::vector
SELECT ARRAY[1e39]::numeric[]::vector
SELECT '[1,2.5,-3]'::vector::real[]
SELECT '[1e-05,1.234567e+06]'::vector::real[]
SELECT array_length('[1,2,3,4]'::vector::real[], 1)
SELECT '[1,2,3]'::vector <-> '[4,6,3]'
SELECT l2_distance('[0,0]'::vector, '[1,1]')
SELECT l2_distance('[0.5,1.5]'::vector, '[0,0]')
SELECT '[0.5,-1.5,2]'::vector <#> '[2,0.5,0.25]'
SELECT '[1,2,3]'::vector <-> '[1,2]'
SELECT '[1,2,3]'::vector <#> '[4,5,6]'
SELECT inner_product('[1,2,3]'::vector, '[4,5,6]')
SELECT inner_product('[1,2]'::vector, '[1,2,3]')
SELECT '[1,0]'::vector <=> '[0,1]'
SELECT cosine_distance('[3,4]'::vector, '[4,3]')
SELECT cosine_distance('[1,1]'::vector, '[2,2]')
SELECT cosine_distance('[1,1]'::vector, '[-1,-1]')
SELECT cosine_distance('[0,0]'::vector, '[1,1]')
SELECT '[0,0]'::vector <=> '[0,0]'
SELECT cosine_distance('[1,2]'::vector, '[1]')
SELECT '[1,2,3]'::vector <+> '[4,0,-3]'
SELECT l1_distance('[1.5,-2]'::vector, '[0,0]')
SELECT l1_distance('[1]'::vector, '[1,2]')
SELECT '[1,2]'::vector <+> '[1,2,3]'
SELECT '[1,2]'::vector <=> '[1,2,3]'
SELECT '[1,2]'::vector <#> '[1,2,3]'
SELECT vector_l2_squared_distance('[1,2,3]'::vector, '[4,6,3]')
SELECT vector_l2_squared_distance('[1,2]'::vector, '[4,6,3]')
SELECT vector_negative_inner_product('[1,2,3]'::vector, '[4,5,6]')
SELECT vector_negative_inner_product('[1]'::vector, '[4,5]')
SELECT vector_spherical_distance('[1,0]'::vector, '[0,1]')
SELECT vector_spherical_distance('[1,0]'::vector, '[1,0]')
SELECT vector_spherical_distance('[1,0]'::vector, '[-1,0]')
SELECT vector_spherical_distance('[1,0]'::vector, '[1,0,0]')
SELECT vector_dims('[1,2,3]'::vector)
SELECT vector_dims('[1]'::vector)
SELECT vector_norm('[3,4]'::vector)
SELECT vector_norm('[0,0,0]'::vector)
SELECT vector_norm('[1,1]'::vector)
SELECT vector_norm('[0.5,-0.5,1.5]'::vector)
SELECT l2_normalize('[3,4]'::vector)
SELECT l2_normalize('[0,0,0]'::vector)
SELECT l2_normalize('[-2,0]'::vector)
SELECT subvector('[1,2,3,4,5]'::vector, 2, 3)
SELECT subvector('[1,2,3,4,5]'::vector, 1, 5)
SELECT subvector('[1,2,3,4,5]'::vector, 3, 100)
SELECT subvector('[1,2,3,4,5]'::vector, 0, 2)
SELECT subvector('[1,2,3,4,5]'::vector, -1, 3)
SELECT subvector('[1,2,3,4,5]'::vector, -1, 2)
SELECT subvector('[1,2,3,4,5]'::vector, 6, 1)
SELECT subvector('[1,2,3,4,5]'::vector, 2, 0)
SELECT subvector('[1,2,3,4,5]'::vector, 2, -1)
SELECT subvector('[1,2,3,4,5]'::vector, 5, 2147483647)
SELECT subvector('[1,2,3,4,5]'::vector, -2147483648, 2147483647)
SELECT subvector('[1,2,3,4,5]'::vector, 2147483647, 10)
SELECT binary_quantize('[1,-2,0,3.5,-0.5]'::vector)
SELECT binary_quantize('[0,0,0,0,0,0,0,0,1]'::vector)::text
SELECT '[1,2,3]'::vector + '[4,5,6]'
SELECT '[1,2,3]'::vector - '[4,5,6]'
SELECT '[1,2,3]'::vector * '[4,5,6]'
SELECT '[1,2]'::vector || '[3,4,5]'
SELECT '[1,2]'::vector + '[3]'
SELECT '[1,2]'::vector - '[3]'
SELECT '[1,2]'::vector * '[3]'
SELECT '[3e38]'::vector + '[3e38]'
SELECT '[-3e38]'::vector - '[3e38]'
SELECT '[1e20]'::vector * '[1e20]'
SELECT '[1e-30]'::vector * '[1e-30]'
SELECT '[0]'::vector * '[1e-30]'
SELECT '[1.5]'::vector * '[-0]'
SELECT array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8001])::vector
SELECT vector_dims(array_fill(1, ARRAY[8000])::vector || array_fill(2, ARRAY[8000])::vector)
SELECT '[1,2,3]'::vector = '[1,2,3]'
SELECT '[1,2,3]'::vector = '[1,2]'
SELECT '[1,2,3]'::vector <> '[1,2,4]'
SELECT '[1,2,3]'::vector < '[1,2,4]'
SELECT '[1,2]'::vector < '[1,2,3]'
SELECT '[1,3]'::vector < '[1,2,3]'
SELECT '[1,2,3]'::vector <= '[1,2,3]'
SELECT '[2]'::vector > '[1,9,9]'
SELECT '[1,2,3]'::vector >= '[1,2]'
SELECT '[0]'::vector = '[-0]'
SELECT '[-0]'::vector < '[0]'
SELECT vector_cmp('[1,2]'::vector, '[1,3]'), vector_cmp('[1,2]'::vector, '[1,2]'), vector_cmp('[1,2,3]'::vector, '[1,2]')
SELECT v FROM (VALUES ('[3,1]'::vector), ('[1,2,3]'), ('[1,2]'), ('[-1]'), ('[1,1.5]'), ('[0]')) t(v) ORDER BY v
SELECT v FROM (VALUES ('[3,1]'::vector), ('[1,2,3]'), ('[1,2]'), ('[-1]'), ('[1,1.5]')) t(v) ORDER BY v DESC
SELECT DISTINCT v FROM (VALUES ('[1,2]'::vector), ('[1,2]'), ('[2,1]'), ('[1,2.0]'), ('[0]'), ('[-0]')) t(v) ORDER BY v
SELECT count(DISTINCT v) FROM (VALUES ('[1,2]'::vector), ('[1,2]'), ('[2,1]'), ('[1]')) t(v)
SELECT v, count(*) FROM (VALUES ('[1,2]'::vector), ('[1,2]'), ('[2,1]')) t(v) GROUP BY v ORDER BY v
SELECT id FROM (VALUES (1, '[1,1]'::vector), (2, '[2,2]'), (3, '[0,3]'), (4, '[5,5]')) t(id, v) ORDER BY v <-> '[0,0]', id
SELECT id FROM (VALUES (1, '[1,0]'::vector), (2, '[0,1]'), (3, '[1,1]'), (4, '[-1,0]')) t(id, v) ORDER BY v <=> '[1,0]', id
SELECT avg(v) FROM (VALUES ('[1,2,3]'::vector), ('[4,5,6]')) t(v)
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[2,3]'), ('[4,4]')) t(v)
SELECT avg(v) FROM (VALUES ('[1]'::vector), ('[2]'), ('[4]')) t(v)
SELECT avg(v) FROM (SELECT '[1,2]'::vector WHERE false) t(v)
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v)
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), (NULL), ('[3,4]')) t(v)
SELECT avg(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v)
SELECT sum(v) FROM (VALUES ('[1,2,3]'::vector), ('[4,5,6]'), ('[0.5,0.5,0.5]')) t(v)
SELECT sum(v) FROM (SELECT '[1,2]'::vector WHERE false) t(v)
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v)
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), (NULL)) t(v)
SELECT sum(v) FROM (VALUES ('[3e38]'::vector), ('[3e38]')) t(v)
SELECT avg(v), sum(v) FROM (VALUES (1, '[1,2]'::vector), (2, '[3,4]')) t(g, v) GROUP BY g ORDER BY g
SELECT NULL::vector
SELECT '[1,2]'::vector <-> NULL
SELECT vector_dims(NULL::vector)
SELECT pg_typeof('[1,2]'::vector <-> '[1,2]')
SELECT pg_typeof(binary_quantize('[1]'::vector))
SELECT '[1,2,3]'::vector(3)::vector(3)
SELECT CAST('[1,2]'::vector AS vector(2)) = '[1,2]'
SELECT '[1,2,3]'::vector::vector(2)::vector
SELECT '{1,2,3}'::vector
SELECT '[1,2,3]'::vector(3)::real[]::vector(4)
SELECT array_fill(0.5, ARRAY[3])::vector(3)
