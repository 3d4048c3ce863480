-- Functions that read a relation are not for everyone (as amcheck's): a
-- role without the privilege gets "permission denied"; granted, it gets
-- the answer.
SET client_min_messages = warning;
DROP ROLE IF EXISTS diskvec_regress_checker;
CREATE ROLE diskvec_regress_checker;
CREATE TABLE priv_items (id int, embedding vector(2));
INSERT INTO priv_items SELECT i, ARRAY[i, i % 7]::vector FROM generate_series(1, 100) i;
CREATE INDEX priv_idx ON priv_items USING diskvec (embedding);
GRANT SELECT ON priv_items TO diskvec_regress_checker;

-- Neither PUBLIC nor a role with SELECT on the table may run them.
SELECT has_function_privilege('public', 'diskvec_verify(regclass)', 'EXECUTE') AS public_verify,
       has_function_privilege('public', 'diskvec_cache_bytes(regclass)', 'EXECUTE') AS public_cache_bytes;
SET ROLE diskvec_regress_checker;
SELECT diskvec_verify('priv_idx');
SELECT diskvec_cache_bytes('priv_idx');
RESET ROLE;

-- Granted, the role gets the report.
GRANT EXECUTE ON FUNCTION diskvec_verify(regclass) TO diskvec_regress_checker;
GRANT EXECUTE ON FUNCTION diskvec_cache_bytes(regclass) TO diskvec_regress_checker;
SET ROLE diskvec_regress_checker;
SELECT diskvec_verify('priv_idx');
SELECT diskvec_cache_bytes('priv_idx') > 0 AS holds_codes;
RESET ROLE;

DROP TABLE priv_items;
REVOKE ALL ON FUNCTION diskvec_verify(regclass) FROM diskvec_regress_checker;
REVOKE ALL ON FUNCTION diskvec_cache_bytes(regclass) FROM diskvec_regress_checker;
DROP ROLE diskvec_regress_checker;
