// Regenerates the pgvector reference fixtures in this directory using
// PGlite (Postgres 17 in WASM) with its bundled pgvector extension.
//   node generate.mjs
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { protocol } from '@electric-sql/pglite';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// Escape a single value for the TSV record: backslash, tab, newline, CR.
export function esc(s) {
  return s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

// Run one statement over the simple-query protocol and return the canonical record
// (without the leading query column): "OK\t<rows>" or "ERR\t<sqlstate>\t<message>".
export async function runCanonical(db, sql) {
  const { messages } = await db.execProtocol(protocol.serialize.query(sql), { throwOnError: false });
  const rows = [];
  let err = null;
  for (const m of messages) {
    if (m.name === 'dataRow') {
      rows.push(m.fields.map((f) => (f === null ? '\\N' : esc(f))).join('|'));
    } else if (m.name === 'error') {
      err = m;
    }
  }
  if (err) return `ERR\t${err.code}\t${esc(err.message)}`;
  return `OK\t${rows.join(';')}`;
}

export async function newDb() {
  const db = new PGlite({ extensions: { vector } });
  await db.exec('CREATE EXTENSION vector');
  return db;
}

async function main() {
  const db = await newDb();
  const ver = (await db.query("SELECT extversion FROM pg_extension WHERE extname='vector'")).rows[0].extversion;
  const pgver = (await db.query('SHOW server_version')).rows[0].server_version;
  const efd = (await db.query('SHOW extra_float_digits')).rows[0].extra_float_digits;
  if (efd !== '1') throw new Error(`unexpected extra_float_digits ${efd}`);
  console.error(`pgvector ${ver} on PostgreSQL ${pgver}`);

  // 1. queries.sql -> pgvector_expected.tsv
  const queries = readFileSync(join(here, 'queries.sql'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const out = [];
  for (const q of queries) {
    if (q.includes('\t')) throw new Error(`tab in query: ${q}`);
    out.push(`${q}\t${await runCanonical(db, q)}`);
    // sanity: a second run must give the same answer (determinism)
    const again = `${q}\t${await runCanonical(db, q)}`;
    if (again !== out[out.length - 1]) throw new Error(`non-deterministic: ${q}`);
  }
  writeFileSync(join(here, 'pgvector_expected.tsv'), out.join('\n') + '\n');
  console.error(`wrote ${out.length} records to pgvector_expected.tsv`);

  // 2. COPY fixtures: 1000 rows (id int4, v vector), dims 1..16
  await db.exec('CREATE TABLE t (id int4, v vector)');
  await db.exec(COPY_TABLE_SQL);
  const bin = await db.query("COPY t TO '/dev/blob' WITH (FORMAT binary)");
  writeFileSync(join(here, 'pgvector_copy.bin'), Buffer.from(await bin.blob.arrayBuffer()));
  const txt = await db.query("COPY t TO '/dev/blob'");
  writeFileSync(join(here, 'pgvector_copy.txt'), Buffer.from(await txt.blob.arrayBuffer()));
  console.error('wrote pgvector_copy.bin / pgvector_copy.txt');
  await db.close();
}

// Deterministic contents (no random()): values cycle through a fixed palette
// that includes negative, fractional, tiny (~1e-38), huge (~3e38) and -0.
const COPY_TABLE_SQL = `
INSERT INTO t (id, v)
SELECT i, ('[' || string_agg(
    (ARRAY['0','-0','1','-1','0.5','-2.25','3.1415927','1e-38','-1.17549435e-38','3e38','-3.4028235e38',
           '1e-05','1234567','-0.1','100','7e-45','0.333333','-123.456','65504','2.5e+20'])[1 + ((i * 7 + j * 13) % 20)],
    ',' ORDER BY j) || ']')::vector
FROM generate_series(1, 1000) i
CROSS JOIN LATERAL generate_series(1, 1 + (i % 16)) j
GROUP BY i
ORDER BY i`;

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
