//! `GET teacher-payouts/`: the teacher's account state and ledger, a page
//! of earnings (newest lesson first) with what each is worth now and where
//! it stands, and the page's totals per currency.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use super::PayoutConfig;
use super::worth::worth;
use crate::domain::{Currency, TeacherId};
use crate::store::{Basis, Earning, Ledger, PayoutAccount, Store, StoreError, WorkStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// No connected account yet.
    NotStarted,
    /// Stripe still needs details from the teacher (`currently_due`).
    DetailsDue,
    /// Details given, but Stripe will not take transfers for it now.
    Restricted,
    Active,
}

#[derive(Debug, Serialize)]
pub struct AccountView {
    pub status: AccountStatus,
    pub currently_due: Vec<String>,
    /// An operator stopped transfers (what is due stays due).
    pub on_hold: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EarningStatus {
    /// Inside the claim window.
    Pending,
    /// Transferable, going out with the next sweep or waiting for the account.
    Due,
    Transferred,
    /// Worth nothing (refunded, charged back, the teacher did not come).
    None,
    /// Stripe refused it; an operator is on it.
    Failed,
}

#[derive(Debug, Serialize)]
pub struct EarningView {
    pub booking_id: String,
    pub lesson_end: Timestamp,
    pub basis: Basis,
    pub status: EarningStatus,
    /// What it is worth now (for a transferred one, what went out).
    pub amount: u64,
    pub currency: Currency,
    pub commission_percent: u8,
    pub transferable_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transferred_at: Option<Timestamp>,
    /// Taken back after a refund (or refused, and borne by the platform: not counted).
    pub reversed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub pending: u64,
    pub due: u64,
    pub transferred: u64,
    pub reversed: u64,
}

#[derive(Debug, Serialize)]
pub struct PayoutsView {
    pub teacher_id: TeacherId,
    pub account: AccountView,
    pub commission_percent: u8,
    pub hold_hours: i64,
    pub earnings: Vec<EarningView>,
    /// Of this page's earnings, per currency.
    pub totals: BTreeMap<Currency, Totals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

pub fn account_view(account: Option<&PayoutAccount>) -> AccountView {
    let Some(account) = account else { return AccountView { status: AccountStatus::NotStarted, currently_due: Vec::new(), on_hold: false } };
    let state = &account.state;
    let status = if account.account_id.is_none() {
        AccountStatus::NotStarted
    } else if state.can_receive_transfers() {
        AccountStatus::Active
    } else if !state.details_submitted {
        AccountStatus::DetailsDue
    } else {
        AccountStatus::Restricted
    };
    AccountView { status, currently_due: state.currently_due.clone(), on_hold: account.hold }
}

pub async fn view(store: &Store, config: &PayoutConfig, teacher: &TeacherId, limit: i32, after: Option<&str>, now: Timestamp) -> Result<PayoutsView, StoreError> {
    let account = store.payout_account(teacher).await?;
    let commission = account.as_ref().and_then(|a| a.commission_percent).unwrap_or(config.commission);
    let page = store.earnings_of(teacher, limit, after).await?;
    let mut ledgers: HashMap<String, Ledger> = HashMap::new();
    let mut checkouts = HashMap::new();
    for earning in &page.earnings {
        if !ledgers.contains_key(&earning.payment_intent) {
            ledgers.insert(earning.payment_intent.clone(), store.ledger(&earning.payment_intent).await?);
        }
        if !checkouts.contains_key(&earning.checkout_id) {
            checkouts.insert(earning.checkout_id.clone(), store.get_checkout(&earning.checkout_id).await?);
        }
    }
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    let earnings: Vec<EarningView> = page
        .earnings
        .iter()
        .map(|e| {
            let ledger = ledgers.get(&e.payment_intent);
            let checkout = checkouts.get(&e.checkout_id).and_then(Option::as_ref);
            let line = line(e, ledger, checkout, commission, config, now);
            let total = totals.entry(e.currency).or_default();
            match line.status {
                EarningStatus::Pending => total.pending += line.amount,
                EarningStatus::Due => total.due += line.amount,
                EarningStatus::Transferred => total.transferred += line.amount,
                EarningStatus::None | EarningStatus::Failed => {}
            }
            total.reversed += line.reversed;
            line
        })
        .collect();
    Ok(PayoutsView { teacher_id: teacher.clone(), account: account_view(account.as_ref()), commission_percent: commission.value(), hold_hours: config.hold.as_hours(), earnings, totals, next: page.next })
}

fn line(e: &Earning, ledger: Option<&Ledger>, checkout: Option<&crate::store::Checkout>, commission: super::Percent, config: &PayoutConfig, now: Timestamp) -> EarningView {
    let commission = e.commission.unwrap_or(commission);
    let worth = match (ledger, checkout) {
        (Some(l), Some(c)) => worth(l, c, &e.booking_id, commission).unwrap_or_default(),
        _ => super::Entitlement::default(),
    };
    let reversed = ledger.map_or(0, |l| l.reversals.iter().filter(|r| r.booking_id == e.booking_id && r.status == WorkStatus::Done).map(|r| r.amount).sum());
    let transferable_at = e.lesson_end + config.hold;
    let (status, amount) = match e.status {
        WorkStatus::Done => (EarningStatus::Transferred, e.transferred),
        WorkStatus::Failed => (EarningStatus::Failed, worth.earned),
        WorkStatus::Skipped => (EarningStatus::None, 0),
        WorkStatus::Owed | WorkStatus::Working if worth.earned == 0 => (EarningStatus::None, 0),
        WorkStatus::Owed | WorkStatus::Working if now < transferable_at => (EarningStatus::Pending, worth.earned),
        WorkStatus::Owed | WorkStatus::Working => (EarningStatus::Due, worth.earned),
    };
    EarningView {
        booking_id: e.booking_id.to_string(),
        lesson_end: e.lesson_end,
        basis: e.basis,
        status,
        amount,
        currency: e.currency,
        commission_percent: commission.value(),
        transferable_at,
        transfer_id: e.provider_id.clone(),
        transferred_at: e.transferred_at,
        reversed,
        waiting: e.waiting.clone().filter(|_| status == EarningStatus::Due),
    }
}
