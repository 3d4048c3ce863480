//! pgvector's `halfvec`: IEEE binary16 elements, their conversions, and the
//! type's text literal (`[1,2.5,-3]`, as for `vector`) and binary layout
//! (int16 dim, int16 unused, then dim half floats, big-endian).
//!
//! Elements are kept as raw `u16` bits, as they sit in a Postgres datum.
//! Conversions round to nearest, ties to even, like F16C's `vcvtps2ph` and
//! pgvector's software fallback, so stored bits match pgvector's exactly.

use crate::vector_text::{check_dim, parse_list, write_float, VectorFormatError};
use half::f16;

/// The most dimensions a halfvec may have, as in pgvector.
pub const MAX_DIM: usize = crate::vector_text::MAX_DIM;

#[inline]
pub fn to_f32(h: u16) -> f32 {
    f16::from_bits(h).to_f32()
}

/// Rounds to the nearest half; out-of-range values become infinite.
#[inline]
pub fn from_f32(x: f32) -> u16 {
    f16::from_f32(x).to_bits()
}

#[inline]
pub fn is_nan(h: u16) -> bool {
    (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0
}

#[inline]
pub fn is_infinite(h: u16) -> bool {
    (h & 0x7fff) == 0x7c00
}

/// +0 or -0.
#[inline]
pub fn is_zero(h: u16) -> bool {
    (h & 0x7fff) == 0
}

/// pgvector's `CheckElement` for halfvec: finite values only.
pub fn check_element(h: u16) -> Result<u16, VectorFormatError> {
    if is_nan(h) {
        Err(VectorFormatError::NaN)
    } else if is_infinite(h) {
        Err(VectorFormatError::Infinite)
    } else {
        Ok(h)
    }
}

/// pgvector's `Float4ToHalf`: a finite `x` that rounds to infinity is out of
/// range (the error names `x` as `float4out` prints it). Infinite and NaN
/// inputs convert as they are, for [`check_element`] to reject.
pub fn from_f32_checked(x: f32) -> Result<u16, VectorFormatError> {
    let h = from_f32(x);
    if is_infinite(h) && x.is_finite() {
        let mut text = String::new();
        write_float(&mut text, x);
        return Err(VectorFormatError::OutOfRange(text));
    }
    Ok(h)
}

/// Parses the text form. Each number is read as a float4 first and then
/// rounded to half, as pgvector's `halfvec_in` does (`strtof`, then
/// `Float4ToHalfUnchecked`); one too large for half is out of range, with
/// the literal's own text in the error.
pub fn parse_halfvec_text(text: &str) -> Result<Vec<u16>, VectorFormatError> {
    parse_list(text, |token, value| {
        let h = from_f32(value);
        if is_infinite(h) && value.is_finite() {
            return Err(VectorFormatError::OutOfRange(token.to_string()));
        }
        check_element(h)
    })
}

/// The text form: each element printed as the float4 it widens to.
pub fn format_halfvec_text(values: &[u16]) -> String {
    let mut out = String::with_capacity(values.len() * 8 + 2);
    out.push('[');
    for (i, &h) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_float(&mut out, to_f32(h));
    }
    out.push(']');
    out
}

/// Decodes the binary layout; returns the elements and the bytes used.
pub fn decode_halfvec_binary(buf: &[u8]) -> Result<(Vec<u16>, usize), VectorFormatError> {
    use VectorFormatError::*;
    if buf.len() < 4 {
        return Err(Truncated);
    }
    let dim = check_dim(i16::from_be_bytes([buf[0], buf[1]]) as i64)?;
    let unused = i16::from_be_bytes([buf[2], buf[3]]);
    if unused != 0 {
        return Err(UnusedNotZero(unused));
    }
    let end = 4 + dim * 2;
    if buf.len() < end {
        return Err(Truncated);
    }
    let values = buf[4..end]
        .chunks_exact(2)
        .map(|b| check_element(u16::from_be_bytes([b[0], b[1]])))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((values, end))
}

pub fn encode_halfvec_binary(values: &[u16], out: &mut Vec<u8>) {
    out.reserve(4 + values.len() * 2);
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for h in values {
        out.extend_from_slice(&h.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::VectorFormatError::*;
    use super::*;
    use proptest::prelude::*;

    fn text(values: &[u16]) -> String {
        format_halfvec_text(values)
    }

    #[test]
    fn parses_and_rounds_like_pgvector() {
        let v = parse_halfvec_text("[1.23456, -2, 65504]").unwrap();
        assert_eq!(text(&v), "[1.234375,-2,65504]");
        // 65519.99 rounds down to 65504; 65520 rounds to infinity.
        assert_eq!(text(&parse_halfvec_text("[65519]").unwrap()), "[65504]");
        assert_eq!(
            parse_halfvec_text("[65520]"),
            Err(OutOfRange("65520".into()))
        );
        assert_eq!(parse_halfvec_text("[1e39]"), Err(OutOfRange("1e39".into())));
        assert_eq!(parse_halfvec_text("[inf]"), Err(Infinite));
        assert_eq!(parse_halfvec_text("[NaN]"), Err(NaN));
        // Below the smallest subnormal half: rounds to zero, accepted.
        assert_eq!(text(&parse_halfvec_text("[1e-8]").unwrap()), "[0]");
        assert_eq!(
            text(&parse_halfvec_text("[6e-8]").unwrap()),
            "[5.9604645e-08]"
        );
        assert_eq!(parse_halfvec_text("[]"), Err(Empty));
        assert_eq!(parse_halfvec_text("1"), Err(MissingOpenBracket));
        assert_eq!(parse_halfvec_text("[1]x"), Err(JunkAfterClose));
    }

    #[test]
    fn checked_conversion_names_the_float() {
        assert_eq!(from_f32_checked(1e5), Err(OutOfRange("100000".into())));
        assert_eq!(from_f32_checked(f32::INFINITY), Ok(0x7c00));
        assert_eq!(from_f32_checked(-2.0), Ok(0xc000));
    }

    #[test]
    fn binary_layout() {
        let mut buf = Vec::new();
        encode_halfvec_binary(&[from_f32(1.0), from_f32(-2.5)], &mut buf);
        assert_eq!(buf, [0, 2, 0, 0, 0x3c, 0x00, 0xc1, 0x00]);
        assert_eq!(decode_halfvec_binary(&buf), Ok((vec![0x3c00, 0xc100], 8)));
        assert_eq!(decode_halfvec_binary(&buf[..7]), Err(Truncated));
        assert_eq!(decode_halfvec_binary(&[0, 0, 0, 0]), Err(Empty));
        assert_eq!(
            decode_halfvec_binary(&[0, 1, 0, 3, 0, 0]),
            Err(UnusedNotZero(3))
        );
        assert_eq!(decode_halfvec_binary(&[0, 1, 0, 0, 0x7c, 0]), Err(Infinite));
        assert_eq!(decode_halfvec_binary(&[0, 1, 0, 0, 0x7e, 0]), Err(NaN));
    }

    proptest! {
        /// Every finite half prints as text that reads back to the same bits.
        #[test]
        fn text_round_trips(bits in proptest::collection::vec(any::<u16>(), 1..32)) {
            let values: Vec<u16> = bits.into_iter().filter(|&h| check_element(h).is_ok()).collect();
            prop_assume!(!values.is_empty());
            let back = parse_halfvec_text(&text(&values)).unwrap();
            prop_assert_eq!(back, values);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_halfvec_binary(&bytes);
        }
    }
}
