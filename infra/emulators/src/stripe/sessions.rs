//! Checkout Sessions: Stripe's validation of the create parameters this
//! project sends, the session's life (open → complete | expired) and its JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::error::ApiError;
use super::form::{Param, Params};

/// Stripe's bounds for `expires_at`, relative to creation.
pub const MIN_LIFETIME_SECS: i64 = 30 * 60;
pub const MAX_LIFETIME_SECS: i64 = 24 * 60 * 60;
const MAX_LINE_ITEMS: usize = 100;
/// Stripe refuses amounts above 8 digits of minor units.
const MAX_AMOUNT: i64 = 99_999_999;
const MAX_CLIENT_REFERENCE_ID: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Complete,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Complete => "complete",
            Status::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub name: String,
    pub unit_amount: i64,
    pub quantity: i64,
}

impl LineItem {
    pub fn amount(&self) -> i64 {
        self.unit_amount.saturating_mul(self.quantity)
    }
}

/// What a valid create request asks for; identifiers and URLs are added by
/// the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    pub line_items: Vec<LineItem>,
    pub currency: String,
    pub amount_total: i64,
    pub expires_at: i64,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub payment_intent_metadata: BTreeMap<String, String>,
    /// `payment_intent_data[transfer_group]`: ties the payment to the
    /// transfers that pay its teachers (separate charges and transfers).
    pub transfer_group: Option<String>,
}

/// How a completed session's money stands: at once for cards, later for
/// delayed methods (SEPA debit, bank transfers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funds {
    Settled,
    Processing,
    Failed,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub created: i64,
    pub url: String,
    pub status: Status,
    pub payment_intent: Option<String>,
    pub funds: Funds,
    pub spec: SessionSpec,
}

