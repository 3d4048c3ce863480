//! Writes the synthetic scale set of #16's scale run: GloVe-400k
//! `DISKVEC_SCALE_COPIES` times over (default 10, the set `glove50x10`),
//! each copy of a row the row plus Gaussian noise, in the data directory
//! next to the real sets, with its own exact ground truth, so every bench
//! that reads a set by name (`benches/sql.rs`, `benches/capped.sh`) takes
//! it. Labelled synthetic in its README. Does nothing if the set exists.
//!
//! Noise: coordinate `j` of every copy gets `N(0, (s * std_j)^2)`, `std_j`
//! that coordinate's standard deviation over GloVe and `s` =
//! `DISKVEC_SCALE_NOISE` (default 0.25): a copy is about a quarter of a
//! typical vector's length away from its row, so the copies of one word
//! are distinct points, closer to each other than most words are to their
//! nearest word. Copy 0 is noisy too: no row of the set is a GloVe row.
//! Copy `k` of row `i` is row `k * 399000 + i`.
//!
//! Queries are GloVe's 1,000 queries unchanged; the truth is the exact
//! cosine top 100 over the whole set.
//!
//! Run: `cargo bench -p diskvec-engine --bench scale_set`

use diskvec_engine::dataset;
use diskvec_engine::rabitq::splitmix64;
use diskvec_engine::Metric;
use std::io::Write;
use std::path::Path;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A standard normal deviate (Box-Muller) from SplitMix64: the noise is
/// the same on every machine.
fn gaussian(state: &mut u64) -> f64 {
    let u1 = ((splitmix64(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (splitmix64(state) >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A `.npy` file (version 1.0) of `rows` x `cols` values of type `descr`.
fn write_npy(path: &Path, descr: &str, rows: usize, cols: usize, body: &[u8]) {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic, version and length take 10 bytes; the header ends in a
    // newline at a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let tmp = path.with_extension("npy.part");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).unwrap());
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    f.write_all(body).unwrap();
    f.into_inner().unwrap().sync_all().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn main() {
    let copies: usize = env_or("DISKVEC_SCALE_COPIES", 10);
    let noise: f64 = env_or("DISKVEC_SCALE_NOISE", 0.25);
    let name = format!("glove50x{copies}");
    let dir = dataset::data_dir().join(&name);
    // gt.npy is written last: its presence means the set is whole.
    if dir.join("gt.npy").exists() {
        println!("{name}: already in {}", dir.display());
        return;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let ds = dataset::load("glove50");
    let (n, dim) = (ds.base.rows, ds.base.cols);
    let mut mean = vec![0f64; dim];
    let mut sq = vec![0f64; dim];
    for v in ds.base.data.chunks_exact(dim) {
        for j in 0..dim {
            mean[j] += v[j] as f64;
            sq[j] += (v[j] as f64).powi(2);
        }
    }
    let sigma: Vec<f64> = (0..dim)
        .map(|j| {
            let m = mean[j] / n as f64;
            noise * (sq[j] / n as f64 - m * m).max(0.0).sqrt()
        })
        .collect();
    let t = std::time::Instant::now();
    let mut base = Vec::with_capacity(copies * n * dim);
    let mut state = 0x5ca1_e5e7_u64;
    for _ in 0..copies {
        for v in ds.base.data.chunks_exact(dim) {
            base.extend(
                v.iter()
                    .zip(&sigma)
                    .map(|(&x, &s)| (x as f64 + s * gaussian(&mut state)) as f32),
            );
        }
    }
    let rows = copies * n;
    println!("{name}: {rows} x {dim}, noise {noise} x std per coordinate");
    let truth = dataset::brute_force(&base, dim, &ds.queries.data, 100, Metric::Cosine);
    println!(
        "exact top 100 of {} queries: {:.0} s",
        ds.queries.rows,
        t.elapsed().as_secs_f64()
    );
    write_npy(
        &dir.join("base.npy"),
        "<f4",
        rows,
        dim,
        bytemuck::cast_slice(&base),
    );
    write_npy(
        &dir.join("queries.npy"),
        "<f4",
        ds.queries.rows,
        dim,
        bytemuck::cast_slice(&ds.queries.data),
    );
    std::fs::write(
        dir.join("README"),
        format!(
            "SYNTHETIC: GloVe-400k {copies} times over, each copy of a row the row plus Gaussian \
             noise of {noise} x each coordinate's standard deviation (benches/scale_set.rs); \
             base ({rows}, {dim}), queries (the 1000 GloVe queries), metric cos, gt = exact top-100 \
             row ids into base\n"
        ),
    )
    .unwrap();
    let gt: Vec<i32> = truth.iter().flatten().map(|&i| i as i32).collect();
    write_npy(
        &dir.join("gt.npy"),
        "<i4",
        truth.len(),
        100,
        bytemuck::cast_slice(&gt),
    );
    println!("written to {}", dir.display());
}
