//! Connected accounts (v1, configured with controller properties rather than
//! the old Standard/Express/Custom types): Stripe's rules for creating them,
//! their onboarding states and their JSON, which `stripe_shared::Account`
//! reads.
//!
//! The rules that shape how the marketplace can pay teachers abroad: an
//! account in another country than the platform's needs the `recipient`
//! service agreement, which exists only among the US, the UK, the EEA,
//! Canada and Switzerland, and cannot take card payments.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::balances::Balance;
use super::error::ApiError;
use super::events::{self, Connect, Origin, previous_attributes};
use super::form::{Param, Params};
use super::sessions::{only_known, parse_email, parse_metadata, string_at};
use super::state::{Emulator, Inner, InnerRef, new_id};

/// The EU and Iceland, Liechtenstein and Norway.
const EEA: [&str; 30] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL",
    "PT", "RO", "SE", "SI", "SK",
];
/// Besides the EEA, where cross-border (`recipient`) accounts exist.
const CROSS_BORDER_OTHERS: [&str; 4] = ["US", "GB", "CA", "CH"];

const CREATE_PARAMS: [&str; 8] = ["controller", "capabilities", "country", "email", "metadata", "tos_acceptance", "expand", "type"];
const UPDATE_PARAMS: [&str; 3] = ["email", "metadata", "expand"];
const CONTROLLER_PARAMS: [&str; 4] = ["fees", "losses", "requirement_collection", "stripe_dashboard"];
const CAPABILITIES: [&str; 2] = ["card_payments", "transfers"];

/// What Stripe asks a new individual for before money may move, in
/// Stripe's (alphabetical) order.
const ONBOARDING_DUE: [&str; 10] = [
    "business_type",
    "external_account",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.email",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
];
/// What a submitted account that failed (or outgrew) verification owes.
const VERIFICATION_DUE: [&str; 1] = ["individual.verification.document"];

pub fn is_cross_border_country(country: &str) -> bool {
    EEA.contains(&country) || CROSS_BORDER_OTHERS.contains(&country)
}

/// The currency Stripe gives an account of `country` (and its balance shows
/// before anything arrives).
pub fn default_currency(country: &str) -> &'static str {
    match country {
        "US" => "usd",
        "GB" => "gbp",
        "CA" => "cad",
        "CH" | "LI" => "chf",
        "CZ" => "czk",
        "DK" => "dkk",
        "HU" => "huf",
        "IS" => "isk",
        "NO" => "nok",
        "PL" => "pln",
        "RO" => "ron",
        "SE" => "sek",
        "AU" => "aud",
        "JP" => "jpy",
        "NZ" => "nzd",
        "SG" => "sgd",
        other if EEA.contains(&other) => "eur",
        _ => "usd",
    }
}

/// Who pays Stripe's fees, bears losses, collects requirements, and which
/// dashboard the account gets. Stripe's defaults are a Standard account's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub fees_payer: &'static str,
    pub losses_payments: &'static str,
    pub requirement_collection: &'static str,
    pub dashboard: &'static str,
}

impl Default for Controller {
    fn default() -> Self {
        Controller { fees_payer: "account", losses_payments: "stripe", requirement_collection: "stripe", dashboard: "full" }
    }
}

impl Controller {
    /// Accounts whose controller maps to no legacy type report `none`, as
    /// Stripe documents; the platform-pays-fees ones this project creates are such.
    fn account_type(&self) -> &'static str {
        if *self == Controller::default() { "standard" } else { "none" }
    }

    fn to_json(&self) -> Value {
        json!({
            "fees": { "payer": self.fees_payer }, "is_controller": true, "losses": { "payments": self.losses_payments },
            "requirement_collection": self.requirement_collection, "stripe_dashboard": { "type": self.dashboard }, "type": "application",
        })
    }
}

/// The capabilities asked for; an account shows only those.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub transfers: bool,
    pub card_payments: bool,
}

