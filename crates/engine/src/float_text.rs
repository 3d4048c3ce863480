//! `f32` to text exactly as Postgres's `float4out` (and so pgvector's
//! `vector_out`) prints it with the default `extra_float_digits = 1`.
//!
//! Postgres uses Ryu's shortest round-trip digits with two twists that
//! Rust's own `{:e}` formatting does not share:
//! - the rounding interval is *exclusive*: a decimal lying exactly on the
//!   boundary between two floats is never chosen (`9.9991184e+07`, not
//!   `9.999118e+07`);
//! - among equally short candidates the one closest to the exact value wins,
//!   and an exact tie goes to the even digit (`184752.12`, not `184752.13`).
//!
//! Both twists only matter when the float, or a boundary of its interval, is
//! itself a short decimal. So the fast path takes Rust's shortest digits and
//! falls back to an exact big-integer search only for such values.

use num_bigint::BigUint;
use std::fmt::Write;

/// Decimal digits and the power of ten of the last digit: `digits * 10^exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decimal {
    digits: u64,
    exp: i32,
}

/// Appends `v` (finite) as Postgres's float4out does: fixed-point for
/// decimal exponents -4..=5 (printf's %g rule), else `d.ddde±XX`.
pub fn write_float(out: &mut String, v: f32) {
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let d = shortest(v.abs());
    let digits = d.digits.to_string();
    // Decimal exponent of the leading digit.
    let lead = d.exp + digits.len() as i32 - 1;
    if (-4..6).contains(&lead) {
        if d.exp >= 0 {
            out.push_str(&digits);
            for _ in 0..d.exp {
                out.push('0');
            }
        } else if lead >= 0 {
            let int_len = (lead + 1) as usize;
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        } else {
            out.push_str("0.");
            for _ in 0..(-lead - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        }
    } else {
        let digits = digits.trim_end_matches('0');
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if lead < 0 { '-' } else { '+' },
            lead.abs()
        );
    }
}

/// The shortest decimal for a positive finite `v`, Postgres's way.
fn shortest(v: f32) -> Decimal {
    // Integers below 2^24 print as themselves (Postgres's small-int path).
    if v < 16_777_216.0 && v.fract() == 0.0 {
        return Decimal {
            digits: v as u64,
            exp: 0,
        };
    }
    let (lo, hi) = interval(v);
    if is_short_decimal(v as f64) || is_short_decimal(lo) || is_short_decimal(hi) {
        return exact_shortest(v);
    }
    rust_shortest(v)
}

/// Rust's shortest round-trip digits, parsed back from `{:e}`.
fn rust_shortest(v: f32) -> Decimal {
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let frac_len = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let digits: u64 = mantissa.replace('.', "").parse().expect("digits");
    Decimal {
        digits,
        exp: exp - frac_len,
    }
}

/// The exact bounds of the values that round to `v`, as f64 (exactly
/// representable: 26 significant bits at most).
fn interval(v: f32) -> (f64, f64) {
    let (m2, e2) = decompose(v);
    let scale = 2f64.powi(e2 - 2);
    let lower_gap = if lower_gap_is_half(v) { 2.0 } else { 1.0 };
    (
        (4 * m2) as f64 * scale - lower_gap * scale,
        (4 * m2 + 2) as f64 * scale,
    )
}

/// `v = m2 * 2^e2` with the hidden bit made explicit.
fn decompose(v: f32) -> (u64, i32) {
    let bits = v.to_bits();
    let mantissa = (bits & 0x7f_ffff) as u64;
    let exponent = ((bits >> 23) & 0xff) as i32;
    if exponent == 0 {
        (mantissa, 1 - 127 - 23)
    } else {
        (mantissa | (1 << 23), exponent - 127 - 23)
    }
}

/// At a power of two the float below is closer, so the lower half-gap is
/// half as wide (Ryu's `mmShift`).
fn lower_gap_is_half(v: f32) -> bool {
    let bits = v.to_bits();
    (bits & 0x7f_ffff) != 0 || ((bits >> 23) & 0xff) <= 1
}

/// True when the exact value of `x` might have at most 10 significant
/// decimal digits. (If it does, its f64 shortest text is that short too.)
fn is_short_decimal(x: f64) -> bool {
    let sci = format!("{x:e}");
    let mantissa = sci.split_once('e').map_or(sci.as_str(), |(m, _)| m);
    mantissa.chars().filter(|c| c.is_ascii_digit()).count() <= 10
}

