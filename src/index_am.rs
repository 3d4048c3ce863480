//! The `diskvec` index access method: the handler Postgres calls to learn
//! what the AM can do and where its callbacks are.

use crate::{index_build, index_cost, index_options, index_scan, index_write};
use pgrx::pg_sys;

unsafe extern "C-unwind" fn amvalidate(_opclass: pg_sys::Oid) -> bool {
    true
}

pg_function! {
    /// `diskvec_handler(internal) RETURNS index_am_handler`.
    fn diskvec_handler(_args) {
        pg_sys::Datum::from(routine() as *mut pg_sys::IndexAmRoutine)
    }
}

/// The diskvec routine, palloc'd in the current memory context: the
/// handler's result, and where the pgvector-named access methods
/// (src/pgvector_am.rs) start from.
pub fn routine<'a>() -> &'a mut pg_sys::IndexAmRoutine {
    // SAFETY: a fresh zeroed allocation of one IndexAmRoutine, which
    // Postgres takes over as a handler's result.
    let a = unsafe {
        &mut *(pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexAmRoutine>())
            as *mut pg_sys::IndexAmRoutine)
    };
    a.type_ = pg_sys::NodeTag::T_IndexAmRoutine;
    a.amstrategies = 0;
    a.amsupport = 1;
    a.amoptsprocnum = 0;
    a.amcanorder = false;
    a.amcanorderbyop = true;
    a.amcanbackward = false;
    a.amcanunique = false;
    // Attribute columns after the vector (src/index_attrs.rs), with
    // `= ANY (array)` conditions on them.
    a.amcanmulticol = true;
    a.amoptionalkey = true;
    a.amsearcharray = true;
    a.amsearchnulls = false;
    a.amstorage = false;
    a.amclusterable = false;
    a.ampredlocks = false;
    a.amcanparallel = false;
    a.amcaninclude = false;
    a.amusemaintenanceworkmem = true;
    a.amparallelvacuumoptions = 0;
    a.amkeytype = pg_sys::InvalidOid;
    a.ambuild = Some(index_build::ambuild);
    a.ambuildempty = Some(index_build::ambuildempty);
    a.aminsert = Some(index_write::aminsert);
    a.ambulkdelete = Some(index_write::ambulkdelete);
    a.amvacuumcleanup = Some(index_write::amvacuumcleanup);
    a.amcanreturn = None;
    a.amcostestimate = Some(index_cost::amcostestimate);
    a.amoptions = Some(index_options::amoptions);
    a.amproperty = None;
    a.ambuildphasename = Some(index_build::ambuildphasename);
    a.amvalidate = Some(amvalidate);
    a.amadjustmembers = None;
    a.ambeginscan = Some(index_scan::ambeginscan);
    a.amrescan = Some(index_scan::amrescan);
    a.amgettuple = Some(index_scan::amgettuple);
    a.amgetbitmap = None;
    a.amendscan = Some(index_scan::amendscan);
    a.ammarkpos = None;
    a.amrestrpos = None;
    a.amestimateparallelscan = None;
    a.aminitparallelscan = None;
    a.amparallelrescan = None;
    a
}
