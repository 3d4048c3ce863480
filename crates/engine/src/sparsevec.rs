//! pgvector's `sparsevec`: the text form `{1:1.5,3:2}/5` (1-based indices,
//! zeros dropped), the binary layout (int32 dim, nnz, unused, then nnz
//! 0-based int32 indices and nnz float4 values, big-endian), the distances
//! (merges over the sorted indices, `f32` sums in pgvector's order) and the
//! btree order.

use crate::vector_text::{is_space, read_float, write_float, VectorFormatError};
use std::cmp::Ordering;

/// The most dimensions a sparsevec may have, as in pgvector.
pub const MAX_DIM: i64 = 1_000_000_000;
/// The most non-zero elements a sparsevec may hold, as in pgvector.
pub const MAX_NNZ: usize = 16_000;

/// Why a sparsevec was rejected; each maps to one pgvector message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SparseFormatError {
    /// Text does not start with `{`.
    MissingOpenBrace,
    Syntax,
    /// No `/dim` after the closing brace.
    UnexpectedEnd,
    JunkAfterClose,
    /// Dimension below 1.
    Empty,
    TooManyDimensions,
    TooManyNonZero,
    NegativeNonZero,
    MoreElementsThanDimensions,
    /// A typmod (first) that the dimension (second) does not match.
    ExpectedDim(i32, i64),
    UnusedNotZero(i32),
    IndexOutOfBounds,
    NotAscending,
    Duplicate,
    /// A zero value in a binary message.
    ZeroInBinary,
    /// A number that `strtof` reports out of range (the text is kept).
    OutOfRange(String),
    NaN,
    Infinite,
    Truncated,
}

/// A sparse vector: sorted, distinct 0-based indices and non-zero values.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseVec {
    pub dim: i32,
    pub indices: Vec<i32>,
    pub values: Vec<f32>,
}

/// A sparse vector borrowed from a datum.
#[derive(Debug, Clone, Copy)]
pub struct SparseRef<'a> {
    pub dim: i32,
    pub indices: &'a [i32],
    pub values: &'a [f32],
}

impl SparseVec {
    pub fn as_ref(&self) -> SparseRef<'_> {
        SparseRef {
            dim: self.dim,
            indices: &self.indices,
            values: &self.values,
        }
    }

    /// The non-zero elements of a dense vector.
    pub fn from_dense(values: impl IntoIterator<Item = f32>) -> SparseVec {
        let mut out = SparseVec {
            dim: 0,
            indices: Vec::new(),
            values: Vec::new(),
        };
        for (i, v) in values.into_iter().enumerate() {
            if v != 0.0 {
                out.indices.push(i as i32);
                out.values.push(v);
            }
            out.dim = i as i32 + 1;
        }
        out
    }
}

fn check_element(v: f32) -> Result<f32, SparseFormatError> {
    if v.is_nan() {
        Err(SparseFormatError::NaN)
    } else if v.is_infinite() {
        Err(SparseFormatError::Infinite)
    } else {
        Ok(v)
    }
}

/// pgvector's `CheckDim`.
pub fn check_dim(dim: i64) -> Result<i32, SparseFormatError> {
    if dim < 1 {
        Err(SparseFormatError::Empty)
    } else if dim > MAX_DIM {
        Err(SparseFormatError::TooManyDimensions)
    } else {
        Ok(dim as i32)
    }
}

/// pgvector's `CheckExpectedDim` (a typmod of -1 takes any dimension).
pub fn check_expected_dim(typmod: i32, dim: i64) -> Result<(), SparseFormatError> {
    if typmod != -1 && typmod as i64 != dim {
        Err(SparseFormatError::ExpectedDim(typmod, dim))
    } else {
        Ok(())
    }
}

/// pgvector's `CheckNnz`: 0 to 16,000 non-zero elements, no more than `dim`.
pub fn check_nnz(nnz: i64, dim: i64) -> Result<(), SparseFormatError> {
    if nnz < 0 {
        Err(SparseFormatError::NegativeNonZero)
    } else if nnz > MAX_NNZ as i64 {
        Err(SparseFormatError::TooManyNonZero)
    } else if nnz > dim {
        Err(SparseFormatError::MoreElementsThanDimensions)
    } else {
        Ok(())
    }
}

/// pgvector's `CheckIndex` for element `i` of `indices`.
fn check_index(indices: &[i32], i: usize, dim: i32) -> Result<(), SparseFormatError> {
    let index = indices[i];
    if index < 0 || index >= dim {
        return Err(SparseFormatError::IndexOutOfBounds);
    }
    if i > 0 {
        match index.cmp(&indices[i - 1]) {
            Ordering::Less => return Err(SparseFormatError::NotAscending),
            Ordering::Equal => return Err(SparseFormatError::Duplicate),
            Ordering::Greater => {}
        }
    }
    Ok(())
}