impl Session {
    pub fn payment_status(&self) -> &'static str {
        match (self.status, self.funds) {
            (Status::Complete, _) if self.spec.amount_total == 0 => "no_payment_required",
            (Status::Complete, Funds::Settled) => "paid",
            _ => "unpaid",
        }
    }

    pub fn is_due(&self, now: i64) -> bool {
        self.status == Status::Open && self.spec.expires_at <= now
    }

    /// The session's line items as `GET …/line_items` and `expand[]=line_items` show them.
    pub fn line_items_json(&self) -> Value {
        let suffix = self.id.trim_start_matches("cs_test_");
        let data: Vec<Value> = self
            .spec
            .line_items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                json!({
                    "id": format!("li_{suffix}_{i}"), "object": "item",
                    "amount_discount": 0, "amount_subtotal": item.amount(), "amount_tax": 0, "amount_total": item.amount(),
                    "currency": self.spec.currency, "description": item.name, "quantity": item.quantity,
                    "price": {
                        "id": format!("price_{suffix}_{i}"), "object": "price", "active": false, "currency": self.spec.currency,
                        "product": format!("prod_{suffix}_{i}"), "type": "one_time", "unit_amount": item.unit_amount, "livemode": false
                    }
                })
            })
            .collect();
        json!({ "object": "list", "data": data, "has_more": false, "url": format!("/v1/checkout/sessions/{}/line_items", self.id) })
    }

    /// `{CHECKOUT_SESSION_ID}` is the template variable Stripe fills in.
    pub fn success_redirect(&self) -> String {
        self.spec.success_url.replace("{CHECKOUT_SESSION_ID}", &self.id)
    }

    /// Shaped like Stripe's `checkout.session` (infra/fixtures/stripe): every
    /// field of the real object, with the values Stripe gives a hosted,
    /// card-only, payment-mode session.
    pub fn to_json(&self) -> Value {
        let spec = &self.spec;
        let complete = self.status == Status::Complete;
        // Split in three: one json! of this size exceeds the macro recursion limit.
        let identity = json!({
            "id": self.id,
            "object": "checkout.session",
            "adaptive_pricing": { "enabled": false },
            "after_expiration": null,
            "allow_promotion_codes": null,
            "amount_subtotal": spec.amount_total,
            "amount_total": spec.amount_total,
            "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
            "billing_address_collection": null,
            "cancel_url": spec.cancel_url,
            "client_reference_id": spec.client_reference_id,
            "client_secret": null,
            "collected_information": null,
            "consent": null,
            "consent_collection": null,
            "created": self.created,
            "currency": spec.currency,
            "currency_conversion": null,
            "custom_fields": [],
            "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        });
        let customer = json!({
            "customer": null,
            "customer_account": null,
            "customer_creation": "if_required",
            "customer_details": complete.then(|| self.customer_details()),
            "customer_email": spec.customer_email,
            "discounts": [],
            "expires_at": spec.expires_at,
            "integration_identifier": null,
            "invoice": null,
            "invoice_creation": {
                "enabled": false,
                "invoice_data": {
                    "account_tax_ids": null, "custom_fields": null, "description": null, "footer": null,
                    "issuer": null, "metadata": {}, "rendering_options": null
                }
            },
            "livemode": false,
            "locale": null,
            "managed_payments": { "enabled": false },
        });
        let payment = json!({
            "metadata": spec.metadata,
            "mode": "payment",
            "origin_context": null,
            "payment_intent": self.payment_intent,
            "payment_link": null,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": null,
            "payment_method_options": { "card": { "request_three_d_secure": "automatic" } },
            "payment_method_types": ["card"],
            "payment_status": self.payment_status(),
            "permissions": null,
            "phone_number_collection": { "enabled": false },
            "recovered_from": null,
            "saved_payment_method_options": null,
            "setup_intent": null,
            "shipping_address_collection": null,
            "shipping_cost": null,
            "shipping_options": [],
            "status": self.status.as_str(),
            "submit_type": null,
            "subscription": null,
            "success_url": spec.success_url,
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "ui_mode": "hosted",
            "url": (self.status == Status::Open).then_some(&self.url),
            "wallet_options": null,
        });
        super::objects::merge([identity, customer, payment])
    }

    fn customer_details(&self) -> Value {
        json!({
            "address": null,
            "business_name": null,
            "email": self.spec.customer_email.as_deref().unwrap_or("customer@example.com"),
            "individual_name": null,
            "name": "Emulated Customer",
            "phone": null,
            "tax_exempt": "none",
            "tax_ids": [],
        })
    }
}

/// The create parameters the emulator knows, at each level. Anything else is
/// refused as Stripe refuses it (`parameter_unknown`), which is how a
/// parameter removed in a new API version (`payment_method_types` in
/// 2026-09-30) surfaces.
const CREATE_PARAMS: [&str; 10] =
    ["mode", "success_url", "cancel_url", "line_items", "expires_at", "client_reference_id", "customer_email", "metadata", "payment_intent_data", "expand"];
const LINE_ITEM_PARAMS: [&str; 2] = ["price_data", "quantity"];
const PRICE_DATA_PARAMS: [&str; 3] = ["currency", "unit_amount", "product_data"];
const PRODUCT_DATA_PARAMS: [&str; 2] = ["name", "description"];
const PAYMENT_INTENT_DATA_PARAMS: [&str; 2] = ["metadata", "transfer_group"];

/// Refuses the first parameter not in `known`, named as Stripe names it.
pub fn only_known(params: &Params, known: &[&str], prefix: &str) -> Result<(), ApiError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(unknown) => {
            let name = if prefix.is_empty() { unknown.clone() } else { format!("{prefix}[{unknown}]") };
            Err(ApiError::invalid(format!("Received unknown parameter: {name}"), name, Some("parameter_unknown")))
        }
        None => Ok(()),
    }
}

