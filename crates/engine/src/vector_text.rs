//! pgvector's external formats for a vector, without Postgres: the text
//! literal `[1,2.5,-3e-2]` and the binary send/recv layout.
//!
//! Living here rather than in the extension means the parser is unit- and
//! property-tested (and fuzzed) with plain `cargo test`; the extension only
//! turns [`VectorFormatError`] into SQL errors.

pub use crate::float_text::write_float;

/// The most dimensions a vector may have, as in pgvector.
pub const MAX_DIM: usize = 16000;

/// Why a text or binary vector was rejected. Each variant maps to one
/// pgvector error message and SQLSTATE in the extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorFormatError {
    /// Text does not start with `[`.
    MissingOpenBracket,
    /// Malformed text: a bad number, a missing separator, an unterminated list.
    Syntax,
    /// Something other than whitespace after the closing `]`.
    JunkAfterClose,
    /// `[]`, or a zero/negative dimension in a binary message.
    Empty,
    /// More than [`MAX_DIM`] elements.
    TooManyDimensions,
    /// A number too large for `f32` (the offending text is kept).
    OutOfRange(String),
    NaN,
    Infinite,
    /// Binary message shorter than its header says.
    Truncated,
    /// Binary header's reserved field is not zero.
    UnusedNotZero(i16),
}

pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Checks one element as pgvector does: finite values only.
pub fn check_element(v: f32) -> Result<f32, VectorFormatError> {
    if v.is_nan() {
        Err(VectorFormatError::NaN)
    } else if v.is_infinite() {
        Err(VectorFormatError::Infinite)
    } else {
        Ok(v)
    }
}

/// Length of the longest prefix of `s` that `strtof` would consume as a
/// decimal number, `inf`/`infinity` or `nan` (all case-insensitive), with an
/// optional sign. Zero when there is no number.
fn number_len(s: &[u8]) -> usize {
    let mut i = 0;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let rest = &s[i..];
    for word in ["infinity", "inf", "nan"] {
        if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes()) {
            return i + word.len();
        }
    }
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_digits = digits(i);
    i += int_digits;
    let mut frac_digits = 0;
    if i < s.len() && s[i] == b'.' {
        frac_digits = digits(i + 1);
        if int_digits + frac_digits > 0 {
            i += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return 0;
    }
    // An exponent counts only when digits follow it ("1e" is "1" then junk).
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if j < s.len() && (s[j] == b'+' || s[j] == b'-') {
            j += 1;
        }
        let exp_digits = digits(j);
        if exp_digits > 0 {
            i = j + exp_digits;
        }
    }
    i
}

/// Parses pgvector's text form. Whitespace is allowed around brackets,
/// numbers and commas; nothing but whitespace may follow `]`.
pub fn parse_vector_text(text: &str) -> Result<Vec<f32>, VectorFormatError> {
    parse_list(text, |_, value| check_element(value))
}

/// The `[a,b,...]` grammar shared by `vector` and `halfvec`: each number is
/// read as `strtof` would (too large for `f32` is [`VectorFormatError::OutOfRange`]),
/// then handed to `element` with its text, which converts and checks it.
pub(crate) fn parse_list<T>(
    text: &str,
    mut element: impl FnMut(&str, f32) -> Result<T, VectorFormatError>,
) -> Result<Vec<T>, VectorFormatError> {
    use VectorFormatError::*;
    let s = text.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while *i < s.len() && is_space(s[*i]) {
            *i += 1;
        }
    };
    skip(&mut i);
    if i >= s.len() || s[i] != b'[' {
        return Err(MissingOpenBracket);
    }
    i += 1;
    skip(&mut i);
    if i < s.len() && s[i] == b']' {
        return Err(Empty);
    }
    let mut values = Vec::new();
    loop {
        if values.len() == MAX_DIM {
            return Err(TooManyDimensions);
        }
        skip(&mut i);
        let (token, value) = read_float(text, i)?;
        values.push(element(token, value)?);
        i += token.len();
        skip(&mut i);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b']') => {
                i += 1;
                break;
            }
            _ => return Err(Syntax),
        }
    }
    skip(&mut i);
    if i != s.len() {
        return Err(JunkAfterClose);
    }
    Ok(values)
}

