//! Freeze now: a freeze window set by hand, from now until a time a person picks with one
//! tap ("for 1 hour", "until Monday 09:00"). The times are the server's clock (its IANA
//! time zone), worked out on its calendar, so "09:00" stays 09:00 across a
//! daylight-saving change.

use super::super::names::machine_names;
use super::freeze::FreezeView;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// How long a freeze set now lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezeFor {
    OneHour,
    ThreeHours,
    TomorrowNine,
    MondayNine,
}

machine_names!(
    "freeze length",
    FreezeFor {
        OneHour => "1h",
        ThreeHours => "3h",
        TomorrowNine => "tomorrow-09:00",
        MondayNine => "monday-09:00",
    }
);

impl FreezeFor {
    pub fn label(self) -> &'static str {
        match self {
            FreezeFor::OneHour => "For 1 hour",
            FreezeFor::ThreeHours => "For 3 hours",
            FreezeFor::TomorrowNine => "Until tomorrow 09:00",
            FreezeFor::MondayNine => "Until Monday 09:00",
        }
    }

    /// When a freeze set at `now` ends, on `zone`'s clock: `None` only when the date is
    /// out of range.
    pub fn ends(self, now: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let here = now.to_zoned(zone.clone());
        let nine = Time::constant(9, 0, 0, 0);
        let date = match self {
            FreezeFor::OneHour => return now.checked_add(1.hour()).ok(),
            FreezeFor::ThreeHours => return now.checked_add(3.hours()).ok(),
            FreezeFor::TomorrowNine => here.date().tomorrow().ok()?,
            // The first Monday 09:00 after now: today's, if it is Monday before nine.
            FreezeFor::MondayNine => {
                let today = here.date();
                let days = i64::from(Weekday::Monday.since(today.weekday()));
                let monday = today.checked_add(days.days()).ok()?;
                if days == 0 && here.time() >= nine {
                    monday.checked_add(7.days()).ok()?
                } else {
                    monday
                }
            }
        };
        // A nine o'clock a daylight-saving change skips is taken as the time after it.
        date.to_datetime(nine).to_zoned(zone.clone()).ok().map(|z| z.timestamp())
    }
}

/// The freeze a person set now, as the gate and the pages read it: a window named for
/// who set it.
pub fn view_of(
    set_by: &str,
    reason: &str,
    zone: &str,
    starts_at: time::OffsetDateTime,
    ends_at: time::OffsetDateTime,
    now: time::OffsetDateTime,
) -> FreezeView {
    FreezeView {
        window: format!("freeze now by {set_by}"),
        reason: reason.to_owned(),
        time_zone: zone.to_owned(),
        starts_at,
        ends_at,
        active: starts_at <= now && now < ends_at,
    }
}

/// What a target is frozen by: the freeze set now while it lasts, or the configured
/// window in force; when both are, the one that ends last; when neither, the next window.
pub fn in_force(set_now: Option<FreezeView>, configured: Option<FreezeView>) -> Option<FreezeView> {
    let set_now = set_now.filter(|f| f.active);
    match (set_now, configured) {
        (Some(a), Some(b)) if b.active && b.ends_at > a.ends_at => Some(b),
        (Some(a), _) => Some(a),
        (None, configured) => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_end_on_the_servers_clock_across_daylight_saving() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // (preset, now, ends) in UTC; Berlin's clocks go forward on Sunday 29 March 2026.
        let cases = [
            (FreezeFor::OneHour, "2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"),
            (FreezeFor::ThreeHours, "2026-03-28T23:00:00Z", "2026-03-29T02:00:00Z"),
            // Saturday 12:00 CET → Sunday 09:00 CEST, which is 07:00 UTC.
            (FreezeFor::TomorrowNine, "2026-03-28T11:00:00Z", "2026-03-29T07:00:00Z"),
            (FreezeFor::MondayNine, "2026-03-28T11:00:00Z", "2026-03-30T07:00:00Z"),
            // Monday 08:00 CEST: this Monday's nine; Monday 10:00: next week's.
            (FreezeFor::MondayNine, "2026-03-30T06:00:00Z", "2026-03-30T07:00:00Z"),
            (FreezeFor::MondayNine, "2026-03-30T08:00:00Z", "2026-04-06T07:00:00Z"),
            // Sunday 25 October at 23:30 CET (CEST until 03:00): Monday 09:00 CET.
            (FreezeFor::TomorrowNine, "2026-10-25T22:30:00Z", "2026-10-26T08:00:00Z"),
            (FreezeFor::MondayNine, "2026-10-25T20:00:00Z", "2026-10-26T08:00:00Z"),
        ];
        for (preset, now, ends) in cases {
            assert_eq!(preset.ends(at(now), &berlin), Some(at(ends)), "{preset} at {now}");
        }
    }

    #[test]
    fn the_freeze_in_force_is_the_one_that_ends_last() {
        let t = |h: i64| time::macros::datetime!(2026-12-01 10:00 UTC) + time::Duration::hours(h);
        let now = t(0);
        let set_now = view_of("ann", "migration", "UTC", t(-1), t(2), now);
        let window = |from, until| FreezeView {
            window: "nightly".into(),
            reason: String::new(),
            time_zone: "UTC".into(),
            starts_at: t(from),
            ends_at: t(until),
            active: t(from) <= now && now < t(until),
        };
        assert_eq!(in_force(Some(set_now.clone()), Some(window(5, 8))), Some(set_now.clone()));
        assert_eq!(in_force(Some(set_now.clone()), Some(window(-2, 1))), Some(set_now.clone()));
        assert_eq!(in_force(Some(set_now.clone()), Some(window(-2, 4))), Some(window(-2, 4)));
        assert_eq!(in_force(None, Some(window(5, 8))), Some(window(5, 8)));
        // Ended: the next window again.
        let ended = view_of("ann", "migration", "UTC", t(-3), t(-1), now);
        assert_eq!(in_force(Some(ended), Some(window(5, 8))), Some(window(5, 8)));
        assert_eq!(set_now.named(), "\"freeze now by ann\" (migration)");
    }
}
