//! Access methods named `hnsw` and `ivfflat`, so that a pgvector database
//! dump restores into diskvec: each builds and searches a diskvec graph.
//!
//! Their options map onto diskvec's: HNSW's `m` (links per node, 2m on the
//! bottom layer) sets `max_neighbors = 2m` and `ef_construction` the build
//! list; IVFFlat's `lists` has no graph counterpart and is accepted as is.
//! At search time `hnsw.ef_search` and `ivfflat.probes` raise
//! `diskvec.search_list_size` (never lower it). A NOTICE says so at build.

use crate::errors::raise;
use crate::index_options::{new_rel_options, RelOptions};
use crate::{index_am, index_build};
use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting, PgSqlErrorCode::*};
use std::ffi::CStr;

/// pgvector's `hnsw.ef_search` (default 40).
pub static EF_SEARCH: GucSetting<i32> = GucSetting::<i32>::new(40);
/// pgvector's `ivfflat.probes` (default 1).
pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(1);
/// Search-list entries each IVFFlat probe stands for.
const LIST_PER_PROBE: i32 = 16;

static mut HNSW_KIND: pg_sys::relopt_kind::Type = 0;
static mut IVFFLAT_KIND: pg_sys::relopt_kind::Type = 0;

/// pgvector's option bounds and defaults.
const M: (i32, i32, i32) = (2, 100, 16);
const EF_CONSTRUCTION: (i32, i32, i32) = (4, 1000, 64);
const LISTS: (i32, i32, i32) = (1, 32768, 100);
/// diskvec's larger default degree (L2's), the floor of a mapped build list.
const DEFAULT_DEGREE: i32 = 56;

/// What a `hnsw` or `ivfflat` index was created with (0: not given),
/// stored after diskvec's own options.
#[repr(C)]
struct PgvectorOptions {
    base: RelOptions,
    m: i32,
    ef_construction: i32,
    lists: i32,
}

/// Parsed reloptions of either method, in the layout `build_reloptions` fills.
#[repr(C)]
struct Given {
    vl_len_: i32,
    a: i32,
    b: i32,
}

