//! Distance-kernel throughput: simsimd (run-time dispatch) against the scalar
//! reference, at the dimensions embeddings commonly have. Prints GB/s of
//! vector data read (two f32 vectors per call). Then the RaBitQ bit-plane
//! kernels (`popcount.rs`): million code/query products per second for each
//! implementation this CPU runs, at the code sizes the index picks.
//!
//! Run: `cargo bench -p diskvec-engine --bench kernels`

use criterion::{black_box, Criterion, Throughput};
use diskvec_engine::distance::{self, scalar};

type Kernel = fn(&[f32], &[f32]) -> f64;

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .configure_from_args();
    println!("SIMD path on this CPU: {}", distance::simd_description());
    let kernels: [(&str, Kernel, Kernel); 4] = [
        ("l2sq", distance::l2_squared, scalar::l2_squared),
        ("dot", distance::dot, scalar::dot),
        ("cosine", distance::cosine_distance, scalar::cosine_distance),
        ("l1", distance::l1, scalar::l1),
    ];
    let mut summary = Vec::new();
    for dim in [50usize, 128, 384, 768, 1536] {
        let a: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
        let bytes = (2 * dim * 4) as u64;
        for (name, simd, reference) in kernels {
            let mut group = c.benchmark_group(format!("{name}/d{dim}"));
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function("simsimd", |bench| {
                bench.iter(|| simd(black_box(&a), black_box(&b)))
            });
            group.bench_function("scalar", |bench| {
                bench.iter(|| reference(black_box(&a), black_box(&b)))
            });
            group.finish();
            summary.push((name, dim, gbps(simd, &a, &b), gbps(reference, &a, &b)));
        }
    }
    println!(
        "\n{:<8} {:>6} {:>12} {:>12} {:>8}",
        "kernel", "dim", "simd GB/s", "scalar GB/s", "speedup"
    );
    for (name, dim, s, r) in summary {
        println!("{name:<8} {dim:>6} {s:>12.2} {r:>12.2} {:>7.1}x", s / r);
    }
    bit_planes();
}

/// Million `<code, query>` products per second, per bit-plane kernel, over
/// 4096 codes (so they stay in cache: this measures arithmetic, not memory).
fn bit_planes() {
    use diskvec_engine::popcount::{self, QUERY_PLANES};
    // (dimension padded to D, bits): what `rabitq::default_bits` picks.
    let sizes = [(64usize, 4usize), (128, 4), (256, 2), (512, 1), (1024, 1)];
    println!(
        "\n{:<10} {:>5} {:>5}  M products/s per kernel (dispatched: see last column)",
        "code", "D", "bits"
    );
    for (d, bits) in sizes {
        let words = d / 64;
        let mut st = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            st
        };
        let codes: Vec<u64> = (0..4096 * bits * words).map(|_| next()).collect();
        let query: Vec<u64> = (0..QUERY_PLANES * words).map(|_| next()).collect();
        let mut line = format!("{:<10} {d:>5} {bits:>5} ", "rabitq");
        for (name, k) in popcount::available(words) {
            let start = std::time::Instant::now();
            let (mut calls, mut sink) = (0u64, 0i64);
            while start.elapsed().as_secs_f64() < 0.2 {
                for c in codes.chunks_exact(bits * words) {
                    // SAFETY: `available` lists only kernels this CPU runs.
                    sink += unsafe { k(black_box(c), bits, black_box(&query), words) };
                }
                calls += 4096;
            }
            black_box(sink);
            let rate = calls as f64 / start.elapsed().as_secs_f64() / 1e6;
            line += &format!(" {name} {rate:.0}");
        }
        println!("{line}  [dispatched: {}]", popcount::description(words));
    }
}

/// A direct GB/s figure for the summary table, measured over ~0.2 s.
fn gbps(kernel: Kernel, a: &[f32], b: &[f32]) -> f64 {
    let start = std::time::Instant::now();
    let mut calls = 0u64;
    let mut sink = 0.0;
    while start.elapsed().as_secs_f64() < 0.2 {
        for _ in 0..1000 {
            sink += kernel(black_box(a), black_box(b));
        }
        calls += 1000;
    }
    black_box(sink);
    (calls * (a.len() * 8) as u64) as f64 / start.elapsed().as_secs_f64() / 1e9
}
