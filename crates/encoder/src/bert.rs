//! A CPU-tuned BERT encoder forward pass over *packed* sequences (no padding at all).
//!
//! Weights come from the model's safetensors through candle. All sequences of a batch are
//! concatenated into one `[tokens × hidden]` matrix, so the dense layers are single large
//! matrix products (candle's `gemm` backend, AVX-512 when the CPU has it), and attention runs
//! per sequence and head on exactly its own tokens. Element-wise work (bias, GELU, residual,
//! LayerNorm, softmax) is fused into few passes compiled for AVX-512/AVX2 with runtime dispatch.
//! Mathematically identical to HF `BertModel` with an attention mask; the candle-transformers
//! implementation is kept as `--backend candle` and the tests compare both.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device};
use gemm::Parallelism;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    GeluErf,
    GeluTanh,
    Relu,
}

struct Linear {
    /// PyTorch layout: `[n_out × k_in]`, row-major.
    w: Vec<f32>,
    b: Vec<f32>,
    k: usize,
    n: usize,
}

struct Norm {
    g: Vec<f32>,
    b: Vec<f32>,
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    ln1: Norm,
    inter: Linear,
    out: Linear,
    ln2: Norm,
}

pub struct Bert {
    word: Vec<f32>,
    pos: Vec<f32>,
    type0: Vec<f32>,
    ln_emb: Norm,
    layers: Vec<Layer>,
    pub hidden: usize,
    heads: usize,
    max_pos: usize,
    vocab: usize,
    eps: f32,
    act: Act,
}

struct Loader {
    st: MmapedSafetensors,
    prefix: String,
}

impl Loader {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{}", self.prefix, name);
        let t = self
            .st
            .load(&full, &Device::Cpu)
            .map_err(|e| anyhow!("tensor {full}: {e}"))?;
        if t.dims() != shape {
            bail!(
                "tensor {full} has shape {:?}, expected {:?}",
                t.dims(),
                shape
            );
        }
        Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
    }

    /// LayerNorm weights are `weight`/`bias` (or `gamma`/`beta` in old checkpoints).
    fn norm(&self, name: &str, h: usize) -> Result<Norm> {
        match self.get(&format!("{name}.weight"), &[h]) {
            Ok(g) => Ok(Norm {
                g,
                b: self.get(&format!("{name}.bias"), &[h])?,
            }),
            Err(e) => match self.get(&format!("{name}.gamma"), &[h]) {
                Ok(g) => Ok(Norm {
                    g,
                    b: self.get(&format!("{name}.beta"), &[h])?,
                }),
                Err(_) => Err(e),
            },
        }
    }

    fn linear(&self, name: &str, k: usize, n: usize) -> Result<Linear> {
        Ok(Linear {
            w: self.get(&format!("{name}.weight"), &[n, k])?,
            b: self.get(&format!("{name}.bias"), &[n])?,
            k,
            n,
        })
    }
}