fn check_known(params: &Params) -> Result<(), ApiError> {
    only_known(params, &CREATE_PARAMS, "")?;
    if let Some(data) = params.get("payment_intent_data").and_then(Param::as_map) {
        only_known(data, &PAYMENT_INTENT_DATA_PARAMS, "payment_intent_data")?;
    }
    for (i, item) in params.get("line_items").and_then(Param::as_map).into_iter().flatten() {
        let Some(item) = item.as_map() else { continue };
        let at = format!("line_items[{i}]");
        only_known(item, &LINE_ITEM_PARAMS, &at)?;
        if let Some(price) = item.get("price_data").and_then(Param::as_map) {
            only_known(price, &PRICE_DATA_PARAMS, &format!("{at}[price_data]"))?;
            if let Some(product) = price.get("product_data").and_then(Param::as_map) {
                only_known(product, &PRODUCT_DATA_PARAMS, &format!("{at}[price_data][product_data]"))?;
            }
        }
    }
    Ok(())
}

/// Whether `expand[]` asks for `field`.
pub fn expands(params: &Params, field: &str) -> bool {
    match params.get("expand") {
        Some(Param::Str(s)) => s == field,
        Some(Param::Map(items)) => items.values().any(|v| v.as_str() == Some(field)),
        _ => false,
    }
}

/// Stripe's checks on the parameters this project sends.
pub fn parse_create(params: &Params, now: i64) -> Result<SessionSpec, ApiError> {
    check_known(params)?;
    check_mode(params)?;
    let success_url = url_param(params, "success_url")?.ok_or_else(|| ApiError::missing("success_url"))?;
    let cancel_url = url_param(params, "cancel_url")?;
    let (line_items, currency) = parse_line_items(params)?;
    let amount_total = total(&line_items)?;
    Ok(SessionSpec {
        line_items,
        currency,
        amount_total,
        expires_at: parse_expires_at(params, now)?,
        success_url,
        cancel_url,
        client_reference_id: parse_client_reference_id(params)?,
        customer_email: parse_customer_email(params)?,
        metadata: parse_metadata(params.get("metadata"), "metadata")?,
        payment_intent_metadata: parse_payment_intent_metadata(params)?,
        transfer_group: parse_transfer_group(params)?,
    })
}

fn check_mode(params: &Params) -> Result<(), ApiError> {
    match string_param(params, "mode")? {
        None => Err(ApiError::missing("mode")),
        Some("payment") => Ok(()),
        Some("setup" | "subscription") => {
            Err(ApiError::invalid("The Stripe emulator supports only `mode=payment` Checkout Sessions.", "mode", None))
        }
        Some(other) => Err(ApiError::invalid(
            format!("Invalid mode: must be one of payment, setup, or subscription (got {other})."),
            "mode",
            None,
        )),
    }
}

pub(super) fn string_param<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, ApiError> {
    string_at(params.get(name), name)
}

/// A scalar parameter; an empty string counts as absent, as Stripe treats it
/// as "unset".
pub(super) fn string_at<'a>(param: Option<&'a Param>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match param {
        None => Ok(None),
        Some(Param::Str(s)) if s.is_empty() => Ok(None),
        Some(Param::Str(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("Invalid string: {name} must be a string, not an object."), name, None)),
    }
}

pub(super) fn url_param(params: &Params, name: &str) -> Result<Option<String>, ApiError> {
    let Some(url) = string_param(params, name)? else {
        return Ok(None);
    };
    // The URL ends up in a `Location` header, which cannot carry whitespace
    // or control characters.
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if scheme_ok && !url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(Some(url.to_owned()))
    } else {
        Err(ApiError::invalid("Not a valid URL", name, Some("url_invalid")))
    }
}

