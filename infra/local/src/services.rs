//! What the functions talk to on this machine: dynoxide with the table and the
//! demo teachers, and the Stripe, 100ms and SES emulators, configured from the same
//! variables the functions read (`.env.local`). `make dev` and `make bench`
//! both start them here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shared::auth;
use shared::config::{self, StoreConfig};
use shared::payments::StripeConfig;
use shared::rooms::HmsConfig;
use shared::store::Store;

use crate::dynamo::{LocalDynamo, local_client};
use emulators::hms::{HmsEmulator, HmsEmulatorConfig};
use emulators::ses::{SesEmulator, SesEmulatorConfig};
use emulators::stripe::{EmulatorConfig, StripeEmulator};

/// The variables of `.env.local` the services need.
pub struct LocalConfig {
    pub store: StoreConfig,
    pub jwt_secret: String,
    pub stripe: StripeConfig,
    pub webhook_secret: String,
    /// `STRIPE_CONNECT_WEBHOOK_SECRET`: the Connect endpoint's (teachers' accounts).
    pub connect_webhook_secret: Option<String>,
    pub hms: HmsConfig,
    pub mail: shared::notify::MailConfig,
    /// `AWS_ENDPOINT_URL_SESV2`: where the SES emulator listens.
    pub ses_endpoint: String,
    /// `SES_VIEWER_URL`: the mail viewer (aws-ses-v2-local) the SES emulator hands mails to.
    pub ses_viewer: Option<String>,
}

impl LocalConfig {
    pub fn from_env() -> Result<Self, String> {
        let store = config::load(StoreConfig::read).map_err(|e| e.to_string())?;
        let (jwt_secret, stripe, webhook_secret, connect_webhook_secret, hms) = config::load(|env| {
            let parts = (
                auth::read_signing_secret(env),
                StripeConfig::read(env),
                env.required("STRIPE_WEBHOOK_SECRET", "see .env.local", |s| Ok(s.to_owned())),
                env.optional("STRIPE_CONNECT_WEBHOOK_SECRET", "see .env.local", |s| Ok(s.to_owned())),
                HmsConfig::read(env),
            );
            Some((parts.0?, parts.1?, parts.2?, parts.3, parts.4?))
        })
        .map_err(|e| e.to_string())?;
        let (mail, ses_endpoint, ses_viewer) = config::load(|env| {
            let mail = shared::notify::MailConfig::read(env);
            let endpoint = env.required("AWS_ENDPOINT_URL_SESV2", "see .env.local", |s| Ok(s.to_owned()));
            let viewer = env.optional("SES_VIEWER_URL", "see .env.local", |s| Ok(s.to_owned()));
            Some((mail?, endpoint?, viewer))
        })
        .map_err(|e| e.to_string())?;
        Ok(Self { store, jwt_secret, stripe, webhook_secret, connect_webhook_secret, hms, mail, ses_endpoint, ses_viewer })
    }
}

/// Where each service listens; 0 picks a free port.
pub struct Ports {
    pub dynamo: u16,
    pub stripe: u16,
    pub hms: u16,
    pub ses: u16,
}

impl Ports {
    /// The ports the functions are told about in `.env.local`.
    pub fn configured(config: &LocalConfig, dynamo: u16) -> Result<Self, String> {
        Ok(Self {
            dynamo,
            stripe: loopback_port(&config.stripe.api_base, "STRIPE_API_BASE")?,
            hms: loopback_port(&config.hms.api_base, "HMS_API_BASE")?,
            ses: loopback_port(&config.ses_endpoint, "AWS_ENDPOINT_URL_SESV2")?,
        })
    }
}

/// The running services; dropping them stops all three.
pub struct Services {
    pub dynamo: LocalDynamo,
    pub stripe: StripeEmulator,
    pub hms: HmsEmulator,
    pub ses: SesEmulator,
    pub store: Store,
    /// The ids of the demo teachers loaded, in file order.
    pub teachers: Vec<String>,
}

