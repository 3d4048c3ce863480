//! Splitting a tokenized document into overlapping windows of content tokens.

/// Windows `[start, end)` over `n` content tokens (special tokens excluded), each at most
/// `window` tokens long, consecutive windows sharing `overlap` tokens. Every token is in
/// at least one window (nothing is dropped); the last window ends at `n`. An empty
/// document gives one empty window, so it still gets a row and a vector.
///
/// The first window is exactly what sentence-transformers keeps when it truncates.
pub fn windows(n: usize, window: usize, overlap: usize) -> Vec<(usize, usize)> {
    assert!(window > 0, "window must be positive");
    assert!(
        overlap < window,
        "overlap ({overlap}) must be smaller than the window ({window})"
    );
    let step = window - overlap;
    let mut out = Vec::with_capacity(n / step + 1);
    let mut start = 0;
    loop {
        let end = (start + window).min(n);
        out.push((start, end));
        if end >= n {
            return out;
        }
        start += step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_empty() {
        assert_eq!(windows(0, 254, 32), vec![(0, 0)]);
        assert_eq!(windows(1, 254, 32), vec![(0, 1)]);
        assert_eq!(windows(254, 254, 32), vec![(0, 254)]);
    }

    #[test]
    fn exact_boundaries() {
        assert_eq!(windows(255, 254, 32), vec![(0, 254), (222, 255)]);
        assert_eq!(windows(476, 254, 32), vec![(0, 254), (222, 476)]);
        assert_eq!(
            windows(477, 254, 32),
            vec![(0, 254), (222, 476), (444, 477)]
        );
        assert_eq!(windows(10, 4, 0), vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(
            windows(10, 4, 3),
            (0..7).map(|s| (s, s + 4)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn covers_everything_with_the_requested_overlap() {
        for n in 0..600 {
            for &(w, o) in &[(254usize, 32usize), (254, 0), (126, 64), (5, 4), (1, 0)] {
                let ws = windows(n, w, o);
                assert_eq!(ws[0].0, 0);
                assert_eq!(ws.last().unwrap().1, n);
                for (s, e) in &ws {
                    assert!(e - s <= w && s <= e);
                }
                for p in ws.windows(2) {
                    assert_eq!(p[1].0, p[0].1 - o, "n={n} w={w} o={o}");
                    assert!(p[0].1 < p[1].1);
                }
            }
        }
    }
}
