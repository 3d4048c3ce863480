//! `diskvec-encode`: documents → embeddings → binary COPY into Postgres. See README.md.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;

use diskvec_encoder::input::{Fields, Format, Input};
use diskvec_encoder::model::{default_model_dir, vector_literal, BackendKind, Encoder};
use diskvec_encoder::pipeline::{self, Options, ProgressMode};
use diskvec_encoder::sink::{PgSink, Sink, StreamSink};

#[derive(Parser, Debug)]
#[command(
    name = "diskvec-encode",
    version,
    about = "Encode documents with a sentence-embedding model (candle, pure Rust) and write them as \
             PostgreSQL binary COPY: to stdout, or straight into a table with --database-url.",
    after_help = "Examples:\n  \
      diskvec-encode --query 'what is a vector index'\n  \
      diskvec-encode docs.jsonl --database-url postgres://localhost/db --table docs\n  \
      diskvec-encode docs.csv --id-field doc --text-field title,body > docs.copy\n  \
      psql -c \"\\copy docs FROM 'docs.copy' WITH (FORMAT binary)\""
)]
struct Cli {
    /// Input files ('-' or none: stdin). Format from the extension (.jsonl/.ndjson, .csv, .tsv,
    /// anything else: plain text, one document per line) unless --format is given.
    inputs: Vec<PathBuf>,

    /// Model folder (sentence-transformers layout: config.json, tokenizer.json, model.safetensors).
    /// [default: $DISKVEC_DATA/all-MiniLM-L6-v2]
    #[arg(long, env = "DISKVEC_MODEL")]
    model: Option<PathBuf>,

    /// Print the vector literal ('[0.0123,…]') of one query string on stdout and exit.
    #[arg(long)]
    query: Option<String>,

    /// Input format: auto, jsonl, csv, tsv or text. Stdin defaults to jsonl.
    #[arg(long, default_value = "auto")]
    format: String,

    /// JSONL field / CSV column holding the document id (plain text: the line number).
    #[arg(long, default_value = "id")]
    id_field: String,

    /// JSONL field(s) / CSV column(s) holding the text; several, comma-separated, are joined with a space.
    #[arg(long, default_value = "text", value_delimiter = ',')]
    text_field: Vec<String>,

    /// Write into this database (COPY … FROM STDIN (FORMAT BINARY)) instead of stdout.
    #[arg(long)]
    database_url: Option<String>,

    /// Table to fill (created when missing): (doc_id text, chunk int4, text text, embedding vector(DIM)).
    #[arg(long, default_value = "embeddings")]
    table: String,

    /// SQL type of the embedding column when the table is created: 'vector' (vector(DIM)) or
    /// 'bytea' (the same pgvector binary bytes, for servers without a vector type).
    #[arg(long, default_value = "vector", value_parser = ["vector", "bytea"])]
    embedding_type: String,

    /// Token windows per model call.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,

    /// Documents per group: sorted by length within it, and one COPY transaction each.
    #[arg(long, default_value_t = 1024)]
    group_size: usize,

    /// Tokens shared by consecutive chunks of a document longer than the model window.
    #[arg(long, alias = "stride", default_value_t = 32)]
    overlap: usize,

    /// Skip (and report) invalid input records instead of stopping at the first.
    #[arg(long)]
    skip_bad: bool,

    /// Encode records whose id was already seen in this run instead of skipping them (stdout
    /// only; e.g. to get exactly one row per input line).
    #[arg(long)]
    keep_duplicate_ids: bool,

    /// CPU threads in all [default: all cores].
    #[arg(long)]
    threads: Option<usize>,

    /// Model calls run concurrently; the threads are split between them [default: = threads].
    #[arg(long)]
    workers: Option<usize>,

    /// Model implementation: 'fast' (packed, padding-free forward pass) or 'candle'
    /// (candle-transformers BertModel, padded batches; a reference).
    #[arg(long, default_value = "fast", value_parser = ["fast", "candle"])]
    backend: String,

