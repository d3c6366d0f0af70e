//! The operator's payout commands: one sweep, a teacher's ledger, the
//! transfer hold and a teacher's commission.

use jiff::Timestamp;
use shared::config::{self, StoreConfig};
use shared::domain::TeacherId;
use shared::payments::{Payments, StripeConfig};
use shared::payouts::{PayoutConfig, Payouts, Percent};
use shared::store::Store;

pub enum Action {
    Sweep,
    Earnings { teacher: String },
    Hold { teacher: String, on: bool },
    Commission { teacher: String, percent: Option<u8> },
    /// A transfer Stripe refused, due again once its cause is fixed.
    Retry { booking: String },
}

fn teacher(raw: &str) -> Result<TeacherId, String> {
    TeacherId::parse(raw).map_err(|e| format!("teacher_id: {e}"))
}

pub async fn run(action: Action, now: Timestamp) -> Result<(), String> {
    let (store, stripe, payouts) = config::load(|env| {
        let parts = (StoreConfig::read(env), StripeConfig::read(env), PayoutConfig::read(env));
        Some((parts.0?, parts.1?, parts.2?))
    })
    .map_err(|e| e.to_string())?;
    let store = Store::from_env(&store).await.map_err(|e| e.to_string())?;
    match action {
        Action::Sweep => sweep(&store, &Payments::new(&stripe).map_err(|e| e.to_string())?, &payouts, now).await,
        Action::Earnings { teacher: raw } => earnings(&store, &payouts, &teacher(&raw)?, now).await,
        Action::Hold { teacher: raw, on } => {
            let id = teacher(&raw)?;
            let by = format!("operator:{}", std::env::var("USER").unwrap_or_else(|_| "admin".into()));
            store.set_transfer_hold(&id, on, &by, now).await.map_err(|e| e.to_string())?;
            if !on {
                let woken = shared::payouts::accounts::wake(&store, &id, now).await.map_err(|e| e.to_string())?;
                println!("{id}: transfers resumed; {woken} waiting earning(s) due now");
            } else {
                println!("{id}: transfers on hold (what is due stays due)");
            }
            Ok(())
        }
        Action::Retry { booking } => {
            let id = shared::domain::BookingId::parse(&booking).map_err(|e| format!("booking_id: {e}"))?;
            let booking = store.get_booking(&id).await.map_err(|e| e.to_string())?.ok_or(format!("no booking {id}"))?;
            let pi = store.get_checkout(&booking.checkout_id).await.map_err(|e| e.to_string())?.and_then(|c| c.payment_intent).ok_or(format!("{id} was not paid: it earns nothing"))?;
            if store.requeue_earning(&shared::store::earning_key(&pi, &id), now).await.map_err(|e| e.to_string())? {
                println!("{id}: the earning is due again; the next payout sweep (make payouts) reads back what Stripe made, then transfers");
                Ok(())
            } else {
                Err(format!("{id}'s earning has not failed (make earnings TEACHER={} shows it)", booking.teacher_id))
            }
        }
        Action::Commission { teacher: raw, percent } => {
            let id = teacher(&raw)?;
            let percent = percent.map(|p| Percent::new(p).ok_or(format!("{p} is not 0 to 100"))).transpose()?;
            store.set_commission(&id, percent, now).await.map_err(|e| e.to_string())?;
            println!("{id}: commission {} for earnings not yet transferred", percent.map_or_else(|| format!("the platform's ({}%)", payouts.commission.value()), |p| format!("{}%", p.value())));
            Ok(())
        }
    }
}

async fn sweep(store: &Store, payments: &Payments, config: &PayoutConfig, now: Timestamp) -> Result<(), String> {
    let report = Payouts { store, payments, config }.sweep(now).await;
    println!(
        "payouts: {} due, {} transferred, {} reversed, {} waiting, {} worth nothing, {} failed, {} retried later, {} held by another worker",
        report.due, report.transferred, report.reversed, report.waiting, report.skipped, report.failed, report.retried, report.not_claimed
    );
    if report.errors.is_empty() { Ok(()) } else { Err(format!("still failing (the next sweep retries them):\n  {}", report.errors.join("\n  "))) }
}

async fn earnings(store: &Store, config: &PayoutConfig, teacher: &TeacherId, now: Timestamp) -> Result<(), String> {
    let mut after: Option<String> = None;
    let mut shown = 0;
    loop {
        let view = shared::payouts::view::view(store, config, teacher, 100, after.as_deref(), now).await.map_err(|e| e.to_string())?;
        if after.is_none() {
            println!("{teacher}: account {:?}{}, commission {}%, hold {} h", view.account.status, if view.account.on_hold { " (transfers ON HOLD)" } else { "" }, view.commission_percent, view.hold_hours);
        }
        for e in &view.earnings {
            let money = shared::domain::Money::new(e.amount, e.currency);
            println!(
                "{}  {:<34} {:<16} {:<11} {:>12}  reversed {:>6}  {}{}",
                e.lesson_end,
                e.booking_id,
                e.basis.as_str(),
                format!("{:?}", e.status).to_lowercase(),
                money.to_string(),
                e.reversed,
                e.transfer_id.as_deref().unwrap_or("-"),
                e.waiting.as_deref().map(|w| format!("  (waiting: {w})")).unwrap_or_default()
            );
            shown += 1;
        }
        match view.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    println!("{shown} earning(s)");
    Ok(())
}
