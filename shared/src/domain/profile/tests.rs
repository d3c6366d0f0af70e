//! The profile document's validation, field by field.

use super::*;
use crate::domain::Money;
use jiff::civil::date;

const ANNA: &str = r#"{"id": "t_anna", "name": "Anna Schmidt", "timezone": "Europe/Berlin",
 "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]]},
 "overrides": {"2026-12-24": [], "2026-12-27": [["10:00", "14:00"]]},
 "currency": "eur",
 "lessons": [{"duration_minutes": 30, "price": 1800}, {"duration_minutes": 60, "price": 3000}],
 "trial": {"duration_minutes": 30, "price": 0},
 "buffer_minutes": 10, "min_notice_minutes": 720, "horizon_days": 60, "slot_step_minutes": 30}"#;

fn anna_value() -> serde_json::Value {
    serde_json::from_str(ANNA).unwrap()
}

/// Validates `ANNA` after `edit`, returning the error text.
fn error_after(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut value = anna_value();
    edit(&mut value);
    let err = TeacherProfile::from_json_str(&value.to_string()).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: ", err.field())));
    err.to_string()
}

#[test]
fn a_cancellation_policy_is_read_with_the_profile_and_written_back_only_when_not_the_default() {
    let p = TeacherProfile::from_json_str(ANNA).unwrap();
    assert_eq!(p.cancellation(), CancellationPolicy::default());
    assert!(p.to_doc().cancellation.is_none(), "the defaults are not written out");
    let mut value = anna_value();
    value["cancellation"] = serde_json::json!({"free_cancel_hours": 12, "late_cancel_refund_percent": 50});
    let p = TeacherProfile::from_json_str(&value.to_string()).unwrap();
    assert_eq!((p.cancellation().free_cancel_hours, p.cancellation().reschedule_hours), (12, 24));
    assert_eq!(TeacherProfile::try_from(p.to_doc()).unwrap(), p, "round trip");
    let err = error_after(|v| v["cancellation"] = serde_json::json!({"free_cancel_hour": 12}));
    assert!(err.contains("free_cancel_hour"), "an unknown field is named: {err}");
}

#[test]
fn parses_the_documented_example() {
    let p = TeacherProfile::from_json_str(ANNA).unwrap();
    assert_eq!(p.id().as_str(), "t_anna");
    assert_eq!(p.name(), "Anna Schmidt");
    assert_eq!(p.time_zone_name(), "Europe/Berlin");
    assert_eq!(p.time_zone(), &TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!(p.currency().as_str(), "eur");
    assert_eq!(p.weekly(Weekday::Monday).len(), 2);
    assert_eq!(p.weekly(Weekday::Monday)[1].to_string(), "13:00-17:00");
    assert!(p.weekly(Weekday::Sunday).is_empty());
    // 2026-12-24 is a Thursday off; 2026-12-27 a Sunday with an override.
    assert!(p.ranges_on(date(2026, 12, 24)).is_empty());
    assert_eq!(p.ranges_on(date(2026, 12, 27))[0].to_string(), "10:00-14:00");
    assert_eq!(p.ranges_on(date(2026, 12, 22))[0].to_string(), "09:00-17:00");
    assert_eq!((p.buffer_minutes(), p.min_notice_minutes(), p.horizon_days(), p.slot_step_minutes()), (10, 720, 60, 30));
}

#[test]
fn the_login_is_the_user_id_given_else_the_id() {
    let p = TeacherProfile::from_json_str(ANNA).unwrap();
    assert_eq!(p.user_id().as_str(), "t_anna");
    assert!(p.to_doc().user_id.is_none(), "the file's spelling is kept: no user_id written for it");
    for sub in ["0b7e3f1a-5c2d-4e8f-9a61-2f3b4c5d6e7f", "auth0|65f1c2d3e4a5b6c7d8e9f001", "Xk9LmQ2pRs7TuVw3YzA1bC4dE5f2"] {
        let p = valid_after(|v| v["user_id"] = sub.into());
        assert_eq!((p.user_id().as_str(), p.to_doc().user_id.as_deref()), (sub, Some(sub)));
        assert_eq!(TeacherProfile::try_from(p.to_doc()).unwrap(), p);
    }
    for bad in ["", "  ", "line\nbreak"] {
        assert_eq!(error_after(|v| v["user_id"] = bad.into()), "user_id: must be 1 to 255 printable characters, not all blank");
    }
    assert_eq!(error_after(|v| v["user_id"] = "x".repeat(256).into()), "user_id: must be 1 to 255 printable characters, not all blank");
}

#[test]
fn offers_lessons_and_trial() {
    let p = TeacherProfile::from_json_str(ANNA).unwrap();
    let eur = Currency::parse("eur").unwrap();
    assert_eq!(
        p.offer(LessonChoice::Minutes(60)),
        Some(LessonOffer { duration_minutes: 60, price: Money::new(3000, eur), trial: false })
    );
    assert_eq!(p.offer(LessonChoice::Trial), Some(LessonOffer { duration_minutes: 30, price: Money::new(0, eur), trial: true }));
    assert_eq!(p.offer(LessonChoice::Minutes(45)), None);
    assert_eq!(p.lessons().len(), 2);
    assert!(p.trial().is_some());
}

#[test]
fn round_trips_through_the_document() {
    let p = TeacherProfile::from_json_str(ANNA).unwrap();
    let doc = p.to_doc();
    assert_eq!(doc, serde_json::from_value::<ProfileDoc>(anna_value()).unwrap());
    assert_eq!(TeacherProfile::try_from(doc).unwrap(), p);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<TeacherProfile>(&json).unwrap(), p);
}