    /// Progress display on stderr: auto (a bar on a terminal, log lines otherwise), bar, log, none.
    #[arg(long, default_value = "auto", value_parser = ["auto", "bar", "log", "none"])]
    progress: String,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("diskvec-encode: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn count_lines(p: &PathBuf) -> Option<u64> {
    let f = std::fs::File::open(p).ok()?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut n = 0u64;
    loop {
        let buf = r.fill_buf().ok()?;
        if buf.is_empty() {
            return Some(n);
        }
        n += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let l = buf.len();
        r.consume(l);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let threads = cli
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
        .max(1);
    let workers = cli.workers.unwrap_or(threads).clamp(1, threads);
    // The global pool (tokenization, candle's row-parallel ops) gets all threads; each of the
    // `workers` model calls gets threads/workers for its matrix products (candle reads
    // RAYON_NUM_THREADS at each matmul).
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .ok();
    std::env::set_var("RAYON_NUM_THREADS", (threads / workers).max(1).to_string());

    let model_dir = cli.model.clone().unwrap_or_else(default_model_dir);
    let kind = if cli.backend == "candle" {
        BackendKind::Candle
    } else {
        BackendKind::Fast
    };
    let mut enc = Encoder::load_with(&model_dir, kind)?;
    enc.gemm_threads = (threads / workers).max(1);

    if let Some(q) = &cli.query {
        if !cli.inputs.is_empty() {
            bail!("--query takes no input files");
        }
        enc.gemm_threads = threads;
        let (v, truncated) = enc.embed_query(q)?;
        if truncated {
            eprintln!(
                "diskvec-encode: warning: the query is longer than {} tokens; only its first window is encoded",
                enc.max_seq_length
            );
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", vector_literal(&v))?;
        return Ok(());
    }

    if cli.batch_size == 0 || cli.group_size == 0 {
        bail!("--batch-size and --group-size must be positive");
    }
    if cli.overlap >= enc.window_tokens() {
        bail!(
            "--overlap {} must be smaller than the model window of {} content tokens",
            cli.overlap,
            enc.window_tokens()
        );
    }
    let forced = if cli.format == "auto" {
        None
    } else {
        Some(Format::parse(&cli.format)?)
    };
    let paths: Vec<Option<PathBuf>> = if cli.inputs.is_empty() {
        vec![None]
    } else {
        cli.inputs
            .iter()
            .map(|p| {
                if p.as_os_str() == "-" {
                    None
                } else {
                    Some(p.clone())
                }
            })
            .collect()
    };
    let inputs: Vec<Input> = paths
        .into_iter()
        .map(|path| {
            let format = forced.unwrap_or_else(|| match &path {
                None => Format::Jsonl,
                Some(p) => Format::guess(p).unwrap_or(Format::Text),
            });
            Input { path, format }
        })
        .collect();
    for i in &inputs {
        if let Some(p) = &i.path {
            if !p.is_file() {
                bail!("input {} does not exist or is not a file", p.display());
            }
        }
    }
    let fields = Fields {
        id: cli.id_field.clone(),
        text: cli.text_field.clone(),
    };

    let progress = match cli.progress.as_str() {
        "bar" => ProgressMode::Bar,
        "log" => ProgressMode::Log,
        "none" => ProgressMode::Quiet,
        _ => ProgressMode::auto(),
    };
    let total_hint = if progress != ProgressMode::Quiet && inputs.iter().all(|i| i.path.is_some()) {
        inputs
            .iter()
            .map(|i| {
                let n = count_lines(i.path.as_ref().unwrap())?;
                Some(if matches!(i.format, Format::Csv | Format::Tsv) {
                    n.saturating_sub(1)
                } else {
                    n
                })
            })
            .sum::<Option<u64>>()
    } else {
        None
    };

    if cli.keep_duplicate_ids && cli.database_url.is_some() {
        bail!("--keep-duplicate-ids cannot be used with --database-url (the table's primary key is (doc_id, chunk))");
    }
    let sink: Box<dyn Sink + Send> = match &cli.database_url {
        Some(url) => Box::new(PgSink::connect(
            url,
            &cli.table,
            enc.dim,
            &cli.embedding_type,
        )?),
        None => {
            let out = std::io::stdout();
            if out.is_terminal() {
                bail!("refusing to write binary COPY data to a terminal: redirect stdout, or use --database-url");
            }
            Box::new(StreamSink::new(out)?)
        }
    };
    let abort_after_groups = std::env::var("DISKVEC_ENCODE_TEST_ABORT_AFTER_GROUPS")
        .ok()
        .and_then(|s| s.parse().ok());
    let opts = Options {
        batch_size: cli.batch_size,
        group_docs: cli.group_size,
        overlap: cli.overlap,
        skip_bad: cli.skip_bad,
        keep_duplicate_ids: cli.keep_duplicate_ids,
        workers,
        progress,
        total_hint,
        abort_after_groups,
    };
    let stats = pipeline::run(&enc, &inputs, &fields, sink, &opts).context("encoding failed")?;
    if progress != ProgressMode::Quiet {
        eprintln!(
            "diskvec-encode: done: {} docs encoded into {} rows ({} docs split into several chunks) in {:.1} s, \
             {:.1} docs/s; {} skipped as already stored, {} duplicate ids, {} bad records",
            stats.docs_encoded,
            stats.chunks,
            stats.multi_chunk_docs,
            stats.elapsed.as_secs_f64(),
            stats.docs_per_sec(),
            stats.skipped_existing,
            stats.duplicates,
            stats.bad_records
        );
    }
    Ok(())
}
