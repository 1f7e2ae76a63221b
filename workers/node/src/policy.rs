//! Which chain-supplied URIs the worker will fetch, and where it may connect
//! to fetch them. A job's spec URI and its inputs' URIs are written by whoever
//! posts the job, so without a policy a buyer could make the worker read its
//! own files (`file:///home/...`) or reach services only it can reach
//! (`http://127.0.0.1:8899`, a cloud metadata address, a LAN host).
//! [`UriPolicy::check`] is pure: a URI goes in, `Ok` or the named rule it
//! breaks comes out, before anything is fetched.
//!
//! A host name is only a claim about an address: `internal.example` can
//! resolve to 10.0.0.5. So [`UriPolicy::admit`] also resolves an `http(s)://`
//! host through a [`Resolve`] (the system's, or a test's), refuses the URI if
//! any address it gets is one [`UriPolicy::check`] would refuse as a literal,
//! and returns the checked addresses as a [`Connect::Pinned`] for the fetch:
//! the download connects only to them, so a DNS server that answers with a
//! public address for the check and a private one for the fetch (rebinding)
//! never steers it. `s3://` hosts are bucket names (the endpoint is the
//! operator's) and `file://` has no host; neither is resolved.
//!
//! The `gpu-worker` default ([`UriPolicy::strict`]) fetches `https://` and
//! `s3://` from public hosts only. Local development (the demo, the tests,
//! a buyer and a worker sharing a directory) opts in to `file://` and
//! loopback hosts with [`UriPolicy::local`], which has nothing to refuse, so
//! it resolves nothing either.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Arc;

use gpu_market_blobs::Connect;

/// Looks a host name up. Behind a trait so tests answer without a network,
/// and can answer differently each time (a rebinding DNS server).
pub trait Resolve: Send + Sync {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a>;
}

