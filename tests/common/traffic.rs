//! Test traffic from inside a namespace: UDP datagrams, TCP transfers,
//! counted at the sender so expectations are exact.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::netns::NetnsPair;

/// IPv4 / IPv6 header plus UDP header: the L3 overhead of one datagram.
pub fn udp_l3_overhead(v6: bool) -> u64 {
    if v6 {
        48
    } else {
        28
    }
}

/// Binds a UDP socket in `ns` that swallows datagrams (no ICMP port
/// unreachable replies muddying the counts). Returns its thread; it ends
/// after `idle` without traffic, bounded by `max`.
pub fn udp_sink(ns: &str, addr: SocketAddr) -> std::thread::JoinHandle<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = NetnsPair::spawn_in(ns, move || {
        let sock = UdpSocket::bind(addr).expect("binding the UDP sink");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        tx.send(()).unwrap();
        let mut buf = [0u8; 65536];
        let mut n = 0u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(3) {
            if sock.recv(&mut buf).is_ok() {
                n += 1;
                quiet_since = Instant::now();
            }
        }
        n
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("UDP sink bound");
    h
}

/// Sends `count` datagrams of `payload` bytes from `src` (port chosen by
/// the test) to `dst`, paced by `gap`. Returns how many the kernel took.
pub fn udp_send(
    ns: &str,
    src: SocketAddr,
    dst: SocketAddr,
    count: u64,
    payload: usize,
    gap: Duration,
) -> u64 {
    NetnsPair::run_in(ns, move || {
        let sock = UdpSocket::bind(src).expect("binding the UDP sender");
        let buf = vec![0xa5u8; payload];
        let mut sent = 0;
        for _ in 0..count {
            if sock.send_to(&buf, dst).is_ok() {
                sent += 1;
            }
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
        sent
    })
}

/// Sends `bytes` over TCP from `ns_client` to a listener in `ns_server` at
/// `server`; the server reads everything and closes. Returns the bytes the
/// server received.
pub fn tcp_transfer(ns_client: &str, ns_server: &str, server: SocketAddr, bytes: usize) -> usize {
    let (tx, rx) = std::sync::mpsc::channel();
    let srv = NetnsPair::spawn_in(ns_server, move || {
        let l = TcpListener::bind(server).expect("binding the TCP listener");
        tx.send(()).unwrap();
        let (mut s, _) = l.accept().expect("accepting");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("listener bound");
    NetnsPair::run_in(ns_client, move || {
        let mut s =
            TcpStream::connect_timeout(&server, Duration::from_secs(5)).expect("connecting");
        let chunk = vec![0x5au8; 16384];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).expect("writing");
            left -= n;
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // Wait for the server's FIN so the whole exchange is on the wire.
        let mut b = [0u8; 1];
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let _ = s.read(&mut b);
    });
    srv.join().expect("TCP server thread")
}

pub fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// A value from `/proc/net/snmp` of namespace `ns`, e.g. ("Tcp", "OutSegs").
pub fn snmp(ns: &str, proto: &str, field: &str) -> u64 {
    let out = NetnsPair::exec(ns, &["cat", "/proc/net/snmp"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let prefix = format!("{proto}:");
    let mut rows = text.lines().filter(|l| l.starts_with(&prefix));
    let names: Vec<&str> = rows
        .next()
        .expect("snmp header")
        .split_whitespace()
        .collect();
    let values: Vec<&str> = rows
        .next()
        .expect("snmp values")
        .split_whitespace()
        .collect();
    let i = names.iter().position(|n| *n == field).expect("snmp field");
    values[i].parse().expect("snmp number")
}

/// IP protocol 253, "use for experimentation and testing" (RFC 3692): the
/// "any other protocol" case, a flow with ports 0.
pub const PROTO_EXPERIMENT: i32 = 253;

/// Sends `count` raw IP datagrams of protocol 253 with `payload` bytes from
/// namespace `ns` to `dst`. Returns the number sent.
pub fn raw_send(ns: &str, dst: IpAddr, count: u64, payload: usize) -> u64 {
    NetnsPair::run_in(ns, move || {
        use nix::libc;
        let family = if dst.is_ipv6() {
            libc::AF_INET6
        } else {
            libc::AF_INET
        };
        // SAFETY: plain socket(2) call; the fd is closed below.
        let fd = unsafe { libc::socket(family, libc::SOCK_RAW, PROTO_EXPERIMENT) };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let buf = vec![0x3cu8; payload];
        let mut sent = 0;
        for _ in 0..count {
            let n = match dst {
                IpAddr::V4(v4) => {
                    let sa = libc::sockaddr_in {
                        sin_family: libc::AF_INET as u16,
                        sin_port: 0,
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(v4.octets()),
                        },
                        sin_zero: [0; 8],
                    };
                    // SAFETY: buf and sa are valid for the lengths given.
                    unsafe {
                        libc::sendto(
                            fd,
                            buf.as_ptr().cast(),
                            buf.len(),
                            0,
                            (&sa as *const libc::sockaddr_in).cast(),
                            std::mem::size_of::<libc::sockaddr_in>() as u32,
                        )
                    }
                }
                IpAddr::V6(v6) => {
                    let sa = libc::sockaddr_in6 {
                        sin6_family: libc::AF_INET6 as u16,
                        sin6_port: 0,
                        sin6_flowinfo: 0,
                        sin6_addr: libc::in6_addr {
                            s6_addr: v6.octets(),
                        },
                        sin6_scope_id: 0,
                    };
                    // SAFETY: buf and sa are valid for the lengths given.
                    unsafe {
                        libc::sendto(
                            fd,
                            buf.as_ptr().cast(),
                            buf.len(),
                            0,
                            (&sa as *const libc::sockaddr_in6).cast(),
                            std::mem::size_of::<libc::sockaddr_in6>() as u32,
                        )
                    }
                }
            };
            if n == payload as isize {
                sent += 1;
            }
        }
        // SAFETY: fd came from socket() above.
        unsafe { libc::close(fd) };
        sent
    })
}

/// nftables counters in namespace A: packets and bytes of the client's
/// output and input for TCP port `port`. Netfilter sits above GSO, so it
/// counts a super-packet once with its full L3 length.
pub fn nft_install(ns: &str, port: u16) {
    let rules = format!(
        "table inet ipfixtest {{
        chain out {{ type filter hook output priority 0; ip daddr 192.0.2.2 tcp dport {port} counter; }}
        chain in {{ type filter hook input priority 0; ip saddr 192.0.2.2 tcp sport {port} counter; }}
    }}"
    );
    let path = std::env::temp_dir().join(super::unique("nft-"));
    std::fs::write(&path, rules).unwrap();
    NetnsPair::exec(ns, &["nft", "-f", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
}

pub fn nft_counters(ns: &str) -> [(u64, u64); 2] {
    let out = NetnsPair::exec(ns, &["nft", "list", "table", "inet", "ipfixtest"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let nums: Vec<(u64, u64)> = text
        .lines()
        .filter(|l| l.contains("counter packets"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let p = w.iter().position(|x| *x == "packets").unwrap();
            let b = w.iter().position(|x| *x == "bytes").unwrap();
            (
                w[p + 1].parse::<u64>().unwrap(),
                w[b + 1].parse::<u64>().unwrap(),
            )
        })
        .collect();
    assert_eq!(nums.len(), 2, "two counters in:\n{text}");
    [nums[0], nums[1]]
}

/// Segments TCP put on the wire in `ns`: new ones (OutSegs) plus
/// retransmitted ones (RetransSegs), from the kernel's MIB.
pub fn tcp_sent_segments(ns: &str) -> u64 {
    snmp(ns, "Tcp", "OutSegs") + snmp(ns, "Tcp", "RetransSegs")
}

/// A flow the mixed traffic created, with the counts it must have.
#[derive(Debug, Clone)]
pub struct ExpectedFlow {
    pub direction: &'static str,
    pub protocol: u64,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Destination port, or ICMP type for ICMP/ICMPv6.
    pub port_or_type: u64,
    pub packets: u64,
    pub octets: u64,
}

impl ExpectedFlow {
    pub fn matches(&self, r: &serde_json::Value) -> bool {
        let icmp = self.protocol == 1 || self.protocol == 58;
        r["direction"] == self.direction
            && r["protocol"] == self.protocol
            && r["src_addr"] == self.src.to_string()
            && r["dst_addr"] == self.dst.to_string()
            && if icmp {
                r["icmp_type"] == self.port_or_type
            } else {
                r["dst_port"] == self.port_or_type
            }
    }
}

/// UDP, ICMP, ICMPv6, protocol 253 over IPv4 and IPv6, in both directions
/// of A's veth, plus a small TCP exchange (exact TCP counts are covered in
/// e2e_run.rs). Returns the flows whose exact counts are known.
pub fn mixed_traffic(net: &NetnsPair) -> Vec<ExpectedFlow> {
    let mut out = Vec::new();
    for v6 in [false, true] {
        let (a, b) = (NetnsPair::ip(v6, true), NetnsPair::ip(v6, false));
        let oh = udp_l3_overhead(v6);
        let sink = udp_sink(&net.b, sa(b, 7001));
        let n = udp_send(&net.a, sa(a, 47001), sa(b, 7001), 17, 100, Duration::ZERO);
        assert_eq!(sink.join().unwrap(), n);
        out.push(ExpectedFlow {
            direction: "egress",
            protocol: 17,
            src: a,
            dst: b,
            port_or_type: 7001,
            packets: n,
            octets: n * (oh + 100),
        });
        let sink = udp_sink(&net.a, sa(a, 7002));
        let n = udp_send(&net.b, sa(b, 47002), sa(a, 7002), 13, 200, Duration::ZERO);
        assert_eq!(sink.join().unwrap(), n);
        out.push(ExpectedFlow {
            direction: "ingress",
            protocol: 17,
            src: b,
            dst: a,
            port_or_type: 7002,
            packets: n,
            octets: n * (oh + 200),
        });
        let ping: Vec<&str> = if v6 {
            vec![
                "ping",
                "-6",
                "-q",
                "-c",
                "3",
                "-i",
                "0.05",
                "-W",
                "2",
                "2001:db8::2",
            ]
        } else {
            vec![
                "ping",
                "-q",
                "-c",
                "3",
                "-i",
                "0.05",
                "-W",
                "2",
                "192.0.2.2",
            ]
        };
        NetnsPair::exec(&net.a, &ping);
        let (proto, req, rep, size) = if v6 {
            (58, 128, 129, 104)
        } else {
            (1, 8, 0, 84)
        };
        for (dir, src, dst, t) in [("egress", a, b, req), ("ingress", b, a, rep)] {
            out.push(ExpectedFlow {
                direction: dir,
                protocol: proto,
                src,
                dst,
                port_or_type: t,
                packets: 3,
                octets: 3 * size,
            });
        }
        let l3 = if v6 { 40 } else { 20 };
        let n = raw_send(&net.a, b, 4, 50);
        out.push(ExpectedFlow {
            direction: "egress",
            protocol: PROTO_EXPERIMENT as u64,
            src: a,
            dst: b,
            port_or_type: 0,
            packets: n,
            octets: n * (l3 + 50),
        });
        let n = raw_send(&net.b, a, 3, 30);
        out.push(ExpectedFlow {
            direction: "ingress",
            protocol: PROTO_EXPERIMENT as u64,
            src: b,
            dst: a,
            port_or_type: 0,
            packets: n,
            octets: n * (l3 + 30),
        });
    }
    let b = NetnsPair::ip(false, false);
    assert_eq!(tcp_transfer(&net.a, &net.b, sa(b, 7003), 20_000), 20_000);
    out
}

/// Checks that the exporter's own JSON records carry exactly the expected
/// counts for every expected flow.
pub fn assert_expected(records: &[serde_json::Value], expected: &[ExpectedFlow]) {
    for e in expected {
        let got = super::exporter::totals(records, |r| e.matches(r));
        assert_eq!(got, (e.packets, e.octets), "{e:?}");
    }
}