/// A valid `POST /v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub country: String,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub controller: Controller,
    pub capabilities: Capabilities,
    pub recipient: bool,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub created: i64,
    pub spec: AccountSpec,
    /// The onboarding form was sent (`details_submitted`).
    pub details_submitted: bool,
    /// Stripe wants more before money may move again (failed or lapsed verification).
    pub restricted: bool,
    pub tos_date: Option<i64>,
    pub balance: Balance,
}

impl Account {
    pub fn new(id: String, spec: AccountSpec, now: i64) -> Self {
        Account { id, created: now, spec, details_submitted: false, restricted: false, tos_date: None, balance: Balance::default() }
    }

    fn is_active(&self) -> bool {
        self.details_submitted && !self.restricted
    }

    /// Whether transfers may reach this account: its `transfers` capability is active.
    pub fn transfers_active(&self) -> bool {
        self.spec.capabilities.transfers && self.is_active()
    }

    pub fn payouts_enabled(&self) -> bool {
        self.is_active()
    }

    pub fn default_currency(&self) -> &'static str {
        default_currency(&self.spec.country)
    }

    fn due(&self) -> &'static [&'static str] {
        if !self.details_submitted {
            &ONBOARDING_DUE
        } else if self.restricted {
            &VERIFICATION_DUE
        } else {
            &[]
        }
    }

    /// The page's Submit, or the control API's onboard: everything Stripe asked for is given.
    pub fn onboard(&mut self, now: i64) {
        self.details_submitted = true;
        self.restricted = false;
        self.tos_date.get_or_insert(now);
    }

    /// Submitted, but the identity could not be verified: Stripe restricts the account.
    pub fn submit_unverified(&mut self, now: i64) {
        self.details_submitted = true;
        self.restricted = true;
        self.tos_date.get_or_insert(now);
    }

    /// Shaped like Stripe's `account` (its OpenAPI fixture), as the platform
    /// controlling it sees it.
    pub fn to_json(&self) -> Value {
        let spec = &self.spec;
        let active = self.is_active();
        let status = if active { "active" } else { "inactive" };
        let mut capabilities = Map::new();
        if spec.capabilities.card_payments {
            capabilities.insert("card_payments".into(), Value::from(status));
        }
        if spec.capabilities.transfers {
            capabilities.insert("transfers".into(), Value::from(status));
        }
        let due = self.due();
        let requirements = json!({
            "alternatives": [], "current_deadline": null, "currently_due": due,
            "disabled_reason": (!due.is_empty()).then_some("requirements.past_due"),
            "errors": [], "eventually_due": due, "past_due": due, "pending_verification": [],
        });
        let identity = json!({
            "id": self.id,
            "object": "account",
            "business_profile": {
                "annual_revenue": null, "estimated_worker_count": null, "mcc": null, "name": null, "product_description": null,
                "support_address": null, "support_email": null, "support_phone": null, "support_url": null, "url": null,
            },
            "business_type": null,
            "capabilities": capabilities,
            "charges_enabled": active && spec.capabilities.card_payments,
            "controller": spec.controller.to_json(),
            "country": spec.country,
            "created": self.created,
            "default_currency": self.default_currency(),
            "details_submitted": self.details_submitted,
            "email": spec.email,
            "external_accounts": { "object": "list", "data": [], "has_more": false, "total_count": 0, "url": format!("/v1/accounts/{}/external_accounts", self.id) },
        });
        let state = json!({
            "future_requirements": {
                "alternatives": [], "current_deadline": null, "currently_due": [], "disabled_reason": null,
                "errors": [], "eventually_due": [], "past_due": [], "pending_verification": [],
            },
            "metadata": spec.metadata,
            "payouts_enabled": self.payouts_enabled(),
            "requirements": requirements,
            "settings": settings(),
            "tos_acceptance": {
                "date": self.tos_date, "ip": self.tos_date.map(|_| "127.0.0.1"),
                "service_agreement": if spec.recipient { "recipient" } else { "full" },
                "user_agent": self.tos_date.map(|_| "Stripe emulator onboarding"),
            },
            "type": spec.controller.account_type(),
        });
        super::objects::merge([identity, state])
    }
}

