#![allow(dead_code)]
//! Test helpers: locating shared data and the model, small utilities.

use std::path::PathBuf;

/// `shared/data`: `$DISKVEC_SHARED/data` if set, else `<repo>/../shared/data` (the repo is
/// checked out next to `shared/`).
pub fn shared_data() -> PathBuf {
    let mut cands = Vec::new();
    if let Some(s) = std::env::var_os("DISKVEC_SHARED") {
        cands.push(PathBuf::from(s).join("data"));
    }
    cands.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    for c in &cands {
        if c.join("minilm_reference.jsonl").is_file() {
            return c.canonicalize().unwrap();
        }
    }
    panic!(
        "shared data not found: looked for minilm_reference.jsonl in {:?}. The repo must be checked out \
         next to shared/ (or set DISKVEC_SHARED).",
        cands
    );
}

/// The default model folder, `$DISKVEC_DATA/all-MiniLM-L6-v2`; panics with instructions if missing.
pub fn model_dir() -> PathBuf {
    let d = diskvec_encoder::model::default_model_dir();
    if !d.join("model.safetensors").is_file() {
        panic!(
            "model folder {} is missing: run ../shared/data/get.sh (it writes $DISKVEC_DATA, default ~/.cache/diskvec-data)",
            d.display()
        );
    }
    d
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        d += *x as f64 * *y as f64;
        na += *x as f64 * *x as f64;
        nb += *y as f64 * *y as f64;
    }
    d / (na.sqrt() * nb.sqrt()).max(1e-30)
}

pub struct RefEntry {
    pub text: String,
    pub tokens_with_special: usize,
    pub truncated: bool,
    pub embedding: Vec<f32>,
}

pub fn reference() -> Vec<RefEntry> {
    let p = shared_data().join("minilm_reference.jsonl");
    std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            RefEntry {
                text: v["text"].as_str().unwrap().to_string(),
                tokens_with_special: v["tokens_with_special"].as_u64().unwrap() as usize,
                truncated: v["truncated_at_256"].as_bool().unwrap(),
                embedding: v["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect(),
            }
        })
        .collect()
}

/// The first `n` WordNet glosses from `$DISKVEC_DATA/wordnet.jsonl` as JSONL lines.
pub fn wordnet_lines(n: usize) -> Vec<String> {
    let p = diskvec_encoder::model::data_dir().join("wordnet.jsonl");
    let s = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (run ../shared/data/get.sh)", p.display()));
    s.lines().take(n).map(|l| l.to_string()).collect()
}