impl Services {
    /// Starts the services on `db`, creates the table (if new) and loads every
    /// `*.json` profile file in `seed_dir`. Stripe events go to `webhook_url`
    /// (or are only recorded).
    pub async fn start(config: &LocalConfig, db: dynoxide::Database, ports: Ports, seed_dir: &Path, webhook_url: Option<String>) -> Result<Self, String> {
        let dynamo = LocalDynamo::start(db, ports.dynamo, &config.store.table_name).await.map_err(|e| format!("DynamoDB port {}: {e}", ports.dynamo))?;
        let store = Store::new(local_client(&dynamo.endpoint()), config.store.table_name.clone());
        let spec = infra::table::TableSpec::load().map_err(|e| e.to_string())?;
        infra::table::create_table(store.client(), store.table(), &spec).await.map_err(|e| e.to_string())?;
        let teachers = seed_dir_into(&store, seed_dir).await?;
        // Events of teachers' connected accounts go to stripe-webhook's Connect endpoint.
        let connect_webhook_url = webhook_url.as_ref().map(|url| format!("{}/connect", url.trim_end_matches('/')));
        let stripe = StripeEmulator::start(EmulatorConfig {
            port: ports.stripe,
            secret_key: config.stripe.secret_key.clone(),
            webhook_secret: config.webhook_secret.clone(),
            webhook_url,
            connect_webhook_url,
            connect_webhook_secret: config.connect_webhook_secret.clone(),
            retry_base: Duration::from_secs(2),
            ..EmulatorConfig::default()
        })
        .await
        .map_err(|e| format!("Stripe emulator port {}: {e}", ports.stripe))?;
        let hms = HmsEmulator::start(HmsEmulatorConfig {
            port: ports.hms,
            access_key: config.hms.access_key.clone(),
            secret: config.hms.secret.clone(),
            template_id: config.hms.template_id.clone(),
            roles: vec![config.hms.teacher_role.clone(), config.hms.student_role.clone()],
        })
        .await
        .map_err(|e| format!("100ms emulator port {}: {e}", ports.hms))?;
        // The sender's domain is verified, as `make doctor` wants it in SES.
        let domain = config.mail.from.as_str().rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
        let ses = SesEmulator::start(SesEmulatorConfig { port: ports.ses, verified: vec![domain], forward_to: config.ses_viewer.clone() })
            .await
            .map_err(|e| format!("SES emulator port {}: {e}", ports.ses))?;
        Ok(Self { dynamo, stripe, hms, ses, store, teachers })
    }

    /// The variables that point a function at these services (over what
    /// `.env.local` says, when the ports were picked freely).
    pub fn endpoints(&self) -> [(&'static str, String); 4] {
        [("AWS_ENDPOINT_URL_DYNAMODB", self.dynamo.endpoint()), ("STRIPE_API_BASE", self.stripe.base_url()), ("HMS_API_BASE", self.hms.base_url()), ("AWS_ENDPOINT_URL_SESV2", self.ses.endpoint())]
    }
}

/// The emulators listen where the functions are told the providers are.
fn loopback_port(base: &str, variable: &str) -> Result<u16, String> {
    reqwest::Url::parse(base)
        .ok()
        .filter(|url| url.host_str() == Some("127.0.0.1"))
        .and_then(|url| url.port())
        .ok_or_else(|| format!("{variable} must be http://127.0.0.1:PORT/... for the local stack, not {base}"))
}

async fn seed_dir_into(store: &Store, dir: &Path) -> Result<Vec<String>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut ids = Vec::new();
    for file in files {
        let profiles = infra::seed::read_profiles(&file).map_err(|e| e.to_string())?;
        infra::seed::load_profiles(store, &profiles).await.map_err(|e| e.to_string())?;
        ids.extend(profiles.iter().map(|p| p.id().to_string()));
    }
    Ok(ids)
}
