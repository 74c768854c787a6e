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
