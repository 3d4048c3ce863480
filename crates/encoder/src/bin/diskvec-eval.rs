//! diskvec-eval: retrieval quality of a BEIR-format collection through
//! Postgres, exact search next to the diskvec index.
//!
//! Encodes the corpus (title + " " + text, truncated to the model window as
//! sentence-transformers does) and the queries, loads the corpus with binary
//! COPY, builds a diskvec cosine index, and for every query with relevance
//! labels computes nDCG@10 and recall@100 twice: with a sequential scan
//! (exact) and through the index at the session's settings.
//!
//! `--embeddings DIR` reads/writes the vectors as a fixture (`corpus.ids`,
//! `corpus.f16`, `queries.ids`, `queries.f16`: one id per line, then raw
//! little-endian f16 rows), so tests need not re-encode.

use anyhow::{bail, Context, Result};
use clap::Parser;
use diskvec_encoder::copy::{CopyWriter, Field};
use diskvec_encoder::model::Encoder;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    about = "nDCG@10 and recall@100 of exact search and of the diskvec index on a BEIR collection"
)]
struct Args {
    /// BEIR folder with corpus.jsonl, queries.jsonl and qrels.tsv (or
    /// qrels/test.tsv).
    #[arg(long)]
    beir: PathBuf,
    /// Postgres connection string (the database must have the extension).
    #[arg(long)]
    database_url: String,
    /// Fixture folder: read the embeddings from it when present, else
    /// encode and write them there.
    #[arg(long)]
    embeddings: Option<PathBuf>,
    /// Model folder [default: $DISKVEC_DATA/all-MiniLM-L6-v2].
    #[arg(long, env = "DISKVEC_MODEL")]
    model: Option<PathBuf>,
    /// Table to (re)create for the corpus.
    #[arg(long, default_value = "beir_corpus")]
    table: String,
    /// Fail (exit 1) when the index loses more than this many nDCG@10 points.
    #[arg(long)]
    max_gap: Option<f64>,
}

struct Embedded {
    ids: Vec<String>,
    dim: usize,
    data: Vec<f32>,
}

impl Embedded {
    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    fn save(&self, dir: &Path, name: &str) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{name}.ids")), self.ids.join("\n") + "\n")?;
        let bytes: Vec<u8> = self
            .data
            .iter()
            .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
            .collect();
        std::fs::write(dir.join(format!("{name}.f16")), bytes)?;
        Ok(())
    }

    fn load(dir: &Path, name: &str) -> Result<Option<Self>> {
        let ids_path = dir.join(format!("{name}.ids"));
        if !ids_path.exists() {
            return Ok(None);
        }
        let ids: Vec<String> = std::fs::read_to_string(&ids_path)?
            .lines()
            .map(str::to_string)
            .collect();
        let raw = std::fs::read(dir.join(format!("{name}.f16")))?;
        if ids.is_empty() || raw.len() % (2 * ids.len()) != 0 {
            bail!(
                "{}: {} bytes for {} ids",
                dir.display(),
                raw.len(),
                ids.len()
            );
        }
        let data: Vec<f32> = raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        Ok(Some(Embedded {
            dim: data.len() / ids.len(),
            ids,
            data,
        }))
    }
}

fn read_jsonl(path: &Path, with_title: bool) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let id = match v.get("_id").or_else(|| v.get("id")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(x) => x.to_string(),
            None => bail!("{}:{}: no id", path.display(), n + 1),
        };
        let body = if with_title && !field("title").is_empty() {
            format!("{} {}", field("title"), field("text"))
        } else {
            field("text")
        };
        out.push((id, body));
    }
    Ok(out)
}

/// query id -> (doc id -> relevance), from BEIR's `query-id corpus-id score`.
fn read_qrels(dir: &Path) -> Result<HashMap<String, HashMap<String, i32>>> {
    let path = [dir.join("qrels.tsv"), dir.join("qrels/test.tsv")]
        .into_iter()
        .find(|p| p.exists())
        .context("no qrels.tsv or qrels/test.tsv")?;
    let mut out: HashMap<String, HashMap<String, i32>> = HashMap::new();
    for (n, line) in std::fs::read_to_string(&path)?.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if n == 0 && f.first() == Some(&"query-id") || line.trim().is_empty() {
            continue;
        }
        if f.len() < 3 {
            bail!(
                "{}:{}: expected query-id, corpus-id, score",
                path.display(),
                n + 1
            );
        }
        let score: i32 = f[2]
            .trim()
            .parse()
            .with_context(|| format!("{}:{}", path.display(), n + 1))?;
        out.entry(f[0].to_string())
            .or_default()
            .insert(f[1].to_string(), score);
    }
    Ok(out)
}

fn encode(encoder: &Encoder, docs: &[(String, String)]) -> Result<Embedded> {
    let mut order: Vec<usize> = (0..docs.len()).collect();
    let texts: Vec<&str> = docs.iter().map(|d| d.1.as_str()).collect();
    let tokens = encoder.tokenize(&texts)?;
    let inputs: Vec<Vec<u32>> = docs
        .iter()
        .zip(&tokens)
        .map(|((_, text), t)| encoder.chunks(text, t, 0).swap_remove(0).input_ids)
        .collect();
    // Similar lengths together: less padding per batch.
    order.sort_by_key(|&i| inputs[i].len());
    let dim = encoder.embed_batch(&[&inputs[0]])?[0].len();
    let mut data = vec![0f32; docs.len() * dim];
    for (b, batch) in order.chunks(32).enumerate() {
        let refs: Vec<&[u32]> = batch.iter().map(|&i| inputs[i].as_slice()).collect();
        for (&i, v) in batch.iter().zip(encoder.embed_batch(&refs)?) {
            data[i * dim..(i + 1) * dim].copy_from_slice(&v);
        }
        if b % 20 == 0 {
            eprint!("\rencoded {} of {}", (b + 1) * 32, docs.len());
        }
    }
    eprintln!("\rencoded {} of {}", docs.len(), docs.len());
    Ok(Embedded {
        ids: docs.iter().map(|d| d.0.clone()).collect(),
        dim,
        data,
    })
}

