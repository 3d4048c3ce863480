//! The points a graph is built over: their vectors, the 8-bit codes the
//! build measures them by, and the entry point (the medoid).

use crate::sq8::Sq8;
use rayon::prelude::*;

/// Points of fewer dimensions are built on their vectors (see
/// [`Points::new`]).
const MIN_CODED_DIM: usize = 32;

/// The points a graph is built over, and the distance that shapes it.
///
/// L2 and cosine (normalized vectors): squared L2. Inner product: the
/// non-metric `M^2 - <a, b>` (`M` the largest norm, so it stays >= 0), as in
/// ip-NSW (Morozov & Babenko 2018). We first tried the MIPS-to-L2 transform
/// `x -> [x, sqrt(M^2 - |x|^2)]`: it puts every point on a sphere and the
/// queries far from all of them, and greedy search then reached about half
/// the recall this distance gives (BENCHMARKS.md, design measurements). With it,
/// RobustPrune keeps `c'` only if no kept `c` has `<c, c'>` larger than
/// `<p, c'>` by the alpha margin, and the large-norm points that answer
/// inner-product queries become well-connected hubs.
///
/// Distances are taken between the points' 8-bit codes ([`Sq8`]), not
/// their `f32` vectors: the build is bound by memory, and the codes are a
/// quarter of the bytes. Points whose codes would not rank near points as
/// the vectors do ([`Sq8::ranks_like`]), and points of fewer than
/// `MIN_CODED_DIM` dimensions, use the vectors.
pub struct Points<'a> {
    pub data: &'a [f32],
    pub dim: usize,
    /// Inner product: `M^2`.
    pub ip_shift: Option<f32>,
    codes: Option<Sq8>,
}

impl<'a> Points<'a> {
    pub fn new(data: &'a [f32], dim: usize, ip_shift: Option<f32>) -> Self {
        let mut points = Points {
            data,
            dim,
            ip_shift,
            codes: None,
        };
        // Below this a vector is no more than two cache lines, as its
        // padded code is one: nothing to gain, and few dimensions coded in
        // 256 levels tie points the vectors tell apart.
        if dim < MIN_CODED_DIM {
            return points;
        }
        let codes = Sq8::encode(data, dim, ip_shift.is_some());
        let coded = |a, b| match ip_shift {
            Some(m2) => m2 - codes.dot(a, b),
            None => codes.l2(a, b),
        };
        if Sq8::ranks_like(points.len(), |a, b| points.exact(a, b), coded) {
            points.codes = Some(codes);
        }
        points
    }
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    #[inline]
    pub fn vector(&self, i: u32) -> &[f32] {
        let i = i as usize;
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    /// The graph distance between points `a` and `b`.
    #[inline]
    pub fn dist(&self, a: u32, b: u32) -> f32 {
        match (&self.codes, self.ip_shift) {
            (Some(codes), Some(m2)) => m2 - codes.dot(a, b),
            (Some(codes), None) => codes.l2(a, b),
            (None, _) => self.exact(a, b),
        }
    }
    /// The graph distance between the vectors themselves.
    #[inline]
    fn exact(&self, a: u32, b: u32) -> f32 {
        match self.ip_shift {
            Some(m2) => m2 - crate::distance::dot_f32(self.vector(a), self.vector(b)),
            None => crate::distance::l2_squared_f32(self.vector(a), self.vector(b)),
        }
    }
    /// Whether distances are taken between codes.
    #[cfg(test)]
    pub(super) fn is_coded(&self) -> bool {
        self.codes.is_some()
    }
    /// Ask the CPU to pull what [`Points::dist`] reads of point `i`.
    #[inline]
    pub fn prefetch(&self, i: u32) {
        match &self.codes {
            Some(codes) => codes.prefetch(i),
            None => crate::simd::prefetch(self.vector(i)),
        }
    }
}

/// The point closest to the mean: the entry point of every search.
pub fn medoid(points: &Points) -> u32 {
    let n = points.len();
    let dim = points.dim;
    let mut mean = vec![0f64; dim];
    for v in points.data.chunks_exact(dim) {
        mean.iter_mut().zip(v).for_each(|(m, x)| *m += *x as f64);
    }
    let mean: Vec<f32> = mean.iter().map(|m| (*m / n as f64) as f32).collect();
    (0..n as u32)
        .into_par_iter()
        .map(|i| {
            (
                crate::distance::l2_squared(points.vector(i), &mean) as f32,
                i,
            )
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|x| x.1)
        .unwrap_or(0)
}
