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
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // 17 significant digits, correctly rounded.
    let e = format!("{:.16e}", v);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        let d = digits.trim_end_matches('0');
        out.push_str(&d[..1]);
        if d.len() > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        out.push_str(&digits[..int_len]);
        let frac = digits[int_len..].trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
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
    if v.is_nan() || v.is_infinite() {
        return format_g17(v);
    }
    if version >= 10 {
        if let Some(l) = double2ll(v) {
            return l.to_string();
        }
    }
    if version >= 11 {
        format_shortest(v)
    } else {
        format_g17(v)
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
        ] {
            assert_eq!(format_g17(v), s, "{v}");
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
