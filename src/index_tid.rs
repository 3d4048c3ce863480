//! Heap TIDs as the engine's 64-bit ids: block number in the high bits,
//! line pointer offset in the low 16.

use pgrx::pg_sys;

pub fn tid_to_id(tid: &pg_sys::ItemPointerData) -> u64 {
    let blk = ((tid.ip_blkid.bi_hi as u64) << 16) | tid.ip_blkid.bi_lo as u64;
    (blk << 16) | tid.ip_posid as u64
}

/// The heap block of the row with id `id`.
pub fn id_to_block(id: u64) -> pg_sys::BlockNumber {
    (id >> 16) as pg_sys::BlockNumber
}

pub fn id_to_tid(id: u64) -> pg_sys::ItemPointerData {
    let blk = (id >> 16) as u32;
    pg_sys::ItemPointerData {
        ip_blkid: pg_sys::BlockIdData {
            bi_hi: (blk >> 16) as u16,
            bi_lo: (blk & 0xffff) as u16,
        },
        ip_posid: (id & 0xffff) as u16,
    }
}
