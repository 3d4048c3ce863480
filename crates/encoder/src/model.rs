//! Loading a sentence-transformers BERT-family model folder and encoding token windows
//! exactly as sentence-transformers does: its own padding (to the longest in the batch)
//! and truncation (`max_seq_length`), mean (or CLS) pooling over the attention mask,
//! then L2 normalization.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::Tokenizer;

use crate::chunk;

/// Pooling mode from `1_Pooling/config.json` (mean is the default and MiniLM's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// Tokenized document: content token ids (no special tokens) and their byte offsets in the text.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
}

/// One window of a document, ready for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Chunk number within its document, from 0.
    pub chunk: usize,
    /// The text this window covers (the whole text for a one-chunk document).
    pub text: String,
    /// Model input ids, special tokens included.
    pub input_ids: Vec<u32>,
}

/// Which forward pass runs the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Our packed, padding-free forward pass (crate::bert): the default, faster on CPU.
    Fast,
    /// candle-transformers' `BertModel` with a padded batch and an attention mask (reference).
    Candle,
}

enum Backend {
    Fast(crate::bert::Bert),
    Candle(BertModel),
}

pub struct Encoder {
    backend: Backend,
    /// Threads for the matrix products of one model call.
    pub gemm_threads: usize,
    tokenizer: Tokenizer,
    device: Device,
    /// Embedding dimension (hidden size).
    pub dim: usize,
    /// sentence-transformers' `max_seq_length` (special tokens included).
    pub max_seq_length: usize,
    pub pooling: Pooling,
    pub normalize: bool,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    pad_id: u32,
    pub model_dir: PathBuf,
}

/// `$DISKVEC_DATA` or `~/.cache/diskvec-data`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DISKVEC_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/diskvec-data")
}

/// The default model folder: `$DISKVEC_DATA/all-MiniLM-L6-v2`.
pub fn default_model_dir() -> PathBuf {
    data_dir().join("all-MiniLM-L6-v2")
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&s).with_context(|| format!("parsing {}", path.display()))
}

/// Checks a model folder and names every required file that is missing.
pub fn check_model_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!(
            "model folder {} does not exist (expected a sentence-transformers folder with \
             config.json, tokenizer.json and model.safetensors; the default model is made by \
             shared/data/get.sh into $DISKVEC_DATA/all-MiniLM-L6-v2)",
            dir.display()
        );
    }
    let mut missing = Vec::new();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        let p = dir.join(f);
        match std::fs::metadata(&p) {
            Ok(m) if m.is_file() && m.len() > 0 => {}
            Ok(_) => missing.push(format!("{f} (empty or not a file)")),
            Err(_) => missing.push(f.to_string()),
        }
    }
    if !missing.is_empty() {
        let hint = if missing.iter().any(|m| m.starts_with("model.safetensors"))
            && dir.join("pytorch_model.bin").exists()
        {
            " (pytorch_model.bin is present but only safetensors weights are supported)"
        } else {
            ""
        };
        bail!(
            "model folder {} is incomplete: missing {}{}",
            dir.display(),
            missing.join(", "),
            hint
        );
    }
    Ok(())
}

