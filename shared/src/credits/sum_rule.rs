//! The sum rules of a package, property-tested over random histories of
//! the grant's own operations (taking credits for lessons, giving them back,
//! late cancels, outcomes, the 14-day refund, expiry, a chargeback):
//!
//! - credits: bought = remaining + used + refunded + revoked + expired, and
//!   the grant's history tells the same story;
//! - money: paid = refunded + what each earning keeps (the teacher's share
//!   and the platform's) + the value of credits that earn nothing yet, and
//!   what each earning is worth (`payouts::worth`) is what the lessons and
//!   the expiry say it should be.

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};
    use proptest::prelude::*;
    use serde_json::json;

    use crate::domain::profile::split;
    use crate::domain::{BookingId, CheckoutId, Currency, TeacherId};
    use crate::payouts::worth::worth;
    use crate::payouts::{Percent, teacher_share};
    use crate::store::{Basis, Checkout, Credit, Earning, Grant, GrantStage, Ledger, Obligation, Payment, RefundReason};

    const AT: &str = "2026-12-01T10:00:00Z";

    #[derive(Debug, Clone)]
    enum Op {
        Take(usize),
        GiveBack(usize),
        LateCancel(usize, u32),
        Complete(usize),
        TeacherNoShow(usize),
        Refund,
        Expire,
        Revoke,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..12usize).prop_map(Op::Take),
            2 => (0..12usize).prop_map(Op::GiveBack),
            1 => (0..12usize, 0..=100u32).prop_map(|(k, p)| Op::LateCancel(k, p)),
            2 => (0..12usize).prop_map(Op::Complete),
            1 => (0..12usize).prop_map(Op::TeacherNoShow),
            1 => Just(Op::Refund),
            1 => Just(Op::Expire),
            1 => Just(Op::Revoke),
        ]
    }

    /// A lesson booked with one of the grant's credits, as far as money goes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Lesson {
        Booked,
        Completed,
        LateCancelled { refund: u64 },
        Over,
    }

    struct Model {
        grant: Grant,
        ledger: Ledger,
        checkout: Checkout,
        lessons: Vec<Option<Lesson>>,
    }

    fn at() -> Timestamp {
        AT.parse().unwrap()
    }

    fn booking(k: usize) -> BookingId {
        BookingId::parse(&format!("bk_c{k}_0")).unwrap()
    }

    fn earning(key: BookingId, basis: Basis) -> Earning {
        serde_json::from_value(json!({"booking_id": key, "checkout_id": "co_p", "teacher_id": "t_one", "payment_intent": "pi_p", "currency": "eur", "lesson_end": AT, "basis": basis, "created_at": AT})).unwrap()
    }

    impl Model {
        fn new(price: u64, credits: u32) -> Self {
            let unit_values = split(price, credits);
            let grant = Grant {
                grant_id: "gr_p".into(),
                student_id: "s".into(),
                teacher_id: TeacherId::parse("t_one").unwrap(),
                teacher_name: "One".into(),
                duration_minutes: 60,
                currency: Currency::parse("eur").unwrap(),
                price,
                discount_percent: 0,
                credits: vec![Credit::Free; unit_values.len()],
                policy: crate::domain::CancellationPolicy::default(),
                unit_values,
                expires_at: at() + SignedDuration::from_hours(24 * 180),
                payment_intent: "pi_p".into(),
                checkout_id: CheckoutId::parse("co_p").unwrap(),
                created_at: at(),
                version: 1,
                stage: Some(GrantStage::Remind30),
                history: Vec::new(),
            };
            let package = json!({"teacher_id": "t_one", "teacher_name": "One", "lessons": credits, "duration_minutes": 60, "discount_percent": 0, "price": price, "unit_values": grant.unit_values, "valid_days": 180, "policy": crate::domain::CancellationPolicy::default(), "title": "p"});
            let checkout: Checkout = serde_json::from_value(json!({"checkout_id": "co_p", "student_id": "s", "status": "confirmed", "currency": "eur", "amount_total": price, "lessons": [], "created_at": AT, "expires_at": AT, "hold_until": AT, "package": package, "payment_intent": "pi_p"})).unwrap();
            let ledger = Ledger { payment: Some(Payment { payment_intent: "pi_p".into(), checkout_id: Some(checkout.checkout_id.clone()), amount: price, currency: None, charge_amount_refunded: 0, cancellations: 0 }), ..Ledger::default() };
            Self { grant, ledger, checkout, lessons: vec![None; 12] }
        }

        /// What the free credits are worth, counted here rather than by the grant.
        fn free_value(&self) -> u64 {
            self.grant.credits.iter().zip(&self.grant.unit_values).filter(|(c, _)| **c == Credit::Free).map(|(_, v)| v).sum()
        }

        fn open(&self) -> bool {
            self.grant.stage.is_some()
        }

        fn apply(&mut self, op: &Op) {
            let now = at();
            match *op {
                Op::Take(k) if self.lessons[k].is_none() && self.open() => {
                    if self.grant.take(&booking(k), now).is_ok() {
                        self.lessons[k] = Some(Lesson::Booked);
                    }
                }
                Op::GiveBack(k) if self.lessons[k] == Some(Lesson::Booked) && self.open() => {
                    self.grant.give_back(&booking(k), now).unwrap();
                    self.lessons[k] = None;
                }
                Op::LateCancel(k, percent) if self.lessons[k] == Some(Lesson::Booked) => {
                    let (_, value) = self.grant.credit_of(&booking(k)).unwrap();
                    let refund = value * u64::from(percent) / 100;
                    if refund > 0 {
                        let mut o = Obligation::for_lesson(&self.checkout.checkout_id, 0, "pi_p", refund, self.grant.currency, RefundReason::Cancelled, now);
                        (o.obligation_id, o.lesson_index, o.booking_id) = (format!("cancel-{}", booking(k)), None, Some(booking(k)));
                        self.ledger.obligations.push(o);
                    }
                    self.ledger.earnings.push(earning(booking(k), Basis::LateCancel));
                    self.lessons[k] = Some(Lesson::LateCancelled { refund });
                }
                Op::Complete(k) if self.lessons[k] == Some(Lesson::Booked) => {
                    self.ledger.earnings.push(earning(booking(k), Basis::Completed));
                    self.lessons[k] = Some(Lesson::Completed);
                }
                Op::TeacherNoShow(k) if self.lessons[k] == Some(Lesson::Booked) && self.open() => {
                    self.grant.give_back(&booking(k), now).unwrap();
                    self.ledger.earnings.push(earning(booking(k), Basis::TeacherNoShow));
                    self.lessons[k] = Some(Lesson::Over);
                }
                Op::Refund if self.open() && self.grant.remaining() > 0 => {
                    let value = self.free_value();
                    assert_eq!(self.grant.refund_free("credits-gr_p", now), value);
                    assert_eq!((self.grant.remaining(), self.grant.stage), (0, None), "refunded: nothing left, nothing due");
                    let mut o = Obligation::for_lesson(&self.checkout.checkout_id, 0, "pi_p", value, self.grant.currency, RefundReason::CreditsUnused, now);
                    (o.obligation_id, o.lesson_index) = ("credits-gr_p".into(), None);
                    self.ledger.obligations.push(o);
                }
                Op::Expire if self.open() => {
                    let value = self.free_value();
                    assert_eq!(self.grant.expire(now), value);
                    assert_eq!((self.grant.remaining(), self.grant.stage), (0, None), "expired: nothing left, nothing due");
                    if value > 0 {
                        self.ledger.earnings.push(earning(self.grant.expiry_booking_id().unwrap(), Basis::CreditsExpired));
                    }
                }
                Op::Revoke if self.open() => {
                    self.grant.revoke(now);
                    assert_eq!((self.grant.remaining(), self.grant.stage), (0, None), "revoked: nothing left, nothing due");
                }
                _ => {}
            }
            self.ledger.grant = Some(self.grant.clone());
        }

        fn check_credits(&self) {
            let g = &self.grant;
            let count = |which: fn(&Credit) -> bool| g.credits.iter().filter(|c| which(c)).count() as u32;
            let used = count(|c| matches!(c, Credit::Used { .. }));
            let (refunded, revoked, expired) = (count(|c| matches!(c, Credit::Refunded { .. })), count(|c| *c == Credit::Revoked), count(|c| *c == Credit::Expired));
            assert_eq!(g.credits.len() as u32, g.remaining() + used + refunded + revoked + expired);
            let told = |what: &str| g.history.iter().filter(|e| e.what == what).map(|e| e.credits).sum::<u32>();
            assert_eq!(told("used") - told("returned"), used, "{:?}", g.history);
            assert_eq!((told("refunded"), told("revoked"), told("expired")), (refunded, revoked, expired), "{:?}", g.history);
            assert!(g.history.iter().all(|e| e.credits > 0), "every line of the history moved a credit: {:?}", g.history);
        }

        fn check_money(&self) {
            let c = Percent::DEFAULT_COMMISSION;
            let worth_of = |key: &BookingId| worth(&self.ledger, &self.checkout, key, c).unwrap();
            let value_of = |k: usize| self.grant.credit_of(&booking(k)).map(|(_, v)| v);
            let mut accounted: u64 = self.ledger.obligations.iter().map(|o| o.amount).sum();
            for (k, lesson) in self.lessons.iter().enumerate() {
                let expected = match (lesson, value_of(k)) {
                    (Some(Lesson::Completed), Some(v)) => Some((v, teacher_share(v, c))),
                    (Some(Lesson::LateCancelled { refund }), Some(v)) => Some((v - refund, teacher_share(v - refund, c))),
                    (Some(Lesson::Over), _) => Some((0, 0)),
                    _ => None,
                };
                if let Some((kept, earned)) = expected {
                    let w = worth_of(&booking(k));
                    assert_eq!((w.kept, w.earned), (kept, earned), "lesson {k}: {lesson:?}");
                    assert!(w.earned <= w.kept, "the platform's share is never negative");
                    accounted += w.kept;
                }
            }
            let expired: Vec<u64> = self.grant.credits.iter().zip(&self.grant.unit_values).filter(|(c, _)| **c == Credit::Expired).map(|(_, v)| *v).collect();
            if !expired.is_empty() {
                let w = worth_of(&self.grant.expiry_booking_id().unwrap());
                assert_eq!((w.kept, w.earned), (expired.iter().sum(), expired.iter().map(|v| teacher_share(*v, c)).sum()));
                accounted += w.kept;
            }
            // Credits that earn nothing (yet): free, booked and undecided, revoked.
            let idle: u64 = self
                .grant
                .credits
                .iter()
                .zip(&self.grant.unit_values)
                .filter(|(credit, _)| match credit {
                    Credit::Free | Credit::Revoked => true,
                    Credit::Used { booking_id } => self.lessons.iter().enumerate().any(|(k, l)| &booking(k) == booking_id && *l == Some(Lesson::Booked)),
                    _ => false,
                })
                .map(|(_, v)| v)
                .sum();
            assert_eq!(accounted + idle, self.grant.price, "paid = refunded + kept by earnings + idle credits");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        #[test]
        fn credits_and_money_always_add_up(price in 200u64..200_000, credits in 2u32..=12, ops in prop::collection::vec(op(), 0..40)) {
            let mut model = Model::new(price, credits);
            for op in &ops {
                model.apply(op);
                model.check_credits();
                model.check_money();
            }
        }
    }
}
