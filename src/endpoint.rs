//! An IPFIX transport endpoint, `[udp://|tcp://|tls://]HOST[:PORT]`: a collector
//! `run` exports to (`--collector`), or the address `collect` listens on
//! (`--listen`).

use std::fmt;

use thiserror::Error;

/// IANA port for IPFIX over UDP, TCP and SCTP (RFC 7011 §10).
pub const IPFIX_PORT: u16 = 4739;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Udp,
    Tcp,
    /// TLS over TCP (RFC 7011 §11): a TCP transport session inside TLS.
    Tls,
}

impl Protocol {
    /// The port when none is given: 4739, or 4740 for TLS (IANA).
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Udp | Protocol::Tcp => IPFIX_PORT,
            Protocol::Tls => crate::tls::IPFIX_TLS_PORT,
        }
    }

    /// A byte stream (TCP, or TCP inside TLS): templates live as long as
    /// the connection (RFC 7011 §8.1).
    pub fn is_stream(self) -> bool {
        self != Protocol::Udp
    }
}

/// A collector as given on the command line; resolved (and re-resolved)
/// by the transport, so a name that does not resolve yet is not fatal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("unknown scheme {0:?} (use udp://, tcp:// or tls://)")]
    Scheme(String),
    #[error("empty host")]
    EmptyHost,
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
    #[error("unterminated IPv6 address (missing ']')")]
    Bracket,
    #[error("{0:?} is not an IPv4 address")]
    BadIpv4(String),
    #[error("{0:?} is not an IPv6 address")]
    BadIpv6(String),
    #[error("{0:?} is not a host name (letters, digits, '-' and '.')")]
    BadHost(String),
}

/// An address must be one, a name must be one: `300.1.1.1` is neither a
/// valid IPv4 address nor a host name (a top-level label is never all
/// digits, RFC 3696 §2), so it is refused here instead of being looked up
/// and retried forever.
pub fn check_host(host: &str, bracketed: bool) -> Result<(), EndpointError> {
    if bracketed || host.contains(':') {
        return match host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(EndpointError::BadIpv6(host.to_owned())),
        };
    }
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return match host.parse::<std::net::Ipv4Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(EndpointError::BadIpv4(host.to_owned())),
        };
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.len() > 253 || !host.trim_end_matches('.').split('.').all(label_ok) {
        return Err(EndpointError::BadHost(host.to_owned()));
    }
    Ok(())
}

impl Endpoint {
    /// Parses `udp://192.0.2.1:4739`, `tcp://[2001:db8::1]`, `collector.example`,
    /// `[::1]:9995`, `2001:db8::5` (a bare IPv6 address takes the default port).
    pub fn parse(s: &str) -> Result<Self, EndpointError> {
        Self::parse_inner(s, false)
    }

    /// As [`Self::parse`], but port 0 is allowed: a listener that lets the
    /// kernel pick (and prints what it got).
    pub fn parse_listen(s: &str) -> Result<Self, EndpointError> {
        Self::parse_inner(s, true)
    }

    fn parse_inner(s: &str, port_zero: bool) -> Result<Self, EndpointError> {
        let (protocol, rest) = match s.split_once("://") {
            Some(("udp", r)) => (Protocol::Udp, r),
            Some(("tcp", r)) => (Protocol::Tcp, r),
            Some(("tls", r)) => (Protocol::Tls, r),
            Some((scheme, _)) => return Err(EndpointError::Scheme(scheme.to_owned())),
            None => (Protocol::Udp, s),
        };
        let bracketed = rest.starts_with('[');
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or(EndpointError::Bracket)?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(EndpointError::Port(after.to_owned())),
            }
        } else if rest.matches(':').count() > 1 {
            (rest, None) // a bare IPv6 address
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(EndpointError::EmptyHost);
        }
        check_host(host, bracketed)?;
        let port = match port {
            None => protocol.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 || port_zero => n,
                _ => return Err(EndpointError::Port(p.to_owned())),
            },
        };
        Ok(Endpoint {
            protocol,
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.protocol {
            Protocol::Udp => "udp",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: Protocol, host: &str, port: u16) -> Endpoint {
        Endpoint {
            protocol: p,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn forms_operators_write() {
        use Protocol::*;
        let cases = [
            ("127.0.0.1:4739", spec(Udp, "127.0.0.1", 4739)),
            ("192.0.2.9", spec(Udp, "192.0.2.9", 4739)),
            ("udp://192.0.2.9:2055", spec(Udp, "192.0.2.9", 2055)),
            (
                "tcp://collector.example",
                spec(Tcp, "collector.example", 4739),
            ),
            ("tcp://[2001:db8::1]:9995", spec(Tcp, "2001:db8::1", 9995)),
            ("[::1]", spec(Udp, "::1", 4739)),
            ("2001:db8::5", spec(Udp, "2001:db8::5", 4739)),
        ];
        for (text, want) in cases {
            assert_eq!(Endpoint::parse(text), Ok(want.clone()), "{text}");
            assert_eq!(Endpoint::parse(&want.to_string()), Ok(want), "{text}");
        }
    }

    #[test]
    fn listeners_may_ask_for_any_port() {
        assert_eq!(Endpoint::parse_listen("udp://127.0.0.1:0").unwrap().port, 0);
        assert!(Endpoint::parse("udp://127.0.0.1:0").is_err());
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            Endpoint::parse("sctp://x"),
            Err(EndpointError::Scheme("sctp".into()))
        );
        assert_eq!(Endpoint::parse("x:0"), Err(EndpointError::Port("0".into())));
        assert_eq!(
            Endpoint::parse("x:http"),
            Err(EndpointError::Port("http".into()))
        );
        assert_eq!(
            Endpoint::parse("udp://:4739"),
            Err(EndpointError::EmptyHost)
        );
        assert_eq!(Endpoint::parse("[::1"), Err(EndpointError::Bracket));
    }

    /// Found in review: `300.1.1.1` was taken for a host name and retried
    /// forever.
    #[test]
    fn bad_addresses_are_refused_not_looked_up() {
        for bad in ["300.1.1.1:4739", "10.0.0.256", "1.2.3", "192.0.2.1.5"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(EndpointError::BadIpv4(_))),
                "{bad}: {:?}",
                Endpoint::parse(bad)
            );
        }
        for bad in ["[192.0.2.1]:4739", "[2001:db8::g]", "2001:db8:::1"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(EndpointError::BadIpv6(_))),
                "{bad}: {:?}",
                Endpoint::parse(bad)
            );
        }
        for bad in ["coll ector", "-x.example", "a..b", "x_y.example"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(EndpointError::BadHost(_))),
                "{bad}: {:?}",
                Endpoint::parse(bad)
            );
        }
        let msg = Endpoint::parse("300.1.1.1:4739").unwrap_err().to_string();
        assert_eq!(msg, "\"300.1.1.1\" is not an IPv4 address");
        for good in [
            "192.0.2.1",
            "collector.example.",
            "x-1.example:9995",
            "[2001:db8::1]:4739",
            "localhost",
        ] {
            assert!(Endpoint::parse(good).is_ok(), "{good}");
        }
    }
}
