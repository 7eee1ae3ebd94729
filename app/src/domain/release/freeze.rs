//! Freeze windows: recurring times, in a named IANA time zone, when a target takes no
//! deploys (rollback and hold stay allowed). A window is written in the zone's own clock
//! time ("fri 18:00" until "mon 08:00" in Europe/Berlin), and each occurrence is worked
//! out from that clock on its own dates, so it starts and ends at the written times on
//! both sides of a daylight-saving change (argo-cd#3204 is the bug this avoids: a window
//! kept as a fixed UTC span drifts an hour twice a year).

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// When a window starts or ends: a clock time every day, or on one day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    Daily(Time),
    Weekly(Weekday, Time),
}

impl Moment {
    /// `"18:00"` (every day) or `"fri 18:00"` (a day of the week: mon, tue, wed, thu, fri,
    /// sat, sun).
    pub fn parse(text: &str) -> Result<Moment, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let clock = |raw: &str| {
            let (hour, minute) = raw.split_once(':').ok_or("write the time as HH:MM")?;
            let number = |n: &str, most: i8| {
                n.parse::<i8>().ok().filter(|v| (0..=most).contains(v) && n.len() == 2)
            };
            match (number(hour, 23), number(minute, 59)) {
                (Some(h), Some(m)) => Ok(Time::constant(h, m, 0, 0)),
                _ => Err("write the time as HH:MM, from 00:00 to 23:59"),
            }
        };
        let found = match words.as_slice() {
            [time] => clock(time).map(Moment::Daily),
            [day, time] => match weekday(day) {
                Some(day) => clock(time).map(|t| Moment::Weekly(day, t)),
                None => Err("the day is one of mon, tue, wed, thu, fri, sat, sun"),
            },
            _ => Err("write \"HH:MM\" (every day) or \"DAY HH:MM\", such as \"fri 18:00\""),
        };
        found.map_err(|why| format!("{text:?}: {why}"))
    }

    fn time(self) -> Time {
        match self {
            Moment::Daily(time) | Moment::Weekly(_, time) => time,
        }
    }
}

fn weekday(word: &str) -> Option<Weekday> {
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let offset = days.iter().position(|d| d.eq_ignore_ascii_case(word))?;
    Weekday::from_monday_zero_offset(i8::try_from(offset).ok()?).ok()
}

/// A recurring freeze window of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezeWindow {
    /// How pages, refusals and History name it.
    pub name: String,
    pub zone: TimeZone,
    pub from: Moment,
    pub until: Moment,
    /// Why deploys stop (shown in the refusal); may be empty.
    pub reason: String,
}

/// One occurrence of a window: deploys are refused from `start` until `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub window: String,
    pub reason: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The window's time zone, to show its times as it writes them.
    pub zone: String,
}

impl Occurrence {
    pub fn contains(&self, now: Timestamp) -> bool {
        self.start <= now && now < self.end
    }
}

impl FreezeWindow {
    /// Checks that `from` and `until` are both daily or both weekly. The error names the
    /// field it is about (`time_zone`, `from` or `until`) and what is wrong with it.
    pub fn new(
        name: &str,
        zone: &str,
        from: &str,
        until: &str,
        reason: &str,
    ) -> Result<FreezeWindow, (&'static str, String)> {
        let zone = TimeZone::get(zone).map_err(|_| {
            let why = format!(
                "{zone:?} is no IANA time zone: use a name such as \"Europe/Berlin\" or \"UTC\""
            );
            ("time_zone", why)
        })?;
        let from = Moment::parse(from).map_err(|why| ("from", why))?;
        let until = Moment::parse(until).map_err(|why| ("until", why))?;
        if matches!(from, Moment::Daily(_)) != matches!(until, Moment::Daily(_)) {
            let why = "`from` and `until` both name a day of the week, or neither does";
            return Err(("until", why.into()));
        }
        Ok(FreezeWindow { name: name.to_owned(), zone, from, until, reason: reason.to_owned() })
    }

    /// The occurrence that starts on `date` (the zone's calendar), if one does.
    fn starting_on(&self, date: Date) -> Option<Occurrence> {
        let days_to_end = match (self.from, self.until) {
            (Moment::Weekly(start_day, _), Moment::Weekly(end_day, _)) => {
                if date.weekday() != start_day {
                    return None;
                }
                let days = i64::from(end_day.since(start_day));
                if days == 0 && self.until.time() <= self.from.time() { 7 } else { days }
            }
            _ => i64::from(self.until.time() <= self.from.time()),
        };
        let end_date = date.checked_add(days_to_end.days()).ok()?;
        // A clock time that a daylight-saving change skips is taken as the time after
        // the gap, and one it repeats as its first passing (jiff's "compatible" choice).
        let at = |date: Date, time: Time| {
            date.to_datetime(time).to_zoned(self.zone.clone()).ok().map(|z| z.timestamp())
        };
        Some(Occurrence {
            window: self.name.clone(),
            reason: self.reason.clone(),
            start: at(date, self.from.time())?,
            end: at(end_date, self.until.time())?,
            zone: self.zone.iana_name().unwrap_or("UTC").to_owned(),
        })
    }

