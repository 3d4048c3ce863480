//! Deleting: tombstones ([`Index::delete`], [`Index::delete_where`]) and
//! FreshDiskANN consolidation ([`Index::consolidate`]), which removes the
//! tombstoned nodes from the graph and frees their slots.

use super::{area::Codes, Index};
use crate::format::{self, NONE};
use crate::page::{PageStore, Result};
use std::collections::HashMap;

/// Whether node `m` is out of the graph (deleted or free).
fn gone(codes: &Codes, m: u32) -> bool {
    codes.flags(m) != format::FLAG_LIVE
}

impl<S: PageStore> Index<S> {
    /// Mark `id` deleted (a tombstone: it still routes searches but is never
    /// returned). `consolidate` removes it from the graph. Returns whether
    /// the id was present.
    pub fn delete(&mut self, id: u64) -> Result<bool> {
        let Some(n) = self.codes.lookup(id) else {
            return Ok(false);
        };
        self.tombstone(n)?;
        self.log_changes(&[n])?;
        self.refresh()?;
        Ok(true)
    }

    /// Mark deleted every live vector whose id `dead` accepts (as `delete`
    /// does, one change-log write in all). Returns how many. Postgres's
    /// VACUUM asks this way: it knows which heap rows died, not which ids
    /// we hold.
    pub fn delete_where(&mut self, mut dead: impl FnMut(u64) -> bool) -> Result<usize> {
        let mut changed = Vec::new();
        for n in 0..self.codes.len() as u32 {
            if gone(&self.codes, n) {
                continue;
            }
            if !dead(self.codes.id(n)) {
                continue;
            }
            self.tombstone(n)?;
            changed.push(n);
        }
        self.log_changes(&changed)?;
        self.refresh()?;
        Ok(changed.len())
    }

    /// Flag live node `n` deleted, in its code entry (not yet logged: the
    /// memory copy follows on the caller's refresh) and on its node page.
    fn tombstone(&mut self, n: u32) -> Result<()> {
        self.update_code_head(n, |h| h.flags = format::FLAG_DELETED as u16)?;
        self.set_node_flags(n, format::FLAG_DELETED)
    }

    /// FreshDiskANN consolidation: every live node that points at a deleted
    /// node gets the deleted node's out-neighbours as candidates and is
    /// re-pruned, so navigability is kept; then the deleted nodes' slots are
    /// freed for reuse. Returns how many nodes were removed. Commits.
    /// No insert may run alongside (the extension holds VACUUM's lock).
    pub fn consolidate(&mut self) -> Result<usize> {
        let n = self.codes.len() as u32;
        let deleted: Vec<u32> = (0..n)
            .filter(|&m| self.codes.flags(m) == format::FLAG_DELETED)
            .collect();
        if deleted.is_empty() {
            return Ok(0);
        }
        let mut dnbrs: HashMap<u32, Vec<u32>> = HashMap::new();
        for &d in &deleted {
            dnbrs.insert(d, self.read_node(d)?.neighbors);
        }
        for p in 0..n {
            if !gone(&self.codes, p) {
                self.repair(p, &dnbrs)?;
            }
        }
        if self.meta.entry != NONE && gone(&self.codes, self.meta.entry) {
            let old = self.meta.entry;
            let entry = dnbrs[&old]
                .iter()
                .copied()
                .find(|&x| !gone(&self.codes, x))
                .or_else(|| (0..n).find(|&x| !gone(&self.codes, x)))
                .unwrap_or(NONE);
            // The new entry point is on the page before the old one can be
            // freed.
            self.update_meta(|m| {
                m.entry = entry;
                Ok(())
            })?;
            self.meta.entry = entry;
        }
        let zeros = vec![0.0; self.meta.dim as usize];
        for &d in &deleted {
            self.update_code_head(d, |h| {
                h.flags = format::FLAG_FREE as u16;
                h.id = 0;
            })?;
            self.write_node(d, 0, format::FLAG_FREE, &zeros, &[])?;
        }
        self.log_changes(&deleted)?;
        self.refresh()?;
        self.store.commit()?;
        Ok(deleted.len())
    }

    /// Re-link live node `p` around the deleted nodes (`dnbrs`: each one's
    /// out-neighbours) it points at, if any: its surviving neighbours and
    /// theirs, re-pruned.
    fn repair(&self, p: u32, dnbrs: &HashMap<u32, Vec<u32>>) -> Result<()> {
        let node = self.read_node(p)?;
        if !node.neighbors.iter().any(|m| dnbrs.contains_key(m)) {
            return Ok(());
        }
        let mut set: Vec<u32> = Vec::new();
        for &m in &node.neighbors {
            match dnbrs.get(&m) {
                Some(dn) => set.extend(
                    dn.iter()
                        .copied()
                        .filter(|&x| x != p && !gone(&self.codes, x)),
                ),
                None if !gone(&self.codes, m) => set.push(m),
                None => {}
            }
        }
        set.sort_unstable();
        set.dedup();
        let mut vecs: HashMap<u32, Vec<f32>> = HashMap::new();
        for &x in &set {
            vecs.insert(x, self.read_node(x)?.vector);
        }
        let new = self.prune_with_vectors(p, &node.vector, &vecs);
        self.write_node(p, node.id, node.flags, &node.vector, &new)
    }
}
