//! Agreement with sentence-transformers on shared/data/minilm_reference.jsonl: token counts,
//! cosine >= 0.9999 for every text (first chunk for texts over 256 tokens), chunk boundaries.

mod common;

use common::*;
use diskvec_encoder::model::Encoder;
use diskvec_encoder::pipeline::embed_sorted;

#[test]
fn matches_sentence_transformers_reference() {
    let refs = reference();
    assert_eq!(refs.len(), 100, "reference file should hold 100 texts");
    let enc = Encoder::load(&model_dir()).unwrap();
    assert_eq!(enc.dim, 384);
    assert_eq!(enc.max_seq_length, 256);
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let toks = enc.tokenize(&texts).unwrap();
    let mut firsts = Vec::new();
    for (r, t) in refs.iter().zip(&toks) {
        assert_eq!(
            enc.token_count(t),
            r.tokens_with_special,
            "token count of {:?}",
            &r.text[..r.text.len().min(60)]
        );
        let chunks = enc.chunks(&r.text, t, 32);
        assert_eq!(
            chunks.len() > 1,
            r.truncated,
            "truncation flag of {:?}",
            &r.text[..r.text.len().min(60)]
        );
        assert!(chunks[0].input_ids.len() <= 256);
        firsts.push(chunks[0].input_ids.clone());
    }
    assert_eq!(refs.iter().filter(|r| r.truncated).count(), 18);
    // Batched like the real pipeline: sorted by length, padded to the longest of each batch.
    let vecs = embed_sorted(&enc, &firsts, 32, 2).unwrap();
    let mut worst = (1.0f64, String::new());
    for (r, v) in refs.iter().zip(&vecs) {
        let c = cosine(v, &r.embedding);
        if c < worst.0 {
            worst = (c, r.text.chars().take(50).collect());
        }
        let n: f64 = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        assert!((n - 1.0).abs() < 1e-5, "not normalized: {n}");
    }
    eprintln!("worst cosine {:.7} for {:?}", worst.0, worst.1);
    assert!(
        worst.0 >= 0.9999,
        "cosine {} < 0.9999 for {:?}",
        worst.0,
        worst.1
    );
}

#[test]
fn batching_and_padding_do_not_change_vectors() {
    let refs = reference();
    let enc = Encoder::load(&model_dir()).unwrap();
    let texts: Vec<&str> = refs.iter().take(40).map(|r| r.text.as_str()).collect();
    let toks = enc.tokenize(&texts).unwrap();
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .zip(&toks)
        .map(|(x, t)| enc.chunks(x, t, 0)[0].input_ids.clone())
        .collect();
    let batched = embed_sorted(&enc, &ids, 16, 1).unwrap();
    for (i, id) in ids.iter().enumerate().step_by(7) {
        let single = enc.embed_batch(&[id]).unwrap().pop().unwrap();
        assert!(cosine(&single, &batched[i]) > 0.999999, "text {i}");
    }
    let (q, truncated) = enc.embed_query(texts[0]).unwrap();
    assert!(!truncated);
    assert!(cosine(&q, &refs[0].embedding) >= 0.9999);
}

#[test]
fn chunk_boundaries_on_real_long_texts() {
    let refs = reference();
    let enc = Encoder::load(&model_dir()).unwrap();
    let long: Vec<&common::RefEntry> = refs.iter().filter(|r| r.truncated).collect();
    let window = enc.window_tokens();
    assert_eq!(window, 254);
    for overlap in [0usize, 32, 100] {
        for r in &long {
            let t = enc.tokenize(&[r.text.as_str()]).unwrap().pop().unwrap();
            let chunks = enc.chunks(&r.text, &t, overlap);
            let n = t.ids.len();
            let step = window - overlap;
            assert_eq!(
                chunks.len(),
                if n <= window {
                    1
                } else {
                    (n - window).div_ceil(step) + 1
                }
            );
            let mut last_end_byte = 0;
            for (i, c) in chunks.iter().enumerate() {
                assert_eq!(c.chunk, i);
                assert_eq!(c.input_ids[0], 101, "[CLS] first");
                assert_eq!(*c.input_ids.last().unwrap(), 102, "[SEP] last");
                let s = i * step;
                let e = (s + window).min(n);
                assert_eq!(&c.input_ids[1..c.input_ids.len() - 1], &t.ids[s..e]);
                // the chunk text is the exact source span of its tokens
                let a = t.offsets[s].0;
                let b = t.offsets[e - 1].1;
                assert_eq!(c.text, &r.text[a..b]);
                assert!(r.text.contains(&c.text));
                assert!(b >= last_end_byte);
                last_end_byte = b;
            }
            assert_eq!(
                last_end_byte,
                t.offsets[n - 1].1,
                "the last chunk reaches the end: nothing dropped"
            );
            // chunk 0 is exactly what a 256-token truncation gives
            let mut trunc = vec![101u32];
            trunc.extend_from_slice(&t.ids[..window]);
            trunc.push(102);
            assert_eq!(chunks[0].input_ids, trunc);
        }
    }
}

#[test]
fn empty_and_whitespace_texts() {
    let enc = Encoder::load(&model_dir()).unwrap();
    let refs = reference();
    let empty = refs
        .iter()
        .find(|r| r.text.is_empty())
        .expect("reference has an empty text");
    for text in ["", "   ", "\n"] {
        let t = enc.tokenize(&[text]).unwrap().pop().unwrap();
        assert_eq!(enc.token_count(&t), 2);
        let c = enc.chunks(text, &t, 32);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].input_ids, vec![101, 102]);
        let v = enc.embed_batch(&[&c[0].input_ids]).unwrap().pop().unwrap();
        assert!(cosine(&v, &empty.embedding) >= 0.9999);
    }
}

#[test]
fn fast_backend_agrees_with_candle_transformers() {
    use diskvec_encoder::model::BackendKind;
    let refs = reference();
    let fast = Encoder::load_with(&model_dir(), BackendKind::Fast).unwrap();
    let candle = Encoder::load_with(&model_dir(), BackendKind::Candle).unwrap();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();
    let toks = fast.tokenize(&texts).unwrap();
    let ids: Vec<Vec<u32>> = texts
        .iter()
        .zip(&toks)
        .map(|(x, t)| fast.chunks(x, t, 0)[0].input_ids.clone())
        .collect();
    let a = embed_sorted(&fast, &ids, 16, 2).unwrap();
    let b = embed_sorted(&candle, &ids, 16, 2).unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(cosine(x, y) > 0.99999, "text {i}: {}", cosine(x, y));
    }
}
