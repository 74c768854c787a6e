//! Hostile sequences into `collect`'s state: many messages from several
//! exporters, over UDP (two listening sockets) and TCP, with connections
//! closing, time passing and sources forged, all into one
//! [`CollectingProcess`] — its template caches, the UDP exporters it
//! remembers, its report memories.
//!
//! The input is a list of operations, each `kind, who, a, b` then, for a
//! message, `a * 256 + b` octets of it (what is left when shorter):
//! - kind 0, 1: a UDP datagram from exporter `who` to socket 0 or 1;
//! - kind 2: a TCP message from exporter `who` (connected first);
//! - kind 3: exporter `who`'s TCP connection closes;
//! - kind 4: `a * 256 + b` seconds pass, and expiry runs;
//! - kind 5: a UDP datagram from a forged source (`who`, `a`, `b` make
//!   the address and port), to socket 0.
//!
//! After every operation it checks what the process promises whatever
//! the input: every cache within its limits (domains, field specifiers),
//! the remembered UDP exporters within the domains, each report memory
//! within [`REPORT_MEMORY`]. libFuzzer's `-rss_limit_mb` (`make fuzz`)
//! bounds the memory of the whole sequence.
#![no_main]

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipfix_flow_exporter::collect::{CollectingProcess, Input, REPORT_MEMORY};
use ipfix_flow_exporter::config::CollectFormat;
use ipfix_flow_exporter::endpoint::Protocol;
use ipfix_flow_exporter::ipfix::CacheLimits;
use libfuzzer_sys::fuzz_target;

/// Eight exporters: IPv4 and IPv6, one address with two ports.
fn exporter(who: u8) -> SocketAddr {
    let port = 4739 + u16::from(who % 2) * 1000;
    match who % 8 {
        0..=3 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, who % 8 / 2 + 1)), port),
        n => SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n))),
            port,
        ),
    }
}

const SOCKETS: [SocketAddr; 2] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 4739),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 9995),
];

fuzz_target!(|data: &[u8]| {
    let mut p = CollectingProcess::new(CollectFormat::Json, io::sink(), io::sink());
    let limits = CacheLimits::default();
    let mut now = Instant::now();
    let mut connected: HashSet<SocketAddr> = HashSet::new();
    let mut rest = data;
    // SANITY (every expect below): io::sink() never fails a write.
    while let [kind, who, a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*a, *b]));
        let mut message = |tail: &[u8]| tail.get(..n).unwrap_or(tail).to_vec();
        let (input, used) = match kind % 6 {
            k @ (0 | 1) => (
                Some(Input::Message {
                    transport: Protocol::Udp,
                    collector: Some(SOCKETS[usize::from(k)]),
                    exporter: exporter(*who),
                    bytes: message(tail),
                }),
                n,
            ),
            2 => {
                let from = exporter(*who);
                if connected.insert(from) {
                    p.handle(Input::Connected { exporter: from }, now)
                        .expect("writing to a sink");
                }
                (
                    Some(Input::Message {
                        transport: Protocol::Tcp,
                        collector: None,
                        exporter: from,
                        bytes: message(tail),
                    }),
                    n,
                )
            }
            3 => {
                let from = exporter(*who);
                connected.remove(&from);
                (
                    Some(Input::Closed {
                        exporter: from,
                        error: None,
                    }),
                    0,
                )
            }
            4 => {
                now += Duration::from_secs(n as u64);
                p.expire(now);
                (None, 0)
            }
            _ => {
                let forged = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(203, 0, 113, *who)),
                    u16::from_be_bytes([*a, *b]),
                );
                let len = tail.first().map_or(0, |l| usize::from(*l) * 16);
                let bytes = tail.get(1..).unwrap_or_default();
                (
                    Some(Input::Message {
                        transport: Protocol::Udp,
                        collector: Some(SOCKETS[0]),
                        exporter: forged,
                        bytes: bytes.get(..len).unwrap_or(bytes).to_vec(),
                    }),
                    1 + len,
                )
            }
        };
        if let Some(input) = input {
            p.handle(input, now).expect("writing to a sink");
        }
        rest = tail.get(used..).unwrap_or_default();

        let b = p.bookkeeping();
        assert!(b.udp_sockets <= SOCKETS.len(), "{b:?}");
        assert!(b.udp_domains_max <= limits.max_domains, "{b:?}");
        assert!(b.tcp_domains <= limits.max_domains, "{b:?}");
        assert!(b.udp_fields_max <= limits.max_fields, "{b:?}");
        assert!(b.tcp_fields <= limits.max_fields, "{b:?}");
        assert!(b.udp_exporters_max <= limits.max_domains, "{b:?}");
        assert!(b.reports_max <= REPORT_MEMORY, "{b:?}");
    }
});
