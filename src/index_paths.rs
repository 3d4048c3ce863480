//! A planner hook (`set_rel_pathlist_hook`) for the clauses the planner
//! does not match to a diskvec index by itself:
//! * `column IN (...)` (`= ANY(...)`) on an attribute column: Postgres
//!   keeps such a clause out of an ordered index scan on any column but
//!   the first (btree's rule), so it would only filter rows after the scan;
//! * a distance bound, `embedding <=> $q < $r` (or `<=`, or the mirrored
//!   `$r > embedding <=> $q`): it compares the distance, not the column, so
//!   no operator class holds it. It becomes the index condition
//!   `embedding <<=>> diskvec_sphere($q, $r)`, lossy: the original clause
//!   stays as a filter (PostGIS's support functions derive index conditions
//!   the same way, for function calls; a comparison of an operator's result
//!   needs the hook).
//!
//! For each diskvec index of a table with such a clause the hook adds one
//! path: the index scan with every clause the index holds, in the order of
//! the planner's own ordered path for the index when there is one (ORDER BY
//! distance), else unordered when a distance bound alone makes the index
//! worth it. `add_path` keeps it only if it is the cheaper.

use pgrx::pg_sys::{self, Node, NodeTag};
use pgrx::PgList;

static mut PREV_HOOK: pg_sys::set_rel_pathlist_hook_type = None;

