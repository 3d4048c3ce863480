//! Filters on attribute columns ([`Filter`]): what a node must match to be
//! returned, evaluated from the values held in memory (`attrs`), and how a
//! filtered search finds its nodes ([`Plan`]).
//!
//! A filter is a conjunction of conditions, each on one column: the value
//! is one of a set (SQL `=` and `IN`), or the labels share one with a set
//! (SQL `&&`). Two plans serve it:
//! * **walk**: the graph walk of an unfiltered search, steering through
//!   every node (a node that does not match is read for its neighbours,
//!   never returned). Cheap when many nodes match: the nearest matching
//!   nodes are among the nearest nodes.
//! * **flat**: the nodes the most selective condition's posting lists give,
//!   each checked against every condition and estimated from its code; then
//!   the best are read in lower-bound order (see `stream.rs`). Cheap when
//!   few nodes match, and it finds every matching node however the graph
//!   links them, so the graph build needs nothing per label.
//!
//! The choice weighs the estimates a flat scan computes against the page
//! reads and estimates a walk needs to meet enough matching nodes.

use super::attrs::{AttrKind, Attrs};
use crate::page::{Error, Result};

/// A conjunction of conditions on attribute columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    conds: Vec<Cond>,
}

/// One condition (columns count from 0, the first attribute column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// The column's value is one of `keys` ([`super::AttrValue::key`]):
    /// SQL `=` and `IN`. No keys: nothing matches.
    AnyOf { column: usize, keys: Vec<u64> },
    /// The column's labels share one with `labels`: SQL `&&`.
    Overlaps { column: usize, labels: Vec<u32> },
}

impl Filter {
    pub fn new() -> Self {
        Filter::default()
    }

    /// Add a condition.
    pub fn and(mut self, mut c: Cond) -> Self {
        match &mut c {
            Cond::AnyOf { keys, .. } => {
                keys.sort_unstable();
                keys.dedup();
            }
            Cond::Overlaps { labels, .. } => {
                labels.sort_unstable();
                labels.dedup();
            }
        }
        self.conds.push(c);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }

    pub fn conds(&self) -> &[Cond] {
        &self.conds
    }

    /// Check every condition names a column of a kind it applies to.
    pub(super) fn check(&self, kinds: &[AttrKind]) -> Result<()> {
        for c in &self.conds {
            let (column, ok) = match c {
                Cond::AnyOf { column, .. } => (
                    *column,
                    matches!(kinds.get(*column), Some(AttrKind::Int | AttrKind::Text)),
                ),
                Cond::Overlaps { column, .. } => (
                    *column,
                    matches!(kinds.get(*column), Some(AttrKind::Labels)),
                ),
            };
            if !ok {
                return Err(Error::Invalid(format!(
                    "a filter condition on attribute column {column} does not apply to {:?}",
                    kinds.get(column)
                )));
            }
        }
        Ok(())
    }
}

/// Whether sorted `a` and sorted `b` share an element.
fn intersects(a: &[u32], b: &[u32]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() * 8 < large.len() {
        return small.iter().any(|x| large.binary_search(x).is_ok());
    }
    let (mut i, mut j) = (0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

impl Attrs {
    /// Whether node `n`'s current values meet every condition of `f`.
    #[inline]
    pub fn matches(&self, n: u32, f: &Filter) -> bool {
        // A node past this handle's attribute copy (shared codes another
        // backend refreshed further) is not seen until our own refresh.
        if n as usize >= self.len() {
            return false;
        }
        f.conds.iter().all(|c| match c {
            Cond::AnyOf { column, keys } => {
                !self.is_null(n, *column) && {
                    let v = self.scalar(n, *column);
                    if keys.len() <= 8 {
                        keys.contains(&v)
                    } else {
                        keys.binary_search(&v).is_ok()
                    }
                }
            }
            Cond::Overlaps { column, labels } => intersects(self.labels(n, *column), labels),
        })
    }

    /// Nodes condition `c` may match, from the posting lists: each matching
    /// node at least once (some may be listed twice, or no longer match).
    pub fn candidates<'a>(&'a self, c: &'a Cond) -> impl Iterator<Item = &'a [u32]> + 'a {
        let (column, keys): (usize, Box<dyn Iterator<Item = u64>>) = match c {
            Cond::AnyOf { column, keys } => (*column, Box::new(keys.iter().copied())),
            Cond::Overlaps { column, labels } => {
                (*column, Box::new(labels.iter().map(|&l| l as u64)))
            }
        };
        keys.map(move |k| self.posting(column, k))
    }

    /// Upper bound of the nodes condition `c` matches.
    pub fn count(&self, c: &Cond) -> usize {
        self.candidates(c).map(|l| l.len()).sum()
    }
}

/// How a filtered search finds its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The graph walk, filtering what it returns.
    Walk,
    /// A scan of condition `driver`'s posting lists, which list about
    /// `count` nodes.
    Flat { driver: usize, count: usize },
}

