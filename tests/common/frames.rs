//! Crafted Ethernet frames for the kernel tests (see kernel_datapath.rs).
//!
//! Each layer is a small builder whose `bytes()` emits the header followed by
//! whatever it carries, so a frame reads from the outside in:
//!
//! ```ignore
//! let ip = Ipv4::new(A, B).ttl(9).carrying(&Transport::udp(53, 5353, &[0; 4]));
//! let frame = Ethernet::new().vlan(TPID_8021Q, 7).ipv4(&ip);
//! assert_eq!(ip.len(), 20 + 8 + 4); // the octets the meter must count
//! ```
//!
//! `Ipv4::len` / `Ipv6::len` are the L3 lengths a correct header claims;
//! overrides (`total_len`, `payload_len`, `ihl`) only change the header field,
//! never the bytes that follow, so malformed packets are easy to build.
//! Nothing here checks sanity: producing broken packets is the point.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETH_HLEN: usize = 14;
pub const VLAN_HLEN: usize = 4;
pub const IPV4_HLEN: usize = 20;
pub const IPV6_HLEN: usize = 40;
pub const TCP_HLEN: usize = 20;
pub const UDP_HLEN: usize = 8;
pub const SCTP_HLEN: usize = 12;
pub const ICMP_HLEN: usize = 8;

pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
/// 802.1Q customer tag.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad service tag (QinQ outer tag).
pub const TPID_8021AD: u16 = 0x88a8;

pub const IPPROTO_HOPOPTS: u8 = 0;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ROUTING: u8 = 43;
pub const IPPROTO_FRAGMENT: u8 = 44;
pub const IPPROTO_GRE: u8 = 47;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_NONE: u8 = 59;
pub const IPPROTO_DSTOPTS: u8 = 60;
pub const IPPROTO_SCTP: u8 = 132;
pub const IPPROTO_UDPLITE: u8 = 136;

/// IPv4 flag bits in the 16-bit flags/fragment-offset field.
pub const IPV4_DF: u16 = 0x4000;
pub const IPV4_MF: u16 = 0x2000;

/// RFC 1071 Internet checksum of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn be16(v: usize) -> [u8; 2] {
    u16::try_from(v)
        .expect("length fits the 16-bit header field")
        .to_be_bytes()
}

/// Link layer: MAC addresses, 0..n VLAN tags, optional padding.
#[derive(Debug, Clone)]
pub struct Ethernet {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// (TPID, TCI) from the outside in.
    pub vlans: Vec<(u16, u16)>,
    /// Zero bytes appended until the frame has this many bytes.
    pub pad_to: usize,
}

impl Default for Ethernet {
    fn default() -> Self {
        Self::new()
    }
}

impl Ethernet {
    pub fn new() -> Self {
        Ethernet {
            dst: [0x02, 0, 0, 0, 0, 0x02],
            src: [0x02, 0, 0, 0, 0, 0x01],
            vlans: Vec::new(),
            pad_to: 0,
        }
    }

    /// Adds a tag inside the ones already there.
    pub fn vlan(mut self, tpid: u16, vid: u16) -> Self {
        self.vlans.push((tpid, vid & 0x0fff));
        self
    }

    /// Adds a tag with the whole TCI: priority (PCP), DEI and VLAN ID.
    pub fn vlan_tci(mut self, tpid: u16, tci: u16) -> Self {
        self.vlans.push((tpid, tci));
        self
    }

    /// Pads the frame with zeros to `len` bytes (60: the Ethernet minimum
    /// without FCS).
    pub fn pad_to(mut self, len: usize) -> Self {
        self.pad_to = len;
        self
    }

    /// Bytes before the L3 header.
    pub fn l2_len(&self) -> usize {
        ETH_HLEN + VLAN_HLEN * self.vlans.len()
    }

    pub fn frame(&self, ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.l2_len() + payload.len());
        b.extend_from_slice(&self.dst);
        b.extend_from_slice(&self.src);
        for &(tpid, tci) in &self.vlans {
            b.extend_from_slice(&tpid.to_be_bytes());
            b.extend_from_slice(&tci.to_be_bytes());
        }
        b.extend_from_slice(&ethertype.to_be_bytes());
        b.extend_from_slice(payload);
        if b.len() < self.pad_to {
            b.resize(self.pad_to, 0);
        }
        b
    }

    pub fn ipv4(&self, ip: &Ipv4) -> Vec<u8> {
        self.frame(ETH_P_IP, &ip.bytes())
    }

    pub fn ipv6(&self, ip: &Ipv6) -> Vec<u8> {
        self.frame(ETH_P_IPV6, &ip.bytes())
    }
}

