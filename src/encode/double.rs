//! Doubles rendered as text exactly as the servers do, per version:
//! sorted-set scores in ziplists / listpacks (`d2string`) and the text
//! doubles of RDB < 8 `ZSET` values (`rdbSaveDoubleValue`).
//!
//! Checked against the bytes real servers write (`ZADD` then `DUMP`):
//!
//! * Redis <= 6.2 (RDB <= 9): `-0` for negative zero, otherwise `%.17g`
//!   (integral values below 2^52 come out as plain integers either way).
//! * Redis 7.0 (RDB 10): integral values within +-2^62 as integers (so
//!   negative zero is `0`), otherwise `%.17g`.
//! * Redis 7.2+ and Valkey (RDB >= 11): integral values within +-2^62 as
//!   integers, otherwise the shortest round-trip digits (`fpconv_dtoa`):
//!   `0.00001`, `1.5e-7`, `1e+300`, `12345678901234568000000`.

/// Renders a finite or infinite double as `%.17g` does (glibc).
///
/// ```
/// use rdbkit::encode::format_g17;
/// assert_eq!(format_g17(0.1), "0.10000000000000001");
/// assert_eq!(format_g17(1e17), "1e+17");
/// assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
/// assert_eq!(format_g17(-0.0), "-0");
/// assert_eq!(format_g17(2.5), "2.5");
/// ```
pub fn format_g17(v: f64) -> String {
    g17(v).as_str().to_owned()
}

/// A double's text on the stack: the longest, `-1.0000000000000001e-308`,
/// has 24 bytes.
#[derive(Clone, Copy)]
pub(crate) struct DoubleText {
    buf: [u8; 32],
    len: usize,
}

impl DoubleText {
    fn new() -> Self {
        DoubleText {
            buf: [0; 32],
            len: 0,
        }
    }

    fn push(&mut self, b: &[u8]) {
        let end = (self.len + b.len()).min(self.buf.len());
        self.buf[self.len..end].copy_from_slice(&b[..end - self.len]);
        self.len = end;
    }

