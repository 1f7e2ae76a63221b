//! Which chain-supplied URIs the worker will fetch. A job's spec URI and its
//! inputs' URIs are written by whoever posts the job, so without a policy a
//! buyer could make the worker read its own files (`file:///home/...`) or
//! reach services only it can reach (`http://127.0.0.1:8899`, a cloud
//! metadata address, a LAN host). [`UriPolicy::check`] is pure: a URI goes
//! in, `Ok` or the named rule it breaks comes out, before anything is fetched.
//!
//! The `gpu-worker` default ([`UriPolicy::strict`]) fetches `https://` and
//! `s3://` from public hosts only. Local development (the demo, the tests,
//! a buyer and a worker sharing a directory) opts in to `file://` and
//! loopback hosts with [`UriPolicy::local`]. Host names are not resolved
//! here: a public name that resolves to a private address is stopped only by
//! an allow-list of hosts (`hosts`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriPolicy {
    /// Schemes fetched, lowercase (`https`, `s3`, `http`, `file`).
    pub schemes: Vec<String>,
    /// When set, only these hosts (exact, case-insensitive; an entry starting
    /// with `.` also admits its subdomains). `None`: any host the other rules admit.
    pub hosts: Option<Vec<String>>,
    /// Loopback, private, link-local and unspecified addresses, and `localhost`.
    pub allow_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{uri}: scheme {scheme:?} is not allowed (allowed: {allowed})")]
    Scheme {
        uri: String,
        scheme: String,
        allowed: String,
    },
    #[error("{uri}: no host")]
    NoHost { uri: String },
    #[error("{uri}: host {host} is a loopback or private address (not allowed unless configured)")]
    PrivateHost { uri: String, host: String },
    #[error("{uri}: host {host} is not in the allowed hosts")]
    HostNotAllowed { uri: String, host: String },
}

impl UriPolicy {
    /// What `gpu-worker` fetches by default: `https://` and `s3://`, public hosts.
    pub fn strict() -> Self {
        UriPolicy {
            schemes: vec!["https".into(), "s3".into()],
            hosts: None,
            allow_private: false,
        }
    }

    /// Local development: also `file://` and plain `http://`, and loopback or
    /// private hosts (the demo and the tests, whose stores are a directory or a
    /// loopback server).
    pub fn local() -> Self {
        UriPolicy {
            schemes: vec!["https".into(), "s3".into(), "http".into(), "file".into()],
            hosts: None,
            allow_private: true,
        }
    }

    /// `Ok` when the worker may fetch `uri`, else the rule it breaks.
    pub fn check(&self, uri: &str) -> Result<(), PolicyError> {
        let (scheme, rest) = match uri.split_once("://") {
            Some((s, rest)) => (s.to_ascii_lowercase(), rest),
            // No scheme: a bare path, read as a local file by the blob layer.
            None => ("file".to_string(), uri),
        };
        if !self.schemes.iter().any(|s| s.eq_ignore_ascii_case(&scheme)) {
            return Err(PolicyError::Scheme {
                uri: uri.into(),
                scheme,
                allowed: self.schemes.join(", "),
            });
        }
        if scheme == "file" {
            // A local path: allowed only by naming the scheme; no host to check.
            return Ok(());
        }
        let host = host_of(rest).ok_or_else(|| PolicyError::NoHost { uri: uri.into() })?;
        if !self.allow_private && is_private(&host) {
            return Err(PolicyError::PrivateHost {
                uri: uri.into(),
                host,
            });
        }
        if let Some(hosts) = &self.hosts {
            let ok = hosts.iter().any(|h| {
                let h = h.to_ascii_lowercase();
                match h.strip_prefix('.') {
                    Some(domain) => host == domain || host.ends_with(&h),
                    None => host == h,
                }
            });
            if !ok {
                return Err(PolicyError::HostNotAllowed {
                    uri: uri.into(),
                    host,
                });
            }
        }
        Ok(())
    }
}

/// The host of `authority/path...`, lowercase, without user info, port or
/// IPv6 brackets.
fn host_of(rest: &str) -> Option<String> {
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// Loopback, private, link-local, unique-local, CGNAT or unspecified, by
/// address; `localhost` and its subdomains by name.
fn is_private(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => private_v4(v4),
        Ok(IpAddr::V6(v6)) => private_v6(v6),
        // Decimal or hex shorthand for an IPv4 address (`http://2130706433/`,
        // `http://0x7f.1/`) is how filters get bypassed: refuse names made only of
        // digits, dots and hex prefixes.
        Err(_) => host.split('.').all(|p| {
            !p.is_empty() && (p.starts_with("0x") || p.chars().all(|c| c.is_ascii_digit()))
        }),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        // 100.64.0.0/10, carrier-grade NAT.
        || (a == 100 && (64..128).contains(&b))
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        // fc00::/7 unique local, fe80::/10 link local.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row is a URI a buyer could post to make the worker read what it
    /// should not, or an honest one that must still pass.
    #[test]
    fn a_strict_worker_fetches_only_public_https_and_s3() {
        let strict = UriPolicy::strict();
        #[rustfmt::skip]
        let table: [(&str, bool); 18] = [
            ("https://blobs.example.com/ab", true),
            ("s3://bucket/prefix/ab", true),
            ("HTTPS://Blobs.Example.com:8443/ab", true),
            ("file:///home/provider/.config/solana/id.json", false),
            ("/etc/passwd", false),
            ("http://blobs.example.com/ab", false),
            ("https://127.0.0.1/ab", false),
            ("https://localhost:8899/ab", false),
            ("https://api.localhost/ab", false),
            ("https://10.0.0.7/ab", false),
            ("https://192.168.1.1/ab", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://[::1]/ab", false),
            ("https://[::ffff:127.0.0.1]/ab", false),
            ("https://user@127.0.0.1:443/ab", false),
            ("https://2130706433/ab", false),
            ("https://0x7f.1/ab", false),
            ("ftp://blobs.example.com/ab", false),
        ];
        for (uri, ok) in table {
            assert_eq!(
                strict.check(uri).is_ok(),
                ok,
                "{uri}: {:?}",
                strict.check(uri)
            );
        }
        assert!(matches!(
            strict.check("file:///etc/passwd"),
            Err(PolicyError::Scheme { .. })
        ));
        assert!(matches!(
            strict.check("https://127.0.0.1/x"),
            Err(PolicyError::PrivateHost { .. })
        ));
    }

    #[test]
    fn local_development_and_host_lists_are_explicit() {
        let local = UriPolicy::local();
        for uri in [
            "file:///tmp/blobs/ab",
            "http://127.0.0.1:9000/ab",
            "https://blobs.example.com/ab",
        ] {
            assert!(local.check(uri).is_ok(), "{uri}");
        }
        let listed = UriPolicy {
            hosts: Some(vec!["blobs.example.com".into(), ".cdn.example".into()]),
            ..UriPolicy::strict()
        };
        assert!(listed.check("https://blobs.example.com/a").is_ok());
        assert!(listed.check("https://eu.cdn.example/a").is_ok());
        assert!(listed.check("https://cdn.example/a").is_ok());
        assert!(matches!(
            listed.check("https://evil.example/a"),
            Err(PolicyError::HostNotAllowed { .. })
        ));
        assert!(matches!(
            listed.check("https://evilcdn.example/a"),
            Err(PolicyError::HostNotAllowed { .. })
        ));
    }
}
