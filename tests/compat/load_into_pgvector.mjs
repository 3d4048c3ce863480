// Load a binary COPY file of a table (id int4, v TYPE) -- e.g. produced by
// diskvec on a normal server via COPY ... TO STDOUT (FORMAT binary) -- into
// PGlite+pgvector, then print the table as text COPY on stdout.
//   node load_into_pgvector.mjs FILE [TYPE [BINARY_OUT]] > out.txt
// TYPE is vector (default), halfvec or sparsevec; with BINARY_OUT, pgvector's
// own binary COPY of the loaded table is written there too.
// Rows are printed in the order they were loaded (the COPY order of FILE).
import { readFileSync, writeFileSync } from 'node:fs';
import { newDb } from './generate.mjs';

const [file, type = 'vector', binaryOut] = process.argv.slice(2);
if (!file || !['vector', 'halfvec', 'sparsevec'].includes(type)) {
  console.error('usage: node load_into_pgvector.mjs FILE [vector|halfvec|sparsevec [BINARY_OUT]]');
  process.exit(2);
}
const db = await newDb();
await db.exec(`CREATE TABLE t (id int4, v ${type})`);
const blob = new Blob([readFileSync(file)]);
try {
  await db.query("COPY t FROM '/dev/blob' WITH (FORMAT binary)", [], { blob });
  const res = await db.query("COPY t TO '/dev/blob'");
  process.stdout.write(Buffer.from(await res.blob.arrayBuffer()));
  if (binaryOut) {
    const bin = await db.query("COPY t TO '/dev/blob' WITH (FORMAT binary)");
    writeFileSync(binaryOut, Buffer.from(await bin.blob.arrayBuffer()));
  }
} catch (e) {
  console.error(`pgvector rejected ${file}: ${e.code ?? ''} ${e.message}${e.detail ? ` (${e.detail})` : ''}${e.where ? ` [${e.where}]` : ''}`);
  process.exit(1);
}
await db.close();