fn parse_line_items(params: &Params) -> Result<(Vec<LineItem>, String), ApiError> {
    let missing = || ApiError::invalid("You must provide at least one line item in `payment` mode.", "line_items", Some("parameter_missing"));
    let Some(param) = params.get("line_items") else {
        return Err(missing());
    };
    let items = param.items().ok_or_else(|| ApiError::invalid("Invalid array", "line_items", None))?;
    if items.is_empty() {
        return Err(missing());
    }
    if items.len() > MAX_LINE_ITEMS {
        return Err(ApiError::invalid(
            format!("Too many line items: a Checkout Session accepts at most {MAX_LINE_ITEMS} (got {}).", items.len()),
            "line_items",
            None,
        ));
    }
    let mut parsed = Vec::with_capacity(items.len());
    let mut currency: Option<String> = None;
    for (index, item) in items.into_iter().enumerate() {
        let (line, item_currency) = parse_line_item(item, &format!("line_items[{index}]"))?;
        match &currency {
            Some(first) if *first != item_currency => {
                return Err(ApiError::invalid(
                    "All line items in a Checkout Session must use the same currency.",
                    format!("line_items[{index}][price_data][currency]"),
                    None,
                ));
            }
            _ => currency = Some(item_currency),
        }
        parsed.push(line);
    }
    Ok((parsed, currency.unwrap_or_default()))
}

fn parse_line_item(item: &Param, at: &str) -> Result<(LineItem, String), ApiError> {
    let item = item.as_map().ok_or_else(|| ApiError::invalid("Invalid object", at, None))?;
    if item.contains_key("price") {
        return Err(ApiError::invalid(
            "The Stripe emulator supports only `price_data` line items; saved Prices are not emulated.",
            format!("{at}[price]"),
            None,
        ));
    }
    let price_at = format!("{at}[price_data]");
    let price = object_at(item.get("price_data"), &price_at)?;
    let currency = parse_currency(price.get("currency"), &format!("{price_at}[currency]"))?;
    let name = product_name(price, &price_at)?;
    let unit_amount = parse_unit_amount(price.get("unit_amount"), &format!("{price_at}[unit_amount]"))?;
    let quantity = parse_quantity(item.get("quantity"), &format!("{at}[quantity]"))?;
    Ok((LineItem { name, unit_amount, quantity }, currency))
}

fn object_at<'a>(param: Option<&'a Param>, at: &str) -> Result<&'a Params, ApiError> {
    match param {
        None => Err(ApiError::missing(at)),
        Some(param) => param.as_map().ok_or_else(|| ApiError::invalid("Invalid object", at, None)),
    }
}

fn product_name(price: &Params, price_at: &str) -> Result<String, ApiError> {
    if price.contains_key("product") {
        return Err(ApiError::invalid(
            "The Stripe emulator supports only `product_data`; saved Products are not emulated.",
            format!("{price_at}[product]"),
            None,
        ));
    }
    let product_at = format!("{price_at}[product_data]");
    let product = object_at(price.get("product_data"), &product_at)?;
    let name_at = format!("{product_at}[name]");
    match product.get("name") {
        None => Err(ApiError::missing(name_at)),
        Some(Param::Str(name)) if name.trim().is_empty() => Err(empty_string(&name_at)),
        Some(Param::Str(name)) => Ok(name.clone()),
        Some(_) => Err(ApiError::invalid("Invalid string", name_at, None)),
    }
}

/// Stripe's wording for an empty value where unsetting is impossible.
pub(super) fn empty_string(param: &str) -> ApiError {
    ApiError::invalid(
        format!(
            "You passed an empty string for '{param}'. We assume empty values are an attempt to unset a parameter; however '{param}' cannot be unset. You should remove '{param}' from your request or supply a non-empty value."
        ),
        param,
        Some("parameter_invalid_empty"),
    )
}

pub(super) fn parse_currency(param: Option<&Param>, at: &str) -> Result<String, ApiError> {
    let raw = string_at(param, at)?.ok_or_else(|| ApiError::missing(at))?;
    if raw.len() == 3 && raw.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid(format!("Invalid currency: {raw}. Currencies are three-letter ISO codes such as `eur`."), at, None))
    }
}

pub(super) fn parse_integer(param: Option<&Param>, at: &str) -> Result<Option<i64>, ApiError> {
    let Some(raw) = string_at(param, at)? else {
        return Ok(None);
    };
    raw.parse::<i64>()
        .map(Some)
        .map_err(|_| ApiError::invalid(format!("Invalid integer: {raw}"), at, Some("parameter_invalid_integer")))
}

