//! Transfers to connected accounts and their reversals (separate charges and
//! transfers), with Stripe's rules: the destination's `transfers` capability
//! must be active; a transfer draws either on the platform's available
//! balance or on a succeeded charge (`source_transaction`), whose transfers
//! may not add up past it; a reversal takes the money back only while the
//! connected account's balance still holds it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::ApiError;
use super::events::{self, Origin};
use super::form::Params;
use super::sessions::{only_known, parse_currency, parse_integer, parse_metadata, string_at};
use super::state::{Emulator, InnerRef, new_id};

const CREATE_PARAMS: [&str; 8] = ["amount", "currency", "destination", "source_transaction", "transfer_group", "metadata", "description", "expand"];
const REVERSAL_PARAMS: [&str; 4] = ["amount", "metadata", "description", "expand"];
/// Stripe refuses amounts above 8 digits of minor units.
const MAX_AMOUNT: i64 = 99_999_999;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub amount: i64,
    pub currency: String,
    pub destination: String,
    pub source_transaction: Option<String>,
    pub transfer_group: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRequest {
    pub amount: Option<i64>,
    pub metadata: BTreeMap<String, String>,
}

fn positive_amount(params: &Params, required: bool) -> Result<Option<i64>, ApiError> {
    match parse_integer(params.get("amount"), "amount")? {
        None if required => Err(ApiError::missing("amount")),
        None => Ok(None),
        Some(amount) if amount < 1 => Err(ApiError::invalid("Invalid positive integer", "amount", Some("parameter_invalid_integer"))),
        Some(amount) if amount > MAX_AMOUNT => {
            Err(ApiError::invalid(format!("This value must be less than or equal to {MAX_AMOUNT}."), "amount", Some("parameter_invalid_integer")))
        }
        Some(amount) => Ok(Some(amount)),
    }
}

fn text(params: &Params, name: &str) -> Result<Option<String>, ApiError> {
    Ok(string_at(params.get(name), name)?.map(str::to_owned))
}

/// `POST /v1/transfers`, refused as Stripe refuses it.
pub fn parse(params: &Params) -> Result<TransferRequest, ApiError> {
    only_known(params, &CREATE_PARAMS, "")?;
    Ok(TransferRequest {
        amount: positive_amount(params, true)?.unwrap_or_default(),
        currency: parse_currency(params.get("currency"), "currency")?,
        destination: text(params, "destination")?.ok_or_else(|| ApiError::missing("destination"))?,
        source_transaction: text(params, "source_transaction")?,
        transfer_group: text(params, "transfer_group")?,
        metadata: parse_metadata(params.get("metadata"), "metadata")?,
        description: text(params, "description")?,
    })
}

/// `POST /v1/transfers/{id}/reversals`; its `description` is accepted and,
/// as on Stripe, not shown on the reversal.
pub fn parse_reversal(params: &Params) -> Result<ReversalRequest, ApiError> {
    only_known(params, &REVERSAL_PARAMS, "")?;
    text(params, "description")?;
    Ok(ReversalRequest { amount: positive_amount(params, false)?, metadata: parse_metadata(params.get("metadata"), "metadata")? })
}

/// An amount as Stripe writes it in messages: `€70.00`, `£4.80`, `$5.00`, else `12.34 CHF`.
fn display(minor: i64, currency: &str) -> String {
    let plain = super::page::money(minor, currency);
    let symbol = match currency {
        "eur" => "€",
        "gbp" => "£",
        "usd" => "$",
        _ => return plain,
    };
    format!("{symbol}{}", plain.split(' ').next().unwrap_or_default())
}

fn transfer_json(id: &str, request: &TransferRequest, now: i64) -> Value {
    json!({
        "id": id, "object": "transfer", "amount": request.amount, "amount_reversed": 0, "balance_transaction": new_id("txn"),
        "created": now, "currency": request.currency, "description": request.description, "destination": request.destination,
        "destination_payment": new_id("py"), "livemode": false, "metadata": request.metadata,
        "reversals": { "object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/transfers/{id}/reversals") },
        "reversed": false, "source_transaction": request.source_transaction, "source_type": "card", "transfer_group": request.transfer_group,
    })
}