/// `strtol(s, &end, 10)` clamped to the int range `[lo, i32::MAX]`: the
/// value and the bytes consumed (0 when there is no number).
fn read_int(s: &[u8], lo: i64) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return (0, 0);
    }
    let mut value: i64 = 0;
    for &c in &s[i..i + digits] {
        value = value.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if negative {
        value = -value;
    }
    (value.clamp(lo, i32::MAX as i64), i + digits)
}

/// Parses the text form, checking the dimension against `typmod` (-1: any)
/// where pgvector does (after the syntax, before the indices).
pub fn parse_sparsevec_text(text: &str, typmod: i32) -> Result<SparseVec, SparseFormatError> {
    use SparseFormatError::*;
    let s = text.as_bytes();
    if s.iter().filter(|&&c| c == b',').count() + 1 > MAX_NNZ {
        return Err(TooManyNonZero);
    }
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < s.len() && is_space(s[*i]) {
            *i += 1;
        }
    };
    skip(&mut i);
    if s.get(i) != Some(&b'{') {
        return Err(MissingOpenBrace);
    }
    i += 1;
    skip(&mut i);
    let mut elements: Vec<(i32, f32)> = Vec::new();
    if s.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            skip(&mut i);
            if i >= s.len() {
                return Err(Syntax);
            }
            let (index, used) = read_int(&s[i..], i32::MIN as i64 + 1);
            if used == 0 {
                return Err(Syntax);
            }
            i += used;
            skip(&mut i);
            if s.get(i) != Some(&b':') {
                return Err(Syntax);
            }
            i += 1;
            skip(&mut i);
            let (token, value) = match read_float(text, i) {
                Ok(read) => read,
                Err(VectorFormatError::OutOfRange(t)) => return Err(OutOfRange(t)),
                Err(_) => return Err(Syntax),
            };
            // strtof's ERANGE on underflow to zero is an error here too.
            if value == 0.0 && underflows(token) {
                return Err(OutOfRange(token.to_string()));
            }
            let value = check_element(value)?;
            if value != 0.0 {
                elements.push(((index - 1) as i32, value));
            }
            i += token.len();
            skip(&mut i);
            match s.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(Syntax),
            }
        }
    }
    skip(&mut i);
    if s.get(i) != Some(&b'/') {
        return Err(UnexpectedEnd);
    }
    i += 1;
    skip(&mut i);
    let (dim, used) = read_int(&s[i..], i32::MIN as i64);
    if used == 0 {
        return Err(Syntax);
    }
    i += used;
    skip(&mut i);
    if i != s.len() {
        return Err(JunkAfterClose);
    }
    let dim = check_dim(dim)?;
    check_expected_dim(typmod, dim as i64)?;
    elements.sort_by_key(|&(index, _)| index);
    let out = SparseVec {
        dim,
        indices: elements.iter().map(|e| e.0).collect(),
        values: elements.iter().map(|e| e.1).collect(),
    };
    for k in 0..out.indices.len() {
        check_index(&out.indices, k, dim)?;
    }
    Ok(out)
}

/// True when a decimal literal that parsed to zero has a non-zero digit in
/// its mantissa: `strtof` underflowed.
fn underflows(token: &str) -> bool {
    let lower = token.to_ascii_lowercase();
    let mantissa = lower.split('e').next().unwrap_or("");
    mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c))
}

/// The text form: `{index:value,...}/dim`, 1-based indices.
pub fn format_sparsevec_text(v: SparseRef<'_>) -> String {
    let mut out = String::with_capacity(v.indices.len() * 16 + 16);
    out.push('{');
    for (k, (&index, &value)) in v.indices.iter().zip(v.values).enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(&(index as i64 + 1).to_string());
        out.push(':');
        write_float(&mut out, value);
    }
    out.push_str("}/");
    out.push_str(&v.dim.to_string());
    out
}

/// Decodes the binary layout with pgvector's checks in its order; returns
/// the vector and the bytes used.
pub fn decode_sparsevec_binary(
    buf: &[u8],
    typmod: i32,
) -> Result<(SparseVec, usize), SparseFormatError> {
    use SparseFormatError::*;
    let int = |at: usize| -> Result<i32, SparseFormatError> {
        buf.get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(Truncated)
    };
    let (dim, nnz, unused) = (int(0)?, int(4)?, int(8)?);
    let dim = check_dim(dim as i64)?;
    check_nnz(nnz as i64, dim as i64)?;
    check_expected_dim(typmod, dim as i64)?;
    if unused != 0 {
        return Err(UnusedNotZero(unused));
    }
    let nnz = nnz as usize;
    let mut indices = Vec::with_capacity(nnz);
    for k in 0..nnz {
        indices.push(int(12 + 4 * k)?);
        check_index(&indices, k, dim)?;
    }
    let mut values = Vec::with_capacity(nnz);
    for k in 0..nnz {
        let v = check_element(f32::from_bits(int(12 + 4 * (nnz + k))? as u32))?;
        if v == 0.0 {
            return Err(ZeroInBinary);
        }
        values.push(v);
    }
    let out = SparseVec {
        dim,
        indices,
        values,
    };
    Ok((out, 12 + 8 * nnz))
}

