//! The scalar reference for `halfvec` (binary16, raw `u16` bits) kernels:
//! the operations of the F16C bodies in the same order (eight lanes with
//! fused multiply-adds, lanes added left to right, then the tail), so every
//! target returns the same bits as pgvector's F16C kernels. Sums are `f32`,
//! as pgvector's: a distance beyond float4's range is infinite.

use super::HALF_LANES as LANES;
use crate::halfvec_text::to_f32;

/// Sums `term(i)` into 8 lanes with `step(acc, i)`, adds the lanes left
/// to right, then adds the tail's terms in order with `tail(acc, i)`.
#[inline(always)]
fn lanes(
    n: usize,
    mut step: impl FnMut(f32, usize) -> f32,
    mut tail: impl FnMut(f32, usize) -> f32,
) -> f32 {
    let body = n / LANES * LANES;
    let mut acc = [0f32; LANES];
    for i in (0..body).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = step(*a, i + l);
        }
    }
    let mut sum = acc[1..].iter().fold(acc[0], |s, &a| s + a);
    for i in body..n {
        sum = tail(sum, i);
    }
    sum
}

pub fn half_l2(a: &[u16], b: &[u16]) -> f32 {
    let d = |i: usize| to_f32(a[i]) - to_f32(b[i]);
    lanes(
        a.len(),
        |s, i| d(i).mul_add(d(i), s),
        |s, i| s + d(i) * d(i),
    )
}

pub fn half_dot(a: &[u16], b: &[u16]) -> f32 {
    let (x, y) = (|i: usize| to_f32(a[i]), |i: usize| to_f32(b[i]));
    lanes(
        a.len(),
        |s, i| x(i).mul_add(y(i), s),
        |s, i| s + x(i) * y(i),
    )
}

pub fn half_l1(a: &[u16], b: &[u16]) -> f32 {
    let d = |i: usize| (to_f32(a[i]) - to_f32(b[i])).abs();
    lanes(a.len(), |s, i| s + d(i), |s, i| s + d(i))
}

pub fn half_cosine(a: &[u16], b: &[u16]) -> [f32; 3] {
    [half_dot(a, b), half_dot(a, a), half_dot(b, b)]
}

pub fn half_widen(src: &[u16], dst: &mut [f32]) {
    for (d, &h) in dst.iter_mut().zip(src) {
        *d = to_f32(h);
    }
}
