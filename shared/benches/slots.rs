//! The get-slots hot path at its largest request: a 62-day window of a busy
//! teacher. Target: under 100 µs per call.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use shared::availability::{Busy, is_offered, slots};
use shared::domain::{Interval, TeacherProfile};

const PROFILE: &str = r#"{"id": "t_bench", "name": "Bench", "timezone": "Europe/Berlin",
  "weekly": {
    "mon": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]],
    "tue": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]],
    "wed": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]],
    "thu": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]],
    "fri": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]],
    "sat": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]],
    "sun": [["08:00", "12:00"], ["13:00", "17:00"], ["18:00", "21:00"]]},
  "currency": "eur",
  "lessons": [{"duration_minutes": 60, "price": 3000}],
  "buffer_minutes": 10, "min_notice_minutes": 720, "horizon_days": 365, "slot_step_minutes": 15}"#;

/// 300 bookings and holds spread over the window, deterministic so runs compare.
fn busy(window: Interval, now: Timestamp) -> Vec<Busy> {
    let span = window.end().as_second() - window.start().as_second();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..300)
        .map(|i| {
            let offset = (next() % span.unsigned_abs()) as i64 / 900 * 900;
            let start = window.start() + SignedDuration::from_secs(offset);
            let end = start + SignedDuration::from_mins(30 + (next() % 4) as i64 * 15);
            // Every third one is a hold, half of those already expired.
            let expires_at = (i % 3 == 0).then(|| now + SignedDuration::from_mins(if i % 2 == 0 { -5 } else { 10 }));
            Busy { start, end, expires_at }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let profile = TeacherProfile::from_json_str(PROFILE).unwrap();
    // Crosses the end of summer time on 2026-10-25.
    let window = Interval::new("2026-10-01T00:00:00Z".parse().unwrap(), "2026-12-02T00:00:00Z".parse().unwrap()).unwrap();
    let now: Timestamp = "2026-09-30T08:00:00Z".parse().unwrap();
    let busy = busy(window, now);
    let offered = slots(&profile, 60, window, &busy, now);
    assert!(offered.len() > 1000, "too few slots to be representative: {}", offered.len());

    c.bench_function("slots/62 days, 3 ranges a day, 300 busy, step 15", |b| {
        b.iter(|| slots(black_box(&profile), 60, black_box(window), black_box(&busy), black_box(now)))
    });
    let start = offered[offered.len() / 2].start();
    c.bench_function("is_offered/300 busy", |b| {
        b.iter(|| is_offered(black_box(&profile), 60, black_box(start), black_box(&busy), black_box(now)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