/// Reads the number at byte `at` of `text` as `strtof` does: its text and
/// value. A finite literal too large for `f32` is `OutOfRange`; `inf` and
/// `nan` spelled out come back as such for the caller to reject.
pub(crate) fn read_float(text: &str, at: usize) -> Result<(&str, f32), VectorFormatError> {
    let len = number_len(&text.as_bytes()[at..]);
    if len == 0 {
        return Err(VectorFormatError::Syntax);
    }
    let token = &text[at..at + len];
    let value: f32 = token.parse().map_err(|_| VectorFormatError::Syntax)?;
    let lower = token.to_ascii_lowercase();
    let literal_special = lower.contains("inf") || lower.contains("nan");
    if value.is_infinite() && !literal_special {
        return Err(VectorFormatError::OutOfRange(token.to_string()));
    }
    Ok((token, value))
}

/// pgvector's text form of a vector: `[1,2.5,-0.03]`.
pub fn format_vector_text(values: &[f32]) -> String {
    let mut out = String::with_capacity(values.len() * 10 + 2);
    out.push('[');
    for (i, &v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_float(&mut out, v);
    }
    out.push(']');
    out
}

/// Checks a dimension count taken from a header or typmod.
pub fn check_dim(dim: i64) -> Result<usize, VectorFormatError> {
    if dim < 1 {
        Err(VectorFormatError::Empty)
    } else if dim > MAX_DIM as i64 {
        Err(VectorFormatError::TooManyDimensions)
    } else {
        Ok(dim as usize)
    }
}