fn insufficient_capabilities() -> ApiError {
    ApiError::invalid(
        "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
        "destination",
        Some("insufficient_capabilities_for_transfer"),
    )
}

/// Stripe's test-mode answer to a transfer the platform's available balance cannot cover.
fn platform_insufficient() -> ApiError {
    ApiError::InvalidRequest {
        message: "Insufficient funds in Stripe account. In test mode, you can add funds to your available balance (bypassing your pending balance) by creating a charge with 4000 0000 0000 0077 as the card number. You can use the /v1/balance endpoint to view your Stripe balance (for more details, see stripe.com/docs/api#balance).".into(),
        param: None,
        code: Some("balance_insufficient"),
    }
}

impl Emulator {
    /// A transfer to a connected account: its balance gets the money at
    /// once, and `transfer.created` (a platform event) follows.
    pub fn create_transfer(&self, inner: &mut InnerRef<'_>, request: TransferRequest, now: i64, origin: &Origin) -> Result<Value, ApiError> {
        let inner = inner.get();
        let account = inner.connect.accounts.get(&request.destination).ok_or_else(|| ApiError::no_such("destination", &request.destination, "destination"))?;
        if !account.transfers_active() {
            return Err(insufficient_capabilities());
        }
        match &request.source_transaction {
            Some(charge) => {
                let intent =
                    inner.payment_intents.values().find(|pi| pi["latest_charge"] == charge.as_str()).ok_or_else(|| ApiError::no_such("charge", charge, "source_transaction"))?;
                if intent["status"] != "succeeded" {
                    return Err(ApiError::invalid(
                        format!("The charge {charge} has not succeeded (its PaymentIntent is {}); only a succeeded charge can be a transfer's source_transaction.", intent["status"]),
                        "source_transaction",
                        None,
                    ));
                }
                let charge_currency = intent["currency"].as_str().unwrap_or_default();
                if charge_currency != request.currency {
                    return Err(ApiError::invalid(
                        format!("The currency of source_transaction's balance transaction ({charge_currency}) must be the same as the transfer currency ({}).", request.currency),
                        "currency",
                        None,
                    ));
                }
                // What counts is what was transferred, not what is left after
                // reversals, and refunds of the charge do not lower the cap.
                let paid = intent["amount"].as_i64().unwrap_or(0);
                let before: i64 = inner.connect.transfers.iter().filter(|t| t["source_transaction"] == charge.as_str()).filter_map(|t| t["amount"].as_i64()).sum();
                if before + request.amount > paid {
                    let already = if before > 0 { format!(" (There is already a transfer using this source, amounting to {}.)", display(before, charge_currency)) } else { String::new() };
                    return Err(ApiError::InvalidRequest {
                        message: format!("Transfers using this transaction as a source must not exceed the source amount of {}.{already}", display(paid, charge_currency)),
                        param: None,
                        code: None,
                    });
                }
            }
            None => {
                if inner.connect.platform.available(&request.currency) < request.amount {
                    return Err(platform_insufficient());
                }
                inner.connect.platform.add(&request.currency, -request.amount);
            }
        }
        if let Some(account) = inner.connect.accounts.get_mut(&request.destination) {
            account.balance.add(&request.currency, request.amount);
        }
        let transfer = transfer_json(&new_id("tr"), &request, now);
        inner.connect.transfers.push(transfer.clone());
        self.emit(inner, events::TRANSFER_CREATED, transfer.clone(), now, origin);
        Ok(transfer)
    }