/// Stripe's defaults for a new account (nothing here is emulated further).
fn settings() -> Value {
    json!({
        "bacs_debit_payments": { "display_name": null, "service_user_number": null },
        "branding": { "icon": null, "logo": null, "primary_color": null, "secondary_color": null },
        "card_issuing": { "tos_acceptance": { "date": null, "ip": null } },
        "card_payments": {
            "decline_on": { "avs_failure": false, "cvc_failure": false },
            "statement_descriptor_prefix": null, "statement_descriptor_prefix_kana": null, "statement_descriptor_prefix_kanji": null,
        },
        "dashboard": { "display_name": null, "timezone": "Etc/UTC" },
        "invoices": { "default_account_tax_ids": null, "hosted_payment_method_save": "always" },
        "payments": { "statement_descriptor": null, "statement_descriptor_kana": null, "statement_descriptor_kanji": null },
        "payouts": { "debit_negative_balances": true, "schedule": { "delay_days": 2, "interval": "daily" }, "statement_descriptor": null },
        "sepa_debit_payments": {},
    })
}

/// `a, b, or c`, as Stripe lists an enum's values.
fn enumerate(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [one, two] => format!("{one} or {two}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

fn one_of(param: Option<&Param>, at: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, ApiError> {
    let Some(raw) = string_at(param, at)? else {
        return Ok(None);
    };
    match allowed.iter().find(|value| **value == raw) {
        Some(value) => Ok(Some(value)),
        None => Err(ApiError::invalid(format!("Invalid {at}: must be one of {}", enumerate(allowed)), at, None)),
    }
}

/// A nested object parameter, its unknown keys refused.
fn object<'a>(param: Option<&'a Param>, at: &str, known: &[&str]) -> Result<Option<&'a Params>, ApiError> {
    match param {
        None => Ok(None),
        Some(Param::Str(s)) if s.is_empty() => Ok(None),
        Some(Param::Map(map)) => {
            only_known(map, known, at)?;
            Ok(Some(map))
        }
        Some(_) => Err(ApiError::invalid("Invalid object", at, None)),
    }
}

fn parse_bool(param: Option<&Param>, at: &str) -> Result<Option<bool>, ApiError> {
    match string_at(param, at)? {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(format!("Invalid boolean: {other}"), at, None)),
    }
}

fn parse_controller(params: &Params) -> Result<Controller, ApiError> {
    let Some(controller) = object(params.get("controller"), "controller", &CONTROLLER_PARAMS)? else {
        return Ok(Controller::default());
    };
    let defaults = Controller::default();
    let fees = object(controller.get("fees"), "controller[fees]", &["payer"])?;
    let losses = object(controller.get("losses"), "controller[losses]", &["payments"])?;
    let dashboard = object(controller.get("stripe_dashboard"), "controller[stripe_dashboard]", &["type"])?;
    let parsed = Controller {
        fees_payer: one_of(fees.and_then(|f| f.get("payer")), "controller[fees][payer]", &["account", "application"])?.unwrap_or(defaults.fees_payer),
        losses_payments: one_of(losses.and_then(|l| l.get("payments")), "controller[losses][payments]", &["application", "stripe"])?.unwrap_or(defaults.losses_payments),
        requirement_collection: one_of(controller.get("requirement_collection"), "controller[requirement_collection]", &["application", "stripe"])?
            .unwrap_or(defaults.requirement_collection),
        dashboard: one_of(dashboard.and_then(|d| d.get("type")), "controller[stripe_dashboard][type]", &["express", "full", "none"])?.unwrap_or(defaults.dashboard),
    };
    // A platform that collects requirements itself must also bear the
    // losses, and its accounts get no Stripe dashboard.
    if parsed.requirement_collection == "application" && (parsed.losses_payments != "application" || parsed.dashboard != "none") {
        return Err(ApiError::invalid(
            "When `controller[requirement_collection]` is `application`, `controller[losses][payments]` must be `application` and `controller[stripe_dashboard][type]` must be `none`.",
            "controller[requirement_collection]",
            None,
        ));
    }
    Ok(parsed)
}

