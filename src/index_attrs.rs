//! Attribute columns: the key columns after the vector
//! (`USING diskvec (embedding vector_cosine_ops, tenant_id, tags)`). Their
//! kinds, checked when the index is built; each row's values as the engine
//! keeps them; and a scan's keys (conditions on them, a distance bound on
//! the vector) as an engine filter.

use crate::errors::raise;
use crate::index_errors::relation_name;
use crate::index_range;
use diskvec_engine::{AttrKind, AttrValue, Cond, Filter, MAX_ATTRS};
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode::*;

/// Strategy numbers, as sql/diskvec_index.sql assigns them.
pub const STRATEGY_EQUAL: u16 = 1;
pub const STRATEGY_WITHIN: u16 = 2;
pub const STRATEGY_OVERLAP: u16 = 3;

/// Type and name of index column `i` (0-based).
fn column(index: pg_sys::Relation, i: usize) -> (pg_sys::Oid, String) {
    // SAFETY: an open index's tuple descriptor has its key columns.
    unsafe {
        let att = &*(*(*index).rd_att).attrs.as_ptr().add(i);
        let name = std::ffi::CStr::from_ptr(att.attname.data.as_ptr());
        (att.atttypid, name.to_string_lossy().into_owned())
    }
}

fn kind_of(ty: pg_sys::Oid) -> Option<AttrKind> {
    match ty {
        pg_sys::INT4OID | pg_sys::INT8OID => Some(AttrKind::Int),
        pg_sys::TEXTOID | pg_sys::VARCHAROID => Some(AttrKind::Text),
        pg_sys::INT4ARRAYOID => Some(AttrKind::Labels),
        _ => None,
    }
}

fn type_name(ty: pg_sys::Oid) -> String {
    // SAFETY: format_type_be returns a palloc'd name for any type oid.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::format_type_be(ty)) }
        .to_string_lossy()
        .into_owned()
}

/// Key columns of the index.
pub fn key_columns(index: pg_sys::Relation) -> usize {
    // SAFETY: an open index's rd_index.
    unsafe { (*(*index).rd_index).indnkeyatts as usize }
}

/// The kinds of the index's attribute columns, checked: the vector comes
/// first, then at most `MAX_ATTRS` columns of the kinds diskvec holds,
/// text ones under a deterministic collation (equal strings, equal bytes).
pub fn kinds(index: pg_sys::Relation) -> Vec<AttrKind> {
    let name = relation_name(index);
    let n = key_columns(index);
    let (first, first_name) = column(index, 0);
    if kind_of(first).is_some() {
        raise(
            ERRCODE_FEATURE_NOT_SUPPORTED,
            format!(
                "the first column of diskvec index \"{name}\" is \"{first_name}\" ({}): it must be the vector",
                type_name(first)
            ),
            Some("Put the vector column first: USING diskvec (embedding vector_cosine_ops, tenant_id, tags)."),
        );
    }
    if n - 1 > MAX_ATTRS {
        raise(
            ERRCODE_TOO_MANY_COLUMNS,
            format!(
                "diskvec index \"{name}\" has {} attribute columns; at most {MAX_ATTRS}",
                n - 1
            ),
            None,
        );
    }
    (1..n)
        .map(|i| {
            let (ty, col) = column(index, i);
            let kind = kind_of(ty).unwrap_or_else(|| {
                raise(
                    ERRCODE_FEATURE_NOT_SUPPORTED,
                    format!(
                        "column \"{col}\" of diskvec index \"{name}\" has type {}: attribute columns are int4, int8, text or int4[]",
                        type_name(ty)
                    ),
                    Some("Leave the column out of the index; a WHERE clause on it still filters the rows the index returns."),
                )
            });
            if kind == AttrKind::Text {
                // SAFETY: an open index's rd_indcollation has one entry per
                // key column.
                let coll = unsafe { *(*index).rd_indcollation.add(i) };
                // SAFETY: a collation oid from the catalog.
                if unsafe { !pg_sys::get_collation_isdeterministic(coll) } {
                    raise(
                        ERRCODE_FEATURE_NOT_SUPPORTED,
                        format!(
                            "column \"{col}\" of diskvec index \"{name}\" has a nondeterministic collation"
                        ),
                        Some("diskvec compares text by its bytes: use a deterministic collation (COLLATE \"C\", say)."),
                    );
                }
            }
            kind
        })
        .collect()
}

/// The elements of array datum `d` (of element type `elem`), NULLs left out.
///
/// # Safety
/// `d` is a non-null array datum whose elements are `elem`.
unsafe fn array_elements(d: pg_sys::Datum, elem: pg_sys::Oid) -> Vec<pg_sys::Datum> {
    // SAFETY: the caller's promise; deconstruct_array reads the detoasted
    // array and returns palloc'd element and null arrays of `n` entries.
    unsafe {
        let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
        let mut values: *mut pg_sys::Datum = std::ptr::null_mut();
        let mut nulls: *mut bool = std::ptr::null_mut();
        let mut n = 0;
        pg_sys::deconstruct_array(
            arr,
            elem,
            len as i32,
            byval,
            align,
            &mut values,
            &mut nulls,
            &mut n,
        );
        (0..n as usize)
            .filter(|&i| !*nulls.add(i))
            .map(|i| *values.add(i))
            .collect()
    }
}

/// The engine's key for a scalar datum of type `ty`.
///
/// # Safety
/// `d` is a non-null datum of type `ty`, an integer or text type.
unsafe fn scalar_key(d: pg_sys::Datum, ty: pg_sys::Oid) -> AttrValue {
    match ty {
        pg_sys::INT4OID => AttrValue::Int(d.value() as i32 as i64),
        pg_sys::INT8OID => AttrValue::Int(d.value() as i64),
        _ => {
            // SAFETY: the caller's promise: a text-like varlena.
            unsafe {
                let t = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
                let bytes = std::slice::from_raw_parts(
                    pgrx::varlena::vardata_any(t) as *const u8,
                    pgrx::varlena::varsize_any_exhdr(t),
                );
                AttrValue::text(bytes)
            }
        }
    }
}

