//! Notices: the outbox written with each change on dynoxide, notify
//! (signing as itself) sending through the SES emulator, and what arrived
//! parsed by independent MIME and iCalendar parsers.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use shared::domain::BookingId;
use shared::notify::Worked;
use shared::store::{NOTICES, Notice, Recipient, WorkStatus};
use tests::mail::{MAIL_DOMAIN, Received, received, send_attempts, ses_faults, ses_healthy, start_ses};
use tests::{CheckoutEnv, in_days, lesson, token_for};

use super::changes::{cancel, reschedule};

/// A teacher in Tokyo who works all day.
async fn tokyo_teacher(env: &CheckoutEnv) {
    let mut doc = tests::always_open_teacher("t_tokyo", "eur", 0).to_doc();
    doc.timezone = "Asia/Tokyo".into();
    doc.email = Some("sensei@teachers.test".into());
    env.db.store.put_profile(&shared::domain::TeacherProfile::try_from(doc).unwrap()).await.unwrap();
}

/// One lesson with the Tokyo teacher in three days at 14:00 UTC, paid by
/// `student` from New York.
async fn booked_from_new_york(env: &CheckoutEnv, student: &str) -> (shared::domain::CheckoutId, BookingId) {
    tokyo_teacher(env).await;
    let body = json!({"lessons": [lesson("t_tokyo", &in_days(3, "14:00"), 60)], "timezone": "America/New_York"});
    let (checkout, bookings) = env.paid_checkout(student, &body).await;
    (checkout, bookings[0].clone())
}

fn to<'a>(mails: &'a [Received], address: &str) -> Vec<&'a Received> {
    mails.iter().filter(|m| m.to == address).collect()
}

#[tokio::test]
async fn a_confirmation_reaches_both_parties_once_in_their_own_zones_with_an_invite() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (_, booking) = booked_from_new_york(&env, "ana").await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();

    let report = notifier.sweep(now).await;
    assert_eq!((report.sent, report.errors.len()), (2, 0), "{report:?}");
    let mails = received(&ses).await;
    let (student, teacher) = (to(&mails, "ana@example.com"), to(&mails, "sensei@teachers.test"));
    assert_eq!((student.len(), teacher.len(), mails.len()), (1, 1, 2));

    // 14:00 UTC is 09:00 in New York in winter, 10:00 in its summer time,
    // and 23:00 in Tokyo (no summer time), each zone named.
    let summer = in_days(3, "14:00").parse::<Timestamp>().unwrap().in_tz("America/New_York").unwrap().offset().seconds() == -4 * 3600;
    let new_york = if summer { "10:00–11:00 (America/New_York)" } else { "09:00–10:00 (America/New_York)" };
    assert_eq!(student[0].subject, "Your lesson is booked");
    assert!(student[0].text.contains(new_york) && student[0].text.contains("with Teacher t_tokyo"), "{}", student[0].text);
    assert_eq!(teacher[0].subject, "New booking: 1 lesson");
    assert!(teacher[0].text.contains("23:00–00:00 (Asia/Tokyo)") && teacher[0].text.contains("Student ana booked with you"), "{}", teacher[0].text);
    assert!(!student[0].raw.contains("sensei@teachers.test"), "a teacher's address never reaches a student");

    let start = in_days(3, "14:00").replace(['-', ':'], "");
    for mail in [student[0], teacher[0]] {
        let [invite] = mail.invites.as_slice() else { panic!("one invite: {:?}", mail.invites) };
        assert_eq!((invite.part_method.as_deref(), invite.method.as_deref()), (Some("REQUEST"), Some("REQUEST")));
        assert_eq!(invite.uid.as_deref(), Some(format!("{booking}@{MAIL_DOMAIN}").as_str()));
        assert_eq!((invite.sequence, invite.status.as_deref()), (Some(0), Some("CONFIRMED")));
        assert_eq!(invite.start.as_deref(), Some(start.as_str()));
        assert_eq!(invite.attendees, vec![format!("mailto:{}", mail.to)], "the reader is the one attendee");
        assert_eq!(invite.url.as_deref(), Some("http://localhost:3000/lessons"));
    }

    // Again, by the sweep or the stream: nothing more.
    assert_eq!(notifier.sweep(now + SignedDuration::from_secs(5)).await.sent, 0);
    let notices = env.db.store.notices_of(&booking.to_string()).await.unwrap();
    assert!(notices.iter().all(|n| n.status == WorkStatus::Owed && n.topic == shared::store::Topic::Reminder), "only the reminder is left: {notices:?}");
    assert_eq!(received(&ses).await.len(), 2);
}

