//! Deleting: tombstones ([`Index::delete`], [`Index::delete_where`]).
//! A tombstone still routes searches but is never returned;
//! consolidation (`consolidate.rs`) removes it from the graph and frees
//! its slot.
//!
//! Tombstones may be set while other handles insert: a node's code entry
//! and node page change under their page locks, and an insert whose search
//! reads the node after that never links to it.

use super::{area::Codes, Index};
use crate::format;
use crate::page::{PageStore, Result};

/// Nodes looked at between two calls of `delete_where_with`'s pause.
const DELETE_BATCH: usize = 1024;

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
        self.log_and_refresh(&[n])?;
        Ok(true)
    }

    /// Mark deleted every live vector whose id `dead` accepts (as `delete`
    /// does). Returns how many. Postgres's VACUUM asks this way: it knows
    /// which heap rows died, not which ids we hold.
    pub fn delete_where(&mut self, dead: impl FnMut(u64) -> bool) -> Result<usize> {
        self.delete_where_with(dead, || Ok(()))
    }

    /// `delete_where`, calling `pause` after every batch of nodes looked
    /// at, once the batch's tombstones are logged: an error from it stops
    /// the work there with every tombstone set so far complete.
    pub fn delete_where_with(
        &mut self,
        mut dead: impl FnMut(u64) -> bool,
        mut pause: impl FnMut() -> Result<()>,
    ) -> Result<usize> {
        let mut changed = Vec::new();
        let mut total = 0;
        for n in 0..self.codes.len() as u32 {
            if !gone(&self.codes, n) && dead(self.codes.id(n)) {
                self.tombstone(n)?;
                changed.push(n);
            }
            if n as usize % DELETE_BATCH == DELETE_BATCH - 1 {
                self.log_and_refresh(&changed)?;
                total += changed.len();
                changed.clear();
                pause()?;
            }
        }
        self.log_and_refresh(&changed)?;
        Ok(total + changed.len())
    }

    /// Flag live node `n` deleted, in its code entry (not yet logged: the
    /// memory copy follows on the caller's refresh) and on its node page.
    fn tombstone(&mut self, n: u32) -> Result<()> {
        self.update_code_head(n, |h| {
            h.flags = format::FLAG_DELETED as u16;
            true
        })?;
        self.set_node_flags(n, format::FLAG_DELETED)
    }
}
