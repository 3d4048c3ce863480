// Records pgvector's answers to its own regression SQL (regression/*.sql,
// pgvector 0.8.1's test/sql files, unmodified) in PGlite with the bundled
// pgvector 0.8.1. Each file runs in a fresh database, one statement a line,
// in order (later statements see the tables earlier ones made).
//   node record_regression.mjs
// writes regression/NAME.tsv (one record a statement, the format of
// pgvector_expected.tsv) and, for each `\copy ... TO`, the bytes pgvector
// wrote as regression/NAME.N.bin. The replay is tests/e2e/tests/pgvector_regression.rs.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { esc, newDb, runCanonical } from './generate.mjs';

const here = join(dirname(fileURLToPath(import.meta.url)), 'regression');

// The statements of a regression file: every non-blank, non-comment line
// (pgvector's test files keep each statement on one line).
export function statements(text) {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('--'));
}

// `\copy TABLE TO|FROM 'file' WITH (...)` -> [table, direction, options]
export function parseCopy(line) {
  const m = line.match(/^\\copy (\S+) (TO|FROM) '[^']*' (.*)$/);
  if (!m) throw new Error(`unsupported meta-command: ${line}`);
  return { table: m[1], dir: m[2], options: m[3] };
}

async function record(name) {
  const db = await newDb();
  const out = [];
  let copies = 0;
  let last = null; // bytes of the last \copy TO, read by the next \copy FROM
  for (const line of statements(readFileSync(join(here, `${name}.sql`), 'utf8'))) {
    if (line.includes('\t')) throw new Error(`tab in statement: ${line}`);
    if (line.startsWith('\\')) {
      const { table, dir, options } = parseCopy(line);
      try {
        if (dir === 'TO') {
          const res = await db.query(`COPY ${table} TO '/dev/blob' ${options}`);
          last = Buffer.from(await res.blob.arrayBuffer());
          copies += 1;
          writeFileSync(join(here, `${name}.${copies}.bin`), last);
        } else {
          await db.query(`COPY ${table} FROM '/dev/blob' ${options}`, [], { blob: new Blob([last]) });
        }
        out.push(`${line}\tOK\t`);
      } catch (e) {
        out.push(`${line}\tERR\t${e.code}\t${esc(e.message)}`);
      }
      continue;
    }
    out.push(`${line}\t${await runCanonical(db, line)}`);
  }
  await db.close();
  writeFileSync(join(here, `${name}.tsv`), out.join('\n') + '\n');
  console.error(`${name}: ${out.length} statements, ${copies} binary COPY files`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of readdirSync(here).filter((f) => f.endsWith('.sql')).sort()) {
    await record(f.replace(/\.sql$/, ''));
  }
}
