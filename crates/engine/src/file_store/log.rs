//! The page file's superblock and its write-ahead log: how a commit
//! reaches the data file whole or not at all.

use super::SUPERBLOCK;
use super::{FILE_MAGIC, FILE_VERSION};
use crate::page::{BlockNo, Error, Page, Result, PAGE_SIZE};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const WAL_MAGIC: u32 = u32::from_le_bytes(*b"DVWL");
const WAL_END: u32 = u32::from_le_bytes(*b"END!");

#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Superblock {
    pub magic: u32,
    pub version: u32,
    pub page_count: u32,
    pub free_head: u32,
    pub crc: u32,
}

impl Superblock {
    pub fn crc_of(&self) -> u32 {
        let mut s = *self;
        s.crc = 0;
        crc32fast::hash(bytemuck::bytes_of(&s))
    }
}

/// The log beside the page file at `path`.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".wal");
    PathBuf::from(s)
}

/// Parse a log; `None` if torn or not ours.
type WalPages<'a> = Vec<(BlockNo, &'a [u8])>;

pub fn parse_wal(bytes: &[u8]) -> Option<(Superblock, WalPages<'_>)> {
    let sbs = std::mem::size_of::<Superblock>();
    if bytes.len() < 12 + sbs + 8 {
        return None;
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let crc = u32::from_le_bytes(tail[0..4].try_into().unwrap());
    let end = u32::from_le_bytes(tail[4..8].try_into().unwrap());
    if end != WAL_END || crc != crc32fast::hash(body) {
        return None;
    }
    let magic = u32::from_le_bytes(body[0..4].try_into().unwrap());
    let count = u32::from_le_bytes(body[8..12].try_into().unwrap()) as usize;
    if magic != WAL_MAGIC || body.len() != 12 + sbs + count * (4 + PAGE_SIZE) {
        return None;
    }
    let sb: Superblock = bytemuck::pod_read_unaligned(&body[12..12 + sbs]);
    let mut pages = Vec::with_capacity(count);
    let mut off = 12 + sbs;
    for _ in 0..count {
        let b = u32::from_le_bytes(body[off..off + 4].try_into().unwrap());
        pages.push((b, &body[off + 4..off + 4 + PAGE_SIZE]));
        off += 4 + PAGE_SIZE;
    }
    Some((sb, pages))
}

/// Write pages and the superblock in place, then fsync. `limit` simulates a
/// crash after that many page writes.
pub fn apply<'a>(
    file: &File,
    sb: &Superblock,
    pages: impl Iterator<Item = (BlockNo, &'a [u8])>,
    limit: Option<usize>,
) -> Result<()> {
    let need = (sb.page_count as u64 + 1) * PAGE_SIZE as u64;
    if file.metadata()?.len() < need {
        file.set_len(need)?;
    }
    for (i, (b, p)) in pages.enumerate() {
        if limit == Some(i) {
            file.sync_all()?;
            return Ok(());
        }
        file.write_all_at(p, (b as u64 + 1) * PAGE_SIZE as u64)?;
    }
    if limit.is_some() {
        file.sync_all()?;
        return Ok(());
    }
    let mut block = vec![0u8; std::mem::size_of::<Superblock>()];
    block.copy_from_slice(bytemuck::bytes_of(sb));
    file.write_all_at(&block, 0)?;
    file.sync_all()?;
    Ok(())
}

pub fn read_superblock(file: &File) -> Result<Superblock> {
    let mut buf = vec![0u8; std::mem::size_of::<Superblock>()];
    file.read_exact_at(&mut buf, 0).map_err(|_| Error::Format {
        found: "a file too short for a superblock".into(),
        expected: "a diskvec page file".into(),
    })?;
    let sb: Superblock = bytemuck::pod_read_unaligned(&buf);
    if sb.magic != FILE_MAGIC || sb.version != FILE_VERSION {
        return Err(Error::Format {
            found: if sb.magic == FILE_MAGIC {
                format!("page file version {}", sb.version)
            } else {
                "not a diskvec page file".into()
            },
            expected: format!("diskvec page file version {FILE_VERSION}"),
        });
    }
    if sb.crc != sb.crc_of() {
        return Err(Error::Corrupt {
            blkno: SUPERBLOCK,
            reason: "superblock checksum mismatch".into(),
        });
    }
    Ok(sb)
}

/// Replay a complete log, discard a torn one.
pub fn recover(path: &Path, file: &File) -> Result<()> {
    let wp = wal_path(path);
    let mut wal = match OpenOptions::new().read(true).write(true).open(&wp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::new();
    wal.read_to_end(&mut bytes)?;
    if bytes.is_empty() {
        return Ok(());
    }
    if let Some((sb, pages)) = parse_wal(&bytes) {
        apply(file, &sb, pages.into_iter(), None)?;
    }
    wal.set_len(0)?;
    wal.sync_all()?;
    Ok(())
}

/// Writes the log of a commit to `out`, a page at a time: header,
/// superblock, every dirty page with its block number, then the log's own
/// CRC and an end marker (a log without them is torn, and discarded on
/// open). Streamed, so a commit never holds a second copy of its pages.
pub fn write_log(
    out: impl Write,
    sb: &Superblock,
    dirty: &BTreeMap<BlockNo, Box<Page>>,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(64 * PAGE_SIZE, out);
    let mut crc = crc32fast::Hasher::new();
    let mut put = |out: &mut BufWriter<_>, bytes: &[u8]| {
        crc.update(bytes);
        out.write_all(bytes)
    };
    put(&mut out, &WAL_MAGIC.to_le_bytes())?;
    put(&mut out, &FILE_VERSION.to_le_bytes())?;
    put(&mut out, &(dirty.len() as u32).to_le_bytes())?;
    put(&mut out, bytemuck::bytes_of(sb))?;
    for (&b, p) in dirty {
        put(&mut out, &b.to_le_bytes())?;
        put(&mut out, &p.bytes)?;
    }
    let crc = crc.finalize();
    out.write_all(&crc.to_le_bytes())?;
    out.write_all(&WAL_END.to_le_bytes())?;
    out.flush()
}
