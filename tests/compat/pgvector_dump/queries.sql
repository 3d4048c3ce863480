SELECT count(*), count(embedding), count(half), count(sparse) FROM items
SELECT id FROM items ORDER BY embedding <=> '[0.5,-0.25,0.125,1,0.75,-1,0.3,0.2]' LIMIT 10
SELECT id FROM items ORDER BY embedding <-> '[0.5,-0.25,0.125,1,0.75,-1,0.3,0.2]' LIMIT 10
SELECT id FROM items ORDER BY embedding <#> '[1,0,0,0,0,0,0,1]' LIMIT 10
SELECT id FROM items WHERE category = 2 ORDER BY embedding <=> '[0,1,0,1,0,1,0,1]' LIMIT 5
SELECT id, half <-> '[1,2,3]', sparse <=> '{1:1,5:2}/5' FROM items ORDER BY id LIMIT 5
SELECT id FROM items ORDER BY half <-> '[0.5,0.5,0.5]', id LIMIT 10
SELECT id FROM items ORDER BY sparse <#> '{2:1,3:1}/5', id LIMIT 10
SELECT avg(embedding), sum(half) FROM items WHERE id <= 100
SELECT md5(string_agg(embedding::text || half::text || sparse::text, ',' ORDER BY id)) FROM items
SELECT indexdef FROM pg_indexes WHERE tablename = 'items' ORDER BY indexname