fn parse_unit_amount(param: Option<&Param>, at: &str) -> Result<i64, ApiError> {
    let amount = parse_integer(param, at)?.ok_or_else(|| ApiError::missing(at))?;
    if amount < 0 {
        return Err(ApiError::invalid("Invalid non-negative integer", at, Some("parameter_invalid_integer")));
    }
    if amount > MAX_AMOUNT {
        return Err(ApiError::invalid(format!("This value must be less than or equal to {MAX_AMOUNT}."), at, Some("parameter_invalid_integer")));
    }
    Ok(amount)
}

fn parse_quantity(param: Option<&Param>, at: &str) -> Result<i64, ApiError> {
    let quantity = parse_integer(param, at)?.ok_or_else(|| ApiError::missing(at))?;
    if quantity < 1 {
        return Err(ApiError::invalid("This value must be greater than or equal to 1.", at, Some("parameter_invalid_integer")));
    }
    Ok(quantity)
}

fn total(items: &[LineItem]) -> Result<i64, ApiError> {
    let sum = items
        .iter()
        .try_fold(0i64, |sum, item| item.unit_amount.checked_mul(item.quantity).and_then(|amount| sum.checked_add(amount)));
    match sum {
        Some(sum) if sum <= MAX_AMOUNT => Ok(sum),
        _ => Err(ApiError::invalid(
            format!("The Checkout Session's total amount must be no more than {MAX_AMOUNT} in minor units."),
            "line_items",
            Some("amount_too_large"),
        )),
    }
}

fn parse_expires_at(params: &Params, now: i64) -> Result<i64, ApiError> {
    let Some(expires_at) = parse_integer(params.get("expires_at"), "expires_at")? else {
        return Ok(now + MAX_LIFETIME_SECS);
    };
    if expires_at - now < MIN_LIFETIME_SECS {
        return Err(ApiError::invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            "expires_at",
            None,
        ));
    }
    if expires_at - now > MAX_LIFETIME_SECS {
        return Err(ApiError::invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            "expires_at",
            None,
        ));
    }
    Ok(expires_at)
}

fn parse_client_reference_id(params: &Params) -> Result<Option<String>, ApiError> {
    let Some(id) = string_param(params, "client_reference_id")? else {
        return Ok(None);
    };
    if id.chars().count() > MAX_CLIENT_REFERENCE_ID {
        return Err(ApiError::invalid(
            format!("Invalid string: client_reference_id must be at most {MAX_CLIENT_REFERENCE_ID} characters."),
            "client_reference_id",
            None,
        ));
    }
    Ok(Some(id.to_owned()))
}

fn parse_customer_email(params: &Params) -> Result<Option<String>, ApiError> {
    parse_email(params, "customer_email")
}

pub(super) fn parse_email(params: &Params, name: &str) -> Result<Option<String>, ApiError> {
    let Some(email) = string_param(params, name)? else {
        return Ok(None);
    };
    let plausible = email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if plausible {
        Ok(Some(email.to_owned()))
    } else {
        Err(ApiError::invalid(format!("Invalid email address: {email}"), name, Some("email_invalid")))
    }
}

fn parse_transfer_group(params: &Params) -> Result<Option<String>, ApiError> {
    let data = params.get("payment_intent_data").and_then(Param::as_map);
    Ok(string_at(data.and_then(|d| d.get("transfer_group")), "payment_intent_data[transfer_group]")?.map(str::to_owned))
}

fn parse_payment_intent_metadata(params: &Params) -> Result<BTreeMap<String, String>, ApiError> {
    match params.get("payment_intent_data") {
        None => Ok(BTreeMap::new()),
        Some(param) => {
            let data = param.as_map().ok_or_else(|| ApiError::invalid("Invalid object", "payment_intent_data", None))?;
            parse_metadata(data.get("metadata"), "payment_intent_data[metadata]")
        }
    }
}

