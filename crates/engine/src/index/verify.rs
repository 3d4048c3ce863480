//! Checks of an index as it is on its pages: every page's header, and the
//! graph's invariants. Tests and `diskvec_verify` use them.

use super::{corrupt, Index};
use crate::format::{self, Kind};
use crate::page::{BlockNo, Error, PageStore, Result};

/// What [`check_pages`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSummary {
    pub pages: BlockNo,
    /// Pages extended but never written (a crash between the two).
    pub never_written: BlockNo,
}

/// Read every page of `store` and check its header: the diskvec magic, this
/// format version and a known page kind (the store checks its own
/// checksums on the way). `each_page` is called before every read (a
/// place to honour cancellation).
pub fn check_pages<S: PageStore>(store: &S, mut each_page: impl FnMut()) -> Result<PageSummary> {
    let pages = store.len();
    let mut never_written = 0;
    for blk in 0..pages {
        each_page();
        let p = store.read(blk)?;
        let h = format::header(&p);
        if h.magic == 0 && h.version == 0 && h.kind == 0 {
            never_written += 1;
            continue;
        }
        if h.magic != format::MAGIC || !format::readable(h.version) {
            return Err(corrupt(
                blk,
                format!(
                    "magic {:#x} version {} (expected {:#x} version {})",
                    h.magic,
                    h.version,
                    format::MAGIC,
                    format::FORMAT_VERSION
                ),
            ));
        }
        if Kind::from_u16(h.kind).is_none() {
            return Err(corrupt(blk, format!("unknown page kind {}", h.kind)));
        }
    }
    Ok(PageSummary {
        pages,
        never_written,
    })
}

impl<S: PageStore> Index<S> {
    /// Every live node's id and the ids of its neighbours (deleted ones
    /// included: callers check liveness).
    pub fn graph(&self) -> Result<Vec<(u64, Vec<u64>)>> {
        let mut out = Vec::new();
        for n in self.live_nodes() {
            let node = self.read_live_node(n)?;
            let ids = node
                .neighbors
                .iter()
                .map(|&m| match self.flags_of(m) {
                    Some(format::FLAG_LIVE) | Some(format::FLAG_DELETED) => Ok(self.codes.id(m)),
                    _ => Err(Error::Invalid(format!(
                        "node {n} links to free or missing node {m}"
                    ))),
                })
                .collect::<Result<_>>()?;
            out.push((node.id, ids));
        }
        Ok(out)
    }

    /// Graph invariants: every live node's page agrees with its code entry,
    /// degree <= R, no self loops, and (when `after_consolidate`) no edge
    /// to a deleted or free node.
    pub fn check_graph(&self, after_consolidate: bool) -> Result<()> {
        let r = self.meta.max_degree as usize;
        let entry = self.flags_of(self.meta.entry);
        if !self.is_empty()
            && !matches!(entry, Some(format::FLAG_LIVE) | Some(format::FLAG_DELETED))
        {
            return Err(Error::Invalid(format!(
                "entry point {} is not a node in the graph",
                self.meta.entry
            )));
        }
        for n in self.live_nodes() {
            let nb = self.read_live_node(n)?.neighbors;
            if nb.len() > r {
                return Err(Error::Invalid(format!(
                    "node {n} has degree {} > R = {r}",
                    nb.len()
                )));
            }
            for &m in &nb {
                if m == n {
                    return Err(Error::Invalid(format!("node {n} links to itself")));
                }
                let f = self.flags_of(m);
                let ok = match f {
                    Some(format::FLAG_LIVE) => true,
                    Some(format::FLAG_DELETED) => !after_consolidate,
                    _ => false,
                };
                if !ok {
                    return Err(Error::Invalid(format!(
                        "node {n} links to node {m} with flags {f:?}"
                    )));
                }
            }
        }
        Ok(())
    }

    fn live_nodes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.codes.len() as u32).filter(|&n| self.flags_of(n) == Some(format::FLAG_LIVE))
    }

    fn flags_of(&self, n: u32) -> Option<u32> {
        ((n as usize) < self.codes.len()).then(|| self.codes.flags(n))
    }

    /// Live node `n` read from its page, which must agree with its code
    /// entry.
    fn read_live_node(&self, n: u32) -> Result<super::node_io::Node> {
        let node = self.read_node(n)?;
        if node.flags != format::FLAG_LIVE || node.id != self.codes.id(n) {
            return Err(corrupt(
                self.codes.location(n).0,
                format!(
                    "node {n}: page says id {} flags {}, code area says id {} live",
                    node.id,
                    node.flags,
                    self.codes.id(n)
                ),
            ));
        }
        Ok(node)
    }
}