impl Encoder {
    /// Loads `config.json`, `tokenizer.json`, `model.safetensors`, and, when present,
    /// `sentence_bert_config.json` (max_seq_length) and `1_Pooling/config.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_with(dir, BackendKind::Fast)
    }

    pub fn load_with(dir: &Path, kind: BackendKind) -> Result<Self> {
        check_model_dir(dir)?;
        let device = Device::Cpu;
        let config_json = read_json(&dir.join("config.json"))?;
        if let Some(mt) = config_json.get("model_type").and_then(|v| v.as_str()) {
            if mt != "bert" {
                bail!("{}: model_type {mt:?} is not supported (only BERT models, model_type \"bert\")", dir.display());
            }
        }
        let config: BertConfig = serde_json::from_value(config_json.clone())
            .with_context(|| format!("{}: config.json is not a BERT config", dir.display()))?;

        let st_config = dir.join("sentence_bert_config.json");
        let mut max_seq_length = config.max_position_embeddings.min(512);
        if st_config.exists() {
            if let Some(m) = read_json(&st_config)?
                .get("max_seq_length")
                .and_then(|v| v.as_u64())
            {
                max_seq_length = m as usize;
            }
        }
        if max_seq_length > config.max_position_embeddings {
            bail!(
                "max_seq_length {max_seq_length} exceeds the model's max_position_embeddings {}",
                config.max_position_embeddings
            );
        }
        let mut pooling = Pooling::Mean;
        let pool_cfg = dir.join("1_Pooling/config.json");
        if pool_cfg.exists() {
            let p = read_json(&pool_cfg)?;
            let flag = |k: &str| p.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
            if flag("pooling_mode_cls_token") {
                pooling = Pooling::Cls;
            } else if !flag("pooling_mode_mean_tokens") {
                bail!(
                    "{}: only mean or CLS pooling is supported",
                    pool_cfg.display()
                );
            }
        }

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow!("loading {}: {e}", dir.join("tokenizer.json").display()))?;
        let pad_id = tokenizer
            .get_padding()
            .map(|p| p.pad_id)
            .unwrap_or(config.pad_token_id as u32);
        // sentence-transformers pads to the longest input of the batch and truncates at
        // max_seq_length, not at whatever tokenizer.json says: we do both ourselves.
        tokenizer
            .with_truncation(None)
            .map_err(|e| anyhow!("disabling tokenizer truncation: {e}"))?;
        tokenizer.with_padding(None);

        // Special tokens the post-processor puts around a single sequence ([CLS] … [SEP]).
        let probe = "a";
        let plain = tokenizer
            .encode(probe, false)
            .map_err(|e| anyhow!("tokenizer: {e}"))?;
        let full = tokenizer
            .encode(probe, true)
            .map_err(|e| anyhow!("tokenizer: {e}"))?;
        let (plain, full) = (plain.get_ids(), full.get_ids());
        let pos = full
            .windows(plain.len())
            .position(|w| w == plain)
            .ok_or_else(|| {
                anyhow!("cannot locate the sequence inside the tokenizer's special-token template")
            })?;
        let prefix = full[..pos].to_vec();
        let suffix = full[pos + plain.len()..].to_vec();
        if prefix.len() + suffix.len() >= max_seq_length {
            bail!("max_seq_length {max_seq_length} leaves no room for content tokens");
        }

        let weights = dir.join("model.safetensors");
        let backend = match kind {
            BackendKind::Fast => Backend::Fast(
                crate::bert::Bert::load(&weights, &config_json)
                    .with_context(|| format!("loading {}", weights.display()))?,
            ),
            BackendKind::Candle => {
                // SAFETY: the file is memory-mapped read-only; it must not change while we run.
                let vb = unsafe {
                    VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device)
                }
                .with_context(|| format!("loading {}", weights.display()))?;
                Backend::Candle(BertModel::load(vb, &config).with_context(|| {
                    format!("{}: weights do not match config.json", weights.display())
                })?)
            }
        };
        Ok(Self {
            backend,
            gemm_threads: 1,
            tokenizer,
            device,
            dim: config.hidden_size,
            max_seq_length,
            pooling,
            normalize: true,
            prefix,
            suffix,
            pad_id,
            model_dir: dir.to_path_buf(),
        })
    }

    /// Content tokens per window (max_seq_length minus the special tokens).
    pub fn window_tokens(&self) -> usize {
        self.max_seq_length - self.prefix.len() - self.suffix.len()
    }

    /// Tokenizes texts (in parallel) without special tokens, truncation or padding.
    /// Like sentence-transformers, leading/trailing whitespace is stripped first;
    /// offsets refer to the stripped text's position in the original string.
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Tokens>> {
        let stripped: Vec<(usize, &str)> = texts
            .iter()
            .map(|t| {
                let s = t.trim_start();
                let lead = t.len() - s.len();
                (lead, s.trim_end())
            })
            .collect();
        let inputs: Vec<&str> = stripped.iter().map(|(_, s)| *s).collect();
        let encs = self
            .tokenizer
            .encode_batch(inputs, false)
            .map_err(|e| anyhow!("tokenizer: {e}"))?;
        Ok(encs
            .into_iter()
            .zip(&stripped)
            .map(|(e, (lead, _))| Tokens {
                ids: e.get_ids().to_vec(),
                offsets: e
                    .get_offsets()
                    .iter()
                    .map(|&(a, b)| (a + lead, b + lead))
                    .collect(),
            })
            .collect())
    }

    /// Token count with special tokens, before any truncation (what `len(tokenizer(text))` gives).
    pub fn token_count(&self, t: &Tokens) -> usize {
        t.ids.len() + self.prefix.len() + self.suffix.len()
    }

    /// Splits a tokenized text into windows of `window_tokens()` content tokens that overlap by
    /// `overlap` tokens. Chunk 0 is exactly sentence-transformers' truncated input.
    pub fn chunks(&self, text: &str, t: &Tokens, overlap: usize) -> Vec<Chunk> {
        let ws = chunk::windows(t.ids.len(), self.window_tokens(), overlap);
        let single = ws.len() == 1;
        ws.into_iter()
            .enumerate()
            .map(|(i, (s, e))| {
                let mut input_ids =
                    Vec::with_capacity(e - s + self.prefix.len() + self.suffix.len());
                input_ids.extend_from_slice(&self.prefix);
                input_ids.extend_from_slice(&t.ids[s..e]);
                input_ids.extend_from_slice(&self.suffix);
                let text = if single {
                    text.to_string()
                } else {
                    let a = t.offsets[s].0;
                    let b = t.offsets[e - 1].1.max(a);
                    text.get(a..b).unwrap_or("").to_string()
                };
                Chunk {
                    chunk: i,
                    text,
                    input_ids,
                }
            })
            .collect()
    }

    /// Runs the model on one batch of windows (padded to the longest) and returns one pooled,
    /// normalized vector per window.
    pub fn embed_batch(&self, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let b = batch.len();
        let l = batch.iter().map(|x| x.len()).max().unwrap();
        if l > self.max_seq_length {
            bail!(
                "input of {l} tokens exceeds max_seq_length {}",
                self.max_seq_length
            );
        }
        let h = self.dim;
        // hidden states of sequence r, token t: out[starts[r] + t * h ..][..h]
        let (out, starts): (Vec<f32>, Vec<usize>) = match &self.backend {
            Backend::Fast(bert) => {
                let out = bert.forward(batch, self.gemm_threads)?;
                let mut starts = Vec::with_capacity(b);
                let mut acc = 0;
                for x in batch {
                    starts.push(acc * h);
                    acc += x.len();
                }
                (out, starts)
            }
            Backend::Candle(model) => {
                let mut ids = vec![self.pad_id; b * l];
                let mut mask = vec![0u32; b * l];
                for (r, x) in batch.iter().enumerate() {
                    ids[r * l..r * l + x.len()].copy_from_slice(x);
                    mask[r * l..r * l + x.len()].fill(1);
                }
                let ids_t = Tensor::from_vec(ids, (b, l), &self.device)?;
                let type_t = ids_t.zeros_like()?;
                let mask_t = Tensor::from_vec(mask, (b, l), &self.device)?;
                let all_full = batch.iter().all(|x| x.len() == l);
                let out =
                    model.forward(&ids_t, &type_t, if all_full { None } else { Some(&mask_t) })?;
                (
                    out.flatten_all()?.to_vec1::<f32>()?,
                    (0..b).map(|r| r * l * h).collect(),
                )
            }
        };
        let mut vecs = Vec::with_capacity(b);
        for (r, x) in batch.iter().enumerate() {
            let base = starts[r];
            let mut v = vec![0f32; h];
            match self.pooling {
                Pooling::Cls => v.copy_from_slice(&out[base..base + h]),
                Pooling::Mean => {
                    for t in 0..x.len() {
                        let row = &out[base + t * h..base + (t + 1) * h];
                        for (a, y) in v.iter_mut().zip(row) {
                            *a += y;
                        }
                    }
                    let n = (x.len() as f32).max(1e-9);
                    for a in v.iter_mut() {
                        *a /= n;
                    }
                }
            }
            if self.normalize {
                l2_normalize(&mut v);
            }
            vecs.push(v);
        }
        Ok(vecs)
    }

    /// Embeds a single text the way `SentenceTransformer.encode` does (truncated to the first window).
    pub fn embed_query(&self, text: &str) -> Result<(Vec<f32>, bool)> {
        let t = self.tokenize(&[text])?.pop().unwrap();
        let chunks = self.chunks(text, &t, 0);
        let truncated = chunks.len() > 1;
        let v = self.embed_batch(&[&chunks[0].input_ids])?.pop().unwrap();
        Ok((v, truncated))
    }
}

/// `v / max(||v||, 1e-12)`, like `torch.nn.functional.normalize`.
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= n;
    }
}

/// pgvector text form with shortest round-trip formatting of each f32: `[0.0123,-0.5,…]`.
pub fn vector_literal(v: &[f32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(v.len() * 12 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // Rust's Display for f32 prints the shortest string that parses back to the same value.
        write!(s, "{x}").unwrap();
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_round_trips() {
        let v = [0.1f32, -0.0, 1e-10, 3.4028235e38, 1.0 / 3.0, 0.012345678];
        let s = vector_literal(&v);
        assert!(s.starts_with('[') && s.ends_with(']'));
        let back: Vec<f32> = s[1..s.len() - 1]
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(vector_literal(&[0.5, 1.0]), "[0.5,1]");
    }

    #[test]
    fn missing_model_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), "{}").unwrap();
        let e = check_model_dir(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("tokenizer.json")
                && e.contains("model.safetensors")
                && !e.contains("config.json,"),
            "{e}"
        );
        let e = check_model_dir(&d.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
