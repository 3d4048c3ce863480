//! `CREATE INDEX ... WITH (...)` options and the `diskvec.*` settings.
//!
//! The search settings also exist as index options of the same name
//! (`ALTER INDEX ... SET (search_list_size = 40)`), the index's own
//! defaults: a scan takes each from the session (`SET`, `SET LOCAL`, the
//! connection's options) if it set one, else from the index, else from the
//! server's configuration (`postgresql.conf`, `ALTER DATABASE/ROLE ... SET`)
//! or the built-in default. Index options are DDL, so Citus applies them to
//! every shard's index, and a shard moved or split keeps them.

use diskvec_engine::ScanOrder;
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CStr;

/// Beam width of a search (see `SearchParams::search_list_size`).
pub static SEARCH_LIST_SIZE: GucSetting<i32> = GucSetting::<i32>::new(128);
/// Candidates re-ranked with exact distances (see `SearchParams::rerank`).
pub static RERANK: GucSetting<i32> = GucSetting::<i32>::new(16);
/// Pages a scan may read past its first search (see `ScanParams::max_reads`).
pub static MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(20000);
/// When a scan returns a row (see `diskvec_engine::ScanOrder`).
pub static ITERATIVE_SCAN: GucSetting<IterativeScan> =
    GucSetting::<IterativeScan>::new(IterativeScan::StrictOrder);
/// The memory a scan's queues may take, in multiples of `work_mem`.
pub static SCAN_MEM_MULTIPLIER: GucSetting<f64> = GucSetting::<f64>::new(1.0);
/// Node pages a scan asks for ahead of reading them (`PrefetchBuffer`).
pub static READ_AHEAD: GucSetting<i32> = GucSetting::<i32>::new(DEFAULT_READ_AHEAD);
const DEFAULT_READ_AHEAD: i32 = 8;

/// `diskvec.iterative_scan`, named as pgvector's `hnsw.iterative_scan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PostgresGucEnum)]
pub enum IterativeScan {
    #[name = c"off"]
    Off,
    #[name = c"strict_order"]
    StrictOrder,
    #[name = c"relaxed_order"]
    RelaxedOrder,
}

/// Reloptions as Postgres lays them out (a varlena header, then the fields
/// at the offsets named in `PARSE`).
#[repr(C)]
pub struct RelOptions {
    vl_len_: i32,
    pub max_neighbors: i32,
    pub build_list_size: i32,
    pub quant_bits: i32,
    pub alpha: f64,
    pub search_list_size: i32,
    pub rerank: i32,
    pub max_scan_tuples: i32,
    pub max_labels: i32,
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
pub const DEFAULT_MAX_LABELS: i32 = 32;
/// A search option at -1 is not set: the `diskvec.*` setting applies.
const UNSET: i32 = -1;
/// The search options: name, the setting they stand in for, and bounds of
/// an explicit value (the same as the setting's).
const SEARCH_OPTIONS: [(&CStr, &CStr, &CStr, (i32, i32)); 3] = [
    (
        c"search_list_size",
        c"diskvec.search_list_size",
        c"Index default of diskvec.search_list_size, 1 to 10000 (-1: the setting)",
        (1, 10000),
    ),
    (
        c"rerank",
        c"diskvec.rerank",
        c"Index default of diskvec.rerank, 0 to 10000 (-1: the setting)",
        (0, 10000),
    ),
    (
        c"max_scan_tuples",
        c"diskvec.max_scan_tuples",
        c"Index default of diskvec.max_scan_tuples, 1 to 2147483647 (-1: the setting)",
        (1, i32::MAX),
    ),
];

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
        c"Most index pages a diskvec scan reads past its first search.",
        c"When a WHERE filter rejects rows, the scan keeps searching outwards until LIMIT is met or it has read this many more nodes; it then returns the rows it found and ends.",
        &MAX_SCAN_TUPLES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"diskvec.read_ahead",
        c"Index pages a diskvec scan asks for before it reads them.",
        c"The pages of the best candidates the search expands next are requested from the kernel (PrefetchBuffer) while it works on the current one, so reads from disk overlap; 0 turns it off.",
        &READ_AHEAD,
        0,
        diskvec_engine::MAX_READ_AHEAD as i32,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"diskvec.iterative_scan",
        c"When a diskvec scan returns a row: off, strict_order or relaxed_order.",
        c"strict_order: in exact distance order, once no unread candidate can be closer; relaxed_order: once no unread candidate is estimated closer (fewer reads, rare rows out of order); off: the first search's rows only.",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"diskvec.scan_mem_multiplier",
        c"Memory a diskvec scan's queues may take, as a multiple of work_mem.",
        c"Past it the scan stops searching, returns the rows it found and ends.",
        &SCAN_MEM_MULTIPLIER,
        1.0,
        1000.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: `_PG_init` runs once per backend, before any other use of
    // KIND; the option names and descriptions are static C strings.
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
            c"max_labels".as_ptr(),
            c"Most labels per row in an int4[] attribute column, 0 to 1024".as_ptr(),
            DEFAULT_MAX_LABELS,
            0,
            diskvec_engine::MAX_LABELS as i32,
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
    // A scan reads the search options when it starts, so changing them
    // need not wait for running queries (as btree's deduplicate_items).
    for (name, _, desc, (_, max)) in SEARCH_OPTIONS {
        // SAFETY: called once from _PG_init, as the options above; the
        // strings are 'static.
        unsafe {
            pg_sys::add_int_reloption(
                KIND,
                name.as_ptr(),
                desc.as_ptr(),
                UNSET,
                UNSET,
                max,
                pg_sys::ShareUpdateExclusiveLock as i32,
            );
        }
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
        elt(
            c"max_labels",
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, max_labels),
        ),
        elt(
            SEARCH_OPTIONS[0].0,
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, search_list_size),
        ),
        elt(
            SEARCH_OPTIONS[1].0,
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, rerank),
        ),
        elt(
            SEARCH_OPTIONS[2].0,
            RELOPT_TYPE_INT,
            offset_of!(RelOptions, max_scan_tuples),
        ),
    ];
    // SAFETY: `parse` describes fields of RelOptions at their offsets, and
    // KIND was registered in `init`.
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
        // SAFETY: what build_reloptions just filled, a RelOptions.
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
        // -1 stands for the setting; the gap up to the real minimum.
        for ((name, _, _, (min, max)), value) in SEARCH_OPTIONS.iter().zip(search_options(o)) {
            if value != UNSET && value < *min {
                crate::errors::raise(
                    pgrx::PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
                    format!("value {value} out of bounds for option \"{}\"", name.to_string_lossy()),
                    Some(&format!(
                        "Valid values are between \"{min}\" and \"{max}\", or -1 for the diskvec.{} setting.",
                        name.to_string_lossy()
                    )),
                );
            }
        }
    }
    opts.cast()
}

