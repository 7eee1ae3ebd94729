use super::*;

fn at(utc: &str) -> Timestamp {
    utc.parse().expect("an RFC 3339 time")
}

fn window(zone: &str, from: &str, until: &str) -> FreezeWindow {
    FreezeWindow::new("w", zone, from, until, "").expect("a window")
}

#[test]
fn each_occurrence_starts_and_ends_at_its_clock_times_across_daylight_saving_changes() {
    let weekend = window("Europe/Berlin", "fri 18:00", "mon 08:00");
    let nights = window("America/New_York", "22:00", "06:00");
    let skipped_start = window("Europe/Berlin", "02:30", "04:00");
    // (window, now) → inside now, and the occurrence (current, or else next) in UTC.
    let cases = [
        // Winter in Berlin is UTC+1: Friday 18:00 is 17:00 UTC.
        (&weekend, "2026-01-09T16:59:00Z", false, "2026-01-09T17:00:00Z", "2026-01-12T07:00:00Z"),
        (&weekend, "2026-01-09T17:00:00Z", true, "2026-01-09T17:00:00Z", "2026-01-12T07:00:00Z"),
        (&weekend, "2026-01-12T06:59:00Z", true, "2026-01-09T17:00:00Z", "2026-01-12T07:00:00Z"),
        (&weekend, "2026-01-12T07:00:00Z", false, "2026-01-16T17:00:00Z", "2026-01-19T07:00:00Z"),
        // Clocks go forward on Sunday 29 March: the window starts in winter time and ends
        // in summer time, at 08:00 on the clock, 06:00 UTC (a fixed span would say 07:00).
        (&weekend, "2026-03-28T12:00:00Z", true, "2026-03-27T17:00:00Z", "2026-03-30T06:00:00Z"),
        (&weekend, "2026-03-30T06:30:00Z", false, "2026-04-03T16:00:00Z", "2026-04-06T06:00:00Z"),
        // Clocks go back on Sunday 25 October: it starts at 18:00 summer time, 16:00 UTC,
        // and ends at 08:00 winter time, 07:00 UTC.
        (&weekend, "2026-10-23T16:30:00Z", true, "2026-10-23T16:00:00Z", "2026-10-26T07:00:00Z"),
        (&weekend, "2026-10-26T06:30:00Z", true, "2026-10-23T16:00:00Z", "2026-10-26T07:00:00Z"),
        (&weekend, "2026-10-26T07:00:00Z", false, "2026-10-30T17:00:00Z", "2026-11-02T07:00:00Z"),
        // A nightly window over New York's spring change: 22:00 EST to 06:00 EDT is seven
        // hours, and it still ends at 06:00 on the clock.
        (&nights, "2026-03-08T09:30:00Z", true, "2026-03-08T03:00:00Z", "2026-03-08T10:00:00Z"),
        (&nights, "2026-03-08T10:00:00Z", false, "2026-03-09T02:00:00Z", "2026-03-09T10:00:00Z"),
        // 02:30 does not exist in Berlin on 29 March: the window starts after the gap, at
        // 03:30 summer time.
        (
            &skipped_start,
            "2026-03-29T01:00:00Z",
            false,
            "2026-03-29T01:30:00Z",
            "2026-03-29T02:00:00Z",
        ),
        (
            &skipped_start,
            "2026-03-29T01:45:00Z",
            true,
            "2026-03-29T01:30:00Z",
            "2026-03-29T02:00:00Z",
        ),
    ];
    for (window, now, inside, start, end) in cases {
        let (occurrence, found_inside) =
            current_or_next(std::slice::from_ref(window), at(now)).expect("an occurrence");
        assert_eq!(
            (found_inside, occurrence.start, occurrence.end),
            (inside, at(start), at(end)),
            "{:?} → {:?} at {now}",
            window.from,
            window.until
        );
    }
}

#[test]
fn a_week_long_window_always_holds_and_overlapping_ones_hold_until_the_last_ends() {
    let always = window("UTC", "sun 00:00", "sun 00:00");
    let (occurrence, inside) = current_or_next(&[always], at("2026-05-06T12:00:00Z")).unwrap();
    assert!(inside);
    assert_eq!(
        (occurrence.start, occurrence.end),
        (at("2026-05-03T00:00:00Z"), at("2026-05-10T00:00:00Z"))
    );

    let evening = window("UTC", "18:00", "20:00");
    let late = FreezeWindow::new("late", "UTC", "19:00", "23:00", "the late shift").unwrap();
    let (occurrence, inside) =
        current_or_next(&[evening, late], at("2026-05-06T19:30:00Z")).unwrap();
    assert!(inside);
    assert_eq!(
        (occurrence.window.as_str(), occurrence.reason.as_str()),
        ("late", "the late shift")
    );
    assert_eq!(occurrence.end, at("2026-05-06T23:00:00Z"));
    assert_eq!(current_or_next(&[], at("2026-05-06T19:30:00Z")), None);
}

#[test]
fn windows_are_written_as_clock_times_in_a_named_zone() {
    // (zone, from, until) → what is wrong, if anything.
    let cases = [
        ("Europe/Berlin", "fri 18:00", "mon 08:00", None),
        ("UTC", "18:00", "06:00", None),
        ("UTC", "FRI 18:00", "Mon 08:00", None),
        ("Mars/Olympus", "18:00", "06:00", Some("no IANA time zone")),
        ("UTC", "25:00", "06:00", Some("from 00:00 to 23:59")),
        ("UTC", "8:00", "09:00", Some("HH:MM")),
        ("UTC", "friday 18:00", "mon 08:00", Some("the day is one of")),
        ("UTC", "fri", "mon 08:00", Some("HH:MM")),
        ("UTC", "fri 18:00", "08:00", Some("both name a day of the week")),
        ("UTC", "fri 18:00", "8:00", Some("HH:MM")),
        ("UTC", "fri 18:00 now", "mon 08:00", Some("DAY HH:MM")),
    ];
    for (zone, from, until, wrong) in cases {
        let made = FreezeWindow::new("w", zone, from, until, "");
        match wrong {
            None => assert!(made.is_ok(), "{zone} {from} {until}: {made:?}"),
            Some(words) => {
                let (field, err) = made.expect_err(from);
                assert!(err.contains(words), "{zone} {from} {until}: {err}");
                // The error names the field it is about.
                let about = match (zone, from) {
                    ("Mars/Olympus", _) => "time_zone",
                    (_, "fri 18:00") => "until",
                    _ => "from",
                };
                assert_eq!(field, about, "{zone} {from} {until}");
            }
        }
    }
}
