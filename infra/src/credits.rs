//! The operator's credit commands: a student's grants, and the refund of a
//! grant's unused credits at any time (`AMOUNT` up to their value), which
//! students may ask for themselves only within 14 days of the purchase.

use jiff::Timestamp;
use shared::config::{self, StoreConfig};
use shared::credits::service::Credits;
use shared::payments::{Payments, StripeConfig};
use shared::store::Store;

pub enum Action {
    List { student: String },
    Refund { grant: String, amount: Option<u64> },
}

pub async fn run(action: Action, now: Timestamp) -> Result<(), String> {
    let (store, stripe) = config::load(|env| Some((StoreConfig::read(env)?, StripeConfig::read(env)?))).map_err(|e| e.to_string())?;
    let credits = Credits { store: Store::from_env(&store).await.map_err(|e| e.to_string())?, payments: Payments::new(&stripe).map_err(|e| e.to_string())? };
    match action {
        Action::List { student } => {
            for grant in credits.store.grants_of(&student).await.map_err(|e| e.to_string())? {
                println!("{}", serde_json::to_string(&grant).map_err(|e| e.to_string())?);
            }
            Ok(())
        }
        Action::Refund { grant, amount } => {
            let view = credits.refund(&grant, amount, now).await.map_err(|e| e.to_string())?;
            let refund = view.refund.as_ref().map_or_else(|| "nothing refunded".to_owned(), |r| format!("{} {} refund {}", r.amount, view.currency, r.status));
            println!("{grant}: unused credits taken back; {refund} (make attention lists it if Stripe refuses)");
            Ok(())
        }
    }
}