/// Labels of an `int4[]` datum.
///
/// # Safety
/// `d` is a non-null `int4[]` datum.
unsafe fn labels(d: pg_sys::Datum) -> Vec<u32> {
    // SAFETY: the caller's promise.
    unsafe { array_elements(d, pg_sys::INT4OID) }
        .into_iter()
        .map(|x| x.value() as i32 as u32)
        .collect()
}

/// One row's attribute values (index columns 2 on) for the engine. A label
/// set longer than the index's `max_labels` is an error naming both.
///
/// # Safety
/// `values` and `isnull` hold one entry per key column of `index`, of the
/// columns' types.
pub unsafe fn row_values(
    index: pg_sys::Relation,
    kinds: &[AttrKind],
    max_labels: usize,
    values: *const pg_sys::Datum,
    isnull: *const bool,
) -> Vec<AttrValue> {
    kinds
        .iter()
        .enumerate()
        .map(|(c, kind)| {
            let i = c + 1;
            // SAFETY: the caller's promise: entry `i` exists.
            let (d, null) = unsafe { (*values.add(i), *isnull.add(i)) };
            if null {
                return AttrValue::Null;
            }
            let (ty, col) = column(index, i);
            match kind {
                // SAFETY: a non-null value of the column's type.
                AttrKind::Labels => {
                    let l = unsafe { labels(d) };
                    if l.len() > max_labels {
                        raise(
                            ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                            format!(
                                "column \"{col}\" holds {} labels; diskvec index \"{}\" takes at most {max_labels} per row",
                                l.len(),
                                relation_name(index)
                            ),
                            Some("Rebuild the index with a larger max_labels (up to 1024): CREATE INDEX ... WITH (max_labels = ...)."),
                        );
                    }
                    AttrValue::Labels(l)
                }
                // SAFETY: a non-null value of the column's type.
                _ => unsafe { scalar_key(d, ty) },
            }
        })
        .collect()
}

/// The attribute values of a row being inserted into `index` (the open
/// engine index of `rel`).
///
/// # Safety
/// As `row_values`.
pub unsafe fn insert_values(
    rel: pg_sys::Relation,
    index: &crate::index_cache::PgIndex,
    values: *const pg_sys::Datum,
    isnull: *const bool,
) -> Vec<AttrValue> {
    let o = index.options();
    if o.attrs.is_empty() {
        return Vec::new();
    }
    // SAFETY: the caller's promise.
    unsafe { row_values(rel, &o.attrs, o.max_labels, values, isnull) }
}

/// A scan's keys, for the engine.
#[derive(Default)]
pub struct ScanKeys {
    pub filter: Filter,
    /// A distance bound (`<<=>>` and its kin): centre and radius.
    pub sphere: Option<(Vec<f32>, f64)>,
    /// Rows must be rechecked: text is compared by hash, and a bound's
    /// distance is computed by SQL's function, which rounds differently.
    pub recheck: bool,
    /// A key no row meets (a NULL comparison value): the scan is empty.
    pub impossible: bool,
}

/// The scan keys `keys[..n]` of a scan of `index`.
///
/// # Safety
/// `keys` holds `n` scan keys the executor built for this index's quals.
pub unsafe fn scan_keys(
    index: pg_sys::Relation,
    keys: *const pg_sys::ScanKeyData,
    n: usize,
) -> ScanKeys {
    let mut out = ScanKeys::default();
    let mut kinds: Option<Vec<AttrKind>> = None;
    for k in 0..n {
        // SAFETY: the caller's promise.
        let key = unsafe { &*keys.add(k) };
        if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
            out.impossible = true;
            continue;
        }
        let d = key.sk_argument;
        if key.sk_attno == 1 && key.sk_strategy == STRATEGY_WITHIN {
            // SAFETY: the vector column's only search operator takes a
            // diskvec_sphere.
            match unsafe { index_range::sphere(d) } {
                Some(s) if out.sphere.is_none() => out.sphere = Some(s),
                Some(_) => {} // another bound: the recheck applies it
                None => out.impossible = true,
            }
            out.recheck = true;
            continue;
        }
        let column = key.sk_attno as usize - 2;
        let kind = kinds.get_or_insert_with(|| self::kinds(index))[column];
        let cond = match key.sk_strategy {
            STRATEGY_OVERLAP => Cond::Overlaps {
                column,
                // SAFETY: && on an int4[] column takes an int4[].
                labels: unsafe { labels(d) },
            },
            STRATEGY_EQUAL => {
                let ty = key.sk_subtype;
                let datums = if key.sk_flags & pg_sys::SK_SEARCHARRAY as i32 != 0 {
                    // SAFETY: `= ANY` passes an array of the operator's
                    // right type.
                    unsafe { array_elements(d, ty) }
                } else {
                    vec![d]
                };
                if kind == AttrKind::Text {
                    out.recheck = true;
                }
                Cond::AnyOf {
                    column,
                    keys: datums
                        .into_iter()
                        // SAFETY: non-null values of the operator's right type.
                        .filter_map(|x| unsafe { scalar_key(x, ty) }.key())
                        .collect(),
                }
            }
            other => raise(
                ERRCODE_FEATURE_NOT_SUPPORTED,
                format!("diskvec: no search operator with strategy {other} on an attribute column"),
                None,
            ),
        };
        out.filter = std::mem::take(&mut out.filter).and(cond);
    }
    out
}
