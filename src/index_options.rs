//! `CREATE INDEX ... WITH (...)` options and the `diskvec.*` settings.

use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CStr;

/// Beam width of a search (see `SearchParams::search_list_size`).
pub static SEARCH_LIST_SIZE: GucSetting<i32> = GucSetting::<i32>::new(128);
/// Candidates re-ranked with exact distances (see `SearchParams::rerank`).
pub static RERANK: GucSetting<i32> = GucSetting::<i32>::new(16);
/// How many tuples a scan may return before it gives up (filtered queries).
pub static MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(20000);

/// Reloptions as Postgres lays them out (a varlena header, then the fields
/// at the offsets named in `PARSE`).
#[repr(C)]
pub struct RelOptions {
    vl_len_: i32,
    pub max_neighbors: i32,
    pub build_list_size: i32,
    pub quant_bits: i32,
    pub alpha: f64,
}

static mut KIND: pg_sys::relopt_kind::Type = 0;

/// 0: the operator class's default (`diskvec_engine::Options::new`: L2
/// builds a denser graph than cosine and inner product).
pub const DEFAULT_MAX_NEIGHBORS: i32 = 0;
pub const DEFAULT_BUILD_LIST_SIZE: i32 = 0;
/// Bounds of an explicit value (0 aside).
const MAX_NEIGHBORS_RANGE: (i32, i32) = (4, 1024);
const BUILD_LIST_SIZE_RANGE: (i32, i32) = (8, 2000);
pub const DEFAULT_ALPHA: f64 = 1.2;

pub fn init() {
    GucRegistry::define_int_guc(
        c"diskvec.search_list_size",
        c"Candidate list size of a diskvec search.",
        c"Larger finds more true neighbours and reads more pages (about one per unit). Default 128.",
        &SEARCH_LIST_SIZE,
        1,
        10000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"diskvec.rerank",
        c"Candidates re-ranked with their exact distance.",
        c"At most this many candidates that the search estimated but did not visit are read for their exact distance; 0 turns re-ranking off.",
        &RERANK,
        0,
        10000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"diskvec.max_scan_tuples",
        c"Most tuples a diskvec scan visits.",
        c"When a WHERE filter rejects rows, the scan keeps widening its search until LIMIT is met or it has visited this many tuples.",
        &MAX_SCAN_TUPLES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    unsafe {
        KIND = pg_sys::add_reloption_kind();
        let lock = pg_sys::AccessExclusiveLock as i32;
        pg_sys::add_int_reloption(
            KIND,
            c"max_neighbors".as_ptr(),
            c"Maximum out-degree R of a graph node, 4 to 1024 (0: 56 for L2, else 48)".as_ptr(),
            DEFAULT_MAX_NEIGHBORS,
            0,
            MAX_NEIGHBORS_RANGE.1,
            lock,
        );
        pg_sys::add_int_reloption(
            KIND,
            c"build_list_size".as_ptr(),
            c"Candidate list size L while building, 8 to 2000 (0: 96 for L2, else 64)".as_ptr(),
            DEFAULT_BUILD_LIST_SIZE,
            0,
            BUILD_LIST_SIZE_RANGE.1,
            lock,
        );
        pg_sys::add_real_reloption(
            KIND,
            c"alpha".as_ptr(),
            c"RobustPrune's distance slack".as_ptr(),
            DEFAULT_ALPHA,
            1.0,
            2.0,
            lock,
        );
        pg_sys::add_int_reloption(
            KIND,
            c"quant_bits".as_ptr(),
            c"RaBitQ bits per dimension, 1 to 4 (0: chosen from the dimension)".as_ptr(),
            0,
            0,
            4,
            lock,
        );
    }
}

fn elt(
    name: &'static CStr,
    ty: pg_sys::relopt_type::Type,
    offset: usize,
) -> pg_sys::relopt_parse_elt {
    pg_sys::relopt_parse_elt {
        optname: name.as_ptr(),
        opttype: ty,
        offset: offset as i32,
    }
}

/// `amoptions`: parse and validate.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    use pg_sys::relopt_type::*;
    use std::mem::offset_of;
    let parse = [
        elt(
            c"max_neighbors",
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, max_neighbors),
        ),
        elt(
            c"build_list_size",
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, build_list_size),
        ),
        elt(
            c"quant_bits",
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, quant_bits),
        ),
        elt(c"alpha", RELOPT_TYPE_REAL, offset_of!(RelOptions, alpha)),
    ];
    let opts = unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            KIND,
            std::mem::size_of::<RelOptions>(),
            parse.as_ptr(),
            parse.len() as i32,
        )
    };
    if validate && !opts.is_null() {
        // 0 stands for the operator class's default, so Postgres' bounds
        // start at 0; the gap up to the real minimum is checked here.
        let o = unsafe { &*(opts as *const RelOptions) };
        for (name, value, (min, max)) in [
            ("max_neighbors", o.max_neighbors, MAX_NEIGHBORS_RANGE),
            ("build_list_size", o.build_list_size, BUILD_LIST_SIZE_RANGE),
        ] {
            if value > 0 && value < min {
                crate::errors::raise(
                    pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("value {value} out of bounds for option \"{name}\""),
                    Some(&format!(
                        "Valid values are between \"{min}\" and \"{max}\", or 0 for the operator class's default."
                    )),
                );
            }
        }
    }
    opts.cast()
}

/// The index's options, defaults filled in.
pub fn of(index: pg_sys::Relation) -> (usize, usize, f32, Option<usize>) {
    let opts = unsafe { (*index).rd_options as *const RelOptions };
    if opts.is_null() {
        return (
            DEFAULT_MAX_NEIGHBORS as usize,
            DEFAULT_BUILD_LIST_SIZE as usize,
            DEFAULT_ALPHA as f32,
            None,
        );
    }
    let o = unsafe { &*opts };
    (
        o.max_neighbors as usize,
        o.build_list_size as usize,
        o.alpha as f32,
        (o.quant_bits > 0).then_some(o.quant_bits as usize),
    )
}

/// A palloc'd options struct in the layout `of` reads, for an access method
/// that maps its own options onto diskvec's (src/pgvector_am.rs). `extra`
/// more bytes follow it (zeroed) for that method's own fields.
pub fn new_rel_options(max_neighbors: i32, build_list_size: i32, extra: usize) -> *mut RelOptions {
    let size = std::mem::size_of::<RelOptions>() + extra;
    // SAFETY: palloc0 returns `size` zeroed bytes, enough for RelOptions.
    unsafe {
        let o = pg_sys::palloc0(size) as *mut RelOptions;
        pgrx::set_varsize_4b(o as *mut pg_sys::varlena, size as i32);
        (*o).max_neighbors = max_neighbors;
        (*o).build_list_size = build_list_size;
        (*o).alpha = DEFAULT_ALPHA;
        o
    }
}