pub fn init() {
    GucRegistry::define_int_guc(
        c"hnsw.ef_search",
        c"Sets the size of the dynamic candidate list for search (pgvector's; raises diskvec.search_list_size for indexes made with USING hnsw).",
        c"Valid range is 1..1000.",
        &EF_SEARCH,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ivfflat.probes",
        c"Sets the number of probes (pgvector's; each raises diskvec.search_list_size by 16 for indexes made with USING ivfflat).",
        c"Valid range is 1..lists.",
        &PROBES,
        1,
        LISTS.1,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SAFETY: run once from _PG_init; the option names are static strings.
    unsafe {
        let lock = pg_sys::AccessExclusiveLock as i32;
        HNSW_KIND = pg_sys::add_reloption_kind();
        pg_sys::add_int_reloption(
            HNSW_KIND,
            c"m".as_ptr(),
            c"Max number of connections".as_ptr(),
            0,
            0,
            M.1,
            lock,
        );
        pg_sys::add_int_reloption(
            HNSW_KIND,
            c"ef_construction".as_ptr(),
            c"Size of the dynamic candidate list for construction".as_ptr(),
            0,
            0,
            EF_CONSTRUCTION.1,
            lock,
        );
        IVFFLAT_KIND = pg_sys::add_reloption_kind();
        pg_sys::add_int_reloption(
            IVFFLAT_KIND,
            c"lists".as_ptr(),
            c"Number of inverted lists".as_ptr(),
            0,
            0,
            LISTS.1,
            lock,
        );
    }
}

/// pgvector's bound check of an option given explicitly (0: not given).
fn check_bounds(name: &str, value: i32, (min, max, _): (i32, i32, i32)) {
    if value != 0 && value < min {
        raise(
            ERRCODE_INVALID_PARAMETER_VALUE,
            format!("value {value} out of bounds for option \"{name}\""),
            Some(&format!(
                "Valid values are between \"{min}\" and \"{max}\"."
            )),
        );
    }
}

/// Parses `reloptions` of `kind` with the option names `a` and `b`.
///
/// # Safety
/// `reloptions` is the `text[]` datum (or zero) Postgres passed to
/// `amoptions`, and `kind` a kind registered with `names`.
unsafe fn parse(
    reloptions: pg_sys::Datum,
    validate: bool,
    kind: pg_sys::relopt_kind::Type,
    names: &[&'static CStr],
) -> Given {
    use std::mem::offset_of;
    let offsets = [offset_of!(Given, a), offset_of!(Given, b)];
    let elts: Vec<pg_sys::relopt_parse_elt> = names
        .iter()
        .zip(offsets)
        .map(|(n, off)| pg_sys::relopt_parse_elt {
            optname: n.as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: off as i32,
        })
        .collect();
    // SAFETY: the parse table matches Given's layout; build_reloptions
    // returns NULL when no option was given.
    let p = unsafe {
        pg_sys::build_reloptions(
            reloptions,
            validate,
            kind,
            std::mem::size_of::<Given>(),
            elts.as_ptr(),
            elts.len() as i32,
        )
    } as *const Given;
    if p.is_null() {
        Given {
            vl_len_: 0,
            a: 0,
            b: 0,
        }
    } else {
        // SAFETY: non-null: a palloc'd Given.
        unsafe { std::ptr::read(p) }
    }
}

fn options(
    max_neighbors: i32,
    build_list_size: i32,
    m: i32,
    ef_construction: i32,
    lists: i32,
) -> *mut pg_sys::bytea {
    let extra = std::mem::size_of::<PgvectorOptions>() - std::mem::size_of::<RelOptions>();
    let o = new_rel_options(max_neighbors, build_list_size, extra) as *mut PgvectorOptions;
    // SAFETY: new_rel_options allocated the whole PgvectorOptions.
    unsafe {
        (*o).m = m;
        (*o).ef_construction = ef_construction;
        (*o).lists = lists;
    }
    o.cast()
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn hnsw_options(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    // SAFETY: HNSW_KIND was registered in init with these two options.
    let given = unsafe { parse(reloptions, validate, HNSW_KIND, &[c"m", c"ef_construction"]) };
    let (m, ef) = (given.a, given.b);
    check_bounds("m", m, M);
    check_bounds("ef_construction", ef, EF_CONSTRUCTION);
    let (m_eff, ef_eff) = (
        if m > 0 { m } else { M.2 },
        if ef > 0 { ef } else { EF_CONSTRUCTION.2 },
    );
    if ef_eff < 2 * m_eff {
        raise(
            ERRCODE_INVALID_PARAMETER_VALUE,
            "ef_construction must be greater than or equal to 2 * m",
            None,
        );
    }
    let r = if m > 0 { 2 * m } else { 0 };
    let l = if m > 0 || ef > 0 {
        ef_eff.max(if r > 0 { r } else { DEFAULT_DEGREE })
    } else {
        0
    };
    options(r, l.min(2000), m, ef, 0)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ivfflat_options(
    reloptions: pg_sys::Datum,
    validate: bool,
) -> *mut pg_sys::bytea {
    // SAFETY: IVFFLAT_KIND was registered in init with this option.
    let given = unsafe { parse(reloptions, validate, IVFFLAT_KIND, &[c"lists"]) };
    check_bounds("lists", given.a, LISTS);
    options(0, 0, 0, 0, given.a)
}

/// The open index's access method routine (relcache's copy).
fn routine_of(index: pg_sys::Relation) -> Option<&'static pg_sys::IndexAmRoutine> {
    // SAFETY: an open index relation's rd_indam is NULL or its access
    // method's routine, kept by the relcache while the relation is open.
    unsafe { (*index).rd_indam.as_ref() }
}

/// True for an index that is a diskvec graph (`USING diskvec`, `hnsw` or
/// `ivfflat`): its access method scans with diskvec's callback, whatever
/// the method is named.
pub fn is_diskvec_graph(index: pg_sys::Relation) -> bool {
    let scan = routine_of(index).and_then(|a| a.amgettuple);
    scan.map(|f| f as usize) == Some(crate::index_scan::amgettuple as *const () as usize)
}

/// What an index was created with, if it is a `hnsw` or `ivfflat` index
/// (told apart by their options parser, which only those methods have).
fn given(index: pg_sys::Relation) -> Option<(&'static str, i32, i32, i32)> {
    type Parser = unsafe extern "C-unwind" fn(pg_sys::Datum, bool) -> *mut pg_sys::bytea;
    let parser = routine_of(index)?.amoptions.map(|f| f as usize);
    let methods: [(Parser, &str); 2] = [(hnsw_options, "hnsw"), (ivfflat_options, "ivfflat")];
    let (_, method) = methods.iter().find(|(f, _)| Some(*f as usize) == parser)?;
    // SAFETY: the options of a hnsw/ivfflat index, when set, are the
    // PgvectorOptions that `options` above made (relcache keeps them).
    let o = unsafe { ((*index).rd_options as *const PgvectorOptions).as_ref() };
    Some(o.map_or((*method, 0, 0, 0), |o| {
        (*method, o.m, o.ef_construction, o.lists)
    }))
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    if let Some((method, m, ef, lists)) = given(index) {
        let name = crate::index_errors::relation_name(index);
        let o = crate::index_options::of(index);
        let (r, l) = (o.max_neighbors, o.build_list_size);
        let shown = |v: usize| {
            if v == 0 {
                "the operator class's default".to_string()
            } else {
                v.to_string()
            }
        };
        let detail = match method {
            "hnsw" => format!(
                "m = {} and ef_construction = {} give max_neighbors = {} and build_list_size = {}; hnsw.ef_search raises diskvec.search_list_size",
                if m > 0 { m } else { M.2 },
                if ef > 0 { ef } else { EF_CONSTRUCTION.2 },
                shown(r),
                shown(l)
            ),
            _ => format!(
                "lists = {} has no graph counterpart; each of ivfflat.probes raises diskvec.search_list_size by {LIST_PER_PROBE}",
                if lists > 0 { lists } else { LISTS.2 }
            ),
        };
        pgrx::ereport!(
            pgrx::PgLogLevel::NOTICE,
            ERRCODE_SUCCESSFUL_COMPLETION,
            format!("{method} index \"{name}\" is built as a diskvec graph"),
            detail
        );
    }
    // SAFETY: the arguments are Postgres's, passed on unchanged.
    unsafe { index_build::ambuild(heap, index, info) }
}

/// The search list for a scan of `index`: `base` (diskvec.search_list_size
/// or the index's option), raised by hnsw.ef_search or ivfflat.probes for
/// indexes of those methods.
pub fn search_list_size(index: pg_sys::Relation, base: usize) -> usize {
    let raised = match given(index) {
        Some(("hnsw", ..)) => EF_SEARCH.get(),
        Some(("ivfflat", ..)) => PROBES.get().saturating_mul(LIST_PER_PROBE),
        _ => 0,
    };
    base.max(raised.max(0) as usize)
}

fn routine(amoptions: pg_sys::amoptions_function) -> pg_sys::Datum {
    let am = index_am::routine();
    am.amoptions = amoptions;
    am.ambuild = Some(ambuild);
    // One key column, as pgvector's: attribute columns are diskvec's own.
    am.amcanmulticol = false;
    am.amsearcharray = false;
    pg_sys::Datum::from(am as *mut pg_sys::IndexAmRoutine)
}

pg_function! {
    /// `hnswhandler(internal) RETURNS index_am_handler`: pgvector's name.
    fn hnswhandler(_args) {
        routine(Some(hnsw_options))
    }
}

pg_function! {
    /// `ivfflathandler(internal) RETURNS index_am_handler`: pgvector's name.
    fn ivfflathandler(_args) {
        routine(Some(ivfflat_options))
    }
}
