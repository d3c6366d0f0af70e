//! What each lesson of one payment earns its teacher, derived from the
//! payment's ledger whenever it is needed, never accumulated: a refund,
//! a dispute or an overruled outcome recorded at any time changes the next
//! answer, and asking twice gives the same one. Pure, so the sum rule is
//! property-tested here over every order of events.

pub use crate::domain::Percent;

/// The teacher's part of `kept` minor units: the commission is rounded
/// down, so a fraction of a minor unit always goes to the teacher. The
/// same rule serves currencies without minor units (their unit is whole).
pub fn teacher_share(kept: u64, commission: Percent) -> u64 {
    let commission_units = u128::from(kept) * u128::from(commission.value()) / 100;
    kept - u64::try_from(commission_units).unwrap_or(kept)
}

/// One lesson of a payment, as its ledger and outcome say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lesson {
    pub price: u64,
    /// Money going back that names this lesson (its cancellation's or
    /// no-show's refund obligation, or a late payment's refund of it).
    pub refunds: u64,
    /// The commission, when its outcome earns (completed, student no-show,
    /// a late cancellation); `None` when it earns nothing.
    pub earns: Option<Percent>,
}

/// The payment as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Payment {
    /// Refunded, or owed back, in total (dashboard refunds included).
    pub going_back: u64,
    /// Taken by chargebacks lost for good.
    pub lost_to_disputes: u64,
    /// A chargeback is open: nothing more is paid out until it closes.
    pub dispute_open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entitlement {
    /// What the platform kept of the lesson's price.
    pub kept: u64,
    /// The teacher's share of it, when the lesson earns.
    pub earned: u64,
    /// What may be transferred now (nothing while a chargeback is open).
    pub transferable: u64,
}

/// Each lesson's entitlement, in the order given. Money going back that
/// names no lesson (a dashboard refund, a lost chargeback) is spread over
/// the lessons in proportion to what each still kept, the units left over
/// by rounding going to the earliest, so the kept amounts always add up to
/// exactly what the platform still holds.
pub fn entitlements(payment: &Payment, lessons: &[Lesson]) -> Vec<Entitlement> {
    let net: Vec<u64> = lessons.iter().map(|l| l.price - l.refunds.min(l.price)).collect();
    let named: u64 = lessons.iter().map(|l| l.refunds.min(l.price)).sum();
    let unnamed = payment.going_back.saturating_add(payment.lost_to_disputes).saturating_sub(named);
    let spread = spread(unnamed, &net);
    lessons
        .iter()
        .zip(net.iter().zip(spread))
        .map(|(lesson, (net, taken))| {
            let kept = net - taken;
            let earned = lesson.earns.map_or(0, |c| teacher_share(kept, c));
            Entitlement { kept, earned, transferable: if payment.dispute_open { 0 } else { earned } }
        })
        .collect()
}

fn spread(amount: u64, over: &[u64]) -> Vec<u64> {
    let total: u64 = over.iter().sum();
    if amount >= total {
        return over.to_vec();
    }
    let mut parts: Vec<u64> = over.iter().map(|&n| u64::try_from(u128::from(amount) * u128::from(n) / u128::from(total)).unwrap_or(n)).collect();
    let mut left = amount - parts.iter().sum::<u64>();
    for (part, &cap) in parts.iter_mut().zip(over) {
        let more = left.min(cap - *part);
        *part += more;
        left -= more;
    }
    parts
}

