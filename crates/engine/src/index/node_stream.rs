//! Page chains written and read in order, for the bulk builds: a chain of
//! pages laid down one after the other ([`ChainWriter`], [`SlotWriter`]),
//! and the node stream's slots visited in increasing order, each page read
//! once ([`SlotReader`]) or read and written back once ([`SlotCursor`]). A
//! node slot may run on from one page into the next (the slot size need not
//! divide the payload).

use super::node_io::{parse_node, NodeRef};
use crate::format::{self, Kind, NodeLayout, HEADER_SIZE, NONE, PAYLOAD};
use crate::page::{BlockNo, Page, PageStore, Result};
use std::collections::VecDeque;
use std::ops::Range;

/// Pages appended to a new chain, each linked to the next: a page is
/// written once the block after it is known.
pub(super) struct ChainWriter {
    kind: Kind,
    pending: Option<(BlockNo, Box<Page>)>,
    /// Every block of the chain, in order.
    pub blocks: Vec<BlockNo>,
}

impl ChainWriter {
    pub fn new(kind: Kind) -> Self {
        ChainWriter {
            kind,
            pending: None,
            blocks: Vec::new(),
        }
    }

    /// A fresh page of the chain's kind to fill.
    pub fn page(&self) -> Box<Page> {
        format::new_page(self.kind)
    }

    /// Append `page` (its `count` set by the caller).
    pub fn push<S: PageStore>(&mut self, store: &S, page: Box<Page>) -> Result<()> {
        let b = store.extend()?;
        if let Some((prev, mut p)) = self.pending.take() {
            format::header_mut(&mut p).next = b;
            store.write(prev, &p)?;
        }
        self.blocks.push(b);
        self.pending = Some((b, page));
        Ok(())
    }

    /// Write the last page (its `next` is NONE).
    pub fn finish<S: PageStore>(&mut self, store: &S) -> Result<()> {
        if let Some((b, mut p)) = self.pending.take() {
            format::header_mut(&mut p).next = NONE;
            store.write(b, &p)?;
        }
        Ok(())
    }
}

/// Node slots appended to a node stream as their bytes come.
pub(super) struct SlotWriter {
    pub chain: ChainWriter,
    page: Box<Page>,
    /// Payload bytes used in `page`.
    at: usize,
}

impl SlotWriter {
    pub fn new() -> Self {
        let chain = ChainWriter::new(Kind::Nodes);
        let page = chain.page();
        SlotWriter { chain, page, at: 0 }
    }

    /// Append one slot's bytes.
    pub fn push<S: PageStore>(&mut self, store: &S, mut slot: &[u8]) -> Result<()> {
        while !slot.is_empty() {
            if self.at == PAYLOAD {
                self.flush(store)?;
            }
            let take = slot.len().min(PAYLOAD - self.at);
            self.page.bytes[HEADER_SIZE + self.at..HEADER_SIZE + self.at + take]
                .copy_from_slice(&slot[..take]);
            self.at += take;
            slot = &slot[take..];
        }
        Ok(())
    }

    fn flush<S: PageStore>(&mut self, store: &S) -> Result<()> {
        let mut page = std::mem::replace(&mut self.page, self.chain.page());
        format::header_mut(&mut page).count = self.at as u32;
        self.at = 0;
        self.chain.push(store, page)
    }

    /// Write the last pages; returns the chain's blocks and the bytes used
    /// in its last page.
    pub fn finish<S: PageStore>(mut self, store: &S) -> Result<(Vec<BlockNo>, usize)> {
        let used = self.at;
        if self.at > 0 {
            self.flush(store)?;
        }
        self.chain.finish(store)?;
        Ok((self.chain.blocks, used))
    }
}

/// The node stream of a bulk build: node `i` is the `slot_size` bytes at
/// `i * slot_size` of the pages' payloads, in chain order.
pub(super) struct NodeStream {
    pub blocks: Vec<BlockNo>,
    pub slot_size: usize,
}