    /// The occurrences that start within 8 days of `now`'s date, either side: every one
    /// that can contain `now`, and the next to start.
    fn around(&self, now: Timestamp) -> impl Iterator<Item = Occurrence> + '_ {
        let today = now.to_zoned(self.zone.clone()).date();
        (-8..=8i64).filter_map(move |offset| {
            today.checked_add(offset.days()).ok().and_then(|date| self.starting_on(date))
        })
    }
}

/// A target's current or next freeze, as the API answers it and the gate reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FreezeView {
    /// The window's name in the configuration.
    pub window: String,
    pub reason: String,
    /// The IANA time zone the window is written in.
    pub time_zone: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: time::OffsetDateTime,
    /// Deploys are refused now.
    pub active: bool,
}

impl FreezeView {
    /// The freeze of `windows` at `now`: the one in force, or else the next.
    pub fn at(windows: &[FreezeWindow], now: time::OffsetDateTime) -> Option<FreezeView> {
        let now = Timestamp::from_second(now.unix_timestamp()).ok()?;
        let (occurrence, active) = current_or_next(windows, now)?;
        let time = |at: Timestamp| time::OffsetDateTime::from_unix_timestamp(at.as_second()).ok();
        Some(FreezeView {
            window: occurrence.window,
            reason: occurrence.reason,
            time_zone: occurrence.zone,
            starts_at: time(occurrence.start)?,
            ends_at: time(occurrence.end)?,
            active,
        })
    }

    /// `at` on the window's own clock and in UTC: "Mon 30 Mar 08:00 Europe/Berlin
    /// (Mon 30 Mar 06:00 UTC)".
    pub fn clock(&self, at: time::OffsetDateTime) -> String {
        let Ok(at) = Timestamp::from_second(at.unix_timestamp()) else {
            return super::super::readable_time(at);
        };
        let on = |zone: TimeZone| at.to_zoned(zone).strftime("%a %-d %b %H:%M").to_string();
        let utc = on(TimeZone::UTC);
        match TimeZone::get(&self.time_zone) {
            Ok(zone) if on(zone.clone()) != utc => {
                format!("{} {} ({utc} UTC)", on(zone), self.time_zone)
            }
            // A window in UTC (or a zone at UTC's offset then) says it once.
            _ => format!("{utc} UTC"),
        }
    }

    /// [`FreezeView::clock`], and the time in the viewer's own zone when they set one
    /// and it says another time: "… (… UTC; your time Mon 30 Mar 02:00)".
    pub fn clock_for(&self, at: time::OffsetDateTime, viewer: Option<&str>) -> String {
        let shown = self.clock(at);
        let (Some(zone), Ok(stamp)) = (
            viewer.and_then(|v| TimeZone::get(v).ok()),
            Timestamp::from_second(at.unix_timestamp()),
        ) else {
            return shown;
        };
        let theirs = stamp.to_zoned(zone).strftime("%a %-d %b %H:%M").to_string();
        if shown.contains(&theirs) {
            return shown;
        }
        format!("{shown}; your time {theirs}")
    }

    /// "weekend (no deploys over the weekend)", or the name alone.
    pub fn named(&self) -> String {
        if self.reason.is_empty() {
            format!("\"{}\"", self.window)
        } else {
            format!("\"{}\" ({})", self.window, self.reason)
        }
    }
}

/// The freeze a target is in at `now` (the one ending last, when windows overlap), or else
/// the next one to start: `(occurrence, inside it now)`.
pub fn current_or_next(windows: &[FreezeWindow], now: Timestamp) -> Option<(Occurrence, bool)> {
    let occurrences: Vec<Occurrence> = windows.iter().flat_map(|w| w.around(now)).collect();
    let current = occurrences.iter().filter(|o| o.contains(now)).max_by_key(|o| o.end);
    if let Some(current) = current {
        return Some((current.clone(), true));
    }
    occurrences.into_iter().filter(|o| o.start > now).min_by_key(|o| o.start).map(|o| (o, false))
}

#[cfg(test)]
mod tests;