impl Bert {
    pub fn load(weights: &Path, config: &serde_json::Value) -> Result<Self> {
        let num = |k: &str| -> Result<usize> {
            config
                .get(k)
                .and_then(|v| v.as_u64())
                .map(|v| v as usize)
                .with_context(|| format!("config.json: missing {k}"))
        };
        let h = num("hidden_size")?;
        let heads = num("num_attention_heads")?;
        let n_layers = num("num_hidden_layers")?;
        let inter = num("intermediate_size")?;
        let max_pos = num("max_position_embeddings")?;
        let vocab = num("vocab_size")?;
        let type_vocab = config
            .get("type_vocab_size")
            .and_then(|v| v.as_u64())
            .unwrap_or(2) as usize;
        let eps = config
            .get("layer_norm_eps")
            .and_then(|v| v.as_f64())
            .unwrap_or(1e-12) as f32;
        let act = match config
            .get("hidden_act")
            .and_then(|v| v.as_str())
            .unwrap_or("gelu")
        {
            "gelu" => Act::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => bail!("config.json: hidden_act {other:?} is not supported"),
        };
        if let Some(p) = config
            .get("position_embedding_type")
            .and_then(|v| v.as_str())
        {
            if p != "absolute" {
                bail!("config.json: position_embedding_type {p:?} is not supported");
            }
        }
        if h % heads != 0 {
            bail!("hidden_size {h} is not a multiple of num_attention_heads {heads}");
        }
        // SAFETY: read-only memory map of the weights file, which must not change while loading.
        let st = unsafe { MmapedSafetensors::new(weights) }
            .with_context(|| format!("reading {}", weights.display()))?;
        let prefix = if st.get("embeddings.word_embeddings.weight").is_ok() {
            String::new()
        } else if st.get("bert.embeddings.word_embeddings.weight").is_ok() {
            "bert.".to_string()
        } else {
            bail!(
                "{}: no embeddings.word_embeddings.weight tensor: not a BERT checkpoint",
                weights.display()
            );
        };
        let ld = Loader { st, prefix };
        let word = ld.get("embeddings.word_embeddings.weight", &[vocab, h])?;
        let pos = ld.get("embeddings.position_embeddings.weight", &[max_pos, h])?;
        let mut type0 = ld.get("embeddings.token_type_embeddings.weight", &[type_vocab, h])?;
        type0.truncate(h);
        let ln_emb = ld.norm("embeddings.LayerNorm", h)?;
        let mut layers = Vec::with_capacity(n_layers);
        for i in 0..n_layers {
            let p = format!("encoder.layer.{i}.");
            let q = ld.linear(&format!("{p}attention.self.query"), h, h)?;
            let k = ld.linear(&format!("{p}attention.self.key"), h, h)?;
            let v = ld.linear(&format!("{p}attention.self.value"), h, h)?;
            let qkv = Linear {
                w: [q.w, k.w, v.w].concat(),
                b: [q.b, k.b, v.b].concat(),
                k: h,
                n: 3 * h,
            };
            layers.push(Layer {
                qkv,
                attn_out: ld.linear(&format!("{p}attention.output.dense"), h, h)?,
                ln1: ld.norm(&format!("{p}attention.output.LayerNorm"), h)?,
                inter: ld.linear(&format!("{p}intermediate.dense"), h, inter)?,
                out: ld.linear(&format!("{p}output.dense"), inter, h)?,
                ln2: ld.norm(&format!("{p}output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            word,
            pos,
            type0,
            ln_emb,
            layers,
            hidden: h,
            heads,
            max_pos,
            vocab,
            eps,
            act,
        })
    }

    /// Runs the encoder on each sequence (ids with special tokens) and returns the last hidden
    /// states packed as `[Σ len × hidden]`, sequence after sequence. `threads`: matrix-product
    /// threads for this call.
    pub fn forward(&self, seqs: &[&[u32]], threads: usize) -> Result<Vec<f32>> {
        let h = self.hidden;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let maxlen = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if maxlen > self.max_pos {
            bail!(
                "sequence of {maxlen} tokens exceeds max_position_embeddings {}",
                self.max_pos
            );
        }
        let par = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        // embeddings
        let mut x = vec![0f32; total * h];
        let mut row = 0;
        for s in seqs {
            for (p, &id) in s.iter().enumerate() {
                let id = id as usize;
                if id >= self.vocab {
                    bail!("token id {id} outside the vocabulary ({})", self.vocab);
                }
                let dst = &mut x[row * h..(row + 1) * h];
                let (w, ps) = (
                    &self.word[id * h..(id + 1) * h],
                    &self.pos[p * h..(p + 1) * h],
                );
                for j in 0..h {
                    dst[j] = w[j] + ps[j] + self.type0[j];
                }
                row += 1;
            }
        }
        kernels::layer_norm_rows(&mut x, h, &self.ln_emb.g, &self.ln_emb.b, self.eps);

        let inter_n = self.layers.first().map(|l| l.inter.n).unwrap_or(0);
        let mut qkv = vec![0f32; total * 3 * h];
        let mut ctx = vec![0f32; total * h];
        let mut inter = vec![0f32; total * inter_n];
        let mut tmp = vec![0f32; total * h];
        let mut scores = vec![0f32; maxlen * maxlen];
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        for l in &self.layers {
            linear(&x, total, &l.qkv, &mut qkv, None, par);
            // attention, per sequence and head, on its own tokens only
            let mut start = 0;
            for s in seqs {
                let n = s.len();
                for hd in 0..self.heads {
                    let q = qkv[start * 3 * h + hd * d..].as_ptr();
                    let k = qkv[start * 3 * h + h + hd * d..].as_ptr();
                    let v = qkv[start * 3 * h + 2 * h + hd * d..].as_ptr();
                    let sc = &mut scores[..n * n];
                    // SAFETY: all pointers/strides stay inside qkv, scores and ctx (bounds from n, d, h).
                    unsafe {
                        gemm::gemm(
                            n,
                            n,
                            d,
                            sc.as_mut_ptr(),
                            1,
                            n as isize,
                            false,
                            q,
                            1,
                            3 * h as isize,
                            k,
                            3 * h as isize,
                            1,
                            0.0,
                            scale,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                    kernels::softmax_rows(sc, n);
                    let c = ctx[start * h + hd * d..].as_mut_ptr();
                    // SAFETY: as above.
                    unsafe {
                        gemm::gemm(
                            n,
                            d,
                            n,
                            c,
                            1,
                            h as isize,
                            false,
                            sc.as_ptr(),
                            1,
                            n as isize,
                            v,
                            1,
                            3 * h as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            Parallelism::None,
                        );
                    }
                }
                start += n;
            }
            // x1 = LN(x + ctx·Woᵀ + b)
            linear(&ctx, total, &l.attn_out, &mut tmp, Some(&x), par);
            kernels::layer_norm_rows(&mut tmp, h, &l.ln1.g, &l.ln1.b, self.eps);
            std::mem::swap(&mut x, &mut tmp);
            // x = LN(x1 + act(x1·Wiᵀ + bi)·Wo2ᵀ + bo2)
            linear(&x, total, &l.inter, &mut inter, None, par);
            kernels::activation(&mut inter, self.act);
            linear(&inter, total, &l.out, &mut tmp, Some(&x), par);
            kernels::layer_norm_rows(&mut tmp, h, &l.ln2.g, &l.ln2.b, self.eps);
            std::mem::swap(&mut x, &mut tmp);
        }
        Ok(x)
    }
}

/// `out[m × n] = inp[m × k]·Wᵀ + b (+ residual)`.
fn linear(
    inp: &[f32],
    m: usize,
    l: &Linear,
    out: &mut [f32],
    residual: Option<&[f32]>,
    par: Parallelism,
) {
    let (k, n) = (l.k, l.n);
    assert!(inp.len() >= m * k && out.len() >= m * n);
    for r in 0..m {
        let o = &mut out[r * n..(r + 1) * n];
        match residual {
            Some(res) => {
                for ((a, &b), &c) in o.iter_mut().zip(&l.b).zip(&res[r * n..(r + 1) * n]) {
                    *a = b + c;
                }
            }
            None => o.copy_from_slice(&l.b),
        }
    }
    if m == 0 {
        return;
    }
    // SAFETY: out is m×n row-major, inp m×k row-major, W n×k row-major read as its transpose.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            true,
            inp.as_ptr(),
            1,
            k as isize,
            l.w.as_ptr(),
            k as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Element-wise kernels, written so the compiler vectorizes them, compiled for AVX-512 and
/// AVX2+FMA with runtime dispatch (and baseline x86-64 / other targets as fallback).
pub mod kernels {
    use super::Act;

    macro_rules! dispatch {
        ($(#[$m:meta])* pub fn $name:ident($($a:ident : $t:ty),*) $body:block) => {
            $(#[$m])*
            pub fn $name($($a: $t),*) {
                #[inline(always)]
                fn imp($($a: $t),*) $body
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                    unsafe fn v4($($a: $t),*) { imp($($a),*) }
                    #[target_feature(enable = "avx2,fma")]
                    unsafe fn v3($($a: $t),*) { imp($($a),*) }
                    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl") {
                        // SAFETY: the CPU supports the enabled features.
                        return unsafe { v4($($a),*) };
                    }
                    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                        // SAFETY: as above.
                        return unsafe { v3($($a),*) };
                    }
                }
                imp($($a),*)
            }
        };
    }

    /// exp(x) for x ≤ 88 (Cephes polynomial, relative error ~1e-7), vectorizable.
    #[inline(always)]
    pub fn exp_approx(x: f32) -> f32 {
        let x = x.clamp(-87.0, 88.0);
        let fx = x * std::f32::consts::LOG2_E;
        // round to nearest with the 1.5·2^23 trick (no libm call)
        let n = (fx + 12_582_912.0) - 12_582_912.0;
        let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
        let mut p = 1.987_569_1e-4f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 5.000_000_1e-1;
        let y = p * r * r + r + 1.0;
        f32::from_bits(((n as i32 + 127) << 23) as u32) * y
    }

    /// erf(x), rational approximation (as in Eigen/XLA), max abs error ~1e-7, vectorizable.
    #[inline(always)]
    pub fn erf_approx(x: f32) -> f32 {
        let x = x.clamp(-4.0, 4.0);
        let x2 = x * x;
        let mut p = -2.726_142_3e-10f32;
        p = p * x2 + 2.770_681_4e-8;
        p = p * x2 - 2.101_024e-6;
        p = p * x2 - 5.692_506_4e-5;
        p = p * x2 - 7.349_906_3e-4;
        p = p * x2 - 2.954_6e-3;
        p = p * x2 - 1.609_603_3e-2;
        let mut q = -1.456_607_2e-5f32;
        q = q * x2 - 2.133_740_6e-4;
        q = q * x2 - 1.682_827e-3;
        q = q * x2 - 7.373_329e-3;
        q = q * x2 - 1.426_474e-2;
        x * p / q
    }

    dispatch! {
        /// In-place activation.
        pub fn activation(x: &mut [f32], act: Act) {
            match act {
                Act::GeluErf => {
                    for v in x.iter_mut() {
                        *v = 0.5 * *v * (1.0 + erf_approx(*v * std::f32::consts::FRAC_1_SQRT_2));
                    }
                }
                Act::GeluTanh => {
                    for v in x.iter_mut() {
                        let u = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
                        // tanh(u) = 1 - 2/(exp(2u)+1)
                        let t = 1.0 - 2.0 / (exp_approx(2.0 * u) + 1.0);
                        *v = 0.5 * *v * (1.0 + t);
                    }
                }
                Act::Relu => {
                    for v in x.iter_mut() {
                        *v = v.max(0.0);
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn sum16(x: &[f32]) -> f32 {
        let mut acc = [0f32; 16];
        let mut it = x.chunks_exact(16);
        for c in &mut it {
            for i in 0..16 {
                acc[i] += c[i];
            }
        }
        let mut s: f32 = it.remainder().iter().sum();
        for a in acc {
            s += a;
        }
        s
    }

    #[inline(always)]
    fn max16(x: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; 16];
        let mut it = x.chunks_exact(16);
        for c in &mut it {
            for i in 0..16 {
                acc[i] = acc[i].max(c[i]);
            }
        }
        let mut m = it
            .remainder()
            .iter()
            .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for a in acc {
            m = m.max(a);
        }
        m
    }

    dispatch! {
        /// Softmax of each row of a `[rows × n]` matrix, in place.
        pub fn softmax_rows(x: &mut [f32], n: usize) {
            for row in x.chunks_exact_mut(n) {
                let m = max16(row);
                for v in row.iter_mut() {
                    *v = exp_approx(*v - m);
                }
                let inv = 1.0 / sum16(row);
                for v in row.iter_mut() {
                    *v *= inv;
                }
            }
        }
    }

    dispatch! {
        /// LayerNorm of each row of a `[rows × h]` matrix, in place (biased variance, like PyTorch).
        pub fn layer_norm_rows(x: &mut [f32], h: usize, g: &[f32], b: &[f32], eps: f32) {
            for row in x.chunks_exact_mut(h) {
                let mean = sum16(row) / h as f32;
                for v in row.iter_mut() {
                    *v -= mean;
                }
                let mut acc = [0f32; 16];
                let mut it = row.chunks_exact(16);
                for c in &mut it {
                    for i in 0..16 {
                        acc[i] += c[i] * c[i];
                    }
                }
                let mut var: f32 = it.remainder().iter().map(|v| v * v).sum();
                for a in acc {
                    var += a;
                }
                let inv = 1.0 / (var / h as f32 + eps).sqrt();
                for ((v, &gg), &bb) in row.iter_mut().zip(g).zip(b) {
                    *v = *v * inv * gg + bb;
                }
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn erf_ref(x: f64) -> f64 {
            // Abramowitz–Stegun 7.1.26 is too coarse for a reference; integrate instead.
            let n = 20000;
            let h = x / n as f64;
            let mut s = 0.0;
            for i in 0..=n {
                let t = i as f64 * h;
                let w = if i == 0 || i == n {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                s += w * (-t * t).exp();
            }
            s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
        }

        #[test]
        fn erf_is_accurate() {
            let mut worst = 0f64;
            for i in -600..=600 {
                let x = i as f32 / 100.0;
                let e = (erf_approx(x) as f64 - erf_ref(x as f64)).abs();
                worst = worst.max(e);
            }
            assert!(worst < 5e-7, "erf max abs error {worst}");
        }

        #[test]
        fn exp_is_accurate() {
            let mut worst = 0f64;
            for i in -8700..=8800 {
                let x = i as f32 / 100.0;
                let want = (x as f64).exp();
                let rel = ((exp_approx(x) as f64 - want) / want).abs();
                worst = worst.max(rel);
            }
            assert!(worst < 1e-6, "exp max rel error {worst}");
            assert_eq!(exp_approx(-1000.0) < 1e-37, true);
        }

        #[test]
        fn softmax_and_layernorm() {
            let mut x: Vec<f32> = (0..37 * 3)
                .map(|i| ((i * 7919) % 113) as f32 / 10.0 - 5.0)
                .collect();
            let orig = x.clone();
            softmax_rows(&mut x, 37);
            for (r, o) in x.chunks(37).zip(orig.chunks(37)) {
                let m = o.iter().cloned().fold(f32::MIN, f32::max);
                let z: f64 = o.iter().map(|v| ((v - m) as f64).exp()).sum();
                for (a, b) in r.iter().zip(o) {
                    assert!((*a as f64 - ((b - m) as f64).exp() / z).abs() < 1e-6);
                }
            }
            let h = 40;
            let mut y: Vec<f32> = (0..h * 2)
                .map(|i| (i as f32 * 0.37).sin() * 3.0 + 1.0)
                .collect();
            let g = vec![2.0; h];
            let b = vec![0.5; h];
            layer_norm_rows(&mut y, h, &g, &b, 1e-12);
            for r in y.chunks(h) {
                let mean: f32 = r.iter().map(|v| (v - 0.5) / 2.0).sum::<f32>() / h as f32;
                let var: f32 = r.iter().map(|v| ((v - 0.5) / 2.0).powi(2)).sum::<f32>() / h as f32;
                assert!(
                    mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                    "{mean} {var}"
                );
            }
        }
    }
}
