//! The comparisons of `condition_variable` and `condition_datetime`.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};

use crate::action::{Condition, ConditionDatetimeOption};

/// A fixed UTC offset: `+09:00`, `-05:30`, `+0530`, `+02`, `Z`, `UTC`.
pub(crate) fn parse_offset(tz: &str) -> Option<FixedOffset> {
    if tz.eq_ignore_ascii_case("z") || tz.eq_ignore_ascii_case("utc") {
        return FixedOffset::east_opt(0);
    }
    let (sign, rest) = match tz.as_bytes().first()? {
        b'+' => (1, &tz[1..]),
        b'-' => (-1, &tz[1..]),
        _ => return None,
    };
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => (&rest[..2], &rest[2..]),
        5 if &rest[2..3] == ":" => (&rest[..2], &rest[3..]),
        _ => return None,
    };
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// `condition_datetime` at wall-clock time `wall` (see its option's docs).
pub(crate) fn datetime_holds(c: &ConditionDatetimeOption, wall: DateTime<Utc>) -> bool {
    let offset = c
        .timezone
        .as_deref()
        .and_then(parse_offset)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("0 is a valid offset"));
    let local = wall.with_timezone(&offset);
    // (month, day, hour, minute), only the fields the option gives.
    let fields = [
        (c.month, local.month()),
        (c.day, local.day()),
        (c.hour, local.hour()),
        (c.minute, local.minute()),
    ];
    let now: Vec<u32> = fields
        .iter()
        .filter(|(want, _)| want.is_some())
        .map(|(_, v)| *v)
        .collect();
    let want: Vec<u32> = fields.iter().filter_map(|(want, _)| *want).collect();
    let on_day = c
        .weekdays
        .as_ref()
        .is_none_or(|days| days.contains(&local.weekday().number_from_monday()));
    let order = now.cmp(&want);
    match c.condition {
        Condition::Eq => order == Ordering::Equal && on_day,
        Condition::Ne => !(order == Ordering::Equal && on_day),
        Condition::Gt => order == Ordering::Greater && on_day,
        Condition::Ge => order != Ordering::Less && on_day,
        Condition::Lt => order == Ordering::Less && on_day,
        Condition::Le => order != Ordering::Greater && on_day,
        Condition::Contains => false,
    }
}

/// `condition_variable`: numbers when both sides are numbers, else strings.
pub(crate) fn compare_holds(condition: Condition, left: &str, right: &str) -> bool {
    if condition == Condition::Contains {
        return left.contains(right);
    }
    let order = match (number(left), number(right)) {
        (Some(a), Some(b)) => match a.partial_cmp(&b) {
            Some(o) => o,
            None => return false,
        },
        _ => left.cmp(right),
    };
    match condition {
        Condition::Eq => order == Ordering::Equal,
        Condition::Ne => order != Ordering::Equal,
        Condition::Gt => order == Ordering::Greater,
        Condition::Ge => order != Ordering::Less,
        Condition::Lt => order == Ordering::Less,
        Condition::Le => order != Ordering::Greater,
        Condition::Contains => unreachable!("handled above"),
    }
}

fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+09:00").unwrap().local_minus_utc(), 9 * 3600);
        assert_eq!(
            parse_offset("-05:30").unwrap().local_minus_utc(),
            -(5 * 3600 + 1800)
        );
        assert_eq!(
            parse_offset("+0530").unwrap().local_minus_utc(),
            5 * 3600 + 1800
        );
        assert_eq!(parse_offset("+02").unwrap().local_minus_utc(), 7200);
        assert_eq!(parse_offset("UTC").unwrap().local_minus_utc(), 0);
        for bad in ["", "9", "+9", "+15:00", "+09:60", "Asia/Seoul", "+09:0a"] {
            assert!(parse_offset(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn comparisons() {
        assert!(compare_holds(Condition::Gt, "10", "9"), "numbers");
        assert!(compare_holds(Condition::Lt, "10", "9a"), "strings");
        assert!(compare_holds(Condition::Eq, "1.0", "1"));
        assert!(compare_holds(Condition::Contains, "+821012", "+82"));
        assert!(!compare_holds(Condition::Eq, "", "0"));
    }

    #[test]
    fn business_hours() {
        let opt = |condition, hour, minute| ConditionDatetimeOption {
            condition,
            hour,
            minute,
            day: None,
            month: None,
            weekdays: Some(vec![1, 2, 3, 4, 5]),
            timezone: Some("+09:00".into()),
            false_target_id: "x".into(),
        };
        // Monday 2024-01-01 00:45 UTC = 09:45 in Seoul.
        let wall = Utc.with_ymd_and_hms(2024, 1, 1, 0, 45, 0).unwrap();
        assert!(datetime_holds(&opt(Condition::Ge, Some(9), Some(30)), wall));
        assert!(!datetime_holds(&opt(Condition::Ge, Some(10), None), wall));
        assert!(datetime_holds(&opt(Condition::Eq, Some(9), None), wall));
        // Sunday: the weekday filter fails.
        let sunday = Utc.with_ymd_and_hms(2024, 1, 7, 0, 45, 0).unwrap();
        assert!(!datetime_holds(
            &opt(Condition::Ge, Some(9), Some(30)),
            sunday
        ));
        assert!(datetime_holds(&opt(Condition::Ne, Some(9), None), sunday));
    }
}