/// What to reverse of a transfer now: what went out, less what was
/// reversed, is being reversed or was refused (a loss already recorded),
/// above what the lesson still earns. An open chargeback takes nothing
/// from what a lesson earns (only a lost one does), so it reverses nothing
/// until it is lost; a refund before it is reversed as any other.
pub fn to_reverse(earned: u64, transferred: u64, reversals: u64) -> u64 {
    transferred.saturating_sub(reversals).saturating_sub(earned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pct(v: u8) -> Percent {
        Percent::new(v).unwrap()
    }

    #[test]
    fn the_commission_is_rounded_in_the_teachers_favour() {
        assert_eq!(teacher_share(3000, pct(15)), 2550);
        // 15 % of 999 is 149.85: the platform takes 149.
        assert_eq!(teacher_share(999, pct(15)), 850);
        // Yen have no minor unit: 15 % of 1001 yen is 150.15, the teacher gets 851.
        assert_eq!(teacher_share(1001, pct(15)), 851);
        assert_eq!(teacher_share(1, pct(99)), 1);
        assert_eq!(teacher_share(500, pct(0)), 500);
        assert_eq!(teacher_share(500, pct(100)), 0);
        assert_eq!(teacher_share(u64::MAX, pct(100)), 0);
        assert_eq!(teacher_share(u64::MAX, pct(0)), u64::MAX);
        assert!(Percent::new(101).is_none());
    }

    #[test]
    fn a_named_refund_reduces_only_its_lesson() {
        let lessons = [Lesson { price: 3000, refunds: 1500, earns: Some(pct(15)) }, Lesson { price: 3000, refunds: 0, earns: Some(pct(15)) }];
        let e = entitlements(&Payment { going_back: 1500, ..Payment::default() }, &lessons);
        assert_eq!(e[0], Entitlement { kept: 1500, earned: 1275, transferable: 1275 });
        assert_eq!(e[1], Entitlement { kept: 3000, earned: 2550, transferable: 2550 });
    }

    #[test]
    fn an_unnamed_refund_is_spread_by_what_each_lesson_kept() {
        let lessons = [Lesson { price: 2000, refunds: 0, earns: Some(pct(10)) }, Lesson { price: 1000, refunds: 0, earns: None }, Lesson { price: 1000, refunds: 1000, earns: None }];
        // 1001 back beyond the named 1000: 667.33 and 333.67 of it, the
        // unit left by rounding down taken from the first.
        let e = entitlements(&Payment { going_back: 2001, ..Payment::default() }, &lessons);
        assert_eq!(e.iter().map(|e| e.kept).collect::<Vec<_>>(), [1332, 667, 0]);
        // 10 % of 1332 is 133.2: the platform takes 133.
        assert_eq!(e[0].earned, 1199);
        assert_eq!(e[1].earned, 0);
    }

    #[test]
    fn what_rounding_leaves_over_never_takes_a_lesson_past_what_it_kept() {
        // 4 over [3, 1, 1]: 2.4, 0.8, 0.8 rounded down is 2, 0, 0; the two
        // units left go to the earliest lessons with room, the first taking only one.
        assert_eq!(spread(4, &[3, 1, 1]), [3, 1, 0]);
        assert_eq!(spread(5, &[3, 1, 1]), [3, 1, 1]);
        assert_eq!(spread(0, &[3, 1, 1]), [0, 0, 0]);
    }

    #[test]
    fn a_chargeback_holds_while_open_and_takes_all_once_lost() {
        let lessons = [Lesson { price: 3000, refunds: 0, earns: Some(pct(15)) }];
        let open = entitlements(&Payment { dispute_open: true, ..Payment::default() }, &lessons);
        assert_eq!(open[0], Entitlement { kept: 3000, earned: 2550, transferable: 0 });
        let lost = entitlements(&Payment { lost_to_disputes: 3000, ..Payment::default() }, &lessons);
        assert_eq!(lost[0], Entitlement::default());
        assert_eq!(to_reverse(open[0].earned, 2550, 0), 0, "an open chargeback reverses nothing");
        assert_eq!(to_reverse(lost[0].earned, 2550, 0), 2550);
        assert_eq!(to_reverse(1275, 2550, 0), 1275);
        assert_eq!(to_reverse(1275, 2550, 1275), 0);
    }

    fn lessons() -> impl Strategy<Value = Vec<Lesson>> {
        prop::collection::vec((1u64..100_000, 0u64..120_000, prop::option::of(0u8..=100)), 1..10)
            .prop_map(|v| v.into_iter().map(|(price, refunds, earns)| Lesson { price, refunds: refunds.min(price), earns: earns.map(pct) }).collect())
    }

    proptest! {
        #[test]
        fn kept_adds_up_to_what_the_platform_still_holds(lessons in lessons(), extra in 0u64..400_000, lost in 0u64..100_000) {
            let named: u64 = lessons.iter().map(|l| l.refunds).sum();
            let paid: u64 = lessons.iter().map(|l| l.price).sum();
            let payment = Payment { going_back: named + extra, lost_to_disputes: lost, dispute_open: false };
            let e = entitlements(&payment, &lessons);
            let kept: u64 = e.iter().map(|e| e.kept).sum();
            prop_assert_eq!(kept, paid.saturating_sub(named + extra + lost));
            for (e, l) in e.iter().zip(&lessons) {
                prop_assert!(e.kept <= l.price - l.refunds);
                prop_assert!(e.earned <= e.kept);
                prop_assert_eq!(e.transferable, e.earned);
                if l.earns.is_none() { prop_assert_eq!(e.earned, 0); }
            }
        }
    }
}