/// Exact search: the largest power of ten `10^k` with a multiple strictly
/// inside the rounding interval, then the multiple closest to `v` (ties to
/// even). Big integers keep every comparison exact.
fn exact_shortest(v: f32) -> Decimal {
    let (m2, e2) = decompose(v);
    let mm_shift = if lower_gap_is_half(v) { 1 } else { 0 };
    // Everything in units of 2^(e2-2): value, lower and upper bound.
    let (mv, mp, mm) = (4 * m2, 4 * m2 + 2, 4 * m2 - 1 - mm_shift);
    let e = e2 - 2;
    let lead = (v as f64).log10().floor() as i32;
    for k in (lead - 10..=lead + 1).rev() {
        // Compare X * 2^e with d * 10^k after clearing negative exponents:
        // X * 2^max(e,0) * 10^max(-k,0)  vs  d * 2^max(-e,0) * 10^max(k,0).
        let scale_x = pow(2, e.max(0)) * pow(10, (-k).max(0));
        let unit = pow(2, (-e).max(0)) * pow(10, k.max(0));
        let lo = BigUint::from(mm) * &scale_x;
        let hi = BigUint::from(mp) * &scale_x;
        let val = BigUint::from(mv) * &scale_x;
        let d_min = &lo / &unit + 1u32; // smallest d with d*unit > lo
        let d_max = (&hi - 1u32) / &unit; // largest d with d*unit < hi
        if d_min > d_max {
            continue;
        }
        let quotient = &val / &unit;
        let twice_remainder = (&val % &unit) * 2u32;
        let round_up = twice_remainder > unit
            || (twice_remainder == unit && (&quotient % 2u32) == BigUint::from(1u32));
        let rounded = if round_up { quotient + 1u32 } else { quotient };
        let chosen = rounded.clamp(d_min, d_max);
        let digits = u64::try_from(chosen).expect("at most 10 digits");
        return Decimal { digits, exp: k };
    }
    unreachable!("a float always has a 9-digit representation in its interval")
}

fn pow(base: u32, exp: i32) -> BigUint {
    BigUint::from(base).pow(exp as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fmt(v: f32) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn matches_float4out() {
        assert_eq!(fmt(1.0), "1");
        assert_eq!(fmt(-0.0), "-0");
        assert_eq!(fmt(2.5), "2.5");
        assert_eq!(fmt(-0.03), "-0.03");
        assert_eq!(fmt(1.2345679), "1.2345679");
        assert_eq!(fmt(1e-4), "0.0001");
        assert_eq!(fmt(1e-5), "1e-05");
        assert_eq!(fmt(1e6), "1e+06");
        assert_eq!(fmt(999999.0), "999999");
        assert_eq!(fmt(1234567.0), "1.234567e+06");
        assert_eq!(fmt(123456.7), "123456.7");
        assert_eq!(fmt(1e10), "1e+10");
        assert_eq!(fmt(f32::MAX), "3.4028235e+38");
        assert_eq!(fmt(f32::MIN_POSITIVE), "1.1754944e-38");
        assert_eq!(fmt(1e-45), "1e-45");
        assert_eq!(fmt(7e-45), "7e-45");
        // Boundary excluded and ties to even: the cases Rust's {:e} differs on.
        assert_eq!(fmt(99991184.0), "9.9991184e+07");
        assert_eq!(fmt(184752.125), "184752.12");
        assert_eq!(fmt(37963.5625), "37963.562");
        assert_eq!(fmt(16777216.0), "1.6777216e+07");
        assert_eq!(fmt(65504.0), "65504");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// The fast path agrees with the exact search wherever it is taken.
        #[test]
        fn fast_path_agrees_with_exact(bits in any::<u32>()) {
            let v = f32::from_bits(bits & 0x7fff_ffff);
            prop_assume!(v.is_finite() && v > 0.0 && !(v < 16_777_216.0 && v.fract() == 0.0));
            prop_assert_eq!(shortest(v), exact_shortest(v), "{}", v);
        }

        /// Output reads back to the same bits.
        #[test]
        fn round_trips(bits in any::<u32>()) {
            let v = f32::from_bits(bits);
            prop_assume!(v.is_finite());
            let text = fmt(v);
            prop_assert_eq!(text.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{}", text);
        }
    }
}