#[test]
fn document_round_trips_through_dynamodb_attributes() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let doc = TeacherProfile::from_json_str(ANNA).unwrap().to_doc();
    let item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(&doc).unwrap();
    assert!(matches!(&item["weekly"], AttributeValue::M(days) if matches!(&days["mon"], AttributeValue::L(_))));
    assert_eq!(serde_dynamo::from_item::<_, ProfileDoc>(item).unwrap(), doc);
}

#[test]
fn ranges_are_sorted_and_24_00_ends_a_day() {
    let p = TeacherProfile::from_json_str(&{
        let mut v = anna_value();
        v["weekly"]["fri"] = serde_json::json!([["18:00", "24:00"], ["00:00", "02:00"]]);
        v.to_string()
    })
    .unwrap();
    let fri: Vec<String> = p.weekly(Weekday::Friday).iter().map(|r| r.to_string()).collect();
    assert_eq!(fri, ["00:00-02:00", "18:00-24:00"]);
    assert_eq!(p.to_doc().weekly["fri"][1], ["18:00".to_owned(), "24:00".to_owned()]);
}

#[test]
fn rejects_bad_ranges_with_their_path() {
    let err = error_after(|v| v["weekly"]["mon"] = serde_json::json!([["09:00", "12:00"], ["13:00", "12:00"]]));
    assert_eq!(err, "weekly.mon[1]: end 12:00 is not after start 13:00");
    let err = error_after(|v| v["weekly"]["mon"] = serde_json::json!([["13:00", "17:00"], ["09:00", "13:30"]]));
    assert_eq!(err, "weekly.mon[0]: 13:00-17:00 overlaps weekly.mon[1] (09:00-13:30)");
    let err = error_after(|v| v["weekly"]["tue"] = serde_json::json!([["9:00", "12:00"]]));
    assert_eq!(err, r#"weekly.tue[0][0]: invalid time "9:00", expected HH:MM from 00:00 to 24:00"#);
    let err = error_after(|v| v["weekly"]["tue"] = serde_json::json!([["24:00", "24:00"]]));
    assert_eq!(err, "weekly.tue[0][0]: 24:00 is only allowed as an end");
    for bad in ["24:01", "12:60", "25:00", "12-00", "1200", ""] {
        let err = error_after(|v| v["weekly"]["tue"] = serde_json::json!([["09:00", bad]]));
        assert!(err.starts_with("weekly.tue[0][1]: invalid time"), "{err}");
    }
    let err = error_after(|v| v["weekly"]["monday"] = serde_json::json!([]));
    assert!(err.starts_with("weekly.monday: unknown weekday"), "{err}");
    let err = error_after(|v| v["overrides"]["2026-12-27"] = serde_json::json!([["10:00", "09:00"]]));
    assert_eq!(err, "overrides.2026-12-27[0]: end 09:00 is not after start 10:00");
    for bad in ["2026-02-30", "2026-1-01", "20261201", "2026-12-01T00:00"] {
        let err = error_after(|v| v["overrides"][bad] = serde_json::json!([]));
        assert_eq!(err, format!("overrides.{bad}: invalid date, expected YYYY-MM-DD"));
    }
}

#[test]
fn rejects_bad_scalars_with_their_path() {
    let cases: [(&str, serde_json::Value, &str); 14] = [
        ("id", "1anna".into(), "id: must start with a lowercase letter"),
        ("name", "".into(), "name: must be 1 to 200 characters and not blank"),
        ("name", "x".repeat(201).into(), "name: must be 1 to 200 characters and not blank"),
        ("timezone", "Europe/Berln".into(), r#"timezone: unknown IANA zone "Europe/Berln""#),
        ("currency", "euro".into(), r#"currency: invalid currency "euro": expected a 3-letter ISO 4217 code such as "eur""#),
        ("lessons", serde_json::json!([]), "lessons: at least one lesson is required"),
        ("lessons", serde_json::json!([{"duration_minutes": 4, "price": 1}]), "lessons[0].duration_minutes: must be between 5 and 480"),
        (
            "lessons",
            serde_json::json!([{"duration_minutes": 485, "price": 1}]),
            "lessons[0].duration_minutes: must be between 5 and 480",
        ),
        ("lessons", serde_json::json!([{"duration_minutes": 32, "price": 1}]), "lessons[0].duration_minutes: must be a multiple of 5"),
        (
            "trial",
            serde_json::json!({"duration_minutes": 30, "price": 10_000_000}),
            "trial.price: must be at most 9999999 (minor units), so a cart of 10 lessons stays within Stripe's maximum charge",
        ),
        ("buffer_minutes", 241.into(), "buffer_minutes: must be between 0 and 240"),
        ("min_notice_minutes", 43_201.into(), "min_notice_minutes: must be between 0 and 43200"),
        ("horizon_days", 0.into(), "horizon_days: must be between 1 and 365"),
        ("slot_step_minutes", 45.into(), "slot_step_minutes: must be one of 5, 10, 15, 20, 30, 60"),
    ];
    for (field, value, expected) in cases {
        assert_eq!(error_after(|v| v[field] = value), expected);
    }
    let dup = serde_json::json!([{"duration_minutes": 30, "price": 1000}, {"duration_minutes": 30, "price": 2000}]);
    assert_eq!(error_after(|v| v["lessons"] = dup), "lessons[1].duration_minutes: duplicates lessons[0]");
}

/// Validates `ANNA` after `edit`, which must still be valid.
fn valid_after(edit: impl FnOnce(&mut serde_json::Value)) -> TeacherProfile {
    let mut value = anna_value();
    edit(&mut value);
    TeacherProfile::from_json_str(&value.to_string()).unwrap()
}

#[test]
fn paid_prices_are_at_least_stripes_minimum_charge() {
    let err = error_after(|v| v["lessons"][0]["price"] = 49.into());
    assert_eq!(err, "lessons[0].price: must be 0 (free) or at least 50 (minor units), Stripe's minimum charge in eur");
    let err = error_after(|v| {
        v["currency"] = "huf".into();
        v["lessons"] = serde_json::json!([{"duration_minutes": 60, "price": 17_500}]);
        v["trial"]["price"] = 17_499.into();
    });
    assert_eq!(err, "trial.price: must be 0 (free) or at least 17500 (minor units), Stripe's minimum charge in huf");
    for (currency, minimum) in [("eur", 50), ("huf", 17_500), ("czk", 1_500)] {
        let p = valid_after(|v| {
            v["currency"] = currency.into();
            v["lessons"] = serde_json::json!([{"duration_minutes": 60, "price": minimum}]);
            v["trial"]["price"] = minimum.into();
        });
        assert_eq!((p.lessons()[0].price.amount, p.trial().unwrap().price.amount), (minimum, minimum), "{currency}");
    }
}

#[test]
fn free_lessons_are_allowed() {
    let p = valid_after(|v| v["lessons"][1]["price"] = 0.into());
    assert_eq!(p.lessons()[1].price.amount, 0);
    assert_eq!(p.trial().unwrap().price.amount, 0);
}

#[test]
fn a_full_cart_stays_within_stripes_maximum_charge() {
    // 10 lessons of 9 999 999 stay within Stripe's 99 999 999.
    assert_eq!(valid_after(|v| v["lessons"][0]["price"] = 9_999_999.into()).lessons()[0].price.amount, 9_999_999);
    let err = error_after(|v| v["lessons"][0]["price"] = 10_000_000.into());
    assert_eq!(err, "lessons[0].price: must be at most 9999999 (minor units), so a cart of 10 lessons stays within Stripe's maximum charge");
}

#[test]
fn currencies_without_a_known_minimum_charge_are_not_supported() {
    let err = error_after(|v| v["currency"] = "xyz".into());
    assert_eq!(
        err,
        "currency: xyz is not supported; supported are usd, eur, gbp, aud, cad, chf, nzd, sgd, jpy, hkd, dkk, nok, sek, pln, czk, huf, mxn, brl, inr, ron, bgn, aed, thb, myr"
    );
}

#[test]
fn rejects_unknown_fields() {
    let err = error_after(|v| v["timezon"] = "Europe/Berlin".into());
    assert!(err.starts_with("$: unknown field `timezon`"), "{err}");
    let err = error_after(|v| v["lessons"][0]["minutes"] = 30.into());
    assert!(err.starts_with("$: unknown field `minutes`"), "{err}");
}

#[test]
fn accepts_minimal_profile_and_normalizes() {
    let json = r#"{"id": "t_x", "name": "X", "timezone": "utc", "currency": "USD",
        "lessons": [{"duration_minutes": 480, "price": 9999999}],
        "buffer_minutes": 0, "min_notice_minutes": 0, "horizon_days": 365, "slot_step_minutes": 5}"#;
    let p = TeacherProfile::from_json_str(json).unwrap();
    assert_eq!(p.time_zone_name(), "UTC");
    assert_eq!(p.currency().as_str(), "usd");
    assert!(p.trial().is_none() && p.offer(LessonChoice::Trial).is_none());
    let doc = p.to_doc();
    assert!(doc.weekly.is_empty() && doc.overrides.is_empty() && doc.trial.is_none());
    assert!(!serde_json::to_string(&doc).unwrap().contains("trial"));
}

#[test]
fn lesson_choice_parses_query_values() {
    assert_eq!(LessonChoice::parse("trial").unwrap(), LessonChoice::Trial);
    assert_eq!(LessonChoice::parse("60").unwrap(), LessonChoice::Minutes(60));
    for bad in ["", "0", "-30", "+30", "30m", "Trial", "99999999999", " 30"] {
        assert!(LessonChoice::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(LessonChoice::Minutes(45).to_string(), "45");
    assert_eq!("trial".parse::<LessonChoice>().unwrap().to_string(), "trial");
}

#[test]
fn packages_are_checked_against_the_lessons_and_stripes_limits_and_round_trip() {
    let mut value = anna_value();
    value["packages"] = serde_json::json!([{"lessons": 10, "duration_minutes": 60, "discount_percent": 10}, {"lessons": 5, "duration_minutes": 30}]);
    value["package_valid_days"] = serde_json::json!(90);
    let p = TeacherProfile::from_json_str(&value.to_string()).unwrap();
    assert_eq!(p.package(10, 60).map(|o| o.price().amount), Some(27_000));
    assert_eq!(p.package(5, 30).map(|o| (o.discount_percent, o.price().amount)), Some((0, 9000)));
    assert_eq!(p.package(5, 60), None);
    assert_eq!(p.package_valid_days(), 90);
    assert_eq!(TeacherProfile::try_from(p.to_doc()).unwrap(), p, "round trip");
    assert_eq!(TeacherProfile::from_json_str(ANNA).unwrap().package_valid_days(), 180, "the default");
    assert!(TeacherProfile::from_json_str(ANNA).unwrap().to_doc().package_valid_days.is_none(), "the default is not written out");

    let with = |packages: serde_json::Value| error_after(|v| v["packages"] = packages);
    assert!(with(serde_json::json!([{"lessons": 10, "duration_minutes": 45}])).starts_with("packages[0].duration_minutes: "), "a duration the teacher does not offer");
    assert!(with(serde_json::json!([{"lessons": 1, "duration_minutes": 60}])).starts_with("packages[0].lessons: must be between 2 and 50"));
    assert!(with(serde_json::json!([{"lessons": 51, "duration_minutes": 60}])).starts_with("packages[0].lessons: "));
    assert!(with(serde_json::json!([{"lessons": 10, "duration_minutes": 60, "discount_percent": 51}])).starts_with("packages[0].discount_percent: must be between 0 and 50"));
    assert!(with(serde_json::json!([{"lessons": 10, "duration_minutes": 60}, {"lessons": 10, "duration_minutes": 60, "discount_percent": 5}])).starts_with("packages[1].lessons: "), "one package per size");
    assert!(with(serde_json::json!([{"lessons": 10, "duration_minutes": 60, "price": 1}])).contains("price"), "no price is written: it is derived");
    // The free trial's duration is a lesson too (30), but a free lesson has no package.
    let free = error_after(|v| {
        v["lessons"] = serde_json::json!([{"duration_minutes": 30, "price": 0}]);
        v["packages"] = serde_json::json!([{"lessons": 5, "duration_minutes": 30}]);
    });
    assert!(free.starts_with("packages[0].discount_percent: leaves a price of 0"), "{free}");
    // Eleven packages are too many; ten are not, and the same count of another duration is another package.
    let many = |n: u32| serde_json::Value::Array((2..2 + n).map(|lessons| serde_json::json!({"lessons": lessons, "duration_minutes": 60})).collect());
    assert!(with(many(11)).starts_with("packages: at most 10"));
    let mut ten = anna_value();
    ten["packages"] = many(9);
    ten["packages"].as_array_mut().unwrap().push(serde_json::json!({"lessons": 2, "duration_minutes": 30}));
    assert_eq!(TeacherProfile::from_json_str(&ten.to_string()).unwrap().packages().len(), 10);
    // Stripe's maximum charge (99,999,999) is the limit, reached exactly by 11 lessons of 9,090,909.
    let priced = |price: u64, lessons: u32| {
        let mut v = anna_value();
        v["lessons"] = serde_json::json!([{"duration_minutes": 60, "price": price}]);
        v["trial"] = serde_json::Value::Null;
        v["packages"] = serde_json::json!([{"lessons": lessons, "duration_minutes": 60}]);
        TeacherProfile::from_json_str(&v.to_string())
    };
    assert_eq!(priced(9_090_909, 11).unwrap().package(11, 60).unwrap().price().amount, crate::domain::stripe_limits::MAX_CHARGE);
    assert!(priced(9_090_909, 12).unwrap_err().to_string().starts_with("packages[0].lessons: makes a price of 109090908"));
    for days in [29, 731] {
        assert!(error_after(|v| v["package_valid_days"] = serde_json::json!(days)).starts_with("package_valid_days: must be between 30 and 730"));
    }
}