fn parse_capabilities(params: &Params) -> Result<Capabilities, ApiError> {
    let Some(capabilities) = object(params.get("capabilities"), "capabilities", &CAPABILITIES)? else {
        return Ok(Capabilities::default());
    };
    let requested = |name: &str| -> Result<bool, ApiError> {
        let at = format!("capabilities[{name}]");
        let capability = object(capabilities.get(name), &at, &["requested"])?;
        Ok(parse_bool(capability.and_then(|c| c.get("requested")), &format!("{at}[requested]"))?.unwrap_or(false))
    };
    Ok(Capabilities { transfers: requested("transfers")?, card_payments: requested("card_payments")? })
}

fn parse_country(params: &Params, platform_country: &str) -> Result<String, ApiError> {
    match string_at(params.get("country"), "country")? {
        None => Ok(platform_country.to_owned()),
        Some(raw) if raw.len() == 2 && raw.chars().all(|c| c.is_ascii_alphabetic()) => Ok(raw.to_ascii_uppercase()),
        Some(raw) => Err(ApiError::invalid(format!("Invalid country: {raw}. Countries are two-letter ISO codes such as `US` or `DE`."), "country", None)),
    }
}

/// `POST /v1/accounts`, refused as Stripe refuses it, for a platform in `platform_country`.
pub fn parse_create(params: &Params, platform_country: &str) -> Result<AccountSpec, ApiError> {
    only_known(params, &CREATE_PARAMS, "")?;
    if params.contains_key("type") {
        return Err(ApiError::invalid(
            "The Stripe emulator creates accounts with controller properties only (`controller[...]`), not with the legacy `type`.",
            "type",
            None,
        ));
    }
    let controller = parse_controller(params)?;
    let capabilities = parse_capabilities(params)?;
    let country = parse_country(params, platform_country)?;
    let tos = object(params.get("tos_acceptance"), "tos_acceptance", &["service_agreement"])?;
    let agreement_at = "tos_acceptance[service_agreement]";
    let recipient = one_of(tos.and_then(|t| t.get("service_agreement")), agreement_at, &["full", "recipient"])? == Some("recipient");
    if country != platform_country {
        if !is_cross_border_country(&country) || !is_cross_border_country(platform_country) {
            return Err(ApiError::invalid(
                format!(
                    "Cross-border payouts from a platform in {platform_country} to an account in {country} are not supported: they are available only among the US, the UK, the EEA, Canada and Switzerland."
                ),
                "country",
                Some("country_unsupported"),
            ));
        }
        if !recipient {
            return Err(ApiError::invalid(
                format!(
                    "An account in {country} created by a platform in {platform_country} must use the `recipient` service agreement (`tos_acceptance[service_agreement]=recipient`)."
                ),
                agreement_at,
                None,
            ));
        }
    }
    if recipient && capabilities.card_payments {
        return Err(ApiError::invalid(
            "Accounts under the `recipient` service agreement cannot request the `card_payments` capability.",
            "capabilities[card_payments]",
            None,
        ));
    }
    if recipient && controller.dashboard == "full" {
        return Err(ApiError::invalid(
            "The `recipient` service agreement is not available to accounts with the full Stripe Dashboard (`controller[stripe_dashboard][type]=full`).",
            agreement_at,
            None,
        ));
    }
    Ok(AccountSpec { country, email: parse_email(params, "email")?, metadata: parse_metadata(params.get("metadata"), "metadata")?, controller, capabilities, recipient })
}

/// Metadata as an update sets it: given keys are set, keys given empty are
/// removed, an empty `metadata` removes them all.
fn merge_metadata(existing: &BTreeMap<String, String>, param: Option<&Param>) -> Result<BTreeMap<String, String>, ApiError> {
    match param {
        None => Ok(existing.clone()),
        Some(Param::Map(map)) => {
            parse_metadata(param, "metadata")?;
            let mut merged = existing.clone();
            for (key, value) in map {
                match value.as_str() {
                    Some("") => merged.remove(key),
                    Some(value) => merged.insert(key.clone(), value.to_owned()),
                    None => None,
                };
            }
            if merged.len() > 50 {
                return Err(ApiError::invalid("Metadata can have up to 50 keys.", "metadata", None));
            }
            Ok(merged)
        }
        Some(_) => parse_metadata(param, "metadata"),
    }
}

