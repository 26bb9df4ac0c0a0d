//! UTC calendar dates for timestamps sbrp writes (capture logs, pin files, token reports).
//!
//! No clock: the time is passed in. Proleptic Gregorian calendar, H. Hinnant's `civil_from_days`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Unix seconds (negative before 1970) as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_secs(ts: i64) -> String {
    let secs = ts.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(ts.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A time as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds); times before 1970 print as the epoch.
pub fn rfc3339_micros(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = rfc3339_secs(i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    format!("{}.{:06}Z", &whole[..whole.len() - 1], d.subsec_micros())
}

/// A time as `YYYY-MM-DDTHH:MM:SSZ`; times before 1970 print as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_secs(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(1_764_083_100), "2025-11-25T15:05:00Z");
        assert_eq!(rfc3339_secs(-1), "1969-12-31T23:59:59Z");
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        let t = UNIX_EPOCH + Duration::new(1_764_083_100, 123_456_789);
        assert_eq!(rfc3339_micros(t), "2025-11-25T15:05:00.123456Z");
        assert_eq!(rfc3339(t), "2025-11-25T15:05:00Z");
    }
}
