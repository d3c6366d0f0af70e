//! What the frontend sees of a checkout, both after POST and when polling.

use jiff::Timestamp;
use serde::Serialize;

use crate::domain::{BookingId, CheckoutId, Currency, TeacherId};
use crate::store::{Checkout, CheckoutStatus};

#[derive(Debug, Clone, Serialize)]
pub struct CheckoutView {
    pub checkout_id: CheckoutId,
    pub status: &'static str,
    pub checkout_url: Option<String>,
    pub expires_at: Timestamp,
    pub amount_total: u64,
    pub currency: Currency,
    pub lessons: Vec<LessonView>,
    pub booking_ids: Vec<BookingId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<String>,
    /// Lessons of a late payment that were taken meanwhile and refunded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refunded_lessons: Vec<usize>,
    /// `card` or `credits`.
    pub pay_with: &'static str,
    /// The package it buys, instead of lessons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageView {
    pub teacher_id: TeacherId,
    pub teacher_name: String,
    pub lessons: u32,
    pub duration_minutes: u32,
    pub discount_percent: u32,
    pub price: u64,
    /// The credits last this many days from the payment.
    pub valid_days: u32,
    /// The grant the payment made (`GET credits/`), once paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LessonView {
    pub teacher_id: TeacherId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_minutes: u32,
    pub amount: u64,
    pub trial: bool,
}

impl CheckoutView {
    /// A checkout nobody paid for is reported expired as soon as its holds
    /// lapse, even before Stripe's expiry event arrives; its payment page is
    /// not shown once Stripe stops accepting payment on it.
    pub fn of(checkout: &Checkout, now: Timestamp) -> Self {
        let status = match checkout.status {
            CheckoutStatus::AwaitingPayment if now >= checkout.hold_until => CheckoutStatus::Expired,
            other => other,
        };
        let open = status == CheckoutStatus::AwaitingPayment && now < checkout.expires_at;
        Self {
            checkout_id: checkout.checkout_id.clone(),
            status: status.as_str(),
            checkout_url: checkout.checkout_url.clone().filter(|_| open),
            expires_at: checkout.expires_at,
            amount_total: checkout.amount_total,
            currency: checkout.currency,
            lessons: checkout
                .lessons
                .iter()
                .map(|l| LessonView { teacher_id: l.teacher_id.clone(), start: l.start, end: l.end, duration_minutes: l.duration_minutes, amount: l.amount, trial: l.trial })
                .collect(),
            booking_ids: checkout.booking_ids.clone(),
            payment_status: checkout.payment_status.clone(),
            refunded_lessons: checkout.refunded_lessons.clone(),
            pay_with: if checkout.paid_with_credits { "credits" } else { "card" },
            package: checkout.package.as_ref().map(|p| PackageView {
                teacher_id: p.teacher_id.clone(),
                teacher_name: p.teacher_name.clone(),
                lessons: p.lessons,
                duration_minutes: p.duration_minutes,
                discount_percent: p.discount_percent,
                price: p.price,
                valid_days: p.valid_days,
                grant_id: status.is_settled().then(|| crate::store::Grant::grant_id_of(&checkout.checkout_id)),
            }),
        }
    }
}