#[derive(Debug)]
struct Vector<'a>(&'a [f32]);

impl ToSql for Vector<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&diskvec_encoder::copy::vector_wire_bytes(self.0));
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        ty.name() == "vector"
    }
    postgres::types::to_sql_checked!();
}

fn ndcg_at(ranked: &[String], rel: &HashMap<String, i32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| *rel.get(d).unwrap_or(&0) as f64 / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<i32> = rel.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &r)| r as f64 / (i as f64 + 2.0).log2())
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

fn recall_at(ranked: &[String], rel: &HashMap<String, i32>, k: usize) -> f64 {
    let relevant = rel.values().filter(|&&r| r > 0).count();
    let hit = ranked
        .iter()
        .take(k)
        .filter(|d| rel.get(*d).is_some_and(|&r| r > 0))
        .count();
    if relevant == 0 {
        0.0
    } else {
        hit as f64 / relevant as f64
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let qrels = read_qrels(&args.beir)?;
    let cached = match &args.embeddings {
        Some(dir) => (
            Embedded::load(dir, "corpus")?,
            Embedded::load(dir, "queries")?,
        ),
        None => (None, None),
    };
    let (corpus, queries) = match cached {
        (Some(c), Some(q)) => (c, q),
        _ => {
            let model = args
                .model
                .clone()
                .unwrap_or_else(diskvec_encoder::model::default_model_dir);
            let encoder = Encoder::load(&model)?;
            let docs = read_jsonl(&args.beir.join("corpus.jsonl"), true)?;
            let qs: Vec<(String, String)> = read_jsonl(&args.beir.join("queries.jsonl"), false)?
                .into_iter()
                .filter(|(id, _)| qrels.contains_key(id))
                .collect();
            let c = encode(&encoder, &docs)?;
            let q = encode(&encoder, &qs)?;
            if let Some(dir) = &args.embeddings {
                c.save(dir, "corpus")?;
                q.save(dir, "queries")?;
            }
            (c, q)
        }
    };
    let mut db = Client::connect(&args.database_url, NoTls)?;
    let t = &args.table;
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (doc_id text, embedding vector({}))",
        corpus.dim
    ))?;
    let mut w = CopyWriter::new(db.copy_in(&format!("COPY {t} FROM STDIN (FORMAT binary)"))?)?;
    for (i, id) in corpus.ids.iter().enumerate() {
        w.write_row(&[Field::Text(id), Field::Vector(corpus.row(i))])?;
    }
    w.finish()?.finish()?;
    let started = std::time::Instant::now();
    db.batch_execute(&format!(
        "ANALYZE {t}; CREATE INDEX {t}_embedding ON {t} USING diskvec (embedding vector_cosine_ops)"
    ))?;
    let build = started.elapsed().as_secs_f64();
    let sql = format!("SELECT doc_id FROM {t} ORDER BY embedding <=> $1 LIMIT 100");
    let mut scores = [(0.0, 0.0), (0.0, 0.0)];
    let mut n = 0;
    for (mode, settings) in [
        (0, "SET enable_indexscan = off; SET enable_seqscan = on"),
        (1, "SET enable_indexscan = on; SET enable_seqscan = off"),
    ] {
        db.batch_execute(settings)?;
        let stmt = db.prepare(&sql)?;
        n = 0;
        for (qi, qid) in queries.ids.iter().enumerate() {
            let Some(rel) = qrels.get(qid) else { continue };
            let ranked: Vec<String> = db
                .query(&stmt, &[&Vector(queries.row(qi))])?
                .iter()
                .map(|r| r.get(0))
                .collect();
            scores[mode].0 += ndcg_at(&ranked, rel, 10);
            scores[mode].1 += recall_at(&ranked, rel, 100);
            n += 1;
        }
    }
    db.batch_execute("RESET enable_indexscan; RESET enable_seqscan")?;
    let [exact, index] = scores.map(|(a, b)| (100.0 * a / n as f64, 100.0 * b / n as f64));
    let gap = exact.0 - index.0;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} documents, {n} queries with labels; index built in {build:.1} s",
        corpus.ids.len()
    )?;
    writeln!(out, "| search | nDCG@10 | recall@100 |")?;
    writeln!(out, "|---|---:|---:|")?;
    writeln!(
        out,
        "| exact (sequential scan) | {:.2} | {:.2} |",
        exact.0, exact.1
    )?;
    writeln!(out, "| diskvec index | {:.2} | {:.2} |", index.0, index.1)?;
    writeln!(out, "nDCG@10 gap: {gap:.2} points")?;
    if let Some(max) = args.max_gap {
        if gap > max {
            bail!("the index loses {gap:.2} nDCG@10 points, more than {max}");
        }
    }
    Ok(())
}
