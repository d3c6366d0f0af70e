//! `admin attention`: everything that needs a person, each with what to do
//! about it. The records are written where the problem is found (a refund
//! refused or failed, a payment that does not match its checkout), in the
//! same transaction as the status they explain.

use shared::store::{Attention, AttentionKind, Store, StoreError};

/// What an operator does about one kind of record.
pub fn what_to_do(kind: AttentionKind) -> &'static str {
    match kind {
        AttentionKind::RefundRefused => "Stripe will not make this refund: look at the payment in the dashboard, return the money another way (or confirm it already went back), tell the student",
        AttentionKind::RefundFailed => "the refund failed after it was made and the money is back in the platform balance: reach the student for other means of payment, refund them, tell them",
        AttentionKind::PaymentMismatch => "the checkout waits in needs_attention: refund the payment in the dashboard, or book it with create-booking once you know it is right",
        AttentionKind::DisputeInquiry => "the cardholder's bank asks about this payment (nothing is debited yet): answer it in the Stripe dashboard before the due date (a refund now may avoid a chargeback); the bookings stand",
        AttentionKind::Dispute => "a chargeback: the bank took the money back and the lessons not yet started were cancelled (no refund); submit evidence in the Stripe dashboard before the due date",
        AttentionKind::DisputeWon => "the bank returned the money of a chargeback, but the lessons it cancelled (listed) stay cancelled: offer the student to book them again at no charge, or refund them in the dashboard",
        AttentionKind::AttendanceUndecided => "100ms's sessions could not be read for a day: check the 100ms status and HMS_* settings; reconcile keeps retrying, and the outcome is decided on its own once 100ms answers",
        AttentionKind::AttendanceUnclear => "both came but were never together long enough, so nothing was refunded: ask them (make booking BOOKING=… shows who was in the room and when), then decide with make outcome BOOKING=… OUTCOME=completed|teacher_no_show|student_no_show (a teacher_no_show refunds in full)",
        AttentionKind::NoticeUndelivered => "a notice (mail) has failed to go out for an hour or more and is still retried: check SES (make doctor: identity verified, sending enabled, not in the sandbox for this recipient) and the notify log; it goes out by itself once SES accepts it",
        AttentionKind::NoticeRejected => "this notice will never be sent (SES refused the address for good, a bounce or a suppressed address, or it failed for three days): tell the person another way; their address comes from their sign-in token (students) or their profile (teachers)",
        AttentionKind::WebhookUndelivered => "a message to a registered webhook endpoint was given up: check the endpoint (make webhooks lists them) and its system; the event's data is in the message (admin webhooks list shows the endpoint's id)",
        AttentionKind::WebhookEndpointGone => "an endpoint answered 410 Gone, so it receives nothing more: if that was a mistake on its side, enable it again (admin webhooks enable ID); otherwise remove it",
        AttentionKind::TransferRefused => "Stripe refused a teacher's transfer (the error says why): fix its cause in the Stripe dashboard, then make it due again with admin earning-retry BOOKING (the sweep reads back what Stripe made before asking again); make earnings TEACHER=... shows the teacher's ledger",
        AttentionKind::TransferFailing => "a teacher's transfer has failed for a day (Stripe unreachable, a bad key): check STRIPE_* and Stripe's status; the payout sweep keeps retrying and the transfer goes out by itself",
        AttentionKind::ReversalRefused => "Stripe would not take back a transfer after its lesson was refunded (the teacher's Stripe balance no longer covers it): the platform bore the loss; recover it from the teacher's future earnings by agreement, or write it off",
        AttentionKind::PayoutFailed => "Stripe could not pay a teacher's balance out to their bank: ask the teacher to fix their bank details in their Stripe Express dashboard; Stripe retries the payout once they have",
        AttentionKind::EarningsUnclaimed => "a teacher has had earnings waiting for over 30 days and never set up payouts: remind them to open Earnings and complete Stripe's onboarding; nothing is lost meanwhile",
        AttentionKind::ProfileInvalid => "the teacher's stored profile breaks a rule it was written before: it is still served, but cannot be saved until the named field is fixed (teacher-profile, or make seed); then resolve this",
    }
}

/// One line per record, oldest first, ending with the command that closes it.
pub fn render(records: &[Attention]) -> Vec<String> {
    let mut records: Vec<&Attention> = records.iter().collect();
    records.sort_by_key(|r| r.created_at);
    records
        .iter()
        .map(|r| {
            let about = [
                r.checkout_id.as_ref().map(|c| format!("checkout {c}")),
                r.payment_intent.as_ref().map(|p| format!("payment {p}")),
                r.code.as_ref().map(|c| format!("code {c}")),
                r.due_by.map(|d| format!("due by {d}")),
            ];
            let about: Vec<String> = about.into_iter().flatten().collect();
            format!(
                "{} [{}] {}\n    {}\n    what to do: {}\n    when done: make attention RESOLVE='{}' (admin attention --resolve)",
                r.created_at,
                r.kind.as_str(),
                about.join(", "),
                r.reason,
                what_to_do(r.kind),
                r.key()
            )
        })
        .collect()
}

/// The open records, rendered.
pub async fn list(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(render(&store.attention().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_says_what_it_is_about_what_to_do_and_how_to_close_it() {
        let at = |s: &str| s.parse().unwrap();
        let refused = Attention {
            kind: AttentionKind::RefundRefused,
            subject: "refund-co_1-0".into(),
            reason: "Stripe refused".into(),
            checkout_id: Some(shared::domain::CheckoutId::parse("co_1").unwrap()),
            payment_intent: Some("pi_1".into()),
            code: Some("charge_not_refundable".into()),
            due_by: None,
            created_at: at("2026-11-30T10:00:00Z"),
        };
        let mismatch = Attention { kind: AttentionKind::PaymentMismatch, subject: "co_2".into(), code: None, payment_intent: None, created_at: at("2026-11-29T10:00:00Z"), ..refused.clone() };
        let lines = render(&[refused, mismatch]);
        assert!(lines[0].contains("[payment_mismatch]") && lines[0].contains("create-booking"), "oldest first: {}", lines[0]);
        assert!(lines[1].contains("checkout co_1, payment pi_1, code charge_not_refundable"), "{}", lines[1]);
        assert!(lines[1].contains("make attention RESOLVE='refund_refused#refund-co_1-0'"), "{}", lines[1]);
    }
}
