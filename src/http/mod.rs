//! HTTP vocabulary shared by the gate file, the engine and the results: base URLs, methods, TLS options.

pub mod url;

pub use url::BaseUrl;

use serde::{Deserialize, Serialize};
use std::fmt;

/// How https targets are verified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// Also trust the certificates in this PEM file (a private CA or a self-signed service).
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate: encryption without authentication, for test services only.
    pub insecure: bool,
}

/// An HTTP method a gate may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Method {
    /// `GET`
    #[serde(rename = "GET")]
    Get,
    /// `POST`
    #[serde(rename = "POST")]
    Post,
    /// `PUT`
    #[serde(rename = "PUT")]
    Put,
    /// `PATCH`
    #[serde(rename = "PATCH")]
    Patch,
    /// `DELETE`
    #[serde(rename = "DELETE")]
    Delete,
    /// `HEAD`
    #[serde(rename = "HEAD")]
    Head,
    /// `OPTIONS`
    #[serde(rename = "OPTIONS")]
    Options,
}

impl Method {
    /// Every method, in the order error messages list them.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Head,
        Method::Options,
    ];

    /// The method's name, upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }

    /// Reads a method name in any case.
    pub fn parse(text: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(text.trim()))
    }

    /// Every method's name, for messages and did-you-mean lists.
    pub fn names() -> [&'static str; 7] {
        Method::ALL.map(Method::as_str)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Method {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_in_any_case_and_serialize_upper_case() {
        assert_eq!(Method::parse("get"), Some(Method::Get));
        assert_eq!(Method::parse("OPTIONS"), Some(Method::Options));
        assert_eq!(Method::parse("TRACE"), None);
        assert_eq!(serde_json::to_string(&Method::Delete).unwrap(), "\"DELETE\"");
        let m: Method = serde_json::from_str("\"PATCH\"").unwrap();
        assert_eq!(m, Method::Patch);
        assert!(Method::ALL.iter().all(|m| Method::parse(m.as_str()) == Some(*m)));
    }
}
