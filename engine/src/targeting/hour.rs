//! The hour of the week that dayparts are matched against. The caller reads it from its
//! injected clock (so a simulated day runs in a second) and passes it in; the index itself
//! never reads the time.

use crate::campaign::Daypart;

/// Hours in a week: the daypart dimension has one posting list per hour.
pub const HOURS_PER_WEEK: usize = 7 * HOURS_PER_DAY;

const HOURS_PER_DAY: usize = 24;
const SECONDS_PER_HOUR: i64 = 3600;
const SECONDS_PER_DAY: i64 = 86_400;

/// A UTC hour of the week: 0 is Monday 00:00-01:00, 167 is Sunday 23:00-24:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HourOfWeek(u8);

impl HourOfWeek {
    /// `weekday_idx` 0 is Monday ... 6 is Sunday (as the bits of `Daypart::days`); `hour` is
    /// 0..24. `None` out of range.
    pub fn new(weekday_idx: u8, hour: u8) -> Option<HourOfWeek> {
        if usize::from(weekday_idx) >= 7 || usize::from(hour) >= HOURS_PER_DAY {
            return None;
        }
        Some(HourOfWeek(weekday_idx * HOURS_PER_DAY as u8 + hour))
    }

    /// The hour of the week at a Unix time (UTC). 1970-01-01 was a Thursday.
    pub fn from_unix_s(unix_s: i64) -> HourOfWeek {
        const THURSDAY_IDX: i64 = 3;
        let days = unix_s.div_euclid(SECONDS_PER_DAY);
        let weekday_idx = (days + THURSDAY_IDX).rem_euclid(7);
        let hour = unix_s.rem_euclid(SECONDS_PER_DAY) / SECONDS_PER_HOUR;
        // Both are in range by construction (0..7 and 0..24).
        HourOfWeek((weekday_idx * HOURS_PER_DAY as i64 + hour) as u8)
    }

    /// 0..`HOURS_PER_WEEK`.
    pub fn idx(self) -> usize {
        usize::from(self.0)
    }

    pub fn weekday_idx(self) -> u8 {
        self.0 / HOURS_PER_DAY as u8
    }

    pub fn hour(self) -> u8 {
        self.0 % HOURS_PER_DAY as u8
    }
}

/// The hours of the week in which any of `dayparts` runs, as a bitset (bit `h` of word
/// `h / 64`).
///
/// A daypart runs from `start_hour` inclusive to `end_hour` exclusive on each day of `days`;
/// `end_hour` above 24 counts as 24. A daypart with `start_hour >= end_hour` never runs: the
/// data format says a window across midnight is given as two dayparts, and the loader rejects
/// such a daypart, so this is only the defined behaviour for data that skipped the loader.
pub(crate) fn daypart_hours(dayparts: &[Daypart]) -> [u64; 3] {
    const _: () = assert!(HOURS_PER_WEEK <= 3 * 64);
    let mut hours = [0u64; 3];
    for daypart in dayparts {
        let start = usize::from(daypart.start_hour);
        let end = usize::from(daypart.end_hour).min(HOURS_PER_DAY);
        for weekday_idx in 0..7 {
            if daypart.days & (1 << weekday_idx) == 0 {
                continue;
            }
            for hour in start..end {
                let hour_of_week = weekday_idx * HOURS_PER_DAY + hour;
                if let Some(word) = hours.get_mut(hour_of_week / 64) {
                    *word |= 1 << (hour_of_week % 64);
                }
            }
        }
    }
    hours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_maps_to_monday_based_hours() {
        // 1970-01-01 00:00 UTC, a Thursday.
        assert_eq!(HourOfWeek::from_unix_s(0), HourOfWeek::new(3, 0).unwrap());
        // 2024-01-01 was a Monday; 13:30 UTC.
        let monday = 1_704_067_200 + 13 * 3600 + 1800;
        assert_eq!(
            HourOfWeek::from_unix_s(monday),
            HourOfWeek::new(0, 13).unwrap()
        );
        // One second before the epoch: Wednesday 23:00.
        assert_eq!(HourOfWeek::from_unix_s(-1), HourOfWeek::new(2, 23).unwrap());
        assert!(HourOfWeek::from_unix_s(i64::MIN).idx() < HOURS_PER_WEEK);
        assert!(HourOfWeek::from_unix_s(i64::MAX).idx() < HOURS_PER_WEEK);
        assert_eq!(HourOfWeek::new(7, 0), None);
        assert_eq!(HourOfWeek::new(0, 24), None);
    }

    #[test]
    fn dayparts_cover_their_hours_only() {
        let weekday_mornings = Daypart {
            days: 0b001_1111,
            start_hour: 6,
            end_hour: 9,
        };
        let hours = daypart_hours(&[weekday_mornings]);
        let is_set = |h: HourOfWeek| hours[h.idx() / 64] & (1 << (h.idx() % 64)) != 0;
        assert!(is_set(HourOfWeek::new(0, 6).unwrap()));
        assert!(is_set(HourOfWeek::new(4, 8).unwrap()));
        assert!(!is_set(HourOfWeek::new(4, 9).unwrap()));
        assert!(!is_set(HourOfWeek::new(5, 7).unwrap()));
        let count: u32 = hours.iter().map(|w| w.count_ones()).sum();
        assert_eq!(count, 15);
        let never = Daypart {
            days: 0x7f,
            start_hour: 22,
            end_hour: 2,
        };
        assert_eq!(daypart_hours(&[never]), [0; 3]);
        let to_midnight = Daypart {
            days: 1 << 6,
            start_hour: 23,
            end_hour: 30,
        };
        assert_eq!(daypart_hours(&[to_midnight])[2], 1 << (167 - 128));
    }
}