pub fn init() {
    // SAFETY: `_PG_init` runs once per backend, before any planning; the
    // previous hook is kept and called first.
    unsafe {
        PREV_HOOK = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(hook);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn hook(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    rti: pg_sys::Index,
    rte: *mut pg_sys::RangeTblEntry,
) {
    // SAFETY: the planner's own arguments, valid for the call; the lists
    // read are the relation's, built by the planner.
    unsafe {
        if let Some(prev) = PREV_HOOK {
            prev(root, rel, rti, rte);
        }
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION
            || (*rel).baserestrictinfo.is_null()
            || (*rel).indexlist.is_null()
            || !matches!(
                (*rel).reloptkind,
                pg_sys::RelOptKind::RELOPT_BASEREL | pg_sys::RelOptKind::RELOPT_OTHER_MEMBER_REL
            )
        {
            return;
        }
        let am = pg_sys::get_am_oid(c"diskvec".as_ptr(), true);
        if am == pg_sys::InvalidOid {
            return;
        }
        let indexes = PgList::<pg_sys::IndexOptInfo>::from_pg((*rel).indexlist);
        for index in indexes.iter_ptr() {
            if (*index).relam == am {
                add_index_path(root, rel, index);
            }
        }
    }
}

/// `expr` does not depend on the relation's row (a constant, a parameter,
/// a stable expression), so it can be an index scan key.
///
/// # Safety
/// Planner structures of the current query.
unsafe fn pseudo_constant(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    expr: *mut Node,
) -> bool {
    // SAFETY: the caller's promise.
    unsafe {
        !pg_sys::bms_is_member((*rel).relid as i32, pg_sys::pull_varnos(root, expr))
            && !pg_sys::contain_volatile_functions(expr)
    }
}

/// The two arguments of an operator clause.
///
/// # Safety
/// `e` is a node of the planner's.
unsafe fn binary(e: *mut Node) -> Option<(*mut pg_sys::OpExpr, *mut Node, *mut Node)> {
    // SAFETY: the caller's promise; an OpExpr's args is a List of nodes.
    unsafe {
        if !pgrx::is_a(e, NodeTag::T_OpExpr) {
            return None;
        }
        let op = e as *mut pg_sys::OpExpr;
        let args = PgList::<Node>::from_pg((*op).args);
        if args.len() != 2 {
            return None;
        }
        Some((op, args.get_ptr(0)?, args.get_ptr(1)?))
    }
}

fn index_clause(
    rinfo: *mut pg_sys::RestrictInfo,
    qual: *mut pg_sys::RestrictInfo,
    lossy: bool,
    col: i32,
) -> *mut pg_sys::IndexClause {
    // SAFETY: a fresh zeroed node in the planner's memory context.
    unsafe {
        let ic =
            pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexClause>()) as *mut pg_sys::IndexClause;
        (*ic).type_ = NodeTag::T_IndexClause;
        (*ic).rinfo = rinfo;
        let mut quals = PgList::<pg_sys::RestrictInfo>::new();
        quals.push(qual);
        (*ic).indexquals = quals.into_pg();
        (*ic).lossy = lossy;
        (*ic).indexcol = col as i16;
        ic
    }
}

/// A restriction made from a derived clause, for an index condition.
///
/// # Safety
/// Planner structures of the current query.
unsafe fn restriction(
    root: *mut pg_sys::PlannerInfo,
    clause: *mut pg_sys::Expr,
    like: *mut pg_sys::RestrictInfo,
) -> *mut pg_sys::RestrictInfo {
    // SAFETY: the caller's promise.
    unsafe {
        pg_sys::make_restrictinfo(
            root,
            clause,
            true,
            false,
            false,
            (*like).security_level,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `rinfo` as a condition on attribute column `col` of `index`, and
/// whether it is an `= ANY` (which the planner would not use itself).
///
/// # Safety
/// Planner structures of the current query.
unsafe fn attribute_clause(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    index: *mut pg_sys::IndexOptInfo,
    col: i32,
    rinfo: *mut pg_sys::RestrictInfo,
) -> Option<(*mut pg_sys::IndexClause, bool)> {
    // SAFETY: the caller's promise; arrays of the IndexOptInfo have one
    // entry per key column.
    unsafe {
        let clause = (*rinfo).clause as *mut Node;
        let family = *(*index).opfamily.add(col as usize);
        let coll = *(*index).indexcollations.add(col as usize);
        let coll_ok = |c: pg_sys::Oid| coll == pg_sys::InvalidOid || coll == c;
        if pgrx::is_a(clause, NodeTag::T_ScalarArrayOpExpr) {
            let saop = clause as *mut pg_sys::ScalarArrayOpExpr;
            let args = PgList::<Node>::from_pg((*saop).args);
            if (*saop).useOr
                && args.len() == 2
                && coll_ok((*saop).inputcollid)
                && pg_sys::op_in_opfamily((*saop).opno, family)
                && pg_sys::match_index_to_operand(args.get_ptr(0)?, col, index)
                && pseudo_constant(root, rel, args.get_ptr(1)?)
            {
                return Some((index_clause(rinfo, rinfo, false, col), true));
            }
            return None;
        }
        let (op, left, right) = binary(clause)?;
        if !coll_ok((*op).inputcollid) {
            return None;
        }
        if pg_sys::match_index_to_operand(left, col, index)
            && pseudo_constant(root, rel, right)
            && pg_sys::op_in_opfamily((*op).opno, family)
        {
            return Some((index_clause(rinfo, rinfo, false, col), false));
        }
        // `constant = column`: the commuted operator, column first.
        let commuted = pg_sys::get_commutator((*op).opno);
        if pg_sys::match_index_to_operand(right, col, index)
            && pseudo_constant(root, rel, left)
            && commuted != pg_sys::InvalidOid
            && pg_sys::op_in_opfamily(commuted, family)
        {
            let e = pg_sys::make_opclause(
                commuted,
                (*op).opresulttype,
                false,
                right as *mut pg_sys::Expr,
                left as *mut pg_sys::Expr,
                (*op).opcollid,
                (*op).inputcollid,
            );
            (*(e as *mut pg_sys::OpExpr)).opfuncid = pg_sys::get_opcode(commuted);
            let qual = restriction(root, e, rinfo);
            return Some((index_clause(rinfo, qual, false, col), false));
        }
        None
    }
}

/// Whether `opno` compares two float8 values with `<`, `<=` (`Some(false)`)
/// or `>`, `>=` (`Some(true)`: the distance is on the right).
///
/// # Safety
/// An operator oid from a clause.
unsafe fn float8_comparison(opno: pg_sys::Oid) -> Option<bool> {
    // SAFETY: catalog look-ups of an existing operator.
    unsafe {
        let (mut l, mut r) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        pg_sys::op_input_types(opno, &mut l, &mut r);
        if l != pg_sys::FLOAT8OID || r != pg_sys::FLOAT8OID {
            return None;
        }
        match std::ffi::CStr::from_ptr(pg_sys::get_opname(opno)).to_bytes() {
            b"<" | b"<=" => Some(false),
            b">" | b">=" => Some(true),
            _ => None,
        }
    }
}

/// `rinfo` as a distance bound on `index`'s vector: the index clause and
/// the point it is around.
///
/// # Safety
/// Planner structures of the current query.
unsafe fn bound_clause(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    index: *mut pg_sys::IndexOptInfo,
    rinfo: *mut pg_sys::RestrictInfo,
) -> Option<(*mut pg_sys::IndexClause, *mut Node)> {
    // SAFETY: the caller's promise; column 0's entries of the IndexOptInfo.
    unsafe {
        let (cmp, a, b) = binary((*rinfo).clause as *mut Node)?;
        let (distance, radius) = if float8_comparison((*cmp).opno)? {
            (b, a)
        } else {
            (a, b)
        };
        if !pseudo_constant(root, rel, radius) {
            return None;
        }
        let (dist_op, x, y) = binary(distance)?;
        let (family, vector) = (*(*index).opfamily, *(*index).opcintype);
        let order_op = pg_sys::get_opfamily_member(family, vector, vector, 1);
        if (*dist_op).opno != order_op || order_op == pg_sys::InvalidOid {
            return None;
        }
        // Distances are symmetric: the column on either side.
        let (key, centre) = if pg_sys::match_index_to_operand(x, 0, index) {
            (x, y)
        } else if pg_sys::match_index_to_operand(y, 0, index) {
            (y, x)
        } else {
            return None;
        };
        if !pseudo_constant(root, rel, centre) {
            return None;
        }
        let sphere = pg_sys::get_function_sibling_type(
            pg_sys::get_opcode(order_op),
            c"diskvec_sphere".as_ptr(),
        );
        let within = pg_sys::get_opfamily_member(family, vector, sphere, 2);
        if sphere == pg_sys::InvalidOid || within == pg_sys::InvalidOid {
            return None;
        }
        let row = pg_sys::palloc0(std::mem::size_of::<pg_sys::RowExpr>()) as *mut pg_sys::RowExpr;
        (*row).xpr.type_ = NodeTag::T_RowExpr;
        let mut args = PgList::<Node>::new();
        args.push(pg_sys::copyObjectImpl(centre.cast()) as *mut Node);
        args.push(pg_sys::copyObjectImpl(radius.cast()) as *mut Node);
        (*row).args = args.into_pg();
        (*row).row_typeid = sphere;
        (*row).row_format = pg_sys::CoercionForm::COERCE_EXPLICIT_CALL;
        (*row).location = -1;
        let e = pg_sys::make_opclause(
            within,
            pg_sys::BOOLOID,
            false,
            pg_sys::copyObjectImpl(key.cast()) as *mut pg_sys::Expr,
            row as *mut pg_sys::Expr,
            pg_sys::InvalidOid,
            pg_sys::InvalidOid,
        );
        (*(e as *mut pg_sys::OpExpr)).opfuncid = pg_sys::get_opcode(within);
        let qual = restriction(root, e, rinfo);
        Some((index_clause(rinfo, qual, true, 0), centre))
    }
}

/// The planner's own ordered path on `index`, if it made one: its ORDER BY
/// expressions, their columns and path keys.
///
/// # Safety
/// Planner structures of the current query.
unsafe fn ordered_path(
    rel: *mut pg_sys::RelOptInfo,
    index: *mut pg_sys::IndexOptInfo,
) -> Option<*mut pg_sys::IndexPath> {
    // SAFETY: the caller's promise; an IndexPath is a Path with its tag.
    unsafe {
        let paths = PgList::<pg_sys::Path>::from_pg((*rel).pathlist);
        let found = paths
            .iter_ptr()
            .filter(|&p| pgrx::is_a(p as *mut Node, NodeTag::T_IndexPath))
            .map(|p| p as *mut pg_sys::IndexPath)
            .find(|&p| (*p).indexinfo == index && !(*p).indexorderbys.is_null());
        found
    }
}

/// Add the path described in the module docs for `index`, if its clauses
/// include one the planner would not have used.
///
/// # Safety
/// Planner structures of the current query.
unsafe fn add_index_path(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    index: *mut pg_sys::IndexOptInfo,
) {
    // SAFETY: the caller's promise.
    unsafe {
        let mut clauses: Vec<(i32, *mut pg_sys::IndexClause)> = Vec::new();
        let mut bound: Option<(*mut pg_sys::IndexClause, *mut Node)> = None;
        let mut any_array = false;
        let restrictions = PgList::<pg_sys::RestrictInfo>::from_pg((*rel).baserestrictinfo);
        for rinfo in restrictions.iter_ptr() {
            if (*rinfo).pseudoconstant {
                continue;
            }
            for col in 1..(*index).nkeycolumns {
                if let Some((ic, array)) = attribute_clause(root, rel, index, col, rinfo) {
                    clauses.push((col, ic));
                    any_array |= array;
                    break;
                }
            }
            if bound.is_none() {
                bound = bound_clause(root, rel, index, rinfo);
            }
        }
        let ordered = ordered_path(rel, index);
        if let (Some(p), Some((_, centre))) = (ordered, bound) {
            // Bounded around the point it orders by, or the walk cannot
            // use the bound.
            let by = PgList::<Node>::from_pg((*p).indexorderbys);
            let same = by
                .get_ptr(0)
                .and_then(|e| binary(e))
                .is_some_and(|(_, _, q)| pg_sys::equal(q.cast(), centre.cast()));
            if !same {
                bound = None;
            }
        }
        if !any_array && bound.is_none() {
            return;
        }
        if ordered.is_none() && bound.is_none() {
            return;
        }
        if let Some((ic, _)) = bound {
            clauses.push((0, ic));
        }
        clauses.sort_by_key(|c| c.0);
        let mut list = PgList::<pg_sys::IndexClause>::new();
        for (_, ic) in clauses {
            list.push(ic);
        }
        let (orderbys, cols, keys) = match ordered {
            Some(p) => (
                (*p).indexorderbys,
                (*p).indexorderbycols,
                (*p).path.pathkeys,
            ),
            None => (
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ),
        };
        let path = pg_sys::create_index_path(
            root,
            index,
            list.into_pg(),
            orderbys,
            cols,
            keys,
            pg_sys::ScanDirection::ForwardScanDirection,
            false,
            std::ptr::null_mut(),
            1.0,
            false,
        );
        pg_sys::add_path(rel, path as *mut pg_sys::Path);
    }
}