/// Stripe's metadata limits: 50 keys, keys up to 40 characters, values up
/// to 500; an empty value unsets its key.
pub fn parse_metadata(param: Option<&Param>, at: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let map = match param {
        None => return Ok(BTreeMap::new()),
        Some(Param::Str(s)) if s.is_empty() => return Ok(BTreeMap::new()),
        Some(Param::Map(map)) => map,
        Some(_) => return Err(ApiError::invalid("Invalid object", at, None)),
    };
    let mut metadata = BTreeMap::new();
    for (key, value) in map {
        let key_at = format!("{at}[{key}]");
        let value = value.as_str().ok_or_else(|| ApiError::invalid("Invalid string: metadata values must be strings.", &key_at, None))?;
        if key.chars().count() > 40 {
            return Err(ApiError::invalid("Metadata keys can have up to 40 characters.", key_at, None));
        }
        if value.chars().count() > 500 {
            return Err(ApiError::invalid("Metadata values can have up to 500 characters.", key_at, None));
        }
        if !value.is_empty() {
            metadata.insert(key.clone(), value.to_owned());
        }
    }
    if metadata.len() > 50 {
        return Err(ApiError::invalid("Metadata can have up to 50 keys.", at, None));
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::super::form;
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn base() -> String {
        "mode=payment&success_url=https%3A%2F%2Fex.com%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D&cancel_url=https%3A%2F%2Fex.com%2Fno\
         &line_items[0][price_data][currency]=EUR&line_items[0][price_data][unit_amount]=1800\
         &line_items[0][price_data][product_data][name]=Guitar&line_items[0][quantity]=2"
            .to_owned()
    }

    fn create(body: &str) -> Result<SessionSpec, ApiError> {
        parse_create(&form::parse(body.as_bytes()).unwrap(), NOW)
    }

    fn param_of(err: ApiError) -> Option<String> {
        match err {
            ApiError::InvalidRequest { param, .. } => param,
            _ => None,
        }
    }

    #[test]
    fn valid_request_gives_totals_and_defaults() {
        let spec = create(&format!("{}&metadata[checkout_id]=c1&payment_intent_data[metadata][booking]=b1&payment_intent_data[transfer_group]=c1&expand[]=x", base())).unwrap();
        assert_eq!(spec.currency, "eur");
        assert_eq!(spec.amount_total, 3600);
        assert_eq!(spec.expires_at, NOW + MAX_LIFETIME_SECS);
        assert_eq!(spec.metadata["checkout_id"], "c1");
        assert_eq!(spec.payment_intent_metadata["booking"], "b1");
        assert_eq!(spec.transfer_group.as_deref(), Some("c1"));
        assert_eq!(spec.line_items[0], LineItem { name: "Guitar".into(), unit_amount: 1800, quantity: 2 });
    }

    #[test]
    fn missing_and_invalid_parameters_are_named() {
        let cases = [
            (base().replace("mode=payment", "mode=setup"), "mode"),
            (base().replace("mode=payment&", ""), "mode"),
            (base().replace("success_url=https%3A%2F%2Fex.com%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D&", ""), "success_url"),
            (format!("{}&payment_method_types[0]=card", base()), "payment_method_types"),
            (format!("{}&line_items[0][price]=price_1", base()), "line_items[0][price]"),
            (format!("{}&payment_intent_data[capture_method]=manual", base()), "payment_intent_data[capture_method]"),
            (base().replace("cancel_url=https", "cancel_url=ftp"), "cancel_url"),
            (base().replace("cancel_url=https%3A%2F%2Fex.com", "cancel_url=https%3A%2F%2Fex.com%0A"), "cancel_url"),
            (base().replace("=1800", "=18.5"), "line_items[0][price_data][unit_amount]"),
            (base().replace("=1800", "=-1"), "line_items[0][price_data][unit_amount]"),
            (base().replace("=EUR", "=EURO"), "line_items[0][price_data][currency]"),
            (base().replace("[quantity]=2", "[quantity]=0"), "line_items[0][quantity]"),
            (base().replace("&line_items[0][quantity]=2", ""), "line_items[0][quantity]"),
            (base().replace("[name]=Guitar", "[name]="), "line_items[0][price_data][product_data][name]"),
            (format!("{}&expires_at={}", base(), NOW + MIN_LIFETIME_SECS - 1), "expires_at"),
            (format!("{}&expires_at={}", base(), NOW + MAX_LIFETIME_SECS + 1), "expires_at"),
            (format!("{}&expires_at=soon", base()), "expires_at"),
            (format!("{}&customer_email=nope", base()), "customer_email"),
            (format!("{}&metadata[{}]=v", base(), "k".repeat(41)), &format!("metadata[{}]", "k".repeat(41))),
        ];
        for (body, param) in cases {
            let err = create(&body).expect_err(&body);
            assert_eq!(param_of(err).as_deref(), Some(param), "{body}");
        }
    }

    #[test]
    fn line_item_count_is_bounded() {
        let items = |n: usize| {
            (0..n)
                .map(|i| format!("&line_items[{i}][price_data][currency]=eur&line_items[{i}][price_data][unit_amount]=1&line_items[{i}][price_data][product_data][name]=n&line_items[{i}][quantity]=1"))
                .collect::<String>()
        };
        let head = "mode=payment&success_url=https://ex.com";
        assert_eq!(create(&format!("{head}{}", items(100))).unwrap().line_items.len(), 100);
        assert_eq!(param_of(create(&format!("{head}{}", items(101))).unwrap_err()).as_deref(), Some("line_items"));
        assert_eq!(param_of(create(head).unwrap_err()).as_deref(), Some("line_items"));
    }

    #[test]
    fn expires_at_bounds_are_inclusive() {
        assert!(create(&format!("{}&expires_at={}", base(), NOW + MIN_LIFETIME_SECS)).is_ok());
        assert!(create(&format!("{}&expires_at={}", base(), NOW + MAX_LIFETIME_SECS)).is_ok());
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let body = format!(
            "{}&line_items[1][price_data][currency]=usd&line_items[1][price_data][unit_amount]=1&line_items[1][price_data][product_data][name]=n&line_items[1][quantity]=1",
            base()
        );
        assert_eq!(param_of(create(&body).unwrap_err()).as_deref(), Some("line_items[1][price_data][currency]"));
    }

    fn session(status: Status, amount: i64) -> Session {
        let mut spec = create(&base()).unwrap();
        spec.amount_total = amount;
        Session { id: "cs_test_1".into(), created: NOW, url: "http://127.0.0.1:1/pay/cs_test_1".into(), status, payment_intent: None, funds: Funds::Settled, spec }
    }

    #[test]
    fn json_has_every_fixture_field() {
        let fixture: Value = serde_json::from_str(include_str!("../../../fixtures/stripe/checkout_session.json")).unwrap();
        let ours = session(Status::Open, 3600).to_json();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        assert_eq!(keys(&ours), keys(&fixture));
        assert_eq!(ours["url"], "http://127.0.0.1:1/pay/cs_test_1");
        assert_eq!(ours["payment_status"], "unpaid");
    }

    #[test]
    fn payment_status_follows_status_and_amount() {
        assert_eq!(session(Status::Complete, 3600).payment_status(), "paid");
        assert_eq!(session(Status::Complete, 0).payment_status(), "no_payment_required");
        assert_eq!(session(Status::Expired, 3600).payment_status(), "unpaid");
        assert_eq!(session(Status::Expired, 3600).to_json()["url"], Value::Null);
    }

    #[test]
    fn success_url_gets_the_session_id() {
        assert_eq!(session(Status::Open, 1).success_redirect(), "https://ex.com/ok?s=cs_test_1");
    }
}
