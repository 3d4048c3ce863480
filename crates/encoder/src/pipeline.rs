//! The encoding pipeline: read documents → group → tokenize → split into windows → sort by
//! length → embed in batches (in parallel) → restore input order → write one group at a time.
//!
//! Threads: one reads and parses input, the calling thread tokenizes and runs the model
//! (with `workers` model workers), one writes groups to the sink, so parsing and COPY overlap
//! with encoding.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::input::{read_all, Doc, Fields, Input, Item};
use crate::model::Encoder;
use crate::sink::{Row, Sink};

#[derive(Debug, Clone)]
pub struct Options {
    /// Windows per model call.
    pub batch_size: usize,
    /// Documents per group: the window within which inputs are sorted by length, and the
    /// unit of commit (one COPY transaction) for a database.
    pub group_docs: usize,
    /// Tokens shared by consecutive windows of a long document.
    pub overlap: usize,
    /// Skip bad input records (reported) instead of stopping at the first one.
    pub skip_bad: bool,
    /// Encode every record even when its id was seen before in this run (stdout output only:
    /// a table's primary key would reject them). Default: later duplicates are skipped.
    pub keep_duplicate_ids: bool,
    /// Model calls run concurrently (each on its own thread).
    pub workers: usize,
    pub progress: ProgressMode,
    /// Expected number of input records (for the progress bar's ETA), if known.
    pub total_hint: Option<u64>,
    /// Test hook: abort the process (no cleanup, like a crash) after this many groups were written.
    pub abort_after_groups: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_size: 32,
            group_docs: 1024,
            overlap: 32,
            skip_bad: false,
            keep_duplicate_ids: false,
            workers: 1,
            progress: ProgressMode::Quiet,
            total_hint: None,
            abort_after_groups: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// indicatif bar on stderr.
    Bar,
    /// A plain log line on stderr every few seconds.
    Log,
    Quiet,
}

impl ProgressMode {
    pub fn auto() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Log
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub records: u64,
    pub skipped_existing: u64,
    pub duplicates: u64,
    pub bad_records: u64,
    pub docs_encoded: u64,
    pub chunks: u64,
    pub multi_chunk_docs: u64,
    pub groups: u64,
    pub elapsed: Duration,
}

impl Stats {
    pub fn docs_per_sec(&self) -> f64 {
        self.docs_encoded as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Encodes one group of documents into rows, in input order (doc order, then chunk order).
pub fn encode_docs(enc: &Encoder, docs: &[Doc], opts: &Options) -> Result<Vec<Row>> {
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let toks = enc.tokenize(&texts)?;
    let mut owners = Vec::new(); // (doc index, chunk number, text)
    let mut inputs: Vec<Vec<u32>> = Vec::new();
    for (di, (d, t)) in docs.iter().zip(&toks).enumerate() {
        for c in enc.chunks(&d.text, t, opts.overlap) {
            owners.push((di, c.chunk, c.text));
            inputs.push(c.input_ids);
        }
    }
    let vecs = embed_sorted(enc, &inputs, opts.batch_size, opts.workers)?;
    Ok(owners
        .into_iter()
        .zip(vecs)
        .map(|((di, chunk, text), embedding)| Row {
            doc_id: docs[di].id.clone(),
            chunk: chunk as i32,
            // PostgreSQL text cannot hold NUL characters.
            text: if text.contains('\0') {
                text.replace('\0', "")
            } else {
                text
            },
            embedding,
        })
        .collect())
}

/// Embeds token windows: sorted by length (longest first, so parallel workers finish together),
/// batched, and returned in the original order.
pub fn embed_sorted(
    enc: &Encoder,
    inputs: &[Vec<u32>],
    batch_size: usize,
    workers: usize,
) -> Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(inputs[i].len()));
    let batches: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
    let results: Vec<Mutex<Option<Result<Vec<Vec<f32>>>>>> =
        batches.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let bi = next.fetch_add(1, Ordering::Relaxed);
        if bi >= batches.len() {
            break;
        }
        let ids: Vec<&[u32]> = batches[bi].iter().map(|&i| inputs[i].as_slice()).collect();
        let r = enc.embed_batch(&ids);
        let failed = r.is_err();
        *results[bi].lock().unwrap() = Some(r);
        if failed {
            next.store(batches.len(), Ordering::Relaxed);
        }
    };
    let workers = workers.clamp(1, batches.len().max(1));
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(work);
            }
        });
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
    for (bi, r) in results.into_iter().enumerate() {
        match r.into_inner().unwrap() {
            Some(Ok(vs)) => {
                for (&i, v) in batches[bi].iter().zip(vs) {
                    out[i] = Some(v);
                }
            }
            Some(Err(e)) => return Err(e),
            None => bail!("internal error: batch {bi} was not run"),
        }
    }
    Ok(out.into_iter().map(|v| v.unwrap()).collect())
}

