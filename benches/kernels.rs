//! Kernel throughput for every SIMD target this CPU runs (see the engine's
//! `simd` module), at the dimensions embeddings commonly have: GB/s of
//! vector data read (two f32 vectors per call) for each distance kernel,
//! nanoseconds per distance of the graph build (`f32` vectors against its
//! 8-bit codes), then million code/query products per second for the RaBitQ bit-plane
//! kernels at the code sizes the index picks, and nanoseconds per step of
//! the scale search that encodes a vector in more than one bit. Prints
//! tables; it is not a timed test.
//!
//! Run: `cargo bench -p diskvec-engine --bench kernels`

use diskvec_engine::simd::{self, Kernels, QUERY_PLANES};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long each figure is measured.
const WINDOW: Duration = Duration::from_millis(200);

fn main() {
    let targets = simd::targets();
    let names: Vec<&str> = targets.iter().map(|k| k.target.name()).collect();
    println!(
        "SIMD targets on this CPU (first is used): {}",
        names.join(", ")
    );
    distances(&targets);
    build_codes(&targets);
    bit_planes(&targets);
    grid_steps(&targets);
}

type Pick = fn(&Kernels) -> unsafe fn(&[f32], &[f32]) -> f64;
type PickF32 = fn(&Kernels) -> unsafe fn(&[f32], &[f32]) -> f32;

