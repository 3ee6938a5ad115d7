//! Scalars for time: instants as unix nanoseconds and durations with units.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An instant as unix nanoseconds. Written as a decimal string (64-bit values do not fit
/// a JSON number safely); an integer or an RFC 3339 time is accepted as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nanos(pub u64);

#[Scalar(name = "Nanos")]
impl ScalarType for Nanos {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n.as_u64().map(Nanos).ok_or_else(|| InputValueError::custom("a unix time in nanoseconds is a non-negative integer")),
            Value::String(s) => match s.parse::<u64>() {
                Ok(n) => Ok(Nanos(n)),
                Err(_) => parse_rfc3339(s).map(Nanos).ok_or_else(|| {
                    InputValueError::custom(format!("`{s}` is neither unix nanoseconds nor an RFC 3339 time"))
                }),
            },
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A duration such as `30s`, `5m`, `1h`, `1d` or `250ms`; a bare integer is nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub u64);

#[Scalar(name = "Duration")]
impl ScalarType for Duration {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n.as_u64().map(Duration).ok_or_else(|| InputValueError::custom("a duration is non-negative")),
            Value::String(s) => parse_duration(s)
                .map(Duration)
                .ok_or_else(|| InputValueError::custom(format!("`{s}` is not a duration such as 30s, 5m, 1h or 1d"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_duration(self.0))
    }
}

const UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// `<integer><unit>`, unit one of ns, us, ms, s, m, h, d.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(digits);
    let n: u64 = n.parse().ok()?;
    let (_, scale) = UNITS.iter().find(|(u, _)| *u == unit)?;
    n.checked_mul(*scale)
}

/// The largest unit that divides `ns` exactly.
pub fn format_duration(ns: u64) -> String {
    match UNITS.iter().rev().find(|(_, scale)| ns != 0 && ns.is_multiple_of(*scale)) {
        Some((unit, scale)) => format!("{}{unit}", ns / scale),
        None => "0s".to_string(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as unix ns.
fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        if len == 0 || len > 9 {
            return None;
        }
        nanos = frac[..len].parse::<i64>().ok()? * 10i64.pow(9 - len as u32);
        rest = &frac[len..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.is_ascii() && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(nanos as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print_with_units() {
        assert_eq!(parse_duration("5m"), Some(300_000_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5 weeks"), None);
        assert_eq!(format_duration(300_000_000_000), "5m");
        assert_eq!(format_duration(90_000_000_000), "90s");
    }

    #[test]
    fn rfc3339_times_become_unix_nanoseconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-27T06:00:00Z"), Some(1_795_759_200_000_000_000));
        assert_eq!(parse_rfc3339("2026-11-27T07:00:00+01:00"), Some(1_795_759_200_000_000_000));
        assert_eq!(parse_rfc3339("2026-11-27T06:00:00.5Z"), Some(1_795_759_200_500_000_000));
        assert_eq!(parse_rfc3339("2026-13-27T06:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2026-11-27T06:00:00+0é00"), None, "not ASCII: refused, never a panic");
        assert_eq!(parse_rfc3339("2026-11-27T06:00:00é"), None);
    }
}
