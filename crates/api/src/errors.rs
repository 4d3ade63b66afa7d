//! The one place where failures become gRPC statuses. Every error a client sees is an
//! [`ApiError`]: a status code, a stable machine-readable reason (sent as `google.rpc.ErrorInfo`
//! with domain [`ERROR_DOMAIN`]), a sentence for people, and metadata such as the offending
//! `field` or the `position` of a recorded refusal.
//!
//! | what went wrong | code | reason |
//! |---|---|---|
//! | a field does not parse | INVALID_ARGUMENT | `INVALID_*`, `MISSING_FIELD`, ... (+ `field`) |
//! | a rule refused the command | FAILED_PRECONDITION | the domain's `Reason::code()` (+ `position`) |
//! | unknown plan or payment | NOT_FOUND | `UNKNOWN_PLAN`, `UNKNOWN_PAYMENT` (+ `position`) |
//! | command id reused for another payload | ALREADY_EXISTS | `COMMAND_ID_REUSED` |
//! | role or region may not | PERMISSION_DENIED | `PERMISSION_DENIED` |
//! | no or bad token | UNAUTHENTICATED | `UNAUTHENTICATED` |
//! | queue full, message too large | RESOURCE_EXHAUSTED | `OVERLOADED`, `MESSAGE_TOO_LARGE`, ... |
//! | another writer moved the log | ABORTED | `FENCED` |
//! | views not caught up in time | DEADLINE_EXCEEDED | `NOT_CAUGHT_UP` |
//! | engine stopping or stopped | UNAVAILABLE | `SHUTTING_DOWN`, `STOPPED`, `STORAGE` |

use std::collections::HashMap;

use fundledger_domain::{Denied, Reason, Rejection};
use fundledger_engine::{EngineError, StreamError};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::pb;

/// The `ErrorInfo.domain` of every error this API sends.
pub const ERROR_DOMAIN: &str = "fundledger.v1";

/// Longest human message an error carries, in bytes; longer ones are cut at a char boundary
/// (a message may quote client input).
const MESSAGE_BYTES_MAX: usize = 1_000;

