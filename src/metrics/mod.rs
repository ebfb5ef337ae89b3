//! Measurements: the recorder the engine writes to, and the results document it produces.

pub mod assemble;
pub mod coarse;
pub mod health;
pub mod hist;
pub mod merge;
pub mod recorder;
pub mod results;
pub mod spill;

pub use recorder::{Phase, Recorder, Sample};
pub use results::{Results, Stats};

use serde::{Deserialize, Serialize};

/// Why a request counted as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The answer's status was not an expected one.
    Status,
    /// The connection could not be opened (refused, DNS, TLS handshake).
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection failed while sending or reading (reset, invalid HTTP, closed early).
    Read,
    /// A value to extract was missing from the answer, or the answer was not JSON.
    Extract,
    /// The answer's JSON did not hold an expected value.
    Check,
    /// A redirect perfgate would not follow: to another host than the target, or too many.
    Redirect,
}

impl FailureKind {
    /// Every kind, in report order.
    pub const ALL: [FailureKind; 7] = [
        FailureKind::Status,
        FailureKind::Connect,
        FailureKind::Timeout,
        FailureKind::Read,
        FailureKind::Extract,
        FailureKind::Check,
        FailureKind::Redirect,
    ];

    /// Stable lower-case label.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Status => "status",
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Read => "read",
            FailureKind::Extract => "extract",
            FailureKind::Check => "check",
            FailureKind::Redirect => "redirect",
        }
    }
}