#[tokio::test]
async fn a_reschedule_updates_the_invite_and_a_cancellation_cancels_it_with_the_refund() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (_, booking) = booked_from_new_york(&env, "ben").await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();
    notifier.sweep(now).await;

    let change = env.change_booking_at(now).await;
    let moved_to = in_days(4, "15:00");
    assert_eq!(reschedule(&change, &token_for("ben"), &booking, &moved_to).await.0, 200);
    assert_eq!(notifier.sweep(now).await.sent, 2);
    let mails = received(&ses).await;
    let moved = to(&mails, "ben@example.com");
    let moved = moved.last().unwrap();
    assert!(moved.subject.starts_with("Lesson moved: now") && moved.text.contains("It was on"), "{}: {}", moved.subject, moved.text);
    let invite = &moved.invites[0];
    assert_eq!((invite.method.as_deref(), invite.part_method.as_deref(), invite.sequence), (Some("REQUEST"), Some("REQUEST"), Some(1)));
    assert_eq!(invite.uid.as_deref(), Some(format!("{booking}@{MAIL_DOMAIN}").as_str()), "the same event, moved");
    assert_eq!(invite.start.as_deref(), Some(moved_to.replace(['-', ':'], "").as_str()));

    assert_eq!(cancel(&change, &token_for("ben"), &booking).await.0, 200);
    assert_eq!(notifier.sweep(now).await.sent, 2);
    let mails = received(&ses).await;
    let (student, teacher) = (to(&mails, "ben@example.com"), to(&mails, "sensei@teachers.test"));
    assert_eq!((student.len(), teacher.len()), (3, 3), "booked, moved, cancelled: once each");
    let cancelled = student.last().unwrap();
    assert!(cancelled.subject.starts_with("Lesson cancelled") && cancelled.text.contains("You cancelled it.") && cancelled.text.contains("EUR 30.00 is refunded"), "{}", cancelled.text);
    assert!(teacher.last().unwrap().text.contains("The student cancelled it."), "{}", teacher.last().unwrap().text);
    let invite = &cancelled.invites[0];
    assert_eq!((invite.method.as_deref(), invite.part_method.as_deref()), (Some("CANCEL"), Some("CANCEL")));
    assert_eq!((invite.status.as_deref(), invite.sequence), (Some("CANCELLED"), Some(2)), "a higher sequence than the last REQUEST");
    let reminder = env.db.store.notices_of(&booking.to_string()).await.unwrap().into_iter().find(|n| n.topic == shared::store::Topic::Reminder);
    assert_eq!(reminder, None, "a cancelled lesson's reminder goes with it");
}

#[tokio::test]
async fn a_stream_delivered_twice_and_a_sweep_racing_it_send_each_notice_once() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (checkout, _) = booked_from_new_york(&env, "cleo").await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();
    let notices = env.db.store.notices_of(&checkout.to_string()).await.unwrap();
    let records: Vec<_> = notices
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": n.key().pk}, "sk": {"S": n.key().sk}}, "SequenceNumber": format!("{i}")}}))
        .collect();
    let batch = json!({"Records": records});
    let (a, b, c) = tokio::join!(notify::handle(&notifier, &batch, now), notify::handle(&notifier, &batch, now), notifier.sweep(now));
    for answer in [a.unwrap(), b.unwrap()] {
        assert_eq!(answer["batchItemFailures"], json!([]), "nothing for the stream to retry");
    }
    assert_eq!(c.errors, Vec::<String>::new());
    assert_eq!(received(&ses).await.len(), 2, "the confirmation to each party, once");
    assert_eq!(send_attempts(&ses).await, 2);
}