fn distances(targets: &[&'static Kernels]) {
    let f64s: [(&str, Pick); 3] = [
        ("l2 f64", |k| k.l2_f64),
        ("dot f64", |k| k.dot_f64),
        ("l1 f64", |k| k.l1_f64),
    ];
    let f32s: [(&str, PickF32); 3] = [
        ("l2 f32", |k| k.l2_f32),
        ("dot f32", |k| k.dot_f32),
        ("l1 f32", |k| k.l1_f32),
    ];
    print!("\n{:<8} {:>6}", "kernel", "dim");
    for k in targets {
        print!(" {:>10}", format!("{} GB/s", k.target.name()));
    }
    println!();
    for dim in [50usize, 128, 384, 768, 1536] {
        let a: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
        for (name, pick) in f64s {
            let rates = targets.iter().map(|k| {
                gbps(&a, &b, |x, y| {
                    // SAFETY: `targets` lists only kernels this CPU runs.
                    unsafe { pick(k)(x, y) as f32 }
                })
            });
            row(name, dim, rates);
        }
        for (name, pick) in f32s {
            // SAFETY: as above.
            let rates = targets
                .iter()
                .map(|k| gbps(&a, &b, |x, y| unsafe { pick(k)(x, y) }));
            row(name, dim, rates);
        }
    }
}

fn row(name: &str, dim: usize, rates: impl Iterator<Item = f64>) {
    print!("{name:<8} {dim:>6}");
    for r in rates {
        print!(" {r:>10.2}");
    }
    println!();
}

/// GB/s of input read by `kernel` (two `f32` vectors a call).
fn gbps(a: &[f32], b: &[f32], kernel: impl Fn(&[f32], &[f32]) -> f32) -> f64 {
    (a.len() * 8) as f64 / ns(|| kernel(black_box(a), black_box(b)))
}

/// Nanoseconds per distance of the graph build: between `f32` vectors
/// (as it was) and between 8-bit codes (`sq8`, what it uses), in cache.
fn build_codes(targets: &[&'static Kernels]) {
    print!("\n{:<8} {:>6}", "ns/dist", "dim");
    for k in targets {
        print!(" {:>10}", k.target.name());
    }
    println!();
    for dim in [50usize, 128, 384, 768, 1536] {
        let padded = dim.div_ceil(64) * 64;
        let a: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
        let qa: Vec<u8> = (0..padded).map(|i| (i * 37 % 256) as u8).collect();
        let qb: Vec<u8> = (0..padded).map(|i| (i * 11 % 256) as u8).collect();
        // SAFETY: `targets` lists only kernels this CPU runs.
        let l2 = targets
            .iter()
            .map(|k| ns(|| unsafe { (k.l2_f32)(black_box(&a), black_box(&b)) }));
        row("l2 f32", dim, l2);
        let l2 = targets
            .iter()
            .map(|k| ns(|| unsafe { (k.sq8_l2)(black_box(&qa), black_box(&qb)) as f32 }));
        row("sq8 l2", dim, l2);
        let dot = targets
            .iter()
            .map(|k| ns(|| unsafe { (k.sq8_dot)(black_box(&qa), black_box(&qb)) as f32 }));
        row("sq8 dot", dim, dot);
    }
}

/// Nanoseconds a call of `kernel` takes over the measuring window.
fn ns(kernel: impl Fn() -> f32) -> f64 {
    let start = Instant::now();
    let (mut calls, mut sink) = (0u64, 0f32);
    while start.elapsed() < WINDOW {
        for _ in 0..1000 {
            sink += kernel();
        }
        calls += 1000;
    }
    black_box(sink);
    start.elapsed().as_secs_f64() * 1e9 / calls as f64
}

/// Million `<code, query>` products per second per target, over 4096 codes
/// (so they stay in cache: this measures arithmetic, not memory): the bit
/// planes, and for 4-bit codes the nibble layout the search reads them in.
fn bit_planes(targets: &[&'static Kernels]) {
    // (dimension padded to D, bits): what `rabitq::default_bits` picks.
    let sizes = [(64usize, 4usize), (128, 4), (256, 4), (512, 4), (1024, 3)];
    print!("\n{:<8} {:>5} {:>5}", "layout", "D", "bits");
    for k in targets {
        print!(" {:>12}", format!("{} M/s", k.target.name()));
    }
    println!();
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
        let bytes: Vec<i8> = (0..d).map(|_| next() as i8).collect();
        print!("{:<8} {d:>5} {bits:>5}", "planes");
        for k in targets {
            let kernel = k.planes(words);
            // SAFETY: `targets` lists only kernels this CPU runs; the
            // slices have the sizes the kernel reads.
            let rate = per_second(&codes, bits * words, |c| unsafe {
                kernel(c, bits, black_box(&query), words)
            });
            print!(" {rate:>12.0}");
        }
        println!();
        if bits == 4 {
            print!("{:<8} {d:>5} {bits:>5}", "nibbles");
            for k in targets {
                // SAFETY: as above; a 4-bit code takes 16 query bytes a word.
                let rate = per_second(&codes, bits * words, |c| unsafe {
                    (k.nibbles)(c, black_box(&bytes))
                });
                print!(" {rate:>12.0}");
            }
            println!();
        }
    }
}

/// Million calls a second of `product` over each `len`-word code of
/// `codes`, within the measuring window.
fn per_second(codes: &[u64], len: usize, product: impl Fn(&[u64]) -> i64) -> f64 {
    let start = Instant::now();
    let (mut calls, mut sink) = (0u64, 0i64);
    while start.elapsed() < WINDOW {
        for c in codes.chunks_exact(len) {
            sink += product(black_box(c));
        }
        calls += (codes.len() / len) as u64;
    }
    black_box(sink);
    calls as f64 / start.elapsed().as_secs_f64() / 1e6
}

/// One step of RaBitQ's scale search (`Kernels::grid_sums`), which an
/// encode of `B > 1` bits runs 32 times over the padded dimension.
fn grid_steps(targets: &[&'static Kernels]) {
    print!("\n{:<8} {:>5}", "grid", "D");
    for k in targets {
        print!(" {:>12}", format!("{} ns", k.target.name()));
    }
    println!();
    for d in [128usize, 512, 1024] {
        let w: Vec<f32> = (0..d)
            .map(|i| (i as f32 * 0.37).sin().abs() * 0.2)
            .collect();
        print!("{:<8} {d:>5}", "step");
        for k in targets {
            let start = Instant::now();
            let (mut calls, mut sink) = (0u64, 0f32);
            while start.elapsed() < WINDOW {
                for step in 1..=32 {
                    // SAFETY: `targets` lists only kernels this CPU runs.
                    let (u, y) = unsafe { (k.grid_sums)(black_box(&w), step as f32 * 0.3, 15) };
                    sink += u + y;
                }
                calls += 32;
            }
            black_box(sink);
            print!(
                " {:>12.1}",
                start.elapsed().as_secs_f64() * 1e9 / calls as f64
            );
        }
        println!();
    }
}