impl NodeStream {
    /// Where node `i` starts: its first page and payload offset.
    pub fn location(&self, i: usize) -> (BlockNo, u16) {
        let pos = i * self.slot_size;
        (self.blocks[pos / PAYLOAD], (pos % PAYLOAD) as u16)
    }

    /// The first and last of the stream's pages node `i`'s slot lies on.
    fn span(&self, i: usize) -> (usize, usize) {
        let ss = self.slot_size;
        (i * ss / PAYLOAD, ((i + 1) * ss - 1) / PAYLOAD)
    }

    /// Node `i`'s slot a page at a time: the page's index in the stream,
    /// the slot's bytes in that page, and where they go in the slot.
    fn pieces(&self, i: usize) -> impl Iterator<Item = (usize, Range<usize>, Range<usize>)> {
        let ss = self.slot_size;
        let (start, end) = (i * ss, (i + 1) * ss);
        let (first, last) = self.span(i);
        (first..=last).map(move |pi| {
            let (lo, hi) = (start.max(pi * PAYLOAD), end.min((pi + 1) * PAYLOAD));
            let in_page = HEADER_SIZE + lo - pi * PAYLOAD..HEADER_SIZE + hi - pi * PAYLOAD;
            (pi, in_page, lo - start..hi - start)
        })
    }
}

/// Reads node slots in increasing order, holding the few pages the current
/// slot lies on as the store lends them (no copy). Nothing may be written
/// to the store while it lives (see [`PageStore::read`]).
pub(super) struct SlotReader<'a, S: PageStore + 'a> {
    store: &'a S,
    stream: &'a NodeStream,
    pages: VecDeque<(usize, S::PageRef<'a>)>,
    slot: Vec<u8>,
}

impl<'a, S: PageStore> SlotReader<'a, S> {
    pub fn new(store: &'a S, stream: &'a NodeStream) -> Self {
        SlotReader {
            store,
            stream,
            pages: VecDeque::new(),
            slot: vec![0; stream.slot_size],
        }
    }

    /// Pass node `i`'s slot bytes to `f` (`i` never below the last visit's).
    pub fn visit<R>(&mut self, i: usize, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let (first, last) = self.stream.span(i);
        while self.pages.front().is_some_and(|p| p.0 < first) {
            self.pages.pop_front();
        }
        for pi in first..=last {
            if self.pages.back().is_none_or(|p| p.0 < pi) {
                let b = self.stream.blocks[pi];
                let p = self.store.read(b)?;
                format::check(&p, b, Kind::Nodes)?;
                self.pages.push_back((pi, p));
            }
        }
        // Visits only move forward: the pages held are first..=last.
        debug_assert_eq!(self.pages.front().map(|p| p.0), Some(first));
        if first == last {
            let (_, in_page, _) = self.stream.pieces(i).next().expect("one page");
            return Ok(f(&self.pages[0].1.bytes[in_page]));
        }
        for (pi, in_page, in_slot) in self.stream.pieces(i) {
            self.slot[in_slot].copy_from_slice(&self.pages[pi - first].1.bytes[in_page]);
        }
        Ok(f(&self.slot))
    }

    /// Node `i` parsed (see [`SlotReader::visit`]); a slot that does not
    /// parse is a corrupt page.
    pub fn node<R>(
        &mut self,
        i: usize,
        l: &NodeLayout,
        f: impl FnOnce(NodeRef<'_>) -> R,
    ) -> Result<R> {
        let at = self.stream.location(i).0;
        self.visit(i, |slot| parse_node(slot, l).map(f))?
            .map_err(|r| super::corrupt(at, r))
    }
}

/// Changes bytes of node slots in increasing node order, in place: the
/// changes to a page are queued and made in one [`PageStore::modify`] once
/// the visits move past it (or at `finish`), so a page is looked up once
/// and only the changed bytes are touched, not copied whole.
pub(super) struct SlotCursor<'a, S: PageStore> {
    store: &'a S,
    stream: &'a NodeStream,
    /// Queued changes in page order: (page index in the stream, offset in
    /// the page, their bytes in `bytes`).
    edits: VecDeque<(usize, usize, Range<usize>)>,
    bytes: Vec<u8>,
}

impl<'a, S: PageStore> SlotCursor<'a, S> {
    pub fn new(store: &'a S, stream: &'a NodeStream) -> Self {
        SlotCursor {
            store,
            stream,
            edits: VecDeque::new(),
            bytes: Vec::new(),
        }
    }