#[tokio::test]
async fn a_sender_killed_after_claiming_is_replaced_when_its_lease_expires_and_sends_once() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (checkout, _) = booked_from_new_york(&env, "dan").await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();
    let key = Notice::confirmation_key(&checkout, Recipient::Student);
    // A worker claims it and dies before sending.
    assert!(env.db.store_of("notify").claim_work(&key, now, now + shared::notify::LEASE).await.unwrap().is_some());
    assert_eq!(notifier.work(&key, now + SignedDuration::from_secs(30)).await.unwrap(), Worked::NotClaimed, "its lease still holds");
    assert_eq!(to(&received(&ses).await, "dan@example.com").len(), 0);
    let later = now + shared::notify::LEASE + SignedDuration::from_secs(1);
    assert_eq!(notifier.sweep(later).await.sent, 2, "the dead worker's and the teacher's");
    assert_eq!(to(&received(&ses).await, "dan@example.com").len(), 1);
    assert_eq!(notifier.sweep(later + SignedDuration::from_mins(10)).await.sent, 0);
    let stored = env.db.store.notice(&key).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempts), (WorkStatus::Done, 2));
    assert!(stored.provider_id.is_some_and(|id| id.contains("emulator")));
}

#[tokio::test]
async fn throttling_is_retried_later_and_a_rejected_address_fails_at_once_with_attention() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (checkout, _) = booked_from_new_york(&env, "eve").await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();

    ses_faults(&ses, json!({"throttle": 100})).await;
    let report = notifier.sweep(now).await;
    assert_eq!((report.sent, report.retried), (0, 2), "{report:?}");
    assert_eq!(send_attempts(&ses).await, 8, "the SDK's four tries of each, with backoff");
    let waiting = env.db.store.notice(&Notice::confirmation_key(&checkout, Recipient::Student)).await.unwrap().unwrap();
    assert!(waiting.status == WorkStatus::Owed && waiting.error.as_deref().is_some_and(|e| e.contains("TooManyRequests")), "{waiting:?}");
    assert_eq!(notifier.sweep(now + SignedDuration::from_secs(10)).await.due, 0, "not before its backoff");

    ses_faults(&ses, json!({"reject": ["eve@example.com"]})).await;
    let report = notifier.sweep(now + SignedDuration::from_mins(2)).await;
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
    let failed = env.db.store.notice(&Notice::confirmation_key(&checkout, Recipient::Student)).await.unwrap().unwrap();
    assert_eq!(failed.status, WorkStatus::Failed);
    let attention = env.db.store.attention().await.unwrap();
    assert!(attention.iter().any(|a| a.kind == shared::store::AttentionKind::NoticeRejected), "{attention:?}");
    ses_healthy(&ses).await;
    assert_eq!(notifier.sweep(now + SignedDuration::from_hours(5)).await.sent, 0, "a rejected notice is not retried");
    assert_eq!(to(&received(&ses).await, "sensei@teachers.test").len(), 1);
}