/// Decodes pgvector's binary layout: int16 dim, int16 unused (must be 0),
/// then `dim` float4, all big-endian. Returns the values and the bytes used;
/// trailing bytes are the caller's business (Postgres rejects them itself).
pub fn decode_vector_binary(buf: &[u8]) -> Result<(Vec<f32>, usize), VectorFormatError> {
    use VectorFormatError::*;
    if buf.len() < 4 {
        return Err(Truncated);
    }
    let dim = i16::from_be_bytes([buf[0], buf[1]]);
    let unused = i16::from_be_bytes([buf[2], buf[3]]);
    let dim = check_dim(dim as i64)?;
    if unused != 0 {
        return Err(UnusedNotZero(unused));
    }
    let end = 4 + dim * 4;
    if buf.len() < end {
        return Err(Truncated);
    }
    let values = buf[4..end]
        .chunks_exact(4)
        .map(|b| check_element(f32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((values, end))
}

/// Encodes a vector in pgvector's binary layout.
pub fn encode_vector_binary(values: &[f32], out: &mut Vec<u8>) {
    out.reserve(4 + values.len() * 4);
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::VectorFormatError::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_literals() {
        assert_eq!(parse_vector_text("[1,2,3]"), Ok(vec![1.0, 2.0, 3.0]));
        assert_eq!(
            parse_vector_text(" [ 1 , 2.5 ,-3e-2 ] "),
            Ok(vec![1.0, 2.5, -0.03])
        );
        assert_eq!(parse_vector_text("[+.5,5.,1E2]"), Ok(vec![0.5, 5.0, 100.0]));
        assert_eq!(parse_vector_text("[\t1\n]"), Ok(vec![1.0]));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(parse_vector_text("1,2"), Err(MissingOpenBracket));
        assert_eq!(parse_vector_text(""), Err(MissingOpenBracket));
        assert_eq!(parse_vector_text("[]"), Err(Empty));
        assert_eq!(parse_vector_text("[ ]"), Err(Empty));
        assert_eq!(parse_vector_text("[1,2"), Err(Syntax));
        assert_eq!(parse_vector_text("[1,,2]"), Err(Syntax));
        assert_eq!(parse_vector_text("[1,]"), Err(Syntax));
        assert_eq!(parse_vector_text("[,1]"), Err(Syntax));
        assert_eq!(parse_vector_text("[1 2]"), Err(Syntax));
        assert_eq!(parse_vector_text("[abc]"), Err(Syntax));
        assert_eq!(parse_vector_text("[1e]"), Err(Syntax));
        assert_eq!(parse_vector_text("[."), Err(Syntax));
        assert_eq!(parse_vector_text("[1]x"), Err(JunkAfterClose));
        assert_eq!(parse_vector_text("[1] ]"), Err(JunkAfterClose));
        assert_eq!(parse_vector_text("[NaN]"), Err(NaN));
        assert_eq!(parse_vector_text("[-Infinity]"), Err(Infinite));
        assert_eq!(parse_vector_text("[inf]"), Err(Infinite));
        assert_eq!(parse_vector_text("[1e39]"), Err(OutOfRange("1e39".into())));
        assert_eq!(
            parse_vector_text("[-1e39]"),
            Err(OutOfRange("-1e39".into()))
        );
        // Underflow to a denormal or zero is accepted, like strtof.
        assert_eq!(parse_vector_text("[1e-45,1e-50]"), Ok(vec![1e-45, 0.0]));
    }

    #[test]
    fn dimension_limit() {
        let ok = format!("[{}]", vec!["1"; MAX_DIM].join(","));
        assert_eq!(parse_vector_text(&ok).unwrap().len(), MAX_DIM);
        let too_many = format!("[{}]", vec!["1"; MAX_DIM + 1].join(","));
        assert_eq!(parse_vector_text(&too_many), Err(TooManyDimensions));
    }

    #[test]
    fn formats_vectors() {
        assert_eq!(format_vector_text(&[1.0, 2.0, 3.0]), "[1,2,3]");
        assert_eq!(
            format_vector_text(&[-0.0, 1e-5, 1.5e38]),
            "[-0,1e-05,1.5e+38]"
        );
    }

    #[test]
    fn binary_layout() {
        let mut buf = Vec::new();
        encode_vector_binary(&[1.0, -2.5], &mut buf);
        assert_eq!(buf, [0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0]);
        assert_eq!(decode_vector_binary(&buf), Ok((vec![1.0, -2.5], 12)));
        assert_eq!(decode_vector_binary(&buf[..11]), Err(Truncated));
        assert_eq!(decode_vector_binary(&buf[..3]), Err(Truncated));
        assert_eq!(decode_vector_binary(&[0, 0, 0, 0]), Err(Empty));
        assert_eq!(decode_vector_binary(&[0xff, 0xff, 0, 0]), Err(Empty));
        assert_eq!(
            decode_vector_binary(&[0x3e, 0x81, 0, 0]),
            Err(TooManyDimensions)
        );
        assert_eq!(
            decode_vector_binary(&[0, 1, 0, 1, 0, 0, 0, 0]),
            Err(UnusedNotZero(1))
        );
        assert_eq!(
            decode_vector_binary(&[0, 1, 0, 0, 0x7f, 0xc0, 0, 0]),
            Err(NaN)
        );
        assert_eq!(
            decode_vector_binary(&[0, 1, 0, 0, 0x7f, 0x80, 0, 0]),
            Err(Infinite)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Output is the shortest text that reads back to the same bits.
        #[test]
        fn text_round_trips(values in proptest::collection::vec(
            any::<f32>().prop_filter("finite", |v| v.is_finite()), 1..64)) {
            let text = format_vector_text(&values);
            let back = parse_vector_text(&text).unwrap();
            prop_assert_eq!(
                back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }

        #[test]
        fn binary_round_trips(values in proptest::collection::vec(
            any::<f32>().prop_filter("finite", |v| v.is_finite()), 1..64)) {
            let mut buf = Vec::new();
            encode_vector_binary(&values, &mut buf);
            let (back, used) = decode_vector_binary(&buf).unwrap();
            prop_assert_eq!(used, buf.len());
            prop_assert_eq!(
                back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }

        /// Arbitrary text never panics: it parses or gives an error.
        #[test]
        fn parser_never_panics(text in "\\PC{0,40}|\\[[-+0-9eE., \\tinfa]{0,40}\\]?.{0,3}") {
            let _ = parse_vector_text(&text);
        }

        /// Arbitrary bytes never panic the binary decoder.
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_vector_binary(&bytes);
        }
    }
}
