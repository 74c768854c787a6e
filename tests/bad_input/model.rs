//! A reference model of bpf/parse.h in plain Rust: what the datapath must
//! make of any frame. Written from the parser's documented rules (Ethernet,
//! at most 2 VLAN tags, IPv4 with IHL >= 5 and a total length between the
//! header and the frame, IPv6 with at most 6 extension headers walked and
//! the payload length within the frame, L4 headers within the IP length),
//! so every random frame has an exact expected outcome: non-IP, parse
//! failure, or one packet of a known flow.
//!
//! Also models what a veth does before tc ingress sees a frame
//! ([`veth_ingress_view`]).

#![allow(dead_code)] // shared by tests/bad_input.rs and tests/bad_input_veth.rs

use std::collections::HashMap;

use ipfix_flow_exporter::abi::FlowKey;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88a8;
const VLAN_MAX_DEPTH: usize = 2;
const IPV6_EXT_MAX: usize = 6;
const IPV6_HLEN: usize = 40;
const IPV4_HLEN: usize = 20;
const HOPOPTS: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DSTOPTS: u8 = 60;

/// What the program makes of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    NonIp,
    ParseFailed,
    Metered(Packet),
}

/// One metered packet: its flow key (ifindex 0: the caller's) and what it
/// adds to the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub key: FlowKey,
    /// The IP length: what the flow's octets grow by.
    pub ip_len: u64,
    pub tcp_flags: u32,
    pub ttl: u8,
    pub tos: u8,
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]))
}

fn is_vlan(proto: u16) -> bool {
    proto == TPID_8021Q || proto == TPID_8021AD
}

fn is_ext(nh: u8) -> bool {
    matches!(nh, HOPOPTS | ROUTING | DSTOPTS | FRAGMENT)
}

/// The outcome for `frame` as the whole skb (skb->len == frame length, no
/// GSO), as the program sees it at tc.
pub fn parse(frame: &[u8]) -> Outcome {
    parse_tagged(frame, None)
}

/// As [`parse`], for an skb whose outer tag the kernel holds in
/// skb->vlan_tci (`vlan_tci`) rather than in the frame.
pub fn parse_tagged(frame: &[u8], vlan_tci: Option<u16>) -> Outcome {
    match parse_inner(frame, vlan_tci) {
        Ok(Some(p)) => Outcome::Metered(p),
        Ok(None) => Outcome::NonIp,
        Err(()) => Outcome::ParseFailed,
    }
}