/// A TCP header (any flags, data offset, options) and its payload.
#[derive(Debug, Clone)]
pub struct Tcp {
    pub src: u16,
    pub dst: u16,
    /// The 9 flag bits, NS = 0x100 (the `flow_value.tcp_flags` layout).
    pub flags: u16,
    /// Padded with zeros (End of Option List) to a multiple of 4.
    pub options: Vec<u8>,
    /// Data offset in 32-bit words written into the header; `None` derives
    /// it from the options.
    pub data_offset: Option<u8>,
    pub payload: Vec<u8>,
}

impl Tcp {
    pub fn new(src: u16, dst: u16) -> Self {
        Tcp {
            src,
            dst,
            flags: 0,
            options: Vec::new(),
            data_offset: None,
            payload: Vec::new(),
        }
    }

    pub fn flags(mut self, flags: u16) -> Self {
        self.flags = flags;
        self
    }

    pub fn options(mut self, options: &[u8]) -> Self {
        self.options = options.to_vec();
        self.options.resize(options.len().div_ceil(4) * 4, 0);
        self
    }

    pub fn data_offset(mut self, words: u8) -> Self {
        self.data_offset = Some(words);
        self
    }

    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    /// Header length the emitted bytes really have.
    pub fn header_len(&self) -> usize {
        TCP_HLEN + self.options.len()
    }

    pub fn bytes(&self) -> Vec<u8> {
        let words = self
            .data_offset
            .unwrap_or_else(|| u8::try_from(self.header_len() / 4).expect("TCP options fit"));
        let mut b = Vec::with_capacity(self.header_len() + self.payload.len());
        b.extend_from_slice(&self.src.to_be_bytes());
        b.extend_from_slice(&self.dst.to_be_bytes());
        b.extend_from_slice(&0x1000_0000u32.to_be_bytes()); // sequence number
        b.extend_from_slice(&0u32.to_be_bytes()); // acknowledgment number
        b.push((words << 4) | ((self.flags >> 8) as u8 & 1)); // offset, NS
        b.push(self.flags as u8); // CWR ECE URG ACK PSH RST SYN FIN
        b.extend_from_slice(&0xffffu16.to_be_bytes()); // window
        b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        b.extend_from_slice(&self.options);
        b.extend_from_slice(&self.payload);
        b
    }
}

/// What an IP packet carries: a protocol number and its bytes.
#[derive(Debug, Clone)]
pub struct Transport {
    pub protocol: u8,
    pub bytes: Vec<u8>,
}

impl Transport {
    pub fn tcp(tcp: &Tcp) -> Self {
        Transport {
            protocol: IPPROTO_TCP,
            bytes: tcp.bytes(),
        }
    }

    pub fn udp(src: u16, dst: u16, payload: &[u8]) -> Self {
        let mut b = Vec::with_capacity(UDP_HLEN + payload.len());
        b.extend_from_slice(&src.to_be_bytes());
        b.extend_from_slice(&dst.to_be_bytes());
        b.extend_from_slice(&be16(UDP_HLEN + payload.len()));
        b.extend_from_slice(&[0, 0]); // checksum
        b.extend_from_slice(payload);
        Transport {
            protocol: IPPROTO_UDP,
            bytes: b,
        }
    }

    /// SCTP common header (ports, verification tag, checksum) + chunks.
    pub fn sctp(src: u16, dst: u16, chunks: &[u8]) -> Self {
        let mut b = Vec::with_capacity(SCTP_HLEN + chunks.len());
        b.extend_from_slice(&src.to_be_bytes());
        b.extend_from_slice(&dst.to_be_bytes());
        b.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]); // CRC32c
        b.extend_from_slice(chunks);
        Transport {
            protocol: IPPROTO_SCTP,
            bytes: b,
        }
    }

    /// ICMP: type, code, checksum, 4 bytes of rest-of-header, data.
    pub fn icmp(ty: u8, code: u8, data: &[u8]) -> Self {
        Transport {
            protocol: IPPROTO_ICMP,
            bytes: icmp_bytes(ty, code, data),
        }
    }

    /// ICMPv6: the same 8-byte shape as ICMP.
    pub fn icmpv6(ty: u8, code: u8, data: &[u8]) -> Self {
        Transport {
            protocol: IPPROTO_ICMPV6,
            bytes: icmp_bytes(ty, code, data),
        }
    }

    /// Any protocol number with opaque bytes (GRE, ICMP in IPv6, ...).
    pub fn raw(protocol: u8, bytes: &[u8]) -> Self {
        Transport {
            protocol,
            bytes: bytes.to_vec(),
        }
    }
}

