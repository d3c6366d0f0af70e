//! `admin webhooks`: what an operator does with the marketplace's endpoints,
//! printed for a terminal. Secrets are printed once, when made.

use jiff::Timestamp;
use shared::outbound::{TargetPolicy, endpoints};
use shared::store::Store;

pub enum Action {
    Add { url: String, events: Vec<String> },
    List,
    Remove { id: String },
    Rotate { id: String },
    Enable { id: String },
}

pub async fn run(store: &Store, policy: &TargetPolicy, action: Action, now: Timestamp) -> Result<(), String> {
    match action {
        Action::Add { url, events } => {
            let endpoint = endpoints::add(store, policy, &url, &events, now).await.map_err(|e| e.to_string())?;
            println!("{} {} ({})", endpoint.endpoint_id, endpoint.url, if endpoint.events.is_empty() { "every event".to_owned() } else { endpoint.events.join(", ") });
            println!("signing secret (shown once; verify with any Standard Webhooks library): {}", endpoint.secrets[0]);
        }
        Action::List => {
            for e in store.endpoints().await.map_err(|e| e.to_string())? {
                let state = if e.enabled { "enabled".to_owned() } else { format!("disabled: {}", e.disabled_reason.unwrap_or_default()) };
                let events = if e.events.is_empty() { "every event".to_owned() } else { e.events.join(", ") };
                println!("{} {} [{events}] {state}, {} secret(s), since {}", e.endpoint_id, e.url, e.secrets.len(), e.created_at);
            }
        }
        Action::Remove { id } => {
            if !store.delete_endpoint(&id).await.map_err(|e| e.to_string())? {
                return Err(format!("no endpoint {id}"));
            }
            println!("{id} removed");
        }
        Action::Rotate { id } => {
            let endpoint = endpoints::rotate(store, &id).await.map_err(|e| e.to_string())?;
            println!("new signing secret of {id} (the previous one signs too until the next rotation): {}", endpoint.secrets[0]);
        }
        Action::Enable { id } => {
            endpoints::enable(store, &id).await.map_err(|e| e.to_string())?;
            println!("{id} enabled");
        }
    }
    Ok(())
}