pub fn encode_sparsevec_binary(v: SparseRef<'_>, out: &mut Vec<u8>) {
    out.reserve(12 + 8 * v.indices.len());
    out.extend_from_slice(&v.dim.to_be_bytes());
    out.extend_from_slice(&(v.indices.len() as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for i in v.indices {
        out.extend_from_slice(&i.to_be_bytes());
    }
    for x in v.values {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

/// Walks both vectors' elements in index order (pgvector's loop order),
/// calling `diff` with `x - y` for a shared index and with the lone value
/// for an index one side has alone (its sign does not matter to L1 or L2).
// `bpos` is where the next element of `a` starts its scan of `b`; the
// running scan's range is meant to stay as it is (pgvector's loop).
#[allow(clippy::mut_range_bound)]
fn merge_diffs(a: SparseRef<'_>, b: SparseRef<'_>, mut diff: impl FnMut(f32)) {
    let mut bpos = 0;
    for (i, &ai) in a.indices.iter().enumerate() {
        let mut bi = -1;
        for j in bpos..b.indices.len() {
            bi = b.indices[j];
            if ai == bi {
                diff(a.values[i] - b.values[j]);
            } else if ai > bi {
                diff(b.values[j]);
            }
            if ai >= bi {
                bpos = j + 1;
            }
            if bi >= ai {
                break;
            }
        }
        if ai != bi {
            diff(a.values[i]);
        }
    }
    for &y in &b.values[bpos..] {
        diff(y);
    }
}

/// Squared Euclidean distance (an `f32` sum, as pgvector's).
pub fn l2_squared(a: SparseRef<'_>, b: SparseRef<'_>) -> f32 {
    let mut sum = 0f32;
    merge_diffs(a, b, |d| sum += d * d);
    sum
}

/// Inner product over the shared indices.
// `bpos` as in `merge_diffs`.
#[allow(clippy::mut_range_bound)]
pub fn dot(a: SparseRef<'_>, b: SparseRef<'_>) -> f32 {
    let mut sum = 0f32;
    let mut bpos = 0;
    for (i, &ai) in a.indices.iter().enumerate() {
        for j in bpos..b.indices.len() {
            let bi = b.indices[j];
            if ai == bi {
                sum += a.values[i] * b.values[j];
            }
            if ai >= bi {
                bpos = j + 1;
            }
            if bi >= ai {
                break;
            }
        }
    }
    sum
}

/// Manhattan distance.
pub fn l1(a: SparseRef<'_>, b: SparseRef<'_>) -> f32 {
    let mut sum = 0f32;
    merge_diffs(a, b, |d| sum += d.abs());
    sum
}

/// Cosine distance, `1 - a·b / sqrt(|a|²|b|²)` clamped to [0, 2]; NaN when
/// either vector is zero.
pub fn cosine_distance(a: SparseRef<'_>, b: SparseRef<'_>) -> f64 {
    let norm = |v: &[f32]| v.iter().fold(0f32, |s, &x| s + x * x);
    let similarity = dot(a, b) as f64 / (norm(a.values) as f64 * norm(b.values) as f64).sqrt();
    if similarity.is_nan() {
        return f64::NAN;
    }
    1.0 - similarity.clamp(-1.0, 1.0)
}

/// The L2 norm, summed in `f64`.
pub fn norm(v: SparseRef<'_>) -> f64 {
    // fold from +0: an empty f64 sum() is -0, which would print as "-0".
    v.values
        .iter()
        .fold(0f64, |s, &x| s + x as f64 * x as f64)
        .sqrt()
}

/// pgvector's btree order: elementwise as the dense vectors would compare,
/// then dimensions.
pub fn compare(a: SparseRef<'_>, b: SparseRef<'_>) -> Ordering {
    let (ax, bx) = (a.values, b.values);
    let n = a.indices.len().min(b.indices.len());
    let sign = |negative: bool| {
        if negative {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    };
    for i in 0..n {
        if a.indices[i] < b.indices[i] {
            return sign(ax[i] < 0.0);
        }
        if a.indices[i] > b.indices[i] {
            return sign(bx[i] < 0.0).reverse();
        }
        match ax[i].partial_cmp(&bx[i]) {
            Some(Ordering::Less) => return Ordering::Less,
            Some(Ordering::Greater) => return Ordering::Greater,
            _ => {}
        }
    }
    if a.indices.len() < b.indices.len() && b.indices[n] < a.dim {
        return sign(bx[n] < 0.0).reverse();
    }
    if a.indices.len() > b.indices.len() && a.indices[n] < b.dim {
        return sign(ax[n] < 0.0);
    }
    a.dim.cmp(&b.dim)
}

#[cfg(test)]
mod tests;