    /// Set bytes `at..at + data.len()` of node `i`'s slot to `data` (`i`
    /// never below the last call's).
    pub fn write(&mut self, i: usize, at: usize, data: &[u8]) -> Result<()> {
        let (first, _) = self.stream.span(i);
        self.flush_before(first)?;
        let end = at + data.len();
        debug_assert!(end <= self.stream.slot_size);
        for (pi, in_page, in_slot) in self.stream.pieces(i) {
            let (lo, hi) = (at.max(in_slot.start), end.min(in_slot.end));
            if lo < hi {
                let b = self.bytes.len();
                self.bytes.extend_from_slice(&data[lo - at..hi - at]);
                let offset = in_page.start + lo - in_slot.start;
                self.edits.push_back((pi, offset, b..self.bytes.len()));
            }
        }
        Ok(())
    }

    /// Make the queued changes to pages before stream page `first`.
    fn flush_before(&mut self, first: usize) -> Result<()> {
        while let Some(&(pi, _, _)) = self.edits.front() {
            if pi >= first {
                break;
            }
            let n = self.edits.iter().take_while(|e| e.0 == pi).count();
            let b = self.stream.blocks[pi];
            let (edits, bytes) = (self.edits.range(..n), &self.bytes);
            self.store.modify(b, |page| {
                format::check(page, b, Kind::Nodes)?;
                for (_, offset, r) in edits.clone() {
                    page.bytes[*offset..*offset + r.len()].copy_from_slice(&bytes[r.clone()]);
                }
                Ok(())
            })?;
            self.edits.drain(..n);
        }
        // Keep only the bytes of the changes still queued.
        match self.edits.front() {
            None => self.bytes.clear(),
            Some((_, _, r)) if r.start > 0 => {
                let shift = r.start;
                self.bytes.drain(..shift);
                for (_, _, r) in self.edits.iter_mut() {
                    *r = r.start - shift..r.end - shift;
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Make every change still queued (before the pages are read again).
    pub fn flush(&mut self) -> Result<()> {
        self.flush_before(usize::MAX)
    }

    /// Make every change still queued.
    pub fn finish(mut self) -> Result<()> {
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem_store::MemStore;

    /// Slots that straddle pages: byte ranges written through the cursor
    /// (some across a page boundary, several on one page, pages skipped)
    /// read back as written, and nothing else changes.
    #[test]
    fn cursor_writes_ranges_across_pages() {
        let store = MemStore::new();
        let slot_size = 1_000; // does not divide the payload
        let n = 40;
        let mut writer = SlotWriter::new();
        let slot = |i: usize| -> Vec<u8> { (0..slot_size).map(|b| (i * 7 + b) as u8).collect() };
        for i in 0..n {
            writer.push(&store, &slot(i)).unwrap();
        }
        let (blocks, _) = writer.finish(&store).unwrap();
        let stream = NodeStream { blocks, slot_size };
        let mut want: Vec<Vec<u8>> = (0..n).map(slot).collect();
        let mut cursor = SlotCursor::new(&store, &stream);
        for i in (0..n).filter(|i| i % 3 != 1) {
            for (at, len) in [(0, 8), (500, 500), (990, 10)] {
                let data: Vec<u8> = (0..len).map(|b| (b * 3 + i + 1) as u8 ^ 0x5a).collect();
                cursor.write(i, at, &data).unwrap();
                want[i][at..at + len].copy_from_slice(&data);
            }
        }
        cursor.finish().unwrap();
        let mut reader = SlotReader::new(&store, &stream);
        for (i, w) in want.iter().enumerate() {
            reader
                .visit(i, |got| assert_eq!(got, &w[..], "slot {i}"))
                .unwrap();
        }
    }
}
