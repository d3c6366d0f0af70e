//! Available balances, the platform's and each connected account's, per
//! currency, as `GET /v1/balance` shows them. Money moves only by transfers
//! (platform → account), reversals (back) and payouts (account → its bank),
//! so a test can follow every cent. Paid sessions do not feed the platform's
//! balance: a test sets it (`/_emulator/balance`), as Stripe's funds arrive
//! days after the charge.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balance(BTreeMap<String, i64>);

impl Balance {
    pub fn available(&self, currency: &str) -> i64 {
        self.0.get(currency).copied().unwrap_or(0)
    }

    pub fn add(&mut self, currency: &str, amount: i64) {
        *self.0.entry(currency.to_owned()).or_insert(0) += amount;
    }

    pub fn set(&mut self, currency: &str, amount: i64) {
        self.0.insert(currency.to_owned(), amount);
    }

    /// The currencies that hold money, with their amounts.
    pub fn positive(&self) -> Vec<(String, i64)> {
        self.0.iter().filter(|(_, amount)| **amount > 0).map(|(c, a)| (c.clone(), *a)).collect()
    }

    /// Stripe's `balance` object. A balance never credited still shows its
    /// default currency at 0, as Stripe's does.
    pub fn to_json(&self, default_currency: &str) -> Value {
        let mut amounts: Vec<(&str, i64)> = self.0.iter().map(|(c, a)| (c.as_str(), *a)).collect();
        if amounts.is_empty() {
            amounts.push((default_currency, 0));
        }
        let available: Vec<Value> = amounts.iter().map(|(currency, amount)| json!({ "amount": amount, "currency": currency, "source_types": { "card": amount } })).collect();
        json!({ "object": "balance", "available": available, "livemode": false, "pending": [] })
    }
}

/// How Stripe's scheduled payout to an account's bank ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutOutcome {
    InTransit,
    Paid,
    /// The bank refused it (`account_closed`): the money is back in the balance.
    Failed,
}

/// A scheduled (`automatic`) payout of `amount` to the account's bank,
/// shaped like Stripe's `payout` (its OpenAPI fixture).
pub fn payout(id: &str, account: &str, amount: i64, currency: &str, outcome: PayoutOutcome, now: i64) -> Value {
    let failed = outcome == PayoutOutcome::Failed;
    let status = match outcome {
        PayoutOutcome::InTransit => "in_transit",
        PayoutOutcome::Paid => "paid",
        PayoutOutcome::Failed => "failed",
    };
    json!({
        "id": id, "object": "payout", "amount": amount, "application_fee": null, "application_fee_amount": null,
        "arrival_date": now, "automatic": true, "balance_transaction": format!("txn_{}", id.trim_start_matches("po_")), "created": now, "currency": currency,
        "description": "STRIPE PAYOUT", "destination": format!("ba_{}", account.trim_start_matches("acct_")),
        "failure_balance_transaction": failed.then(|| format!("txn_failed_{}", id.trim_start_matches("po_"))),
        "failure_code": failed.then_some("account_closed"),
        "failure_message": failed.then_some("The bank account has been closed."),
        "livemode": false, "metadata": {}, "method": "standard", "original_payout": null, "payout_method": null,
        "reconciliation_status": if outcome == PayoutOutcome::Paid { "completed" } else { "not_applicable" },
        "reversed_by": null, "source_type": "card", "statement_descriptor": null, "status": status, "trace_id": null,
        "type": "bank_account",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_balance_shows_its_default_currency_at_zero() {
        let balance = Balance::default();
        assert_eq!(balance.to_json("eur")["available"], json!([{ "amount": 0, "currency": "eur", "source_types": { "card": 0 } }]));
        let mut balance = Balance::default();
        balance.add("gbp", 500);
        balance.add("gbp", -200);
        assert_eq!(balance.to_json("eur")["available"][0]["amount"], 300);
        assert_eq!(balance.positive(), vec![("gbp".to_owned(), 300)]);
    }

    #[test]
    fn a_failed_payout_says_why() {
        let failed = payout("po_1", "acct_1", 100, "eur", PayoutOutcome::Failed, 5);
        assert_eq!((failed["status"].as_str(), failed["failure_code"].as_str()), (Some("failed"), Some("account_closed")));
        let paid = payout("po_2", "acct_1", 100, "eur", PayoutOutcome::Paid, 5);
        assert_eq!((paid["status"].as_str(), paid["failure_code"].as_str()), (Some("paid"), None));
    }
}
