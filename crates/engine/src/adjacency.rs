//! The adjacency lists of a graph while it is built: one flat table, each
//! node's list in a row of whole cache lines at a place computed from its
//! number.
//!
//! A build's greedy search reads a list per node it expands. Lists behind
//! their own allocation (a lock and a pointer, then the ids elsewhere) cost
//! two dependent cache misses per node; here the row is found without a
//! load, so the search can prefetch the next node's list while it works on
//! the current one.
//!
//! Readers take no lock. Writers of a row hold its lock (one writer at a
//! time, as RobustPrune of a list must see the list it replaces), and write
//! ids and length as atomics: a reader racing a writer may see part of the
//! old list and part of the new, every id of which is a node of the graph,
//! which a search tolerates (it visits each node once however often it is
//! listed). DiskANN's parallel build locks readers too; here they are most
//! of the accesses.

use crate::permute::{follow_cycles, Step};
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed, Ordering::Release};

const LANES: usize = 16;

/// Rows per chunk of the table (a power of two). The table is held in
/// chunks so that turning it into lists ([`Adjacency::into_lists`]) frees
/// it a chunk at a time as the lists grow, instead of holding both whole.
const CHUNK_SHIFT: u32 = 12;
const CHUNK_ROWS: usize = 1 << CHUNK_SHIFT;

/// A cache line of row slots.
#[repr(align(64))]
// Its slots are reached through `Adjacency::row`, not by field.
#[allow(dead_code)]
struct Line([AtomicU32; LANES]);

pub struct Adjacency {
    /// Rows `c * CHUNK_ROWS ..` in chunk `c`, each `stride` lines.
    chunks: Vec<Box<[Line]>>,
    /// Lines per row.
    stride: usize,
    /// The longest list a row holds.
    cap: usize,
    locks: Vec<Mutex<()>>,
}

/// The right to change one row, from [`Adjacency::lock`].
pub struct RowGuard<'a> {
    row: &'a [AtomicU32],
    cap: usize,
    _lock: MutexGuard<'a, ()>,
}

/// A chunk of `rows` empty rows of `stride` lines.
fn chunk(rows: usize, stride: usize) -> Box<[Line]> {
    (0..rows * stride)
        .map(|_| Line(Default::default()))
        .collect()
}

/// Row `j` of `chunk`, as its slots (slot 0 the length).
fn row_of(chunk: &[Line], j: usize, stride: usize) -> &[AtomicU32] {
    let lines = &chunk[j * stride..(j + 1) * stride];
    // SAFETY: `Line` is `#[repr(align(64))]` over `[AtomicU32; 16]`, 64
    // bytes without padding, so consecutive lines are one array of
    // `stride * 16` atomics, borrowed from `chunk`.
    unsafe { std::slice::from_raw_parts(lines.as_ptr() as *const AtomicU32, stride * LANES) }
}

/// The list a row holds, appended to `out`.
fn read_row(row: &[AtomicU32], cap: usize, out: &mut Vec<u32>) {
    let len = (row[0].load(Relaxed) as usize).min(cap);
    out.extend(row[1..=len].iter().map(|x| x.load(Relaxed)));
}

