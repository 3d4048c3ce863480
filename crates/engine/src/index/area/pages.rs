//! The list of code pages an area keeps beside its records: which page
//! holds which node's entry, in lists of `PAGES_PER_LIST` block numbers
//! that, like the chunks, only grow.

use super::super::pool::MAX_PAGE_LISTS;
use super::Codes;
use crate::format;
use crate::page::BlockNo;
use std::sync::atomic::{AtomicU32, Ordering::*};

/// Block numbers per chunk of the code page list.
pub(super) const PAGES_PER_LIST: usize = 4096;

impl Codes {
    pub fn entry_size(&self) -> usize {
        format::CODE_HEAD + 8 * self.code_words
    }

    /// Byte offset of node `n`'s entry in its code page.
    pub fn entry_offset(&self, n: u32) -> usize {
        format::HEADER_SIZE + (n as usize % self.per_page) * self.entry_size()
    }

    pub fn n_pages(&self) -> usize {
        self.slot().n_pages.load(Acquire) as usize
    }

    /// Code page `i` of the chain.
    pub fn page(&self, i: usize) -> BlockNo {
        assert!(i < self.n_pages());
        let list = self.page_lists[i / PAGES_PER_LIST];
        // SAFETY: entry `i % PAGES_PER_LIST` of a list run of that many.
        unsafe { (*list.add(i % PAGES_PER_LIST)).load(Relaxed) }
    }

    /// The code page holding node `n`'s entry.
    pub fn page_of(&self, n: u32) -> BlockNo {
        self.page(n as usize / self.per_page)
    }

    /// Append code page `blk` to the list; false if the list is full.
    pub fn push_page(&mut self, blk: BlockNo) -> bool {
        let i = self.n_pages();
        if i / PAGES_PER_LIST >= MAX_PAGE_LISTS {
            return false;
        }
        if i.is_multiple_of(PAGES_PER_LIST) {
            let Some(h) = self.alloc(PAGES_PER_LIST * 4) else {
                return false;
            };
            self.slot().page_lists[i / PAGES_PER_LIST].store(h, Release);
            self.page_lists.push(self.addr(h) as *const AtomicU32);
        }
        let list = self.page_lists[i / PAGES_PER_LIST];
        // SAFETY: as in `page`.
        unsafe { (*list.add(i % PAGES_PER_LIST)).store(blk, Relaxed) };
        self.slot().n_pages.store(i as u64 + 1, Release);
        true
    }
}