/// A failure, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: Code,
    pub reason: String,
    pub message: String,
    pub metadata: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(code: Code, reason: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut message = message.into();
        if message.len() > MESSAGE_BYTES_MAX {
            let mut cut = MESSAGE_BYTES_MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        ApiError { code, reason: reason.into(), message, metadata: Vec::new() }
    }

    pub fn with(mut self, key: &str, value: impl ToString) -> ApiError {
        self.metadata.push((key.to_string(), value.to_string()));
        self
    }

    /// Bad input: INVALID_ARGUMENT naming the field.
    pub fn invalid(field: &str, reason: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(Code::InvalidArgument, reason, format!("{field}: {message}")).with("field", field)
    }

    /// A required field is absent.
    pub fn missing(field: &str) -> ApiError {
        ApiError::invalid(field, "MISSING_FIELD", "is required")
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Unauthenticated, "UNAUTHENTICATED", message)
    }

    pub fn denied(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::PermissionDenied, "PERMISSION_DENIED", message)
    }

    pub fn not_found(reason: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::NotFound, reason, message)
    }

    pub fn message_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::ResourceExhausted, "MESSAGE_TOO_LARGE", message)
    }

    pub fn overloaded(message: impl Into<String>) -> ApiError {
        ApiError::new(Code::ResourceExhausted, "OVERLOADED", message)
    }

    pub fn not_caught_up(wanted: u64, applied: u64) -> ApiError {
        ApiError::new(
            Code::DeadlineExceeded,
            "NOT_CAUGHT_UP",
            format!("the views reached position {applied}, not {wanted}, within the wait limit"),
        )
        .with("applied_position", applied)
    }

    pub fn internal(reason: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(Code::Internal, reason, message)
    }

    /// A rule refused the command; the refusal is recorded at `position`. Unknown plans and
    /// payments are NOT_FOUND, every other rule FAILED_PRECONDITION.
    pub fn rejected(rejection: &Rejection, position: u64) -> ApiError {
        let code = match rejection.reason {
            Reason::UnknownPlan | Reason::UnknownPayment => Code::NotFound,
            _ => Code::FailedPrecondition,
        };
        ApiError::new(code, rejection.reason.code(), rejection.message.clone()).with("position", position)
    }

    /// The gRPC status, with the ErrorInfo attached.
    pub fn to_status(&self) -> Status {
        let metadata: HashMap<String, String> = self.metadata.iter().cloned().collect();
        let details = ErrorDetails::with_error_info(self.reason.clone(), ERROR_DOMAIN, metadata);
        Status::with_error_details(self.code, self.message.clone(), details)
    }

    /// The same content as a batch entry's error.
    pub fn to_pb(&self) -> pb::CommandError {
        pb::CommandError {
            code: self.code as i32,
            code_name: code_name(self.code).to_string(),
            reason: self.reason.clone(),
            message: self.message.clone(),
            metadata: self.metadata.iter().cloned().collect(),
        }
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        error.to_status()
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> ApiError {
        ApiError::denied(denied.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        let message = error.to_string();
        #[allow(unreachable_patterns)] // a variant added to the engine lands in the fallback
        match error {
            EngineError::Overloaded { queue_max } => {
                ApiError::overloaded(message).with("queue_commands_max", queue_max)
            }
            EngineError::CommandIdReused { command_id } => {
                ApiError::new(Code::AlreadyExists, "COMMAND_ID_REUSED", message).with("command_id", command_id)
            }
            EngineError::TraceIdTooLong { field } => {
                ApiError::new(Code::InvalidArgument, "TEXT_TOO_LONG", message).with("field", format!("trace.{field}"))
            }
            EngineError::Fenced { .. } => ApiError::new(Code::Aborted, "FENCED", message),
            EngineError::Denied(denied) => denied.into(),
            EngineError::Stopped(_) => ApiError::new(Code::Unavailable, "STOPPED", message),
            EngineError::ShuttingDown => ApiError::new(Code::Unavailable, "SHUTTING_DOWN", message),
            EngineError::Store(_) => ApiError::new(Code::Unavailable, "STORAGE", message),
            EngineError::Decode { position, .. } => {
                ApiError::new(Code::DataLoss, "UNDECODABLE_RECORD", message).with("position", position)
            }
            _ => ApiError::internal("INTERNAL", message),
        }
    }
}

impl From<StreamError> for ApiError {
    fn from(error: StreamError) -> ApiError {
        let message = error.to_string();
        #[allow(unreachable_patterns)] // a variant added to the engine lands in the fallback
        match error {
            StreamError::Store(fundledger_store::StoreError::BeyondHead { .. }) => {
                ApiError::new(Code::OutOfRange, "BEYOND_HEAD", message)
            }
            StreamError::Store(_) => ApiError::new(Code::Unavailable, "STORAGE", message),
            StreamError::Decode { position, .. } => {
                ApiError::new(Code::DataLoss, "UNDECODABLE_RECORD", message).with("position", position)
            }
            StreamError::TooSlow { .. } => ApiError::new(Code::ResourceExhausted, "TOO_SLOW", message),
            _ => ApiError::internal("INTERNAL", message),
        }
    }
}

/// The canonical upper-case name of a status code, as in the gRPC specification.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The ErrorInfo of a status, for clients and tests: (reason, metadata).
pub fn error_info(status: &Status) -> Option<(String, HashMap<String, String>)> {
    let details = status.get_error_details();
    let info = details.error_info()?;
    Some((info.reason.clone(), info.metadata.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_error_info_with_field() {
        let status = ApiError::invalid("amount", "INVALID_AMOUNT", "not a number").to_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let (reason, meta) = error_info(&status).expect("error info");
        assert_eq!(reason, "INVALID_AMOUNT");
        assert_eq!(meta.get("field").map(String::as_str), Some("amount"));
    }

    #[test]
    fn unknown_plan_is_not_found_and_other_rules_are_preconditions() {
        let unknown = ApiError::rejected(&Rejection::new(Reason::UnknownPlan, "no such plan"), 7);
        assert_eq!(unknown.code, Code::NotFound);
        assert_eq!(unknown.metadata, vec![("position".to_string(), "7".to_string())]);
        let rule = ApiError::rejected(&Rejection::new(Reason::PlanNotReviewed, "not reviewed"), 8);
        assert_eq!((rule.code, rule.reason.as_str()), (Code::FailedPrecondition, "PLAN_NOT_REVIEWED"));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let error = ApiError::new(Code::Internal, "X", "兰".repeat(MESSAGE_BYTES_MAX));
        assert!(error.message.len() <= MESSAGE_BYTES_MAX);
        assert!(error.message.chars().all(|c| c == '兰'));
    }
}
