//! Connect's part of the emulator's state: connected accounts, their
//! onboarding links, transfers, payouts and the platform's balance, and the
//! operations on them that are not API calls (a balance set by a test, a
//! payout as Stripe's schedule makes it).

use std::collections::HashMap;

use serde_json::Value;

use super::account_links::AccountLink;
use super::accounts::{Account, default_currency};
use super::balances::{self, Balance, PayoutOutcome};
use super::events::{self, Connect, Origin};
use super::state::{Emulator, new_id};

#[derive(Default)]
pub(super) struct Ledger {
    pub(super) accounts: HashMap<String, Account>,
    /// Account ids in creation order, for listings.
    pub(super) account_order: Vec<String>,
    pub(super) links: HashMap<String, AccountLink>,
    /// In creation order; each carries its reversals.
    pub(super) transfers: Vec<Value>,
    pub(super) payouts: Vec<Value>,
    pub(super) platform: Balance,
}

impl Emulator {
    /// `GET /v1/balance`: the platform's, or with `Stripe-Account` that account's.
    pub fn balance_json(&self, account: Option<&str>) -> Option<Value> {
        let inner = self.lock();
        match account {
            None => Some(inner.connect.platform.to_json(default_currency(&self.platform_country))),
            Some(id) => inner.connect.accounts.get(id).map(|a| a.balance.to_json(a.default_currency())),
        }
    }

    pub fn has_account(&self, id: &str) -> bool {
        self.lock().connect.accounts.contains_key(id)
    }

    /// The control API: the platform's available balance in `currency` is now `amount`.
    pub fn set_platform_balance(&self, currency: &str, amount: i64) -> Value {
        let mut inner = self.lock();
        inner.connect.platform.set(currency, amount);
        inner.connect.platform.to_json(default_currency(&self.platform_country))
    }

    /// Stripe's payout schedule comes due: the account's whole available
    /// balance goes to its bank, one payout per currency, announced by
    /// `payout.created` and then `payout.paid`, or `payout.failed`
    /// (`account_closed`) with the money back in the balance.
    pub fn pay_out(&self, id: &str, fail: bool, now: i64) -> Result<Vec<Value>, String> {
        let mut inner = self.lock();
        let account = inner.connect.accounts.get_mut(id).ok_or_else(|| format!("no account {id}"))?;
        if !account.payouts_enabled() {
            return Err(format!("account {id} has payouts disabled (details due or restricted): Stripe pays nothing out"));
        }
        let due = account.balance.positive();
        if due.is_empty() {
            return Err(format!("account {id} has no available balance to pay out"));
        }
        for (currency, _) in &due {
            account.balance.set(currency, 0);
        }
        let mut payouts = Vec::with_capacity(due.len());
        for (currency, amount) in due {
            let payout_id = new_id("po");
            let connect = || Connect { account: Some(id.to_owned()), previous_attributes: None };
            let created = balances::payout(&payout_id, id, amount, &currency, PayoutOutcome::InTransit, now);
            self.emit_event(&mut inner, events::PAYOUT_CREATED, created, connect(), now, &Origin::default());
            let outcome = if fail { PayoutOutcome::Failed } else { PayoutOutcome::Paid };
            let settled = balances::payout(&payout_id, id, amount, &currency, outcome, now);
            if fail && let Some(account) = inner.connect.accounts.get_mut(id) {
                account.balance.add(&currency, amount);
            }
            let kind = if fail { events::PAYOUT_FAILED } else { events::PAYOUT_PAID };
            self.emit_event(&mut inner, kind, settled.clone(), connect(), now, &Origin::default());
            inner.connect.payouts.push(settled.clone());
            payouts.push(settled);
        }
        Ok(payouts)
    }

    /// Every transfer, oldest first.
    pub fn transfers(&self) -> Vec<Value> {
        self.lock().connect.transfers.clone()
    }

    /// Every payout, oldest first.
    pub fn payouts(&self) -> Vec<Value> {
        self.lock().connect.payouts.clone()
    }
}