/// Ok(None): non-IP; Err: parse failure.
fn parse_inner(f: &[u8], vlan_tci: Option<u16>) -> Result<Option<Packet>, ()> {
    let mut proto = be16(f, 12).ok_or(())?;
    let mut off = ETH_HLEN;
    // VLAN IDs from the outside in: skb->vlan_tci's, then the frame's.
    let mut vids: Vec<u16> = vlan_tci.map(|t| t & 0x0fff).into_iter().collect();
    for _ in 0..VLAN_MAX_DEPTH {
        if !is_vlan(proto) {
            break;
        }
        vids.push(be16(f, off).ok_or(())? & 0x0fff);
        proto = be16(f, off + 2).ok_or(())?;
        off += 4;
    }
    if is_vlan(proto) {
        return Err(());
    }
    let l3 = off;
    let mut p = Packet {
        key: FlowKey {
            vlan_id: vids.first().copied().unwrap_or(0),
            inner_vlan_id: vids.get(1).copied().unwrap_or(0),
            ..FlowKey::default()
        },
        ip_len: 0,
        tcp_flags: 0,
        ttl: 0,
        tos: 0,
    };
    // Room in the frame for the IP (super-)packet.
    let frame_l3 = f.len() - l3;
    let (l4, has_l4) = match proto {
        ETH_P_IP => {
            let h = f.get(l3..l3 + IPV4_HLEN).ok_or(())?;
            let (version, ihl) = (h[0] >> 4, usize::from(h[0] & 0x0f));
            if version != 4 || ihl < 5 {
                return Err(());
            }
            let hdr = ihl * 4;
            let claimed = usize::from(u16::from_be_bytes([h[2], h[3]]));
            if claimed < hdr || claimed > frame_l3 {
                return Err(());
            }
            p.ip_len = claimed as u64;
            p.key.src_addr[..4].copy_from_slice(&h[12..16]);
            p.key.dst_addr[..4].copy_from_slice(&h[16..20]);
            p.key.ip_version = 4;
            p.key.protocol = h[9];
            p.ttl = h[8];
            p.tos = h[1];
            let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
            (l3 + hdr, frag_off == 0)
        }
        ETH_P_IPV6 => {
            let h = f.get(l3..l3 + IPV6_HLEN).ok_or(())?;
            if h[0] >> 4 != 6 {
                return Err(());
            }
            let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
            let claimed = if payload_len == 0 && h[6] == HOPOPTS {
                frame_l3 // jumbogram
            } else {
                IPV6_HLEN + payload_len
            };
            if claimed > frame_l3 {
                return Err(());
            }
            p.ip_len = claimed as u64;
            let mut off = l3 + IPV6_HLEN;
            let mut nh = h[6];
            let mut has_l4 = true;
            for _ in 0..IPV6_EXT_MAX {
                if !is_ext(nh) {
                    break;
                }
                let ext = f.get(off..off + 4).ok_or(())?;
                if nh == FRAGMENT {
                    if u16::from_be_bytes([ext[2], ext[3]]) & 0xfff8 != 0 {
                        has_l4 = false;
                    }
                    off += 8;
                } else {
                    off += (usize::from(ext[1]) + 1) * 8;
                }
                nh = ext[0];
                if !has_l4 {
                    break;
                }
            }
            if has_l4 && is_ext(nh) {
                return Err(());
            }
            if off - l3 > claimed {
                return Err(());
            }
            p.key.src_addr.copy_from_slice(&h[8..24]);
            p.key.dst_addr.copy_from_slice(&h[24..40]);
            p.key.ip_version = 6;
            p.key.protocol = nh;
            p.ttl = h[7];
            p.tos = (h[0] << 4) | (h[1] >> 4);
            (off, has_l4)
        }
        _ => return Ok(None),
    };
    if !has_l4 {
        return Ok(Some(p));
    }
    let room = p.ip_len as usize - (l4 - l3);
    let proto = p.key.protocol;
    let icmp = (proto == 1 && p.key.ip_version == 4) || (proto == 58 && p.key.ip_version == 6);
    let need = match proto {
        6 => 20,
        17 | 136 => 8,
        132 => 12,
        _ if icmp => 8,
        _ => return Ok(Some(p)),
    };
    if need > room {
        return Err(());
    }
    let b = f.get(l4..l4 + need).ok_or(())?;
    if icmp {
        p.key.icmp_type = b[0];
        p.key.icmp_code = b[1];
    } else {
        p.key.src_port = u16::from_be_bytes([b[0], b[1]]);
        p.key.dst_port = u16::from_be_bytes([b[2], b[3]]);
    }
    if proto == 6 {
        let doff = usize::from(b[12] >> 4) * 4;
        if doff < 20 || doff > room {
            return Err(());
        }
        p.tcp_flags = (u32::from(b[12] & 1) << 8) | u32::from(b[13]);
    }
    Ok(Some(p))
}

/// What tc ingress of a veth sees of a frame its peer's AF_PACKET socket
/// sent, or `None` when it never gets there (linux 6.18):
/// - packet_snd() refuses a frame shorter than the Ethernet header;
/// - __netif_receive_skb_core() pops an outer 802.1Q/802.1ad tag into
///   skb->vlan_tci before the tc hook (skb_vlan_untag()), dropping a frame
///   with fewer than 6 bytes after the Ethernet header. So tc sees one tag
///   less in the frame than the wire carried, and that tag's TCI in
///   skb->vlan_tci.
pub fn veth_ingress_view(frame: &[u8]) -> Option<(Vec<u8>, Option<u16>)> {
    let mut f = frame.to_vec();
    if is_vlan(be16(&f, 12)?) {
        if f.len() < ETH_HLEN + 6 {
            return None;
        }
        let tci = be16(&f, 14);
        f.drain(12..16);
        return Some((f, tci));
    }
    Some((f, None))
}

/// A flow as the map holds it, summed over packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub packets: u64,
    pub octets: u64,
    pub tcp_flags: u32,
    pub ttl_min: u32,
    pub ttl_max: u32,
    /// TOS of the first packet.
    pub tos: u8,
}

/// Expected flows, keyed with `ifindex` filled in.
#[derive(Debug, Default)]
pub struct Flows(pub HashMap<FlowKey, Flow>);

impl Flows {
    pub fn add(&mut self, p: &Packet, ifindex: u32) {
        let key = FlowKey { ifindex, ..p.key };
        let ttl = u32::from(p.ttl);
        self.0
            .entry(key)
            .and_modify(|f| {
                f.packets += 1;
                f.octets += p.ip_len;
                f.tcp_flags |= p.tcp_flags;
                f.ttl_min = f.ttl_min.min(ttl);
                f.ttl_max = f.ttl_max.max(ttl);
            })
            .or_insert(Flow {
                packets: 1,
                octets: p.ip_len,
                tcp_flags: p.tcp_flags,
                ttl_min: ttl,
                ttl_max: ttl,
                tos: p.tos,
            });
    }

    pub fn packets(&self) -> u64 {
        self.0.values().map(|f| f.packets).sum()
    }
}
