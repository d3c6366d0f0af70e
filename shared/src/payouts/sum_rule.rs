//! The sum rule, over random histories of one payment: outcomes, late
//! cancellations, refunds (named and from the dashboard), chargebacks
//! opened, lost and won, sweeps (transfers), reviews (reversals) and
//! reversals that Stripe makes or refuses, in any order. The model does
//! what the sweep and the review do with `share`'s answers; the rule:
//! paid = refunded + transferred − reversed + the platform's share, with
//! nothing negative except by a recorded loss, nothing transferred twice,
//! nothing reversed beyond its transfer, and once everything settles each
//! teacher holds exactly what their lesson earned (or more, by a loss).

use proptest::prelude::*;

use super::share::{Lesson, Payment, Percent, entitlements, to_reverse};

#[derive(Debug, Clone)]
enum Step {
    /// An outcome that earns (completed, a student's no-show).
    Earns(usize),
    /// The teacher did not come: refunded what is left of the lesson.
    TeacherNoShow(usize),
    /// The student cancelled late: `percent` of the price goes back.
    LateCancel(usize, u8),
    /// A refund from the dashboard naming no lesson, as a share of what is left.
    DashboardRefund(u8),
    DisputeOpened,
    DisputeLost,
    DisputeWon,
    Sweep,
    Review,
    /// The oldest pending reversal: made, or refused (a loss).
    ReversalAnswered(bool),
}

fn step(lessons: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..lessons).prop_map(Step::Earns),
        (0..lessons).prop_map(Step::TeacherNoShow),
        (0..lessons, 0u8..=100).prop_map(|(i, p)| Step::LateCancel(i, p)),
        (1u8..=100).prop_map(Step::DashboardRefund),
        Just(Step::DisputeOpened),
        Just(Step::DisputeLost),
        Just(Step::DisputeWon),
        Just(Step::Sweep),
        Just(Step::Sweep),
        Just(Step::Review),
        Just(Step::Review),
        any::<bool>().prop_map(Step::ReversalAnswered),
    ]
}

#[derive(Debug, Default, Clone)]
struct Lessonish {
    price: u64,
    named_refunds: u64,
    earns: bool,
    decided: bool,
    transferred: Option<u64>,
    transfers: u32,
    reversed: u64,
    lost: u64,
}

#[derive(Debug, Default)]
struct Model {
    commission: u8,
    lessons: Vec<Lessonish>,
    dashboard: u64,
    dispute: Option<&'static str>,
    disputed: u64,
    /// (lesson, amount) not yet answered by Stripe.
    pending: Vec<(usize, u64)>,
}

impl Model {
    fn paid(&self) -> u64 {
        self.lessons.iter().map(|l| l.price).sum()
    }

    fn refunded(&self) -> u64 {
        self.lessons.iter().map(|l| l.named_refunds).sum::<u64>() + self.dashboard
    }

    fn left(&self) -> u64 {
        self.paid().saturating_sub(self.refunded()).saturating_sub(self.lost_to_disputes())
    }

    fn lost_to_disputes(&self) -> u64 {
        if self.dispute == Some("lost") { self.disputed } else { 0 }
    }

    fn payment(&self) -> Payment {
        Payment { going_back: self.refunded(), lost_to_disputes: self.lost_to_disputes(), dispute_open: self.dispute == Some("open") }
    }

    fn worth(&self) -> Vec<super::Entitlement> {
        let percent = Percent::new(self.commission).unwrap_or(Percent::DEFAULT_COMMISSION);
        let lessons: Vec<Lesson> = self.lessons.iter().map(|l| Lesson { price: l.price, refunds: l.named_refunds, earns: l.earns.then_some(percent) }).collect();
        entitlements(&self.payment(), &lessons)
    }

    fn refund_lesson(&mut self, i: usize, amount: u64) {
        // What is left of the lesson and of the payment, as the ledger caps it.
        let lesson_left = self.lessons[i].price - self.lessons[i].named_refunds;
        let amount = amount.min(lesson_left).min(self.left());
        self.lessons[i].named_refunds += amount;
    }

