//! The RaBitQ estimate stays within its error bound, on random and real data.

mod common;

use diskvec_engine::dataset;
use diskvec_engine::rabitq::{QueryCode, RaBitQ, Space};

fn violation_rate(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    bits: usize,
    space: Space,
) -> (f64, f64) {
    let n = base.len() / dim;
    let mut c = vec![0f64; dim];
    for v in base.chunks_exact(dim) {
        c.iter_mut()
            .zip(v)
            .for_each(|(a, b)| *a += *b as f64 / n as f64);
    }
    let q = RaBitQ::new(dim, bits, space, c.iter().map(|x| *x as f32).collect(), 3);
    let codes: Vec<_> = base
        .chunks_exact(dim)
        .map(|v| {
            let mut code = vec![0u64; q.code_words()];
            let f = q.encode(v, &mut code);
            q.search_layout(&mut code);
            (code, f)
        })
        .collect();
    let mut qc = QueryCode::default();
    let (mut bad, mut total, mut rel) = (0usize, 0usize, 0f64);
    for query in queries.chunks_exact(dim) {
        q.prepare(query, &mut qc);
        for (v, (code, f)) in base.chunks_exact(dim).zip(&codes) {
            let exact = match space {
                Space::L2 => diskvec_engine::distance::l2_squared(v, query),
                Space::InnerProduct => -diskvec_engine::distance::dot(v, query),
            } as f32;
            let (est, bound) = q.estimate(&qc, code, f);
            total += 1;
            rel += ((est - exact).abs() / bound.max(1e-12)) as f64;
            if (est - exact).abs() > bound + 1e-5 * exact.abs().max(1.0) {
                bad += 1;
            }
        }
    }
    (bad as f64 / total as f64, rel / total as f64)
}

fn check(name: &str, base: &[f32], queries: &[f32], dim: usize) {
    for bits in 1..=4 {
        for space in [Space::L2, Space::InnerProduct] {
            let (rate, mean_rel) = violation_rate(base, queries, dim, bits, space);
            println!("{name} bits={bits} {space:?}: {:.3}% outside the bound, mean |err|/bound {mean_rel:.3}", rate * 100.0);
            assert!(rate < 0.01, "{name} bits={bits} {space:?}: {rate}");
        }
    }
}

#[test]
fn within_bound_random() {
    for dim in [16usize, 50, 200, 384] {
        let base = common::clustered(1000, dim, 10, dim as u64);
        let queries = common::clustered(20, dim, 10, 1 + dim as u64);
        check(&format!("random d={dim}"), &base, &queries, dim);
    }
}

#[test]
fn within_bound_real() {
    for set in ["glove50", "wordnet384"] {
        let ds = dataset::load(set);
        let dim = ds.base.cols;
        check(
            set,
            &ds.base.data[..2000 * dim],
            &ds.queries.data[..20 * dim],
            dim,
        );
    }
}
