use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Whether a single-item write was refused by its condition: another write
/// came first, which the caller answers in its own terms, not as a failure.
pub(crate) fn lost_condition<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException")
}

/// A failure talking to the table. `transient` failures (throttling,
/// timeouts, the service failing on its side) are worth a retry by the
/// caller and map to 503 (`ApiError::from`); so does a refusal of our
/// credentials (`denied`: a deployment fault, not a bug in the request);
/// anything else is a bug or corrupt data and maps to 500.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct StoreError {
    operation: &'static str,
    message: String,
    transient: bool,
    denied: bool,
}

/// DynamoDB's answers that refuse the caller rather than the request: the
/// function's role lacks a grant, or its credentials are not accepted.
const DENIALS: [&str; 4] = ["AccessDeniedException", "UnrecognizedClientException", "MissingAuthenticationTokenException", "InvalidSignatureException"];

impl StoreError {
    pub fn corrupt(operation: &'static str, message: impl std::fmt::Display) -> Self {
        Self { operation, message: format!("corrupt item: {message}"), transient: false, denied: false }
    }

    /// DynamoDB kept refusing work for capacity reasons: worth a later retry.
    pub fn throttled(operation: &'static str, message: impl std::fmt::Display) -> Self {
        Self { operation, message: message.to_string(), transient: true, denied: false }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// DynamoDB refused this function's credentials or role (a policy
    /// missing a grant): never the request's fault, never a 500.
    pub fn is_denied(&self) -> bool {
        self.denied
    }

    /// The one classification of the SDK's failures, after its own retries.
    /// No answer (a timeout, a connection that failed before or during the
    /// answer) and any 5xx leave the call's outcome unknown: DynamoDB, or
    /// whatever answers in its place, failed on its side, and a later
    /// attempt may well succeed, so these are transient (503), whether or
    /// not the body named an error code. A 4xx is transient only for
    /// throttling; any other is a request we got wrong (500).
    pub(crate) fn sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let transient = match &err {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => {
                service.raw().status().is_server_error()
                    || matches!(
                        service.err().code(),
                        Some(
                            "ProvisionedThroughputExceededException"
                                | "ThrottlingException"
                                | "RequestLimitExceeded"
                                // The same ClientRequestToken is still being executed.
                                | "TransactionInProgressException"
                        )
                    )
            }
            _ => false,
        };
        let message = match &err {
            SdkError::ServiceError(service) => match service.err().code() {
                Some(code) => format!("{code}: {}", service.err().message().unwrap_or("")),
                None => format!("HTTP {} without a DynamoDB error code", service.raw().status().as_u16()),
            },
            _ => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
        };
        let denied = matches!(&err, SdkError::ServiceError(service) if service.err().code().is_some_and(|code| DENIALS.contains(&code)));
        if denied {
            // The message names the action and the resource the policy lacks.
            tracing::error!(operation, %message, "DynamoDB refused this function's credentials: a deployment fault (template.yaml's policy)");
            crate::metrics::count(crate::metrics::Metric::StoreAccessDenied, 1);
        }
        Self { operation, message, transient, denied }
    }

    /// A transaction cancelled for reasons other than a failed condition:
    /// transient when every reason is another transaction holding an item or
    /// throttling (retry), otherwise a bug (validation, item too large).
    pub(crate) fn cancelled<E>(codes: &[Option<String>], err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let transient = codes.iter().flatten().all(|code| matches!(code.as_str(), "None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"));
        let reasons: Vec<&str> = codes.iter().map(|c| c.as_deref().unwrap_or("None")).collect();
        Self { transient, ..Self::sdk("transact", err) }.with_detail(&format!("reasons {reasons:?}"))
    }

    fn with_detail(mut self, detail: &str) -> Self {
        self.message = format!("{} ({detail})", self.message);
        self
    }
}