fn icmp_bytes(ty: u8, code: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![ty, code, 0, 0, 0x12, 0x34, 0x00, 0x01]; // id, sequence
    b.extend_from_slice(data);
    let sum = inet_checksum(&b);
    b[2..4].copy_from_slice(&sum.to_be_bytes());
    b
}

/// An IPv4 header (options, fragments, any field overridden) + payload.
#[derive(Debug, Clone)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub tos: u8,
    pub ttl: u8,
    pub protocol: u8,
    pub ident: u16,
    /// Flags (DF, MF) and offset in 8-byte units, as on the wire.
    pub frag_off: u16,
    /// Padded with zeros (End of Option List) to a multiple of 4.
    pub options: Vec<u8>,
    /// IHL written into the header; `None` derives it from the options.
    pub ihl: Option<u8>,
    /// Total length written into the header; `None`: `len()`.
    pub total_len: Option<u16>,
    pub payload: Vec<u8>,
}

impl Ipv4 {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        Ipv4 {
            src,
            dst,
            tos: 0,
            ttl: 64,
            protocol: IPPROTO_NONE,
            ident: 0x4242,
            frag_off: 0,
            options: Vec::new(),
            ihl: None,
            total_len: None,
            payload: Vec::new(),
        }
    }

    /// Sets protocol and payload from `t`.
    pub fn carrying(mut self, t: &Transport) -> Self {
        self.protocol = t.protocol;
        self.payload = t.bytes.clone();
        self
    }

    pub fn protocol(mut self, protocol: u8) -> Self {
        self.protocol = protocol;
        self
    }

    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// Fragment: `offset` in 8-byte units, `more` sets MF.
    pub fn fragment(mut self, offset: u16, more: bool) -> Self {
        self.frag_off = (self.frag_off & IPV4_DF) | (offset & 0x1fff);
        if more {
            self.frag_off |= IPV4_MF;
        }
        self
    }

    /// The raw flags/fragment-offset field.
    pub fn frag_off(mut self, raw: u16) -> Self {
        self.frag_off = raw;
        self
    }

    pub fn options(mut self, options: &[u8]) -> Self {
        self.options = options.to_vec();
        self.options.resize(options.len().div_ceil(4) * 4, 0);
        self
    }

    pub fn ihl(mut self, words: u8) -> Self {
        self.ihl = Some(words);
        self
    }

    pub fn total_len(mut self, len: u16) -> Self {
        self.total_len = Some(len);
        self
    }

    /// Header length the emitted bytes really have.
    pub fn header_len(&self) -> usize {
        IPV4_HLEN + self.options.len()
    }

    /// L3 length: header + payload, the total length of a correct header.
    pub fn len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The header alone, checksum filled in.
    pub fn header(&self) -> Vec<u8> {
        let ihl = self
            .ihl
            .unwrap_or_else(|| u8::try_from(self.header_len() / 4).expect("IPv4 options fit"));
        let total = self
            .total_len
            .map_or_else(|| be16(self.len()), u16::to_be_bytes);
        let mut h = Vec::with_capacity(self.header_len());
        h.push(0x40 | (ihl & 0x0f));
        h.push(self.tos);
        h.extend_from_slice(&total);
        h.extend_from_slice(&self.ident.to_be_bytes());
        h.extend_from_slice(&self.frag_off.to_be_bytes());
        h.push(self.ttl);
        h.push(self.protocol);
        h.extend_from_slice(&[0, 0]); // checksum, below
        h.extend_from_slice(&self.src.octets());
        h.extend_from_slice(&self.dst.octets());
        h.extend_from_slice(&self.options);
        let sum = inet_checksum(&h);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.header();
        b.extend_from_slice(&self.payload);
        b
    }
}

/// One IPv6 extension header; its next-header byte is filled in by [`Ipv6`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ext {
    /// Hop-by-hop options, (`len8` + 1) * 8 bytes of PadN.
    HopByHop { len8: u8 },
    /// Routing header (type 4 SRH shape, segments left 0).
    Routing { len8: u8 },
    /// Destination options, (`len8` + 1) * 8 bytes of PadN.
    DestOpts { len8: u8 },
    /// Fragment header: `offset` in 8-byte units, `more` is the M flag.
    Fragment { offset: u16, more: bool },
}

impl Ext {
    pub fn hop_by_hop() -> Self {
        Ext::HopByHop { len8: 0 }
    }

    pub fn routing() -> Self {
        Ext::Routing { len8: 2 }
    }