    fn apply(&mut self, step: &Step) {
        let decidable = |l: &Lessonish| !l.decided && self.dispute != Some("lost");
        match *step {
            Step::Earns(i) if decidable(&self.lessons[i]) => {
                self.lessons[i].decided = true;
                self.lessons[i].earns = true;
            }
            Step::TeacherNoShow(i) if decidable(&self.lessons[i]) => {
                self.lessons[i].decided = true;
                let price = self.lessons[i].price;
                if self.dispute.is_none() {
                    self.refund_lesson(i, price);
                }
            }
            Step::LateCancel(i, percent) if decidable(&self.lessons[i]) => {
                self.lessons[i].decided = true;
                self.lessons[i].earns = true;
                if self.dispute.is_none() {
                    self.refund_lesson(i, self.lessons[i].price * u64::from(percent) / 100);
                }
            }
            Step::DashboardRefund(share) if self.dispute.is_none() => self.dashboard += self.left() * u64::from(share) / 100,
            // A fully refunded charge cannot be disputed.
            Step::DisputeOpened if self.dispute.is_none() && self.left() > 0 => {
                self.dispute = Some("open");
                self.disputed = self.left();
            }
            Step::DisputeLost if self.dispute == Some("open") => self.dispute = Some("lost"),
            Step::DisputeWon if self.dispute == Some("open") => self.dispute = Some("won"),
            Step::Sweep => {
                let worth = self.worth();
                for (lesson, worth) in self.lessons.iter_mut().zip(worth) {
                    if lesson.decided && lesson.transferred.is_none() && worth.transferable > 0 {
                        lesson.transferred = Some(worth.transferable);
                        lesson.transfers += 1;
                    }
                }
            }
            Step::Review => {
                let worth = self.worth();
                for (i, (lesson, worth)) in self.lessons.iter().zip(worth).enumerate() {
                    let Some(sent) = lesson.transferred else { continue };
                    let pending: u64 = self.pending.iter().filter(|(at, _)| *at == i).map(|(_, a)| a).sum();
                    let amount = to_reverse(worth.earned, sent, lesson.reversed + lesson.lost + pending);
                    if amount > 0 {
                        self.pending.push((i, amount));
                    }
                }
            }
            Step::ReversalAnswered(made) if !self.pending.is_empty() => {
                let (i, amount) = self.pending.remove(0);
                if made { self.lessons[i].reversed += amount } else { self.lessons[i].lost += amount }
            }
            _ => {}
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let paid = self.paid();
        let refunded = self.refunded();
        prop_assert!(refunded + self.lost_to_disputes() <= paid, "more went back than was paid");
        let transferred: u64 = self.lessons.iter().filter_map(|l| l.transferred).sum();
        let reversed: u64 = self.lessons.iter().map(|l| l.reversed).sum();
        let lost: u64 = self.lessons.iter().map(|l| l.lost).sum();
        for (i, l) in self.lessons.iter().enumerate() {
            prop_assert!(l.transfers <= 1, "lesson {i} transferred twice");
            let pending: u64 = self.pending.iter().filter(|(at, _)| *at == i).map(|(_, a)| a).sum();
            prop_assert!(l.reversed + l.lost + pending <= l.transferred.unwrap_or(0), "lesson {i} reversed beyond its transfer");
        }
        // The platform's share may only go below zero by what it recorded as
        // lost, or by what a reversal will take back (asked for, or found by
        // the next review: between a refund and its review the money is out).
        let share = i128::from(paid) - i128::from(refunded) - i128::from(self.lost_to_disputes()) - (i128::from(transferred) - i128::from(reversed));
        let pending: u64 = self.pending.iter().map(|(_, a)| a).sum();
        let unreviewed: u64 = self
            .lessons
            .iter()
            .zip(self.worth())
            .enumerate()
            .filter_map(|(i, (l, w))| {
                let asked: u64 = self.pending.iter().filter(|(at, _)| *at == i).map(|(_, a)| a).sum();
                l.transferred.map(|sent| to_reverse(w.earned, sent, l.reversed + l.lost + asked))
            })
            .sum();
        prop_assert!(share + i128::from(lost + pending + unreviewed) >= 0, "the platform's share {share} is below its losses {lost} and reversals owed {pending} + {unreviewed}");
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn paid_is_refunded_plus_transferred_less_reversed_plus_the_platforms_share(
        prices in prop::collection::vec(1u64..50_000, 1..5),
        commission in 0u8..=100,
        steps in prop::collection::vec(step(4), 0..40),
    ) {
        let mut model = Model { commission, lessons: prices.iter().map(|&price| Lessonish { price, ..Lessonish::default() }).collect(), ..Model::default() };
        let lessons = model.lessons.len();
        for step in steps.iter().filter(|s| match s { Step::Earns(i) | Step::TeacherNoShow(i) | Step::LateCancel(i, _) => *i < lessons, _ => true }) {
            model.apply(step);
            model.check()?;
        }
        // Everything settles: chargebacks close, the last review runs, every reversal is answered.
        if model.dispute == Some("open") {
            model.apply(&Step::DisputeWon);
        }
        model.apply(&Step::Sweep);
        model.apply(&Step::Review);
        while !model.pending.is_empty() {
            model.apply(&Step::ReversalAnswered(true));
        }
        model.check()?;
        let transferred: u64 = model.lessons.iter().filter_map(|l| l.transferred).sum();
        let reversed: u64 = model.lessons.iter().map(|l| l.reversed).sum();
        let lost: u64 = model.lessons.iter().map(|l| l.lost).sum();
        let share = i128::from(model.paid()) - i128::from(model.refunded()) - i128::from(model.lost_to_disputes()) - (i128::from(transferred) - i128::from(reversed));
        prop_assert!(share + i128::from(lost) >= 0, "settled: the platform's share {} is below its recorded losses {}", share, lost);
        if lost == 0 {
            prop_assert!(share >= 0, "settled without a loss, the platform keeps a share");
        }
        let worth = model.worth();
        for (i, (lesson, worth)) in model.lessons.iter().zip(worth).enumerate() {
            let held = lesson.transferred.unwrap_or(0) - lesson.reversed;
            if lesson.lost == 0 {
                prop_assert_eq!(held, if lesson.decided { worth.earned } else { 0 }, "lesson {} holds what it earned", i);
            } else {
                prop_assert!(held >= worth.earned, "a loss only ever leaves the teacher more");
            }
        }
    }
}
