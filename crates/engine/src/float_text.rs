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
//! Both twists only matter when the shortest decimal of the *closed*
//! interval (what Ryu as published, and so the `ryu` crate, finds) lies
//! exactly on one of its ends: inside the interval it is also the closest
//! shortest decimal of the open one. So the fast path takes `ryu`'s digits,
//! checks them against the two ends in exact integer arithmetic, and falls
//! back to an exact big-integer search only when one matches.

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
    let mut buf = [0u8; 20];
    let digits = decimal_digits(d.digits, &mut buf);
    // Decimal exponent of the leading digit.
    let lead = d.exp + digits.len() as i32 - 1;
    if (-4..6).contains(&lead) {
        if d.exp >= 0 {
            out.push_str(digits);
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
            out.push_str(digits);
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
    let d = ryu_shortest(v);
    let Interval { lo, hi, e, .. } = interval(v);
    let at = Factored::of_decimal(&d);
    if at == Factored::of_dyadic(lo, e) || at == Factored::of_dyadic(hi, e) {
        return exact_shortest(v);
    }
    d
}

/// `ryu`'s shortest round-trip digits (closed interval), read back from
/// its text without trailing zeros.
fn ryu_shortest(v: f32) -> Decimal {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(v);
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let mut exp: i32 = exp.parse().expect("ryu prints an integer exponent");
    let mut digits = 0u64;
    let mut after_point = false;
    for b in mantissa.bytes() {
        match b {
            b'.' => after_point = true,
            b'0'..=b'9' => {
                digits = digits * 10 + (b - b'0') as u64;
                exp -= after_point as i32;
            }
            _ => unreachable!("ryu prints digits, a point and an exponent"),
        }
    }
    while digits != 0 && digits.is_multiple_of(10) {
        digits /= 10;
        exp += 1;
    }
    Decimal { digits, exp }
}

/// A positive rational `c * 2^twos * 5^fives` with `c` prime to 10: one
/// form for both a decimal and a dyadic number, so they compare exactly.
#[derive(Debug, PartialEq, Eq)]
struct Factored {
    c: u64,
    twos: i32,
    fives: i32,
}

impl Factored {
    fn new(mut c: u64, mut twos: i32, mut fives: i32) -> Self {
        let zeros = c.trailing_zeros();
        c >>= zeros;
        twos += zeros as i32;
        while c.is_multiple_of(5) {
            c /= 5;
            fives += 1;
        }
        Factored { c, twos, fives }
    }

    /// `d.digits * 10^d.exp`.
    fn of_decimal(d: &Decimal) -> Self {
        Self::new(d.digits, d.exp, d.exp)
    }

    /// `m * 2^e`.
    fn of_dyadic(m: u64, e: i32) -> Self {
        Self::new(m, e, 0)
    }
}

/// The decimal digits of `n` (at most 20), written at the end of `buf`.
fn decimal_digits(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// The values that round to a float: the open interval `(lo, hi)` around
/// `value`, all three in units of `2^e`.
struct Interval {
    lo: u64,
    value: u64,
    hi: u64,
    e: i32,
}

/// `v = m2 * 2^e2` with the hidden bit made explicit, and the half-gaps to
/// its neighbours; at a power of two the float below is closer, so the
/// lower half-gap is half as wide (Ryu's `mmShift`).
fn interval(v: f32) -> Interval {
    let bits = v.to_bits();
    let mantissa = (bits & 0x7f_ffff) as u64;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let (m2, e2) = if exponent == 0 {
        (mantissa, 1 - 127 - 23)
    } else {
        (mantissa | (1 << 23), exponent - 127 - 23)
    };
    let mm_shift = (mantissa != 0 || exponent <= 1) as u64;
    Interval {
        lo: 4 * m2 - 1 - mm_shift,
        value: 4 * m2,
        hi: 4 * m2 + 2,
        e: e2 - 2,
    }
}

/// Exact search: the largest power of ten `10^k` with a multiple strictly
/// inside the rounding interval, then the multiple closest to `v` (ties to
/// even). Big integers keep every comparison exact.
fn exact_shortest(v: f32) -> Decimal {
    let Interval {
        lo: mm,
        value: mv,
        hi: mp,
        e,
    } = interval(v);
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
    // Exact binary values written out in full: the digits are the test.
    #[allow(clippy::excessive_precision)]
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

        /// The same near short decimals, where an end of the interval can
        /// itself be the shortest decimal (the cases the check exists for).
        #[test]
        fn fast_path_agrees_near_short_decimals(
            digits in 1u32..1_000_000,
            exp in -45i32..=38,
            step in -2i32..=2,
        ) {
            let near: f32 = format!("{digits}e{exp}").parse().unwrap();
            let v = f32::from_bits((near.to_bits() as i32 + step).max(1) as u32);
            // Small integers and overflows take other paths; many cases
            // land there, too many to reject.
            if v.is_finite() && !(v < 16_777_216.0 && v.fract() == 0.0) {
                prop_assert_eq!(shortest(v), exact_shortest(v), "{}", v);
            }
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
