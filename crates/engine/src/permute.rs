//! Reordering rows in place by a permutation: each cycle is followed with
//! one row set aside, so no second copy of the rows is held. The graph
//! build's vectors and its adjacency table are reordered this way.

/// One move of [`follow_cycles`].
pub(crate) enum Step {
    /// Set row `.0` aside.
    Hold(usize),
    /// Copy row `from` over row `to`.
    Move { from: usize, to: usize },
    /// Put the row set aside at row `.0`.
    Place(usize),
}

/// The moves that reorder rows so that row `new` holds what row
/// `order[new]` held, passed to `step` in order.
pub(crate) fn follow_cycles(order: &[u32], mut step: impl FnMut(Step)) {
    let mut placed = vec![false; order.len()];
    for start in 0..order.len() {
        if placed[start] {
            continue;
        }
        step(Step::Hold(start));
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at] as usize;
            if from == start {
                step(Step::Place(at));
                break;
            }
            step(Step::Move { from, to: at });
            at = from;
        }
    }
}
