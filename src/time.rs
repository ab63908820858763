//! Time as an input: the runtime reads the clock once per input and passes a [`Now`] down.

use std::time::{Duration, Instant};

/// Seconds since the Unix epoch (wall-clock time, for CDRs, expiry stored on disk, logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// Whole seconds since the epoch.
    pub fn secs(self) -> u64 {
        self.0
    }
}

/// The current time as seen by the engine: `mono` drives timers, `wall` is for records.
/// Never derive one from the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic instant for timers and deadlines.
    pub mono: Instant,
    /// Wall-clock time for records and persisted expiry.
    pub wall: UnixTime,
}

impl Now {
    /// `self` advanced by `d` on both clocks (used by simulated clocks).
    pub fn advanced(self, d: Duration) -> Self {
        Now {
            mono: self.mono + d,
            wall: UnixTime(self.wall.0 + d.as_secs()),
        }
    }
}

/// RFC 1123 date as in the SIP `Date` header (RFC 3261 §20.17), e.g.
/// `Tue, 01 Dec 2026 07:35:08 GMT`.
pub fn http_date(t: UnixTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.0;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1–12, day 1–31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_formats_known_instants() {
        assert_eq!(http_date(UnixTime(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(UnixTime(1_796_110_508)),
            "Tue, 01 Dec 2026 07:35:08 GMT"
        );
        assert_eq!(
            http_date(UnixTime(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
    }
}