impl Emulator {
    pub fn create_account(&self, inner: &mut InnerRef<'_>, params: &Params, now: i64) -> Result<Value, ApiError> {
        let spec = parse_create(params, &self.platform_country)?;
        let account = Account::new(new_id("acct"), spec, now);
        let json = account.to_json();
        let connect = &mut inner.get().connect;
        connect.account_order.push(account.id.clone());
        connect.accounts.insert(account.id.clone(), account);
        Ok(json)
    }

    /// What Stripe answers for an account this platform does not have.
    pub fn account_invalid(&self, id: &str) -> ApiError {
        ApiError::AccountInvalid { key: super::error::mask_key(&self.secret_key), account: id.to_owned() }
    }

    pub fn account(&self, id: &str) -> Option<Value> {
        self.lock().connect.accounts.get(id).map(Account::to_json)
    }

    /// `POST /v1/accounts/{id}`: `email` and `metadata`; `account.updated` if anything changed.
    pub fn update_account(&self, inner: &mut InnerRef<'_>, id: &str, params: &Params, now: i64, origin: &Origin) -> Result<Value, ApiError> {
        only_known(params, &UPDATE_PARAMS, "")?;
        let inner = inner.get();
        let account = inner.connect.accounts.get(id).ok_or_else(|| self.account_invalid(id))?;
        let email = match params.get("email") {
            None => account.spec.email.clone(),
            Some(_) => parse_email(params, "email")?,
        };
        let metadata = merge_metadata(&account.spec.metadata, params.get("metadata"))?;
        self.change_account(inner, id, now, origin, |account| {
            account.spec.email = email;
            account.spec.metadata = metadata;
        })
        .ok_or_else(|| self.account_invalid(id))
    }

    /// Applies `change` and, when the account's JSON changed, emits
    /// `account.updated` (a Connect event) with the previous values.
    pub(super) fn change_account(&self, inner: &mut Inner, id: &str, now: i64, origin: &Origin, change: impl FnOnce(&mut Account)) -> Option<Value> {
        let account = inner.connect.accounts.get_mut(id)?;
        let before = account.to_json();
        change(account);
        let after = account.to_json();
        if before != after {
            let connect = Connect { account: Some(id.to_owned()), previous_attributes: Some(previous_attributes(&before, &after)) };
            self.emit_event(inner, events::ACCOUNT_UPDATED, after.clone(), connect, now, origin);
        }
        Some(after)
    }

    /// The control API: onboarding completed (`restricted: false` too), or
    /// the account restricted until it gives more (`restricted: true`).
    pub fn set_account_restricted(&self, id: &str, restricted: bool, now: i64) -> Option<Value> {
        let mut inner = self.lock();
        self.change_account(&mut inner, id, now, &Origin::default(), |account| {
            if restricted {
                account.restricted = true;
            } else {
                account.onboard(now);
            }
        })
    }