    /// Takes (part of) a transfer back from the connected account's balance
    /// to the platform's; `transfer.reversed` (a platform event) follows.
    pub fn reverse_transfer(&self, inner: &mut InnerRef<'_>, id: &str, request: ReversalRequest, now: i64, origin: &Origin) -> Result<Value, ApiError> {
        let inner = inner.get();
        let position = inner.connect.transfers.iter().position(|t| t["id"] == id).ok_or_else(|| ApiError::NotFound { kind: "transfer", id: id.to_owned(), param: "id" })?;
        let transfer = &inner.connect.transfers[position];
        let total = transfer["amount"].as_i64().unwrap_or(0);
        let reversed_before = transfer["amount_reversed"].as_i64().unwrap_or(0);
        let left = total - reversed_before;
        if left <= 0 {
            return Err(ApiError::invalid(format!("Transfer {id} has already been fully reversed."), "amount", None));
        }
        let amount = request.amount.unwrap_or(left);
        if amount > left {
            return Err(ApiError::invalid(format!("Transfer reversal amount ({amount}) is greater than unreversed amount on transfer ({left})"), "amount", None));
        }
        let currency = transfer["currency"].as_str().unwrap_or_default().to_owned();
        let destination = transfer["destination"].as_str().unwrap_or_default().to_owned();
        let account = inner.connect.accounts.get_mut(&destination).ok_or_else(|| ApiError::no_such("destination", &destination, "destination"))?;
        let available = account.balance.available(&currency);
        if available < amount {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "Insufficient funds in the destination account {destination} to reverse this transfer: its available {currency} balance is {}, the reversal needs {}.",
                    display(available, &currency),
                    display(amount, &currency)
                ),
                param: None,
                code: Some("balance_insufficient"),
            });
        }
        account.balance.add(&currency, -amount);
        inner.connect.platform.add(&currency, amount);
        let reversal = json!({
            "id": new_id("trr"), "object": "transfer_reversal", "amount": amount, "balance_transaction": new_id("txn"), "created": now,
            "currency": currency, "destination_payment_refund": new_id("pyr"), "metadata": request.metadata, "source_refund": null, "transfer": id,
        });
        let transfer = &mut inner.connect.transfers[position];
        transfer["amount_reversed"] = Value::from(reversed_before + amount);
        transfer["reversed"] = Value::from(reversed_before + amount == total);
        // Newest first, as Stripe lists them.
        if let Some(data) = transfer["reversals"]["data"].as_array_mut() {
            data.insert(0, reversal.clone());
            let count = data.len();
            transfer["reversals"]["total_count"] = Value::from(count);
        }
        let transfer = transfer.clone();
        self.emit(inner, events::TRANSFER_REVERSED, transfer, now, origin);
        Ok(reversal)
    }

    pub fn transfer(&self, id: &str) -> Option<Value> {
        self.lock().connect.transfers.iter().find(|t| t["id"] == id).cloned()
    }

    /// Transfers, newest first, optionally of one `transfer_group` and/or `destination`.
    pub fn transfers_newest_first(&self, transfer_group: Option<&str>, destination: Option<&str>) -> Vec<Value> {
        let inner = self.lock();
        inner
            .connect
            .transfers
            .iter()
            .rev()
            .filter(|t| transfer_group.is_none_or(|g| t["transfer_group"] == g))
            .filter(|t| destination.is_none_or(|d| t["destination"] == d))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::form;
    use super::*;

    #[test]
    fn parses_what_a_transfer_needs_and_refuses_the_rest() {
        let params = form::parse(b"amount=2000&currency=EUR&destination=acct_1&source_transaction=ch_1&transfer_group=co_1&metadata[lesson]=l1").unwrap();
        let request = parse(&params).unwrap();
        assert_eq!((request.amount, request.currency.as_str(), request.transfer_group.as_deref()), (2000, "eur", Some("co_1")));
        for body in ["currency=eur&destination=acct_1", "amount=0&currency=eur&destination=acct_1", "amount=1&destination=acct_1", "amount=1&currency=eur", "amount=1&currency=eur&destination=acct_1&application_fee_amount=1"] {
            assert!(parse(&form::parse(body.as_bytes()).unwrap()).is_err(), "{body}");
        }
        assert_eq!(parse_reversal(&form::parse(b"metadata[why]=refund").unwrap()).unwrap().amount, None);
        assert!(parse_reversal(&form::parse(b"amount=-5").unwrap()).is_err());
    }

    #[test]
    fn amounts_in_messages_read_like_stripes() {
        assert_eq!(display(7000, "eur"), "€70.00");
        assert_eq!(display(480, "gbp"), "£4.80");
        assert_eq!(display(1234, "chf"), "12.34 CHF");
    }
}
