//! The target's base URL: scheme, host, port and path prefix.

use std::fmt;

/// A parsed `http://` or `https://` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// True for https.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port, defaulted from the scheme.
    pub port: u16,
    /// Path prefix without a trailing slash (may be empty).
    pub prefix: String,
    /// The `Host` header value.
    pub authority: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]` (the scheme in any case). Credentials, a query or a
    /// fragment are refused, and never echoed: the URL is shown with them hidden.
    pub fn parse(text: &str) -> Result<BaseUrl, String> {
        let shown = hide_secrets(text);
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("`{shown}` is not an http:// or https:// URL"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(format!("`{shown}` is not an http:// or https:// URL")),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(format!(
                "`{shown}` carries credentials (`user:password@`), which perfgate does not send from a URL: give them as a header instead, e.g. `headers: {{Authorization: \"Basic ${{env:BASIC_AUTH}}\"}}`"
            ));
        }
        if tail.contains(['?', '#']) {
            return Err(format!(
                "`{shown}` has a query or fragment, which would be glued in front of every request's path: give the host and an optional path prefix only, and put parameters in each request's `query:` (secrets from `${{env:NAME}}`)"
            ));
        }
        let prefix = tail.trim_end_matches('/');
        if authority.is_empty() {
            return Err(format!("`{shown}` has no host"));
        }
        let default_port = if tls { 443 } else { 80 };
        let port_of = |p: &str| -> Result<u16, String> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("`{shown}`: `{p}` is not a port (1..65535)"));
            }
            p.parse()
                .map_err(|_| format!("`{shown}`: `{p}` is not a port (1..65535)"))
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{shown}`: `[` without `]`"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => port_of(p)?,
                None if after.is_empty() => default_port,
                None => return Err(format!("`{shown}`: unexpected `{after}` after the address")),
            };
            (h.to_string(), port)
        } else {
            if authority.matches(':').count() > 1 {
                return Err(format!(
                    "`{shown}`: an IPv6 address goes in brackets, e.g. `http://[::1]:8080`"
                ));
            }
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), port_of(p)?),
                None => (authority.to_string(), default_port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(format!("`{shown}` needs a host and a port from 1 to 65535"));
        }
        let v6 = authority.starts_with('[');
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c) || (v6 && c == ':'))
        {
            return Err(format!("`{shown}`: `{host}` is not a host name or address"));
        }
        if let Some(c) = prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(*c)))
        {
            return Err(format!(
                "`{shown}`: the path prefix `{prefix}` holds `{}`, which a URL path cannot (percent-encode it)",
                c.escape_debug()
            ));
        }
        Ok(BaseUrl {
            tls,
            host,
            port,
            prefix: prefix.to_string(),
            authority: authority.to_string(),
        })
    }
}

/// A URL as it may be shown: credentials and anything after `?` or `#` replaced by `***`.
pub fn hide_secrets(text: &str) -> String {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_string(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(i) => format!("{}{}***", &tail[..i], &tail[i..=i]),
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            if self.tls { "https" } else { "http" },
            self.authority,
            self.prefix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u = BaseUrl::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.prefix.as_str()),
            (false, "127.0.0.1", 8000, "")
        );
        let u = BaseUrl::parse("https://example.test/base/").unwrap();
        assert_eq!((u.tls, u.port, u.prefix.as_str()), (true, 443, "/base"));
        let u = BaseUrl::parse("http://[::1]:9000").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("http://x:notaport").is_err());
        assert!(BaseUrl::parse("http://").is_err());
        assert!(!BaseUrl::parse("HTTPS://example.test").unwrap().authority.is_empty());
        for bad in [
            "http://u:s3cr3t@h:1",
            "http://h/?k=s3cr3t",
            "http://h/#s3cr3t",
            "http://h:+1",
            "http://::1:80",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{e}");
        }
        assert_eq!(hide_secrets("http://u:p@h:1/x?k=v"), "http://***@h:1/x?***");
    }
}