    /// Every account, oldest first.
    pub fn accounts(&self) -> Vec<Value> {
        let inner = self.lock();
        inner.connect.account_order.iter().filter_map(|id| inner.connect.accounts.get(id)).map(Account::to_json).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::form;
    use super::*;

    const EXPRESS_LIKE: &str = "controller[fees][payer]=application&controller[losses][payments]=application\
         &controller[requirement_collection]=stripe&controller[stripe_dashboard][type]=express\
         &capabilities[transfers][requested]=true&email=anna@example.com&metadata[teacher_id]=t1";

    fn create(extra: &str) -> Result<AccountSpec, ApiError> {
        parse_create(&form::parse(format!("{EXPRESS_LIKE}{extra}").as_bytes()).unwrap(), "US")
    }

    fn param_of(err: ApiError) -> Option<String> {
        match err {
            ApiError::InvalidRequest { param, .. } => param,
            _ => None,
        }
    }

    #[test]
    fn a_new_account_owes_its_details_and_cannot_receive_transfers() {
        let spec = create("").unwrap();
        assert_eq!((spec.country.as_str(), spec.recipient, spec.capabilities.transfers), ("US", false, true));
        let account = Account::new("acct_1".into(), spec, 5);
        let json = account.to_json();
        assert_eq!(json["capabilities"], json!({ "transfers": "inactive" }));
        assert_eq!(json["requirements"]["disabled_reason"], "requirements.past_due");
        assert!(json["requirements"]["currently_due"].as_array().unwrap().iter().any(|d| d == "tos_acceptance.date"));
        assert_eq!((json["details_submitted"].as_bool(), json["payouts_enabled"].as_bool()), (Some(false), Some(false)));
        assert_eq!((json["type"].as_str(), json["controller"]["stripe_dashboard"]["type"].as_str()), (Some("none"), Some("express")));
        assert_eq!(json["default_currency"], "usd");
        assert!(!account.transfers_active());
    }

    #[test]
    fn onboarding_activates_and_restriction_takes_it_back() {
        let mut account = Account::new("acct_1".into(), create("").unwrap(), 5);
        account.onboard(9);
        let json = account.to_json();
        assert_eq!((json["capabilities"]["transfers"].as_str(), json["payouts_enabled"].as_bool()), (Some("active"), Some(true)));
        assert_eq!((json["requirements"]["currently_due"].as_array().map(Vec::len), json["requirements"]["disabled_reason"].as_str()), (Some(0), None));
        assert_eq!(json["tos_acceptance"]["date"], 9);
        account.restricted = true;
        let json = account.to_json();
        assert_eq!((json["capabilities"]["transfers"].as_str(), json["payouts_enabled"].as_bool()), (Some("inactive"), Some(false)));
        assert_eq!(json["requirements"]["currently_due"], json!(["individual.verification.document"]));
    }

    #[test]
    fn cross_border_needs_the_recipient_agreement_among_supported_countries() {
        assert_eq!(param_of(create("&country=DE").unwrap_err()).as_deref(), Some("tos_acceptance[service_agreement]"));
        let spec = create("&country=de&tos_acceptance[service_agreement]=recipient").unwrap();
        assert_eq!((spec.country.as_str(), spec.recipient), ("DE", true));
        assert_eq!(default_currency(&spec.country), "eur");
        assert_eq!(param_of(create("&country=JP&tos_acceptance[service_agreement]=recipient").unwrap_err()).as_deref(), Some("country"));
        assert_eq!(
            param_of(create("&country=GB&tos_acceptance[service_agreement]=recipient&capabilities[card_payments][requested]=true").unwrap_err()).as_deref(),
            Some("capabilities[card_payments]")
        );
        assert!(create("&tos_acceptance[service_agreement]=recipient").is_ok(), "a domestic recipient is fine");
    }

    #[test]
    fn unknown_and_invalid_parameters_are_named() {
        let cases = [
            ("&type=express", "type"),
            ("&business_profile[url]=x", "business_profile"),
            ("&capabilities[us_bank_account_ach_payments][requested]=true", "capabilities[us_bank_account_ach_payments]"),
            ("&capabilities[transfers][requested]=yes", "capabilities[transfers][requested]"),
            ("&controller[fees][payer]=platform", "controller[fees][payer]"),
            ("&controller[requirement_collection]=application", "controller[requirement_collection]"),
            ("&tos_acceptance[date]=1", "tos_acceptance[date]"),
            ("&country=USA", "country"),
        ];
        for (extra, param) in cases {
            assert_eq!(param_of(create(extra).expect_err(extra)).as_deref(), Some(param), "{extra}");
        }
    }

    #[test]
    fn metadata_updates_merge_and_unset() {
        let existing = BTreeMap::from([("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
        let params = form::parse(b"metadata[a]=&metadata[c]=3").unwrap();
        let merged = merge_metadata(&existing, params.get("metadata")).unwrap();
        assert_eq!(merged, BTreeMap::from([("b".to_owned(), "2".to_owned()), ("c".to_owned(), "3".to_owned())]));
        let params = form::parse(b"metadata=").unwrap();
        assert!(merge_metadata(&existing, params.get("metadata")).unwrap().is_empty());
    }
}