/// A page read, in code estimates: reading a node costs the buffer
/// look-up, the check of the bytes read and the exact distance.
const PAGE_COST: usize = 24;
/// Matching rows a walk is assumed to need (a typical LIMIT).
const ROWS_WANTED: usize = 10;

/// The condition of `f` that lists the fewest nodes, how many it lists,
/// and that count's share of `live` nodes.
fn most_selective(attrs: &Attrs, f: &Filter, live: usize) -> Option<(usize, usize, f64)> {
    let (driver, count) = f
        .conds
        .iter()
        .enumerate()
        .map(|(i, c)| (i, attrs.count(c)))
        .min_by_key(|x| x.1)?;
    let selectivity = (count.max(1) as f64 / live.max(1) as f64).min(1.0);
    Some((driver, count, selectivity))
}

/// How many times its list a filtered walk's first search may grow to.
/// It binds a short list's walk through a filter few nodes match, where
/// the nodes the walk expects to pass on the way can be several times the
/// list: four times left such a walk short of the rows it needed, five
/// finds them for a few more pages (benches/notes/50-filters.md has the
/// figures). The default list's walks stay below it; filters rarer still
/// take the flat plan.
const LONGEST_LIST: usize = 5;

/// The list a filtered walk's first search goes on with, after a search
/// with list `list` read `read` live nodes of which `matched` match `f`;
/// `None` if it is long enough. After the first search the scan goes on
/// through matching candidates alone (see `stream.rs`), which the graph
/// links less well than all nodes, so the first search should start it
/// from enough of them: its list is `ef` plus the nodes it passes over
/// (not matching) on the way to the rows wanted, up to `LONGEST_LIST`
/// times `ef`.
/// How many it passes over follows the rate at which the walk has met
/// matching nodes, not the filter's share of all nodes: a filter that
/// follows the data (a verb's neighbours are verbs) matches near the query
/// far more often. The share weighs in as a prior worth `ROWS_WANTED`
/// nodes, so a short walk's few reads do not decide alone. A list grows by
/// at least an eighth or not at all: a few nodes more are within the
/// rate's noise, and each growth re-sorts the keys seen.
pub(super) fn longer_list(
    attrs: &Attrs,
    f: &Filter,
    live: usize,
    ef: usize,
    (list, read, matched): (usize, usize, usize),
) -> Option<usize> {
    let (_, _, selectivity) = most_selective(attrs, f, live)?;
    let prior = ROWS_WANTED as f64;
    let rate = (matched as f64 + prior * selectivity) / (read as f64 + prior);
    let passed = ROWS_WANTED as f64 * (1.0 / rate - 1.0);
    let longer = ((ef as f64 + passed).ceil() as usize).min(ef.saturating_mul(LONGEST_LIST));
    (longer >= list + list.div_ceil(8)).then_some(longer)
}

/// The two ways of a filtered search priced in node expansions (a page
/// read and `r` code estimates each), for a filter that lists `count` of
/// `live` nodes, with list size `ef` and graph degree `r`: the walk and
/// the flat scan. [`plan`] takes the cheaper, and the SQL planner's
/// estimate prices the same two, so that it expects what the scan will do.
pub fn filtered_cost(count: f64, live: f64, ef: usize, r: usize) -> (f64, f64) {
    let selectivity = (count.max(1.0) / live.max(1.0)).min(1.0);
    // A walk expands about `ef` nodes, then as many as it takes to meet
    // the rows wanted among nodes matching with probability count / live.
    let walk = ef as f64 + ROWS_WANTED as f64 / selectivity;
    // A flat scan estimates every listed node and reads the best few.
    let flat = (count + (2 * ROWS_WANTED * PAGE_COST) as f64) / (PAGE_COST + r) as f64;
    (walk, flat)
}

/// The cheaper plan for `f` over `live` nodes, with list size `ef` and
/// graph degree `r`.
pub(super) fn plan(attrs: &Attrs, f: &Filter, live: usize, ef: usize, r: usize) -> Plan {
    let Some((driver, count, _)) = most_selective(attrs, f, live) else {
        return Plan::Walk;
    };
    let (walk, flat) = filtered_cost(count as f64, live as f64, ef, r);
    if flat <= walk {
        Plan::Flat { driver, count }
    } else {
        Plan::Walk
    }
}

#[cfg(test)]
mod tests {
    use super::super::attrs::AttrValue;
    use super::*;

    fn table() -> Attrs {
        let mut a = Attrs::new(&[AttrKind::Int, AttrKind::Labels, AttrKind::Text], 4);
        for n in 0..100u32 {
            let labels = if n % 10 == 0 {
                AttrValue::Null
            } else {
                AttrValue::Labels(vec![n % 7, 100 + n % 3])
            };
            let text = if n % 2 == 0 {
                AttrValue::text(b"even")
            } else {
                AttrValue::text(b"odd")
            };
            a.set(n, &[AttrValue::Int(n as i64 % 5), labels, text]);
        }
        a
    }

