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
    }
}

/// One line per record, oldest first, ending with the command that closes it.
pub fn render(records: &[Attention]) -> Vec<String> {
    let mut records: Vec<&Attention> = records.iter().collect();
    records.sort_by_key(|r| r.created_at);
    records
        .iter()
        .map(|r| {
            let about = [r.checkout_id.as_ref().map(|c| format!("checkout {c}")), r.payment_intent.as_ref().map(|p| format!("payment {p}")), r.code.as_ref().map(|c| format!("code {c}"))];
            let about: Vec<String> = about.into_iter().flatten().collect();
            format!(
                "{} [{}] {}\n    {}\n    what to do: {}\n    when done: admin attention --resolve '{}'",
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
