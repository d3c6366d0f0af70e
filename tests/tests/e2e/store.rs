//! The store against a real dynoxide server: optimistic versions on calendar
//! days, transactions all-or-nothing, profiles replaced on reload.

use jiff::Timestamp;
use jiff::civil::date;
use shared::domain::{Interval, TeacherId};
use shared::store::{BusyEntry, BusyKind, DayWrite, Read, TransactError};
use tests::TestDb;

fn entry(start: &str, end: &str, reference: &str) -> BusyEntry {
    BusyEntry { start: start.parse().unwrap(), end: end.parse().unwrap(), kind: BusyKind::Booking, reference: reference.into(), expires_at: None }
}

fn anna() -> TeacherId {
    TeacherId::parse("t_anna").unwrap()
}

#[tokio::test]
async fn two_writers_of_one_read_version_cannot_both_commit() {
    let db = TestDb::start().await;
    let day = date(2026, 12, 1);
    for version in 0..2u64 {
        let read = db.store.calendar_days(&anna(), day, day, Read::Consistent).await.unwrap().remove(0);
        assert_eq!(read.version, version);
        let first = DayWrite { read: read.clone(), busy: vec![entry("2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z", &format!("a{version}"))] };
        let second = DayWrite { read, busy: vec![entry("2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z", &format!("b{version}"))] };
        db.store.transact(vec![db.store.day_write_item(&first).unwrap()]).await.unwrap();
        let lost = db.store.transact(vec![db.store.day_write_item(&second).unwrap()]).await;
        assert!(matches!(lost, Err(TransactError::Conflict { ref failed }) if failed == &[0]), "{lost:?}");
        let now = db.store.calendar_days(&anna(), day, day, Read::Consistent).await.unwrap().remove(0);
        assert_eq!(now.version, version + 1);
        assert_eq!(now.busy, first.busy, "the loser wrote nothing");
    }
}

#[tokio::test]
async fn a_transaction_with_one_stale_day_writes_no_day() {
    let db = TestDb::start().await;
    let (d1, d2) = (date(2026, 12, 1), date(2026, 12, 2));
    let days = db.store.calendar_days(&anna(), d1, d2, Read::Consistent).await.unwrap();
    assert_eq!(days.len(), 2);
    // Someone else writes day 2 first.
    let other = DayWrite { read: days[1].clone(), busy: vec![entry("2026-12-02T08:00:00Z", "2026-12-02T09:00:00Z", "other")] };
    db.store.transact(vec![db.store.day_write_item(&other).unwrap()]).await.unwrap();

    let ours: Vec<_> = days
        .iter()
        .map(|d| db.store.day_write_item(&DayWrite { read: d.clone(), busy: vec![entry(&format!("{}T12:00:00Z", d.day), &format!("{}T13:00:00Z", d.day), "ours")] }).unwrap())
        .collect();
    let result = db.store.transact(ours).await;
    assert!(matches!(result, Err(TransactError::Conflict { ref failed }) if failed == &[1]), "{result:?}");
    let after = db.store.calendar_days(&anna(), d1, d2, Read::Consistent).await.unwrap();
    assert_eq!(after[0].version, 0, "day 1 untouched");
    assert!(after[0].busy.is_empty());
    assert_eq!(after[1].busy[0].reference, "other");
}

#[tokio::test]
async fn busy_around_sees_intervals_crossing_midnight_once() {
    let db = TestDb::start().await;
    let crossing = entry("2026-12-01T23:30:00Z", "2026-12-02T00:30:00Z", "night");
    let days = db.store.calendar_days(&anna(), date(2026, 12, 1), date(2026, 12, 2), Read::Consistent).await.unwrap();
    let writes = days.into_iter().map(|d| db.store.day_write_item(&DayWrite { read: d, busy: vec![crossing.clone()] }).unwrap()).collect();
    db.store.transact(writes).await.unwrap();
    let window = Interval::new("2026-12-02T00:00:00Z".parse::<Timestamp>().unwrap(), "2026-12-03T00:00:00Z".parse().unwrap()).unwrap();
    let busy = db.store.busy_around(&anna(), window).await.unwrap();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].start, crossing.start);
}

#[tokio::test]
async fn loading_a_profile_again_replaces_it() {
    let db = TestDb::start().await;
    let profiles = db.seed_demo().await;
    let anna = profiles.iter().find(|p| p.id().as_str() == "t_anna").unwrap();
    assert_eq!(db.store.get_profile(anna.id()).await.unwrap().unwrap().to_doc(), anna.to_doc());

    let mut doc = anna.to_doc();
    doc.name = "Anna S.".into();
    doc.buffer_minutes = 0;
    let changed = shared::domain::TeacherProfile::try_from(doc.clone()).unwrap();
    db.store.put_profile(&changed).await.unwrap();
    assert_eq!(db.store.get_profile(anna.id()).await.unwrap().unwrap().to_doc(), doc);
    assert!(db.store.get_profile(&TeacherId::parse("t_nobody").unwrap()).await.unwrap().is_none());
}

#[test]
fn the_seed_loader_rejects_an_invalid_profile_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("seed-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.json");
    let mut profile: serde_json::Value = serde_json::from_str(include_str!("../../../infra/seed/teachers.json")).unwrap();
    profile[1]["timezone"] = "Europe/Berln".into();
    std::fs::write(&file, profile.to_string()).unwrap();
    let err = infra::seed::read_profiles(&file).unwrap_err().to_string();
    assert!(err.contains("[1]") && err.contains("timezone") && err.contains("Europe/Berln"), "{err}");
}