struct Progress {
    mode: ProgressMode,
    bar: Option<indicatif::ProgressBar>,
    start: Instant,
    last_log: Instant,
}

impl Progress {
    fn new(mode: ProgressMode, total: Option<u64>) -> Self {
        let bar = (mode == ProgressMode::Bar).then(|| {
            let b = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::new_spinner(),
            };
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            let style = if total.is_some() {
                "{elapsed_precise} [{wide_bar}] {pos}/{len} docs  {msg}  ETA {eta}"
            } else {
                "{elapsed_precise} {spinner} {pos} docs  {msg}"
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(style)
                    .unwrap()
                    .progress_chars("=> "),
            );
            b
        });
        let now = Instant::now();
        Progress {
            mode,
            bar,
            start: now,
            last_log: now,
        }
    }

    fn message(&self, s: &str) {
        match &self.bar {
            Some(b) => b.println(s),
            // reports (bad records, resume, duplicates) are printed even with --progress none
            None => eprintln!("{s}"),
        }
    }

    fn update(&mut self, st: &Stats, total: Option<u64>) {
        // records finished: encoded and handed to the writer, or skipped
        let done = st.docs_encoded + st.skipped_existing + st.duplicates + st.bad_records;
        let secs = self.start.elapsed().as_secs_f64();
        let rate = st.docs_encoded as f64 / secs.max(1e-9);
        if let Some(b) = &self.bar {
            if b.position() != done {
                b.set_message(format!("{rate:.1} docs/s, {} chunks", st.chunks));
                b.set_position(done);
            }
        } else if self.mode == ProgressMode::Log
            && self.last_log.elapsed() >= Duration::from_secs(10)
        {
            self.last_log = Instant::now();
            let eta = match total {
                Some(t) if rate > 0.0 && t > done => {
                    format!(", ETA {:.0} s", (t - done) as f64 / rate)
                }
                _ => String::new(),
            };
            eprintln!(
                "diskvec-encode: {done} records done ({} docs encoded, {} chunks), {rate:.1} docs/s{eta}",
                st.docs_encoded, st.chunks
            );
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Runs the whole pipeline. Returns the statistics, or the first fatal error (bad input
/// without `skip_bad`, model or sink failure) after everything read before it was written.
pub fn run(
    enc: &Encoder,
    inputs: &[Input],
    fields: &Fields,
    mut sink: Box<dyn Sink + Send>,
    opts: &Options,
) -> Result<Stats> {
    let start = Instant::now();
    let existing = sink.existing_ids()?;
    let mut progress = Progress::new(opts.progress, opts.total_hint);
    if !existing.is_empty() {
        progress.message(&format!(
            "diskvec-encode: resuming: {} documents already stored will be skipped",
            existing.len()
        ));
    }
    let mut stats = Stats::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut fatal: Option<anyhow::Error> = None;

    let (item_tx, item_rx) = sync_channel::<Item>(4096);
    let (row_tx, row_rx) = sync_channel::<Vec<Row>>(2);
    let abort_after = opts.abort_after_groups;

    std::thread::scope(|s| -> Result<()> {
        let reader = s.spawn(move || read_all(inputs, fields, |it| item_tx.send(it).is_ok()));
        let writer = s.spawn(move || -> Result<Box<dyn Sink + Send>> {
            write_loop(&mut *sink, row_rx, abort_after)?;
            Ok(sink)
        });

        let mut group: Vec<Doc> = Vec::with_capacity(opts.group_docs);
        let flush = |group: &mut Vec<Doc>, stats: &mut Stats| -> Result<()> {
            if group.is_empty() {
                return Ok(());
            }
            let rows = encode_docs(enc, group, opts)?;
            stats.docs_encoded += group.len() as u64;
            stats.chunks += rows.len() as u64;
            stats.multi_chunk_docs += rows.iter().filter(|r| r.chunk == 1).count() as u64;
            stats.groups += 1;
            group.clear();
            row_tx.send(rows).map_err(|_| anyhow!("writer stopped"))
        };
        for item in item_rx.iter() {
            stats.records += 1;
            match item {
                Ok(doc) => {
                    if existing.contains(&doc.id) {
                        stats.skipped_existing += 1;
                    } else if doc.id.contains('\0') {
                        stats.bad_records += 1;
                        let msg = format!("{}: id contains a NUL character", doc.source);
                        if !opts.skip_bad {
                            fatal = Some(anyhow!(
                                "bad input record {msg} (use --skip-bad to skip bad records)"
                            ));
                            break;
                        }
                        progress.message(&format!("diskvec-encode: skipping bad record {msg}"));
                    } else if !opts.keep_duplicate_ids && !seen.insert(doc.id.clone()) {
                        stats.duplicates += 1;
                        progress.message(&format!(
                            "diskvec-encode: skipping duplicate id {:?} at {}",
                            doc.id, doc.source
                        ));
                    } else {
                        group.push(doc);
                        if group.len() >= opts.group_docs {
                            if let Err(e) = flush(&mut group, &mut stats) {
                                fatal = Some(e);
                                break;
                            }
                        }
                    }
                }
                Err(bad) => {
                    stats.bad_records += 1;
                    if !opts.skip_bad {
                        fatal = Some(anyhow!(
                            "bad input record {bad} (use --skip-bad to skip bad records)"
                        ));
                        break;
                    }
                    progress.message(&format!("diskvec-encode: skipping bad record {bad}"));
                }
            }
            progress.update(&stats, opts.total_hint);
        }
        // Everything read before a fatal input error is still encoded and written.
        if fatal
            .as_ref()
            .map_or(true, |e| e.to_string().starts_with("bad input"))
        {
            if let Err(e) = flush(&mut group, &mut stats) {
                fatal.get_or_insert(e);
            }
        }
        drop(row_tx);
        drop(item_rx);
        let read_result = reader
            .join()
            .map_err(|_| anyhow!("reader thread panicked"))?;
        let write_result = writer
            .join()
            .map_err(|_| anyhow!("writer thread panicked"))?;
        progress.update(&stats, opts.total_hint);
        progress.finish();
        // A writer failure explains a "writer stopped" encode failure: report it first.
        let sink = match write_result {
            Ok(sink) => sink,
            Err(e) => return Err(e),
        };
        // The output is closed properly even after a fatal input error, so that what was
        // written before it is a well-formed stream (a COPY that loads).
        let finished = sink.finish();
        if let Some(e) = fatal.take() {
            return Err(e);
        }
        read_result?;
        finished
    })?;
    stats.elapsed = start.elapsed();
    Ok(stats)
}

fn write_loop(
    sink: &mut dyn Sink,
    rx: Receiver<Vec<Row>>,
    abort_after: Option<usize>,
) -> Result<()> {
    let mut groups = 0usize;
    for rows in rx.iter() {
        sink.write_group(&rows)?;
        groups += 1;
        if abort_after == Some(groups) {
            eprintln!("diskvec-encode: test hook: aborting after {groups} groups");
            std::process::abort();
        }
    }
    Ok(())
}
