//! In-memory page store, for tests and for purely in-process indexes.

use crate::page::{BlockNo, Error, Page, PageStore, Result};
use parking_lot::{MappedRwLockReadGuard, ReentrantMutex, RwLock, RwLockReadGuard};

#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Inner>,
    /// Held by `modify` (see `page::modify_by_copy`).
    modifying: ReentrantMutex<()>,
}

#[derive(Default)]
struct Inner {
    pages: Vec<Box<Page>>,
    free: Vec<BlockNo>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl PageStore for MemStore {
    type PageRef<'a> = MappedRwLockReadGuard<'a, Page>;

    fn read(&self, blkno: BlockNo) -> Result<Self::PageRef<'_>> {
        let guard = self.inner.read_recursive();
        if blkno as usize >= guard.pages.len() {
            return Err(Error::OutOfRange(blkno));
        }
        Ok(RwLockReadGuard::map(guard, |inner| {
            &*inner.pages[blkno as usize]
        }))
    }

    fn write(&self, blkno: BlockNo, page: &Page) -> Result<()> {
        let mut inner = self.inner.write();
        let slot = inner
            .pages
            .get_mut(blkno as usize)
            .ok_or(Error::OutOfRange(blkno))?;
        **slot = *page;
        Ok(())
    }

    fn modify<R>(&self, blkno: BlockNo, f: impl FnOnce(&mut Page) -> Result<R>) -> Result<R> {
        crate::page::modify_by_copy(self, &self.modifying, blkno, f)
    }

    fn extend(&self) -> Result<BlockNo> {
        let mut inner = self.inner.write();
        if let Some(b) = inner.free.pop() {
            inner.pages[b as usize] = Page::zeroed();
            return Ok(b);
        }
        inner.pages.push(Page::zeroed());
        Ok(inner.pages.len() as BlockNo - 1)
    }

    fn free(&self, blkno: BlockNo) -> Result<()> {
        let mut inner = self.inner.write();
        if blkno as usize >= inner.pages.len() {
            return Err(Error::OutOfRange(blkno));
        }
        inner.free.push(blkno);
        Ok(())
    }

    fn len(&self) -> BlockNo {
        self.inner.read_recursive().pages.len() as BlockNo
    }

    fn commit(&self) -> Result<()> {
        Ok(())
    }
}