impl Adjacency {
    /// `n` empty lists of at most `cap` ids each.
    pub fn new(n: usize, cap: usize) -> Self {
        // Slot 0 is the length.
        let stride = (cap + 1).div_ceil(LANES);
        Adjacency {
            chunks: (0..n)
                .step_by(CHUNK_ROWS)
                .map(|start| chunk(CHUNK_ROWS.min(n - start), stride))
                .collect(),
            stride,
            cap,
            locks: (0..n).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Bytes one row of lists of at most `cap` ids takes, with its lock.
    pub fn row_bytes(cap: usize) -> usize {
        (cap + 1).div_ceil(LANES) * std::mem::size_of::<Line>() + std::mem::size_of::<Mutex<()>>()
    }

    /// The lists given, each at most `cap` ids.
    #[cfg(test)]
    pub fn from_lists(lists: Vec<Vec<u32>>, cap: usize) -> Self {
        let adj = Adjacency::new(lists.len(), cap);
        for (i, list) in lists.into_iter().enumerate() {
            adj.lock(i as u32).set(&list);
        }
        adj
    }

    pub fn len(&self) -> usize {
        self.locks.len()
    }

    fn row(&self, i: u32) -> &[AtomicU32] {
        let chunk = &self.chunks[(i >> CHUNK_SHIFT) as usize];
        row_of(chunk, i as usize & (CHUNK_ROWS - 1), self.stride)
    }

    /// Append node `i`'s list to `out` (without locking: see the module).
    #[inline]
    pub fn read_into(&self, i: u32, out: &mut Vec<u32>) {
        read_row(self.row(i), self.cap, out);
    }

    /// Node `i`'s list, copied.
    #[cfg(test)]
    pub fn list(&self, i: u32) -> Vec<u32> {
        let mut out = Vec::new();
        self.read_into(i, &mut out);
        out
    }

    /// Ask the CPU to pull node `i`'s row into cache.
    #[inline]
    pub fn prefetch(&self, i: u32) {
        let chunk = &self.chunks[(i >> CHUNK_SHIFT) as usize];
        let at = (i as usize & (CHUNK_ROWS - 1)) * self.stride;
        crate::simd::prefetch(&chunk[at..at + self.stride]);
    }

    /// Lock node `i`'s row for changing.
    pub fn lock(&self, i: u32) -> RowGuard<'_> {
        RowGuard {
            _lock: self.locks[i as usize].lock(),
            row: self.row(i),
            cap: self.cap,
        }
    }

    /// Renumber the nodes in place so that node `new` is the node
    /// `order[new]` was (`new_of` the inverse), the ids in every list with
    /// them: rows move along the permutation's cycles (`permute.rs`), so
    /// no second table or lists are held.
    pub fn renumber(&mut self, order: &[u32], new_of: &[u32]) {
        debug_assert_eq!(order.len(), self.len());
        let mut held = vec![0u32; self.stride * LANES];
        let copy = |from: &[AtomicU32], to: &[AtomicU32]| {
            for (t, f) in to.iter().zip(from) {
                t.store(f.load(Relaxed), Relaxed);
            }
        };
        follow_cycles(order, |step| match step {
            Step::Hold(i) => {
                for (h, x) in held.iter_mut().zip(self.row(i as u32)) {
                    *h = x.load(Relaxed);
                }
            }
            Step::Move { from, to } => copy(self.row(from as u32), self.row(to as u32)),
            Step::Place(at) => {
                for (t, &h) in self.row(at as u32).iter().zip(&held) {
                    t.store(h, Relaxed);
                }
            }
        });
        for i in 0..self.len() as u32 {
            let row = self.row(i);
            let len = (row[0].load(Relaxed) as usize).min(self.cap);
            for x in &row[1..=len] {
                x.store(new_of[x.load(Relaxed) as usize], Relaxed);
            }
        }
    }

    /// Every list, in node order. The table is freed a chunk at a time as
    /// the lists are made, so the two are never held whole together.
    pub fn into_lists(self) -> Vec<Vec<u32>> {
        let mut out = Vec::with_capacity(self.len());
        let (stride, cap) = (self.stride, self.cap);
        drop(self.locks);
        for chunk in self.chunks {
            for j in 0..chunk.len() / stride {
                let mut list = Vec::new();
                read_row(row_of(&chunk, j, stride), cap, &mut list);
                out.push(list);
            }
        }
        out
    }
}

impl RowGuard<'_> {
    pub fn len(&self) -> usize {
        (self.row[0].load(Relaxed) as usize).min(self.cap)
    }

    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.row[1..=self.len()].iter().map(|x| x.load(Relaxed))
    }

    pub fn contains(&self, x: u32) -> bool {
        self.ids().any(|y| y == x)
    }

    /// Replace the list (at most the row's `cap` ids).
    pub fn set(&mut self, list: &[u32]) {
        assert!(
            list.len() <= self.cap,
            "{} ids in a row of {}",
            list.len(),
            self.cap
        );
        for (slot, &x) in self.row[1..].iter().zip(list) {
            slot.store(x, Relaxed);
        }
        self.row[0].store(list.len() as u32, Release);
    }

    /// Append `x`; false (and nothing changed) when the row is full.
    pub fn push(&mut self, x: u32) -> bool {
        let len = self.len();
        if len == self.cap {
            return false;
        }
        self.row[1 + len].store(x, Relaxed);
        self.row[0].store(len as u32 + 1, Release);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_their_lists() {
        for cap in [1, 15, 16, 62, 64] {
            let lists: Vec<Vec<u32>> = (0..50u32)
                .map(|i| {
                    (0..(i as usize % (cap + 1)) as u32)
                        .map(|j| i * 100 + j)
                        .collect()
                })
                .collect();
            let adj = Adjacency::from_lists(lists.clone(), cap);
            assert_eq!(adj.len(), 50);
            for (i, list) in lists.iter().enumerate() {
                assert_eq!(&adj.list(i as u32), list, "cap {cap} row {i}");
            }
            let mut row = adj.lock(3);
            let before = row.len();
            let mut pushed = 0;
            while row.push(7) {
                pushed += 1;
            }
            assert_eq!(row.len(), cap);
            assert_eq!(pushed, cap - before);
            assert_eq!(row.ids().filter(|&x| x == 7).count(), pushed);
            assert_eq!(row.contains(7), pushed > 0);
            row.set(&[1, 2][..cap.min(2)]);
            drop(row);
            assert_eq!(adj.list(3), [1, 2][..cap.min(2)].to_vec());
            assert_eq!(adj.into_lists()[4], lists[4]);
        }
    }

    /// A table of several chunks, the last one short: renumbered in
    /// place, row `new` holds what row `order[new]` held, each id mapped
    /// to its new number, and the lists come out in the new order.
    #[test]
    fn renumbering_moves_rows_and_maps_ids() {
        let (n, cap) = (2 * CHUNK_ROWS + 123, 20);
        let mut st = 5u64;
        let mut rnd = |m: usize| (crate::rabitq::splitmix64(&mut st) % m as u64) as u32;
        let lists: Vec<Vec<u32>> = (0..n)
            .map(|_| {
                let len = rnd(cap + 1) as usize;
                (0..len).map(|_| rnd(n)).collect()
            })
            .collect();
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            order.swap(i, rnd(i + 1) as usize);
        }
        let mut new_of = vec![0u32; n];
        for (new, &old) in order.iter().enumerate() {
            new_of[old as usize] = new as u32;
        }
        let mut adj = Adjacency::from_lists(lists.clone(), cap);
        adj.renumber(&order, &new_of);
        let got = adj.into_lists();
        assert_eq!(got.len(), n);
        for (new, list) in got.iter().enumerate() {
            let want: Vec<u32> = lists[order[new] as usize]
                .iter()
                .map(|&m| new_of[m as usize])
                .collect();
            assert_eq!(list, &want, "row {new}");
        }
    }

    #[test]
    #[should_panic(expected = "ids in a row")]
    fn a_list_longer_than_the_row_is_refused() {
        Adjacency::new(1, 2).lock(0).set(&[1, 2, 3]);
    }
}
