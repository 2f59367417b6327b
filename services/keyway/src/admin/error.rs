//! Why an admin command failed, and the exit code each kind of failure
//! gets, so scripts can tell "you typed it wrong" from "Keyway said no"
//! from "Keyway is not there" (docs/admin-cli.md, "Exit codes").

use std::process::ExitCode;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AdminError {
    /// A flag, argument or setting is missing or malformed (clap's own
    /// usage errors exit with the same code).
    #[error("{0}")]
    Usage(String),
    /// Keyway answered with its error envelope.
    #[error("{code} ({status}): {message}{hint}")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// What the operator can do about it, for the common cases.
        hint: &'static str,
    },
    /// No connection, or no answer in time.
    #[error("cannot reach Keyway at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Something answered, but not with Keyway's JSON (a proxy's error
    /// page, another service on the port).
    #[error("unexpected answer from {url} (HTTP {status}): {snippet}")]
    Unexpected {
        url: String,
        status: u16,
        snippet: String,
    },
    /// A local file or stream could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The call worked but what it checked did not pass (`byok test`).
    #[error("{0}")]
    CheckFailed(String),
}

impl AdminError {
    pub(crate) const CHECK_FAILED: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const API: u8 = 3;
    pub(crate) const UNREACHABLE: u8 = 4;
    pub(crate) const UNEXPECTED: u8 = 5;
    pub(crate) const IO: u8 = 6;

    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) => Self::USAGE,
            Self::Api { .. } => Self::API,
            Self::Unreachable { .. } => Self::UNREACHABLE,
            Self::Unexpected { .. } => Self::UNEXPECTED,
            Self::Io(_) => Self::IO,
            Self::CheckFailed(_) => Self::CHECK_FAILED,
        })
    }

    pub(crate) fn io(what: &str, e: &std::io::Error) -> Self {
        Self::Io(format!("{what}: {e}"))
    }
}

/// A hint for the errors an operator most often meets from the CLI.
pub(crate) fn hint_for(status: u16) -> &'static str {
    match status {
        401 => " (check KEYWAY_ADMIN_KEY, --key-file or <data dir>/admin.key)",
        403 => " (the key's role or the tenant's plan does not allow this)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_names_its_code_status_and_message() {
        let e = AdminError::Api {
            status: 404,
            code: "KW-ADM-001".into(),
            message: "tenant not found".into(),
            hint: hint_for(404),
        };
        assert_eq!(e.to_string(), "KW-ADM-001 (404): tenant not found");
        assert_eq!(e.exit_code(), ExitCode::from(AdminError::API));
    }

    #[test]
    fn every_kind_of_failure_has_its_own_non_zero_code() {
        let codes = [
            AdminError::CHECK_FAILED,
            AdminError::USAGE,
            AdminError::API,
            AdminError::UNREACHABLE,
            AdminError::UNEXPECTED,
            AdminError::IO,
        ];
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        assert!(!codes.contains(&0));
    }
}