    pub fn dest_opts() -> Self {
        Ext::DestOpts { len8: 1 }
    }

    pub fn fragment(offset: u16, more: bool) -> Self {
        Ext::Fragment { offset, more }
    }

    pub fn protocol(&self) -> u8 {
        match self {
            Ext::HopByHop { .. } => IPPROTO_HOPOPTS,
            Ext::Routing { .. } => IPPROTO_ROUTING,
            Ext::DestOpts { .. } => IPPROTO_DSTOPTS,
            Ext::Fragment { .. } => IPPROTO_FRAGMENT,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Ext::HopByHop { len8 } | Ext::Routing { len8 } | Ext::DestOpts { len8 } => {
                (usize::from(*len8) + 1) * 8
            }
            Ext::Fragment { .. } => 8,
        }
    }

    fn bytes(&self, next: u8) -> Vec<u8> {
        let mut b = vec![0u8; self.len()];
        b[0] = next;
        match self {
            Ext::HopByHop { len8 } | Ext::DestOpts { len8 } => {
                b[1] = *len8;
                pad_options(&mut b[2..]);
            }
            Ext::Routing { len8 } => {
                b[1] = *len8;
                b[2] = 4; // routing type: segment routing
                b[3] = 0; // segments left
            }
            Ext::Fragment { offset, more } => {
                let field = ((offset & 0x1fff) << 3) | u16::from(*more);
                b[2..4].copy_from_slice(&field.to_be_bytes());
                b[4..8].copy_from_slice(&0x0bad_f00du32.to_be_bytes()); // id
            }
        }
        b
    }
}

/// Fills an options area with PadN options (RFC 8200 4.2), Pad1 for a
/// last single byte.
fn pad_options(mut area: &mut [u8]) {
    while area.len() >= 2 {
        let n = (area.len() - 2).min(255);
        area[0] = 1; // PadN
        area[1] = n as u8;
        area = &mut area[2 + n..];
    }
    if let Some(last) = area.first_mut() {
        *last = 0; // Pad1
    }
}

/// An IPv6 header, a chain of extension headers and the upper layer.
#[derive(Debug, Clone)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub exts: Vec<Ext>,
    /// Next header after the last extension header.
    pub protocol: u8,
    /// Payload length written into the header; `None`: `len() - 40`.
    pub payload_len: Option<u16>,
    pub payload: Vec<u8>,
}

impl Ipv6 {
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr) -> Self {
        Ipv6 {
            src,
            dst,
            traffic_class: 0,
            flow_label: 0x12345,
            hop_limit: 64,
            exts: Vec::new(),
            protocol: IPPROTO_NONE,
            payload_len: None,
            payload: Vec::new(),
        }
    }

    pub fn carrying(mut self, t: &Transport) -> Self {
        self.protocol = t.protocol;
        self.payload = t.bytes.clone();
        self
    }

    pub fn protocol(mut self, protocol: u8) -> Self {
        self.protocol = protocol;
        self
    }

    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    pub fn ext(mut self, ext: Ext) -> Self {
        self.exts.push(ext);
        self
    }

    pub fn hop_limit(mut self, hop_limit: u8) -> Self {
        self.hop_limit = hop_limit;
        self
    }

    pub fn traffic_class(mut self, tc: u8) -> Self {
        self.traffic_class = tc;
        self
    }

    pub fn payload_len(mut self, len: u16) -> Self {
        self.payload_len = Some(len);
        self
    }

    /// Fixed header plus every extension header.
    pub fn header_len(&self) -> usize {
        IPV6_HLEN + self.exts.iter().map(Ext::len).sum::<usize>()
    }

    /// L3 length: 40 + the payload length of a correct header.
    pub fn len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    pub fn bytes(&self) -> Vec<u8> {
        let first = self.exts.first().map_or(self.protocol, Ext::protocol);
        let payload_len = self
            .payload_len
            .map_or_else(|| be16(self.len() - IPV6_HLEN), u16::to_be_bytes);
        let word0 =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        let mut b = Vec::with_capacity(self.len());
        b.extend_from_slice(&word0.to_be_bytes());
        b.extend_from_slice(&payload_len);
        b.push(first);
        b.push(self.hop_limit);
        b.extend_from_slice(&self.src.octets());
        b.extend_from_slice(&self.dst.octets());
        for (i, ext) in self.exts.iter().enumerate() {
            let next = self.exts.get(i + 1).map_or(self.protocol, Ext::protocol);
            b.extend_from_slice(&ext.bytes(next));
        }
        b.extend_from_slice(&self.payload);
        b
    }
}
