//! Test and benchmark data: a minimal `.npy` reader (little-endian v1/v2,
//! C order) and brute-force ground truth. No Python at test time.

use crate::index::Metric;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// A 2-D array read from `.npy`.
pub struct Array<T> {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<T>,
}

impl<T> Array<T> {
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

fn read_npy(path: &Path, descr: &str, size: usize) -> std::io::Result<(usize, usize, Vec<u8>)> {
    let bytes = std::fs::read(path)?;
    let bad = |m: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {m}", path.display()),
        )
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        v => return Err(bad(&format!("npy version {v}"))),
    };
    let header = std::str::from_utf8(&bytes[hstart..hstart + hlen]).map_err(|_| bad("header"))?;
    if !header.contains(&format!("'descr': '{descr}'")) {
        return Err(bad(&format!("expected dtype {descr}, header {header}")));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran order"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap_or(0))
        .collect();
    let (rows, cols) = match dims.as_slice() {
        [r] => (*r, 1),
        [r, c] => (*r, *c),
        _ => return Err(bad("need a 1-D or 2-D array")),
    };
    let body = bytes[hstart + hlen..].to_vec();
    if body.len() != rows * cols * size {
        return Err(bad("truncated data"));
    }
    Ok((rows, cols, body))
}

/// A `.npy` array of 4-byte values of numpy type `descr`.
fn read_array<T: bytemuck::Pod>(path: &Path, descr: &str) -> std::io::Result<Array<T>> {
    let (rows, cols, body) = read_npy(path, descr, std::mem::size_of::<T>())?;
    Ok(Array {
        rows,
        cols,
        data: bytemuck::pod_collect_to_vec(&body),
    })
}

pub fn read_f32(path: &Path) -> std::io::Result<Array<f32>> {
    read_array(path, "<f4")
}

pub fn read_i32(path: &Path) -> std::io::Result<Array<i32>> {
    read_array(path, "<i4")
}

/// `$DISKVEC_DATA`, else `~/.cache/diskvec-data`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("DISKVEC_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/diskvec-data")
        })
}

/// A real data set: base vectors, queries and the exact top-100 (cosine).
pub struct Dataset {
    pub name: String,
    pub base: Array<f32>,
    pub queries: Array<f32>,
    pub gt: Array<i32>,
}

/// Load `glove50` or `wordnet384`. Panics with instructions when missing:
/// tests that need real data must not pass silently without it.
pub fn load(name: &str) -> Dataset {
    let dir = data_dir().join(name);
    let get = |f: &str| dir.join(f);
    let fail = |e: std::io::Error| -> ! {
        panic!(
            "real data set {name} is missing or unreadable in {} ({e}). Run /work/shared/data/get.sh \
             (or set DISKVEC_DATA) before these tests.",
            dir.display()
        )
    };
    Dataset {
        name: name.into(),
        base: read_f32(&get("base.npy")).unwrap_or_else(|e| fail(e)),
        queries: read_f32(&get("queries.npy")).unwrap_or_else(|e| fail(e)),
        gt: read_i32(&get("gt.npy")).unwrap_or_else(|e| fail(e)),
    }
}

/// Exact `k` nearest rows of `base` for each query (row indices), by brute force.
pub fn brute_force(
    base: &[f32],
    dim: usize,
    queries: &[f32],
    k: usize,
    metric: Metric,
) -> Vec<Vec<u32>> {
    let norms: Vec<f64> = base
        .par_chunks_exact(dim)
        .map(crate::distance::norm_squared)
        .collect();
    queries
        .par_chunks_exact(dim)
        .map(|q| {
            let mut d: Vec<(f64, u32)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, v)| {
                    let dist = match metric {
                        Metric::L2 => crate::distance::l2_squared(q, v),
                        Metric::InnerProduct => -crate::distance::dot(q, v),
                        Metric::Cosine => -crate::distance::dot(q, v) / norms[i].sqrt(),
                    };
                    (dist, i as u32)
                })
                .collect();
            let k = k.min(d.len());
            if k == 0 {
                return Vec::new();
            }
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            d.truncate(k);
            d.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            d.into_iter().map(|x| x.1).collect()
        })
        .collect()
}

/// Mean fraction of each truth list's first `k` found in the result's first `k`.
pub fn recall(results: &[Vec<u64>], truth: &[Vec<u32>], k: usize) -> f64 {
    let mut hit = 0usize;
    for (r, t) in results.iter().zip(truth) {
        let t: std::collections::HashSet<u64> = t.iter().take(k).map(|&x| x as u64).collect();
        hit += r.iter().take(k).filter(|x| t.contains(x)).count();
    }
    hit as f64 / (results.len() * k) as f64
}