    /// The text's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

/// [`format_g17`] without an allocation (the memory model renders many
/// scores).
pub(crate) fn g17(v: f64) -> DoubleText {
    use std::fmt::Write;
    let mut out = DoubleText::new();
    if v.is_nan() {
        out.push(b"nan");
        return out;
    }
    if v.is_infinite() {
        out.push(if v < 0.0 { b"-inf" } else { b"inf" });
        return out;
    }
    if v == 0.0 {
        out.push(if v.is_sign_negative() { b"-0" } else { b"0" });
        return out;
    }
    // 17 significant digits, correctly rounded, and the exponent.
    let mut digits = [0u8; 24];
    let mut nd = 0;
    let exp = match digits17(v.abs()) {
        Some((d, x)) => {
            let mut d = d;
            for i in (0..17).rev() {
                digits[i] = b'0' + (d % 10) as u8;
                d /= 10;
            }
            nd = 17;
            x
        }
        None => {
            // `d.dddddddddddddddde-5`
            let mut e = DoubleText::new();
            let _ = write!(e, "{:.16e}", v.abs());
            let s = e.as_bytes();
            let at = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
            let (mant, exp_text) = (&s[..at], s.get(at + 1..).unwrap_or(&[]));
            let exp = exp_text
                .iter()
                .filter(|c| c.is_ascii_digit())
                .fold(0i32, |n, &c| n * 10 + i32::from(c - b'0'));
            for &c in mant.iter().filter(|c| c.is_ascii_digit()) {
                if nd < digits.len() {
                    digits[nd] = c;
                    nd += 1;
                }
            }
            if exp_text.first() == Some(&b'-') {
                -exp
            } else {
                exp
            }
        }
    };
    let digits = &digits[..nd.max(1)];
    let trimmed = |d: &[u8]| d.len() - d.iter().rev().take_while(|&&c| c == b'0').count();
    if v.is_sign_negative() {
        out.push(b"-");
    }
    if !(-4..17).contains(&exp) {
        let d = &digits[..trimmed(digits).max(1)];
        out.push(&d[..1]);
        if d.len() > 1 {
            out.push(b".");
            out.push(&d[1..]);
        }
        out.push(if exp < 0 { b"e-" } else { b"e+" });
        let x = exp.unsigned_abs();
        if x < 10 {
            out.push(b"0");
        }
        let _ = write!(out, "{x}");
    } else if exp >= 0 {
        let int_len = (exp as usize + 1).min(digits.len());
        out.push(&digits[..int_len]);
        let frac = &digits[int_len..];
        let frac = &frac[..trimmed(frac)];
        if !frac.is_empty() {
            out.push(b".");
            out.push(frac);
        }
    } else {
        out.push(b"0.");
        for _ in 0..(-exp - 1) {
            out.push(b"0");
        }
        out.push(&digits[..trimmed(digits)]);
    }
    out
}

/// The 17 significant digits of a positive normal double, correctly
/// rounded (to nearest, ties to even, as glibc's `printf`), and its
/// decimal exponent: `d` in `[10^16, 10^17)` with `v ≈ d · 10^(x-16)`.
/// Exact integer arithmetic on the binary value; `None` where it would
/// not fit in 128 bits (very small or very large values), for the
/// formatter to do.
fn digits17(v: f64) -> Option<(u64, i32)> {
    const LO: u128 = 10_000_000_000_000_000; // 10^16
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 || biased == 0x7ff {
        return None;
    }
    let m = u128::from((bits & ((1 << 52) - 1)) | (1 << 52));
    let e = biased - 1075; // v = m · 2^e
    let mut x = v.log10().floor() as i32;
    for _ in 0..3 {
        let k = 16 - x;
        let (q, up) = if k >= 0 {
            let p = m.checked_mul(10u128.checked_pow(u32::try_from(k).ok()?)?)?;
            if e >= 0 {
                (p.checked_mul(1u128.checked_shl(e as u32)?)?, false)
            } else {
                let s = u32::try_from(-e).ok().filter(|&s| s < 127)?;
                let (q, rem, half) = (p >> s, p & ((1 << s) - 1), 1u128 << (s - 1));
                (q, rem > half || (rem == half && q & 1 == 1))
            }
        } else {
            let d = 10u128.checked_pow(u32::try_from(-k).ok()?)?;
            let p = m.checked_mul(1u128.checked_shl(u32::try_from(e).ok()?)?)?;
            let (q, rem) = (p / d, p % d);
            (q, 2 * rem > d || (2 * rem == d && q & 1 == 1))
        };
        let q = q + u128::from(up);
        if q == 10 * LO {
            return Some((LO as u64, x + 1));
        }
        if q > 10 * LO {
            x += 1;
        } else if q < LO {
            x -= 1;
        } else {
            return Some((q as u64, x));
        }
    }
    None
}

/// Renders a double with the shortest digits that read back to the same
/// value, laid out as Redis 7.2+'s `fpconv_dtoa` does.
///
/// ```
/// use rdbkit::encode::format_shortest;
/// assert_eq!(format_shortest(1e-5), "0.00001");
/// assert_eq!(format_shortest(1.5e-7), "1.5e-7");
/// assert_eq!(format_shortest(1e300), "1e+300");
/// assert_eq!(format_shortest(1.234e25), "1.234e+25");
/// assert_eq!(format_shortest(12345678901234567890123.0), "12345678901234568000000");
/// assert_eq!(format_shortest(5e-324), "5e-324");
/// ```
pub fn format_shortest(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{:e}", v);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp10: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    // value = digits * 10^k
    let k = exp10 - (nd - 1);
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    let exp = (k + nd - 1).abs();
    let ds = std::str::from_utf8(&digits).unwrap_or("0");
    if k >= 0 && exp < nd + 7 {
        out.push_str(ds);
        for _ in 0..k {
            out.push('0');
        }
        return out;
    }
    if k < 0 && (k > -7 || exp < 4) {
        let offset = nd + k;
        if offset <= 0 {
            out.push_str("0.");
            for _ in 0..(-offset) {
                out.push('0');
            }
            out.push_str(ds);
        } else {
            out.push_str(&ds[..offset as usize]);
            out.push('.');
            out.push_str(&ds[offset as usize..]);
        }
        return out;
    }
    out.push_str(&ds[..1]);
    if nd > 1 {
        out.push('.');
        out.push_str(&ds[1..]);
    }
    out.push('e');
    out.push(if k + nd - 1 < 0 { '-' } else { '+' });
    out.push_str(&exp.to_string());
    out
}

/// Whether Redis 7.0+'s `double2ll` renders `v` as an integer, and which.
fn double2ll(v: f64) -> Option<i64> {
    const LIM: f64 = (i64::MAX / 2) as f64;
    if !(-LIM..=LIM).contains(&v) {
        return None;
    }
    let l = v as i64;
    (l as f64 == v).then_some(l)
}

/// The text a server of RDB `version` stores for a sorted-set score inside
/// a ziplist or listpack (Redis `d2string`); the blob builders then store it
/// as an integer element when it is a canonical integer.
///
/// ```
/// use rdbkit::encode::score_text;
/// assert_eq!(score_text(1e17, 9), "1e+17");
/// assert_eq!(score_text(1e17, 10), "100000000000000000");
/// assert_eq!(score_text(-0.0, 9), "-0");
/// assert_eq!(score_text(-0.0, 11), "0");
/// assert_eq!(score_text(0.1, 10), "0.10000000000000001");
/// assert_eq!(score_text(0.1, 11), "0.1");
/// assert_eq!(score_text(f64::NEG_INFINITY, 12), "-inf");
/// ```
pub fn score_text(v: f64, version: u32) -> String {
    score_text_buf(v, version).as_str().to_owned()
}

/// [`score_text`] without an allocation for the text of Redis before
/// 7.2 (the memory model renders many scores).
pub(crate) fn score_text_buf(v: f64, version: u32) -> DoubleText {
    use std::fmt::Write;
    if v.is_nan() || v.is_infinite() {
        return g17(v);
    }
    if version >= 10 {
        if let Some(l) = double2ll(v) {
            let mut t = DoubleText::new();
            let _ = write!(t, "{l}");
            return t;
        }
    }
    if version >= 11 {
        let mut t = DoubleText::new();
        t.push(format_shortest(v).as_bytes());
        t
    } else {
        g17(v)
    }
}

/// The text of an RDB < 8 text double (`rdbSaveDoubleValue`): integral
/// values strictly within +-2^52 as integers (negative zero as `0`),
/// otherwise `%.17g`. Infinities and NaN use length codes, not text.
///
/// ```
/// use rdbkit::encode::text_double;
/// assert_eq!(text_double(-0.0), "0");
/// assert_eq!(text_double(2.5), "2.5");
/// assert_eq!(text_double(1e300), "1.0000000000000001e+300");
/// ```
pub fn text_double(v: f64) -> String {
    const MAX: f64 = 4503599627370496.0;
    if v > -(MAX - 1.0) && v < MAX && (v as i64) as f64 == v {
        (v as i64).to_string()
    } else {
        format_g17(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_printf_samples() {
        // Values observed in Redis 6.2 / 7.0 ziplists and listpacks.
        for (v, s) in [
            (-1.5e-10, "-1.5e-10"),
            (5e-324, "4.9406564584124654e-324"),
            (1e-7, "9.9999999999999995e-08"),
            (1.5e-7, "1.4999999999999999e-07"),
            (3.14159e-5, "3.1415899999999999e-05"),
            (0.0001, "0.0001"),
            (0.000123, "0.00012300000000000001"),
            (123456789.123, "123456789.123"),
            (4.611686018427388e18, "4.6116860184273879e+18"),
            (1e21, "1e+21"),
            (1.2345678901234568e22, "1.2345678901234568e+22"),
            (1.234e25, "1.2339999999999999e+25"),
            (1e300, "1.0000000000000001e+300"),
            (1e16, "10000000000000000"),
            // Ties at the 18th digit (1 + n / 2^17): to even, as glibc.
            (1.0 + 1.0 / 131_072.0, "1.0000076293945312"),
            (1.0 + 3.0 / 131_072.0, "1.0000228881835938"),
        ] {
            assert_eq!(format_g17(v), s, "{v}");
        }
    }

    /// `%.17g` laid out from `{:.16e}` with owned strings, the plain way.
    fn g17_reference(v: f64) -> String {
        if v.is_nan() || v.is_infinite() || v == 0.0 {
            return format_g17(v);
        }
        let e = format!("{:.16e}", v);
        let (mant, exp) = e.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
        let sign = if mant.starts_with('-') { "-" } else { "" };
        if !(-4..17).contains(&exp) {
            let d = digits.trim_end_matches('0');
            let frac = if d.len() > 1 {
                format!(".{}", &d[1..])
            } else {
                String::new()
            };
            let s = if exp < 0 { '-' } else { '+' };
            format!("{sign}{}{frac}e{s}{:02}", &d[..1], exp.abs())
        } else if exp >= 0 {
            let (i, f) = digits.split_at(exp as usize + 1);
            let f = f.trim_end_matches('0');
            let dot = if f.is_empty() { "" } else { "." };
            format!("{sign}{i}{dot}{f}")
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{}", digits.trim_end_matches('0'))
        }
    }

    /// The stack rendering equals the plain one on random bit patterns
    /// (every exponent), integers and short decimals.
    #[test]
    fn g17_matches_the_plain_layout() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..200_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for v in [
                f64::from_bits(x),
                (x % 100_000) as f64 / 1000.0,
                i as f64 * 0.25 - 7.0,
            ] {
                assert_eq!(format_g17(v), g17_reference(v), "{v:e}");
            }
        }
    }

    #[test]
    fn shortest_matches_fpconv_samples() {
        // Values observed in Redis 7.4 / Valkey 8.1 / 9.1 listpacks.
        for (v, s) in [
            (-1.5e-10, "-1.5e-10"),
            (5e-324, "5e-324"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-5, "0.00001"),
            (3.14159e-5, "3.14159e-5"),
            (0.0001, "0.0001"),
            (0.000123, "0.000123"),
            (0.1, "0.1"),
            (123456789.123, "123456789.123"),
            (1e21, "1e+21"),
            (1e22, "1e+22"),
            (1.2345678901234568e22, "12345678901234568000000"),
            (1.234e25, "1.234e+25"),
            (1e300, "1e+300"),
        ] {
            assert_eq!(format_shortest(v), s, "{v}");
        }
    }

    #[test]
    fn scores_round_trip() {
        for v in [
            0.1,
            1e-300,
            123.456,
            -7.25e100,
            2.2250738585072014e-308,
            1.7976931348623157e308,
        ] {
            for ver in [6, 9, 10, 11, 12] {
                let s = score_text(v, ver);
                assert_eq!(s.parse::<f64>().unwrap(), v, "{s}");
            }
        }
        assert_eq!(score_text(4.611686018427388e18, 10), "4611686018427387904");
        assert_eq!(
            score_text(4.611686018427388e18, 9),
            "4.6116860184273879e+18"
        );
        assert_eq!(score_text(9007199254740992.0, 9), "9007199254740992");
    }
}
