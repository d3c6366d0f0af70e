//! Sending: the MIME message built with lettre (a plain-text body, each
//! invite a `text/calendar` part carrying its `method=`, as RFC 6047 and
//! Gmail want), handed to SES v2 `SendEmail` as raw content. SES has no
//! idempotency key: a crash after SES accepted a message and before the
//! outbox records it sends it again when the lease expires (README,
//! "Notifications").

use std::time::Duration;

use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{BehaviorVersion, Region};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

use super::invite::Invite;
use crate::domain::EmailAddress;

/// One message to one reader.
#[derive(Debug, Clone)]
pub struct Letter {
    pub to: EmailAddress,
    pub subject: String,
    pub body: String,
    pub invites: Vec<Invite>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// SES is throttling us (after the SDK's own retries): later.
    #[error("throttled: {0}")]
    Throttled(String),
    /// SES refused this message for good (a rejected address, a bad message).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Anything else: unreachable, 5xx, sending paused. Later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

fn calendar_type(invite: &Invite) -> ContentType {
    // Fixed tokens: the parse cannot fail on them. The name lets clients and
    // viewers that list parts show the invite as a file.
    ContentType::parse(&format!("text/calendar; charset=utf-8; method={}; name=\"lesson.ics\"", invite.method.as_str())).unwrap_or(ContentType::TEXT_PLAIN)
}

/// The message's bytes.
pub fn mime(letter: &Letter, from: &EmailAddress, from_name: &str) -> Result<Vec<u8>, SendError> {
    let bad = |e: &dyn std::fmt::Display| SendError::Rejected(format!("cannot build the message: {e}"));
    let from = Mailbox::new(Some(from_name.to_owned()), from.as_str().parse().map_err(|e| bad(&e))?);
    let to = Mailbox::new(None, letter.to.as_str().parse().map_err(|e| bad(&e))?);
    let builder = lettre::Message::builder().from(from).to(to).subject(&letter.subject).date_now();
    let text = SinglePart::plain(letter.body.clone());
    let message = match letter.invites.as_slice() {
        [] => builder.singlepart(text),
        // One invite: the calendar part beside the text, which mail clients show as an invitation.
        [one] => builder.multipart(MultiPart::alternative().singlepart(text).singlepart(SinglePart::builder().content_type(calendar_type(one)).body(one.ics.clone()))),
        many => {
            let mut parts = MultiPart::mixed().singlepart(text);
            for (i, invite) in many.iter().enumerate() {
                parts = parts.singlepart(Attachment::new(format!("lesson-{}.ics", i + 1)).body(invite.ics.clone(), calendar_type(invite)));
            }
            builder.multipart(parts)
        }
    };
    Ok(message.map_err(|e| bad(&e))?.formatted())
}

/// SES v2, built once at start-up.
#[derive(Clone)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
}

impl Mailer {
    /// From Lambda's environment (region, credentials) and
    /// `AWS_ENDPOINT_URL_SESV2` for the local SES server.
    pub fn from_env() -> Result<Self, reqwest::Error> {
        let config = Self::config()?
            .region(std::env::var("AWS_REGION").ok().map(Region::new))
            .credentials_provider(aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new());
        Ok(Self::with_endpoint(config, std::env::var("AWS_ENDPOINT_URL_SESV2").ok()))
    }

    /// A local SES server at `endpoint` (the tests, `admin notify`).
    pub fn local(endpoint: &str) -> Result<Self, reqwest::Error> {
        let config = Self::config()?.region(Region::new("us-east-1")).credentials_provider(aws_sdk_sesv2::config::Credentials::new("local", "local", None, None, "local"));
        Ok(Self::with_endpoint(config, Some(endpoint.to_owned())))
    }

    fn config() -> Result<aws_sdk_sesv2::config::Builder, reqwest::Error> {
        Ok(aws_sdk_sesv2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(crate::net::aws_http_client(Duration::from_secs(2))?)
            // SES throttles by the second: a few quick retries absorb it, the outbox retries the rest later.
            .retry_config(RetryConfig::standard().with_max_attempts(4).with_initial_backoff(Duration::from_millis(200)).with_max_backoff(Duration::from_secs(2)))
            // A hung call must not hold a sweep: each try is bounded, and the four together.
            .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).operation_attempt_timeout(Duration::from_secs(10)).operation_timeout(Duration::from_secs(30)).build()))
    }

    fn with_endpoint(mut config: aws_sdk_sesv2::config::Builder, endpoint: Option<String>) -> Self {
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        Self { client: aws_sdk_sesv2::Client::from_conf(config.build()) }
    }

    pub fn client(&self) -> &aws_sdk_sesv2::Client {
        &self.client
    }

    /// Sends one message; SES's message id.
    pub async fn send(&self, raw: Vec<u8>, from: &EmailAddress, to: &EmailAddress) -> Result<String, SendError> {
        let content = EmailContent::builder().raw(RawMessage::builder().data(Blob::new(raw)).build().map_err(|e| SendError::Rejected(e.to_string()))?).build();
        let sent = self.client.send_email().from_email_address(from.as_str()).destination(Destination::builder().to_addresses(to.as_str()).build()).content(content).send().await;
        match sent {
            Ok(out) => Ok(out.message_id.unwrap_or_default()),
            Err(err) => {
                let text = aws_sdk_sesv2::error::DisplayErrorContext(&err).to_string();
                Err(match err.as_service_error() {
                    Some(SendEmailError::TooManyRequestsException(_) | SendEmailError::LimitExceededException(_)) => SendError::Throttled(text),
                    Some(SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_)) => SendError::Rejected(text),
                    _ => SendError::Unavailable(text),
                })
            }
        }
    }
}