fn refund(id: &str, amount: u64, status: &str) -> shared::store::Refund {
    shared::store::Refund { refund_id: id.into(), payment_intent: "pi_ledger".into(), amount, status: status.into(), obligation_id: None, failure_reason: None }
}

/// Refund reports arrive in any order: a stale `pending` never replaces a
/// `succeeded`, a `failed` replaces anything, and nothing replaces `failed`.
#[tokio::test]
async fn a_refund_report_replaces_the_stored_one_only_when_it_says_more() {
    let db = TestDb::start().await;
    let stored = || async { db.store.ledger("pi_ledger").await.unwrap().refunds[0].status.clone() };
    db.store.record_refund(&refund("re_1", 1000, "pending")).await.unwrap();
    db.store.record_refund(&refund("re_1", 1000, "succeeded")).await.unwrap();
    assert_eq!(stored().await, "succeeded");
    db.store.record_refund(&refund("re_1", 1000, "pending")).await.unwrap();
    assert_eq!(stored().await, "succeeded", "a stale report");
    db.store.record_refund(&refund("re_1", 1000, "failed")).await.unwrap();
    assert_eq!(stored().await, "failed");
    db.store.record_refund(&refund("re_1", 1000, "succeeded")).await.unwrap();
    db.store.record_refund(&refund("re_1", 1000, "canceled")).await.unwrap();
    assert_eq!(stored().await, "failed", "nothing replaces a failure");
}

/// Each payment's ledger holds its own refunds only, and a write the table
/// did not take is an error, never taken for a lost race.
#[tokio::test]
async fn a_ledger_is_its_payments_own_and_a_failed_write_is_reported() {
    let db = TestDb::start_with(true).await;
    db.store.record_refund(&refund("re_a", 1000, "succeeded")).await.unwrap();
    let other = shared::store::Refund { payment_intent: "pi_other".into(), ..refund("re_b", 500, "succeeded") };
    db.store.record_refund(&other).await.unwrap();
    let ledger = db.store.ledger("pi_ledger").await.unwrap();
    assert_eq!(ledger.refunds.iter().map(|r| r.refund_id.as_str()).collect::<Vec<_>>(), ["re_a"]);
    assert_eq!(db.store.ledger("pi_other").await.unwrap().refunded(), 500);

    // Every attempt the SDK makes fails.
    db.proxy().fail("PutItem", tests::dynamo_proxy::Fault::Fail, 3);
    assert!(db.store.record_refund(&refund("re_c", 100, "succeeded")).await.is_err());

    // `charge.refunded` totals only rise: an older, smaller one arriving late changes nothing.
    db.store.record_charge_refunded("pi_ledger", 3000).await.unwrap();
    db.store.record_charge_refunded("pi_ledger", 1000).await.expect("a late, smaller total is no error");
    let payment = db.store.ledger("pi_ledger").await.unwrap().payment.unwrap();
    assert_eq!(payment.charge_amount_refunded, 3000);
    db.proxy().fail("UpdateItem", tests::dynamo_proxy::Fault::Fail, 3);
    assert!(db.store.record_charge_refunded("pi_ledger", 4000).await.is_err());
}

/// Processed events are kept 30 days (Stripe redelivers for three), then
/// DynamoDB's TTL removes them.
#[tokio::test]
async fn a_processed_event_is_kept_for_thirty_days() {
    let db = TestDb::start().await;
    let now: jiff::Timestamp = "2026-11-30T10:00:00Z".parse().unwrap();
    db.store.mark_event("evt_ttl", "checkout.session.completed", now).await.unwrap();
    let item = db
        .store
        .client()
        .get_item()
        .table_name(db.store.table())
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("STRIPE_EVENT#evt_ttl".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("EVENT".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, (now + jiff::SignedDuration::from_hours(30 * 24)).as_second());
    assert!(db.store.event_seen("evt_ttl").await.unwrap());
}

/// One attention record per thing: restating one keeps one, two things
/// make two, and resolving one leaves the other.
#[tokio::test]
async fn attention_records_are_one_per_kind_and_subject() {
    use shared::store::{Attention, AttentionKind};
    let db = TestDb::start().await;
    let record = |kind, subject: &str| Attention { kind, subject: subject.into(), reason: "why".into(), checkout_id: None, payment_intent: None, code: None, due_by: None, created_at: jiff::Timestamp::now() };
    let refused = record(AttentionKind::RefundRefused, "refund-co_1-0");
    for attention in [&refused, &refused, &record(AttentionKind::RefundFailed, "refund-co_1-0"), &record(AttentionKind::RefundRefused, "refund-co_2-0")] {
        db.store.transact(vec![db.store.attention_item(attention).unwrap()]).await.unwrap();
    }
    let mut keys: Vec<String> = db.store.attention().await.unwrap().iter().map(Attention::key).collect();
    keys.sort();
    assert_eq!(keys, ["refund_failed#refund-co_1-0", "refund_refused#refund-co_1-0", "refund_refused#refund-co_2-0"]);
    assert!(db.store.resolve_attention(&refused.key()).await.unwrap());
    assert_eq!(db.store.attention().await.unwrap().len(), 2);
}