    #[test]
    fn conditions_match_as_sql_does() {
        let a = table();
        let f = Filter::new().and(Cond::AnyOf {
            column: 0,
            keys: vec![3, 1],
        });
        let got: Vec<u32> = (0..100).filter(|&n| a.matches(n, &f)).collect();
        assert_eq!(
            got,
            (0..100)
                .filter(|n| n % 5 == 3 || n % 5 == 1)
                .collect::<Vec<_>>()
        );
        // Overlap; a NULL label set overlaps nothing.
        let f = Filter::new().and(Cond::Overlaps {
            column: 1,
            labels: vec![102, 6],
        });
        let got: Vec<u32> = (0..100).filter(|&n| a.matches(n, &f)).collect();
        let want: Vec<u32> = (0..100)
            .filter(|n| n % 10 != 0 && (n % 3 == 2 || n % 7 == 6))
            .collect();
        assert_eq!(got, want);
        // A conjunction, with a text column.
        let f = Filter::new()
            .and(Cond::AnyOf {
                column: 2,
                keys: vec![crate::index::attrs::text_hash(b"odd")],
            })
            .and(Cond::AnyOf {
                column: 0,
                keys: vec![0],
            });
        let got: Vec<u32> = (0..100).filter(|&n| a.matches(n, &f)).collect();
        assert_eq!(got, (0..100).filter(|n| n % 10 == 5).collect::<Vec<_>>());
        // No keys: nothing.
        let f = Filter::new().and(Cond::AnyOf {
            column: 0,
            keys: vec![],
        });
        assert!((0..100).all(|n| !a.matches(n, &f)));
    }

    #[test]
    fn posting_lists_cover_every_match_and_a_reused_node_is_rechecked() {
        let mut a = table();
        let c = Cond::AnyOf {
            column: 0,
            keys: vec![2],
        };
        let listed: Vec<u32> = a.candidates(&c).flatten().copied().collect();
        assert_eq!(listed, (0..100).filter(|n| n % 5 == 2).collect::<Vec<_>>());
        // Node 2 takes other values: still listed, no longer matching.
        a.set(2, &[AttrValue::Int(4), AttrValue::Null, AttrValue::Null]);
        let f = Filter::new().and(c.clone());
        assert!(a.candidates(&c).flatten().any(|&n| n == 2));
        assert!(!a.matches(2, &f));
        assert_eq!(
            a.values(2),
            vec![AttrValue::Int(4), AttrValue::Null, AttrValue::Null]
        );
    }

    /// 100,000 nodes, node `n` holding `n % 1000` in one int column.
    fn thousand_values() -> Attrs {
        let mut a = Attrs::new(&[AttrKind::Int], 0);
        for n in 0..100_000u32 {
            a.set(n, &[AttrValue::Int((n % 1000) as i64)]);
        }
        a
    }

    #[test]
    fn the_plan_follows_the_selectivity() {
        let a = thousand_values();
        let one = Filter::new().and(Cond::AnyOf {
            column: 0,
            keys: vec![7],
        });
        assert!(matches!(
            plan(&a, &one, 100_000, 128, 48),
            Plan::Flat { count: 100, .. }
        ));
        let most = Filter::new().and(Cond::AnyOf {
            column: 0,
            keys: (0..900).collect(),
        });
        assert_eq!(plan(&a, &most, 100_000, 128, 48), Plan::Walk);
        assert_eq!(plan(&a, &Filter::new(), 100_000, 128, 48), Plan::Walk);
    }

    #[test]
    fn the_walk_grows_its_list_by_the_nodes_it_passes() {
        let a = thousand_values();
        let tenth = Filter::new().and(Cond::AnyOf {
            column: 0,
            keys: (0..100).collect(),
        });
        let grow = |f: &Filter, at| longer_list(&a, f, 100_000, 128, at);
        // No filter: the list as it is.
        assert_eq!(grow(&Filter::new(), (128, 128, 0)), None);
        // Matching at the filter's share (10%): 90 nodes passed for the
        // 10 rows wanted.
        assert_eq!(grow(&tenth, (128, 190, 19)), Some(218));
        // None matched: up to LONGEST_LIST x ef.
        assert_eq!(grow(&tenth, (128, 128, 0)), Some(640));
        // A filter that follows the data, matching 9 in 10 near the query:
        // a node or two more, not worth growing for.
        assert_eq!(grow(&tenth, (128, 130, 117)), None);
        // Grown once, at about the same rate: not again.
        assert_eq!(grow(&tenth, (218, 225, 22)), None);
        // A short walk's few reads weigh as much as the share: 10 of 10
        // read is a rate of (10 + 1) / 20, so 9 nodes passed.
        assert_eq!(longer_list(&a, &tenth, 100_000, 10, (10, 10, 10)), Some(19));
    }

    #[test]
    fn wrong_kinds_are_refused() {
        let kinds = [AttrKind::Int, AttrKind::Labels];
        let bad = Filter::new().and(Cond::Overlaps {
            column: 0,
            labels: vec![1],
        });
        assert!(bad.check(&kinds).is_err());
        let bad = Filter::new().and(Cond::AnyOf {
            column: 5,
            keys: vec![1],
        });
        assert!(bad.check(&kinds).is_err());
    }
}