#[tokio::test]
async fn reminders_go_a_day_and_an_hour_before_follow_a_move_and_never_follow_a_cancellation() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (_, booking) = booked_from_new_york(&env, "fay").await;
    let notifier = env.notifier(&ses);
    let now = Timestamp::now();
    notifier.sweep(now).await;
    let start: Timestamp = in_days(3, "14:00").parse().unwrap();
    let reminders = |mails: &[Received]| mails.iter().filter(|m| m.subject.starts_with("Reminder")).map(|m| (m.to.clone(), m.subject.clone())).collect::<Vec<_>>();

    assert_eq!(notifier.sweep(start - SignedDuration::from_hours(25)).await.sent, 0, "not yet");
    // Moved a day later before the first reminder: it follows the lesson.
    let change = env.change_booking_at(now).await;
    let moved: Timestamp = in_days(4, "14:00").parse().unwrap();
    assert_eq!(reschedule(&change, &token_for("fay"), &booking, &moved.to_string()).await.0, 200);
    notifier.sweep(now).await;
    assert_eq!(reminders(&received(&ses).await), vec![], "none for the old time");
    assert_eq!(notifier.sweep(start - SignedDuration::from_hours(23)).await.sent, 0, "none for the old time, even when due");

    assert_eq!(notifier.sweep(moved - SignedDuration::from_hours(24) + SignedDuration::from_secs(1)).await.sent, 1);
    let sent = reminders(&received(&ses).await);
    assert_eq!(sent.len(), 2, "both parties: {sent:?}");
    assert!(sent.iter().all(|(_, s)| s.ends_with("is tomorrow")), "{sent:?}");
    assert_eq!(notifier.sweep(moved - SignedDuration::from_hours(2)).await.sent, 0);
    assert_eq!(notifier.sweep(moved - SignedDuration::from_mins(59)).await.sent, 1);
    let sent = reminders(&received(&ses).await);
    assert_eq!(sent.iter().filter(|(_, s)| s.ends_with("in one hour")).count(), 2, "{sent:?}");
    assert_eq!(notifier.sweep(moved - SignedDuration::from_mins(1)).await.sent, 0, "each stage once");

    // A second booking, cancelled: its reminder never goes.
    let (_, other) = env.paid_booking("fay", vec![lesson("t_tokyo", &in_days(5, "10:00"), 60)]).await;
    assert_eq!(cancel(&change, &token_for("fay"), &other[0]).await.0, 200);
    let before = reminders(&received(&ses).await).len();
    let due: Timestamp = in_days(5, "10:00").parse().unwrap();
    notifier.sweep(due - SignedDuration::from_mins(30)).await;
    assert_eq!(reminders(&received(&ses).await).len(), before);
}

#[tokio::test]
async fn a_reminder_is_not_written_for_a_lesson_booked_after_its_moment() {
    let env = CheckoutEnv::start().await;
    // A 30-minute start on the teacher's 10-minute grid, at least `ahead`
    // from now, that ends on the day it starts: a lesson must fit one of the
    // teacher's daily ranges, so one over UTC midnight is moved to midnight.
    const MINUTES: u32 = 30;
    let at = |ahead: SignedDuration| {
        let second = (Timestamp::now() + ahead).as_second();
        let start = second + (600 - second.rem_euclid(600)) % 600;
        let crosses_midnight = start.rem_euclid(86_400) > 86_400 - i64::from(MINUTES) * 60;
        Timestamp::from_second(if crosses_midnight { start + 86_400 - start.rem_euclid(86_400) } else { start }).unwrap()
    };
    let (within_the_hour, within_the_day, days_ahead) = (at(SignedDuration::from_mins(20)), at(SignedDuration::from_hours(3)), at(SignedDuration::from_hours(72)));
    let lessons = [within_the_hour, within_the_day, days_ahead].map(|start| lesson("t_one", &start.to_string(), MINUTES)).to_vec();
    let (_, bookings) = env.paid_booking("gus", lessons).await;
    let mut stages = Vec::new();
    for booking in &bookings {
        let notices = env.db.store.notices_of(booking.as_str()).await.unwrap();
        stages.push(notices.iter().find(|n| n.topic == shared::store::Topic::Reminder).map(|n| n.stage));
    }
    use shared::store::Stage::{DayBefore, HourBefore};
    assert_eq!(stages, vec![None, Some(Some(HourBefore)), Some(Some(DayBefore))], "none inside the hour; the hour-before one inside the day; the day-before one otherwise");
}