/// What [`Resolve::lookup`] returns: the host's addresses, eventually.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            // The port is required by the API and ignored by the lookup.
            let addrs = tokio::net::lookup_host((host, 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// The resolver the worker checks hosts with, as its settings hold it.
#[derive(Clone)]
pub struct Resolver(pub Arc<dyn Resolve>);

impl Default for Resolver {
    fn default() -> Self {
        Resolver(Arc::new(SystemResolver))
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

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

#[derive(Debug, thiserror::Error)]
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
    /// The host is a name that resolves to an address the policy refuses
    /// (`addr`; one is enough, since the fetch could pick any of them).
    #[error("{uri}: host {host} resolves to {addr}, a loopback or private address (not allowed unless configured)")]
    ResolvesPrivate {
        uri: String,
        host: String,
        addr: IpAddr,
    },
    /// The host could not be looked up (tried again later: DNS failures pass).
    #[error("{uri}: cannot resolve host {host}: {source}")]
    Unresolvable {
        uri: String,
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The lookup answered no address at all.
    #[error("{uri}: host {host} resolves to no address")]
    NoAddresses { uri: String, host: String },
}

impl PolicyError {
    /// A refusal that may not recur: the name could not be looked up now.
    pub fn is_transient(&self) -> bool {
        matches!(self, PolicyError::Unresolvable { .. })
    }
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

    /// [`UriPolicy::check`], then for an `http(s)://` host name, its
    /// addresses: refused if any is private (unless allowed), else returned as
    /// the only ones the fetch may connect to. A literal address was checked
    /// as it is and cannot rebind; a policy that allows private addresses has
    /// nothing to refuse; both fetch as usual ([`Connect::Resolve`]).
    pub async fn admit(&self, uri: &str, resolver: &dyn Resolve) -> Result<Connect, PolicyError> {
        self.check(uri)?;
        let (scheme, rest) = split_scheme(uri);
        if self.allow_private || !matches!(scheme.as_str(), "http" | "https") {
            return Ok(Connect::Resolve);
        }
        let host = host_of(rest).ok_or_else(|| PolicyError::NoHost { uri: uri.into() })?;
        if literal_ip(&host).is_some() {
            return Ok(Connect::Resolve);
        }
        let addrs = resolver
            .lookup(&host)
            .await
            .map_err(|source| PolicyError::Unresolvable {
                uri: uri.into(),
                host: host.clone(),
                source,
            })?;
        if addrs.is_empty() {
            return Err(PolicyError::NoAddresses {
                uri: uri.into(),
                host,
            });
        }
        if let Some(addr) = addrs.iter().copied().find(|a| private_ip(*a)) {
            return Err(PolicyError::ResolvesPrivate {
                uri: uri.into(),
                host,
                addr,
            });
        }
        Ok(Connect::Pinned(addrs))
    }

    /// `Ok` when the worker may fetch `uri`, else the rule it breaks.
    pub fn check(&self, uri: &str) -> Result<(), PolicyError> {
        let (scheme, rest) = split_scheme(uri);
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

/// The lowercase scheme of `uri` and the rest after `://`; a bare path is a
/// local file to the blob layer.
fn split_scheme(uri: &str) -> (String, &str) {
    match uri.split_once("://") {
        Some((s, rest)) => (s.to_ascii_lowercase(), rest),
        None => ("file".to_string(), uri),
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

/// A host written as an address.
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.parse().ok()
}

/// Loopback, private, link-local, unique-local, CGNAT or unspecified, by
/// address; `localhost` and its subdomains by name.
fn is_private(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match literal_ip(host) {
        Some(ip) => private_ip(ip),
        // Decimal or hex shorthand for an IPv4 address (`http://2130706433/`,
        // `http://0x7f.1/`) is how filters get bypassed: refuse names made only of
        // digits, dots and hex prefixes.
        None => host.split('.').all(|p| {
            !p.is_empty() && (p.starts_with("0x") || p.chars().all(|c| c.is_ascii_digit()))
        }),
    }
}

/// An address the worker does not connect to unless private hosts are
/// allowed: anything that is not an ordinary public unicast address.
fn private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        // 169.254.0.0/16, where cloud metadata services answer (169.254.169.254).
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // 0.0.0.0/8 "this network" (Linux connects 0.x to the local host).
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT (and Alibaba's metadata, 100.100.100.200).
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24, IETF protocol assignments.
        || (a == 192 && b == 0 && c == 0)
        // 198.18.0.0/15, benchmarking networks.
        || (a == 198 && (b & 0xfe) == 18)
        // 240.0.0.0/4, reserved.
        || a >= 240
}

fn private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address a gateway connects to.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [hi, lo] = [seg[6], seg[7]];
        return private_v4(Ipv4Addr::from(((hi as u32) << 16) | lo as u32));
    }
    // 6to4 (2002::/16) embeds one too.
    if seg[0] == 0x2002 {
        return private_v4(Ipv4Addr::from(((seg[1] as u32) << 16) | seg[2] as u32));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local (AWS's IPv6 metadata is fd00:ec2::254),
        // fe80::/10 link local, fec0::/10 the old site local.
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
        // ::/96, the deprecated IPv4-compatible form (::127.0.0.1).
        || seg[..6] == [0; 6]
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

    /// Answers from a table, counting lookups; a name not in it does not
    /// resolve. A second answer, when given, is used from the second lookup
    /// on (a rebinding DNS server).
    /// A name, its first answer, and the answer to later lookups if different.
    type Answer = (&'static str, Vec<IpAddr>, Option<Vec<IpAddr>>);

    struct Table {
        answers: Vec<Answer>,
        lookups: std::sync::Mutex<Vec<String>>,
    }

    impl Table {
        fn new(answers: Vec<Answer>) -> Self {
            Table {
                answers,
                lookups: Default::default(),
            }
        }
    }

    impl Resolve for Table {
        fn lookup<'a>(&'a self, host: &'a str) -> Lookup<'a> {
            let mut asked = self.lookups.lock().unwrap();
            let before = asked.iter().filter(|h| *h == host).count();
            asked.push(host.to_string());
            let answer = self
                .answers
                .iter()
                .find(|(h, ..)| *h == host)
                .map(|(_, first, then)| match (before, then) {
                    (0, _) | (_, None) => first.clone(),
                    (_, Some(then)) => then.clone(),
                });
            Box::pin(async move {
                answer.ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such host")
                })
            })
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Each row is a host name a buyer could put in a spec or input URI,
    /// with what its DNS answers: a name for a private address (the worker's
    /// LAN, loopback, the metadata service) is refused before anything is
    /// fetched; a public one passes, pinned to the addresses that were checked.
    #[tokio::test]
    async fn a_strict_worker_refuses_names_that_resolve_to_private_addresses() {
        let public = ip("93.184.215.14");
        let table = Table::new(vec![
            ("blobs.example.com", vec![public], None),
            ("internal.example", vec![ip("10.0.0.5")], None),
            ("localtest.me", vec![ip("127.0.0.1")], None),
            ("meta.example", vec![ip("169.254.169.254")], None),
            ("cgnat.example", vec![ip("100.100.100.200")], None),
            ("v6loop.example", vec![ip("::1")], None),
            ("ula.example", vec![ip("fd00:ec2::254")], None),
            ("mapped.example", vec![ip("::ffff:10.0.0.1")], None),
            ("nat64.example", vec![ip("64:ff9b::a00:5")], None),
            ("sixtofour.example", vec![ip("2002:7f00:1::")], None),
            ("zero.example", vec![ip("0.0.0.0")], None),
            ("mixed.example", vec![public, ip("192.168.1.1")], None),
            ("empty.example", vec![], None),
        ]);
        let policy = UriPolicy {
            schemes: vec!["https".into(), "http".into(), "s3".into()],
            ..UriPolicy::strict()
        };
        #[rustfmt::skip]
        let refused: [(&str, &str); 11] = [
            ("https://internal.example/ab", "10.0.0.5"),
            ("http://localtest.me:9000/ab", "127.0.0.1"),
            ("https://meta.example/latest/meta-data", "169.254.169.254"),
            ("https://cgnat.example/ab", "100.100.100.200"),
            ("https://v6loop.example/ab", "::1"),
            ("https://ula.example/ab", "fd00:ec2::254"),
            ("https://mapped.example/ab", "::ffff:10.0.0.1"),
            ("https://nat64.example/ab", "64:ff9b::a00:5"),
            ("https://sixtofour.example/ab", "2002:7f00:1::"),
            ("https://zero.example/ab", "0.0.0.0"),
            ("https://mixed.example/ab", "192.168.1.1"),
        ];
        for (uri, addr) in refused {
            match policy.admit(uri, &table).await {
                Err(PolicyError::ResolvesPrivate { addr: a, host, .. }) => {
                    assert_eq!(a, ip(addr), "{uri}");
                    assert!(uri.contains(&host), "{uri}: {host}");
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
        assert_eq!(
            policy
                .admit("https://blobs.example.com/ab", &table)
                .await
                .unwrap(),
            Connect::Pinned(vec![public]),
            "a public name passes, pinned to what was checked"
        );
        assert!(matches!(
            policy.admit("https://empty.example/ab", &table).await,
            Err(PolicyError::NoAddresses { .. })
        ));
        let unresolvable = policy.admit("https://nxdomain.example/ab", &table).await;
        assert!(
            matches!(&unresolvable, Err(e @ PolicyError::Unresolvable { .. }) if e.is_transient()),
            "{unresolvable:?}"
        );
        // Literal addresses are checked as they are, bucket names are not hosts,
        // and the literal rules still come first: none of these is looked up.
        let before = table.lookups.lock().unwrap().len();
        assert_eq!(
            policy
                .admit("https://93.184.215.14/ab", &table)
                .await
                .unwrap(),
            Connect::Resolve
        );
        assert_eq!(
            policy
                .admit("s3://internal.example/ab", &table)
                .await
                .unwrap(),
            Connect::Resolve
        );
        assert!(matches!(
            policy.admit("https://10.0.0.5/ab", &table).await,
            Err(PolicyError::PrivateHost { .. })
        ));
        assert!(matches!(
            policy.admit("ftp://internal.example/ab", &table).await,
            Err(PolicyError::Scheme { .. })
        ));
        assert_eq!(table.lookups.lock().unwrap().len(), before, "no lookups");
        // Local development allows private hosts: nothing to refuse, nothing resolved.
        assert_eq!(
            UriPolicy::local()
                .admit("http://internal.example/ab", &table)
                .await
                .unwrap(),
            Connect::Resolve
        );
        assert_eq!(table.lookups.lock().unwrap().len(), before);
    }

    /// The attack: a DNS server that answers with a public address when the
    /// worker checks the name and with a private one afterwards. The check
    /// resolves once and hands the fetch that answer to connect to; a second
    /// check (the next preparation) sees, and refuses, the private one.
    #[tokio::test]
    async fn a_rebinding_name_is_pinned_to_the_answer_that_was_checked() {
        let public = ip("93.184.215.14");
        let table = Table::new(vec![(
            "rebind.example",
            vec![public],
            Some(vec![ip("127.0.0.1")]),
        )]);
        let strict = UriPolicy::strict();
        assert_eq!(
            strict
                .admit("https://rebind.example/ab", &table)
                .await
                .unwrap(),
            Connect::Pinned(vec![public])
        );
        assert!(matches!(
            strict.admit("https://rebind.example/ab", &table).await,
            Err(PolicyError::ResolvesPrivate { .. })
        ));
        assert_eq!(
            table.lookups.lock().unwrap().len(),
            2,
            "one lookup per check"
        );
    }

    #[test]
    fn special_purpose_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "fe80::1",
            "fec0::1",
            "fc00::1",
            "ff02::1",
            "::ffff:192.168.0.1",
            "64:ff9b::7f00:1",
            "2002:a00:1::",
        ] {
            assert!(private_ip(ip(a)), "{a}");
        }
        for a in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "2002:5db8:d70e::",
            "64:ff9b::808:808",
        ] {
            assert!(!private_ip(ip(a)), "{a}");
        }
    }
}