/// An index's `WITH (...)` options as given: 0 (or `None`) where the
/// operator class's or the dimension's default applies.
#[derive(Clone, Copy, Debug)]
pub struct IndexOptions {
    pub max_neighbors: usize,
    pub build_list_size: usize,
    pub alpha: f32,
    pub quant_bits: Option<usize>,
    pub max_labels: usize,
}

/// The index's options.
pub fn of(index: pg_sys::Relation) -> IndexOptions {
    // SAFETY: an open index's rd_options is NULL or what `amoptions` built.
    let opts = unsafe { ((*index).rd_options as *const RelOptions).as_ref() };
    match opts {
        None => IndexOptions {
            max_neighbors: DEFAULT_MAX_NEIGHBORS as usize,
            build_list_size: DEFAULT_BUILD_LIST_SIZE as usize,
            alpha: DEFAULT_ALPHA as f32,
            quant_bits: None,
            max_labels: DEFAULT_MAX_LABELS as usize,
        },
        Some(o) => IndexOptions {
            max_neighbors: o.max_neighbors as usize,
            build_list_size: o.build_list_size as usize,
            alpha: o.alpha as f32,
            quant_bits: (o.quant_bits > 0).then_some(o.quant_bits as usize),
            max_labels: o.max_labels as usize,
        },
    }
}

fn search_options(o: &RelOptions) -> [i32; 3] {
    [o.search_list_size, o.rerank, o.max_scan_tuples]
}

/// The search settings a scan of `index` uses, in the order of
/// `SEARCH_OPTIONS`.
pub struct SearchSettings {
    pub search_list_size: usize,
    pub rerank: usize,
    pub max_scan_tuples: usize,
    pub read_ahead: usize,
    /// `diskvec.iterative_scan` (a setting only, not an index option).
    pub order: ScanOrder,
    /// `work_mem` times `diskvec.scan_mem_multiplier`, in bytes.
    pub max_memory: usize,
}

/// Resolves the search settings for a scan of `index`: the session's value
/// if it set one, else the index's option if set, else the setting's value
/// (from the server's configuration or the built-in default).
pub fn search_settings(index: pg_sys::Relation) -> SearchSettings {
    let mut v = [SEARCH_LIST_SIZE.get(), RERANK.get(), MAX_SCAN_TUPLES.get()];
    // SAFETY: `index` is an open index relation of this access method, so
    // its rd_options, when not null, is what `amoptions` built.
    let opts = unsafe { ((*index).rd_options as *const RelOptions).as_ref() };
    if let Some(o) = opts {
        for (i, option) in search_options(o).into_iter().enumerate() {
            if option != UNSET && !set_by_session(SEARCH_OPTIONS[i].1) {
                v[i] = option;
            }
        }
    }
    // SAFETY: a GUC, read on the backend's thread.
    let work_mem = unsafe { pg_sys::work_mem } as f64 * 1024.0;
    SearchSettings {
        search_list_size: v[0].max(1) as usize,
        rerank: v[1].max(0) as usize,
        max_scan_tuples: v[2].max(1) as usize,
        read_ahead: READ_AHEAD.get().max(0) as usize,
        order: match ITERATIVE_SCAN.get() {
            IterativeScan::Off => ScanOrder::Off,
            IterativeScan::StrictOrder => ScanOrder::Strict,
            IterativeScan::RelaxedOrder => ScanOrder::Relaxed,
        },
        max_memory: (work_mem * SCAN_MEM_MULTIPLIER.get()).min(usize::MAX as f64) as usize,
    }
}

/// Did the session choose this setting's value (`SET`, `SET LOCAL`, or the
/// connection's start-up options), rather than inherit it from the server,
/// database or role configuration or the built-in default?
fn set_by_session(name: &CStr) -> bool {
    // SAFETY: Postgres' array of settings, valid for the backend's life (it
    // is only reallocated when a setting is added, and this runs outside
    // that); each entry's name is a NUL-terminated string.
    unsafe {
        let vars = pg_sys::get_guc_variables();
        for i in 0..pg_sys::GetNumConfigOptions().max(0) as usize {
            let g = &**vars.add(i);
            if CStr::from_ptr(g.name) == name {
                return g.source >= pg_sys::GucSource::PGC_S_CLIENT;
            }
        }
    }
    false
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
        (*o).search_list_size = UNSET;
        (*o).rerank = UNSET;
        (*o).max_scan_tuples = UNSET;
        o
    }
}