/// The largest confirmation a checkout makes: ten lessons, each a trial of
/// its own teacher ending at midnight (its buffer on the next day: two
/// calendar days each), so with its
/// notices (a student's, ten teachers', the webhooks') and ten reminders the
/// transaction holds 84 items of DynamoDB's 100 (95 from the cart, whose
/// eleven items this path does not write).
#[tokio::test]
async fn a_ten_lesson_checkout_writes_its_notices_in_the_same_transaction_and_fits() {
    let env = CheckoutEnv::start().await;
    let mut lessons = Vec::new();
    for i in 0..10 {
        let id = format!("t_ten{i}");
        env.db.store.put_profile(&tests::always_open_teacher(&id, "eur", 500)).await.unwrap();
        lessons.push(serde_json::json!({"teacher_id": id, "start": in_days(2 + i, "23:30"), "duration_minutes": 30, "trial": true}));
    }
    let (checkout, bookings) = env.paid_booking("hal", lessons).await;
    assert_eq!(bookings.len(), 10);
    let confirmations = env.db.store.notices_of(&checkout.to_string()).await.unwrap();
    assert_eq!(confirmations.len(), 12, "the student, each teacher once, and the webhooks");
    for booking in &bookings {
        let notices = env.db.store.notices_of(&booking.to_string()).await.unwrap();
        assert_eq!(notices.len(), 1, "one reminder item for both parties: {notices:?}");
    }
    let due = env.db.store.due_work(NOTICES, Timestamp::now(), 100).await.unwrap();
    assert_eq!(due.len(), 12, "the confirmations only: the reminders are not due yet");
}

#[tokio::test]
async fn a_refund_stripe_refuses_is_told_to_the_operator_not_the_student() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (_, booking) = booked_from_new_york(&env, "nia").await;
    let refused = reqwest::Client::new().post(format!("{}_emulator/refund_failures", env.stripe.base_url())).json(&json!({"when": "create", "code": "charge_not_refundable"})).send().await.unwrap();
    assert!(refused.status().is_success());
    let change = env.change_booking_at(Timestamp::now()).await;
    assert_eq!(cancel(&change, &token_for("nia"), &booking).await.0, 200);
    let notifier = env.notifier(&ses);
    notifier.sweep(Timestamp::now()).await;
    let mails = received(&ses).await;
    let operator = to(&mails, tests::mail::OPERATOR);
    assert_eq!(operator.len(), 1, "{:?}", mails.iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>());
    assert_eq!(operator[0].subject, format!("Refund failed: cancel-{booking}"));
    assert!(operator[0].text.contains("EUR 30.00") && operator[0].text.contains("charge_not_refundable") && operator[0].text.contains("make attention"), "{}", operator[0].text);
    assert!(to(&mails, "nia@example.com").iter().all(|m| !m.subject.contains("Refund failed")), "never to the student");
}

/// Both parties had the day-before reminder, then the record of it was lost
/// (the worker died before finishing): the claim after the lease sends
/// nothing again and moves the reminder on, so the hour-before one still goes.
#[tokio::test]
async fn a_reminder_whose_record_was_lost_after_both_were_told_goes_on_to_its_next_stage() {
    let env = CheckoutEnv::start().await;
    let ses = start_ses().await;
    let (_, booking) = booked_from_new_york(&env, "oli").await;
    let stored = env.db.store.get_booking(&booking).await.unwrap().unwrap();
    let (reminder, due) = Notice::reminder(&stored, stored.start, Timestamp::now()).unwrap();
    let key = reminder.key();
    let store = env.db.store_of("notify");
    let at = due + SignedDuration::from_secs(1);
    let claim = store.claim_work(&key, at, at + shared::notify::LEASE).await.unwrap().unwrap();
    for reader in ["student", "teacher"] {
        assert!(store.record_told(&key, claim.lease, reader).await.unwrap());
    }
    let notifier = env.notifier(&ses);
    let later = at + shared::notify::LEASE + SignedDuration::from_secs(1);
    notifier.sweep(later).await;
    let moved_on = env.db.store.notice(&key).await.unwrap().unwrap();
    assert_eq!((moved_on.status, moved_on.stage, moved_on.told.len()), (WorkStatus::Owed, Some(shared::store::Stage::HourBefore), 0), "{moved_on:?}");
    assert!(received(&ses).await.iter().all(|m| !m.subject.starts_with("Reminder")), "the day-before one is not sent again");
    notifier.sweep(stored.start - SignedDuration::from_mins(59)).await;
    let reminders: Vec<_> = received(&ses).await.into_iter().filter(|m| m.subject.ends_with("in one hour")).collect();
    assert_eq!(reminders.len(), 2);
}
