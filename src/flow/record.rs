//! The exported unit: one flow record, decoupled from the kernel ABI.
//!
//! The datapath turns `(flow_key, flow_value)` pairs into `FlowRecord`s; the
//! JSON output and the IPFIX encoder consume them.

use std::net::IpAddr;

pub use crate::abi::Direction;

/// IPFIX `flowEndReason` (IE 136) values, RFC 5102 §5.11.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowEndReason {
    IdleTimeout = 1,
    ActiveTimeout = 2,
    EndOfFlow = 3,
    ForcedEnd = 4,
    LackOfResources = 5,
}

impl FlowEndReason {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlowEndReason::IdleTimeout => "idle timeout",
            FlowEndReason::ActiveTimeout => "active timeout",
            FlowEndReason::EndOfFlow => "end of flow",
            FlowEndReason::ForcedEnd => "forced end",
            FlowEndReason::LackOfResources => "lack of resources",
        }
    }
}

/// One exported flow record. Counts are deltas since the previous record of
/// the same flow (IPFIX `octetDeltaCount` / `packetDeltaCount`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub src_addr: IpAddr,
    pub dst_addr: IpAddr,
    /// 0 for ICMP, ICMPv6, non-first fragments and portless protocols.
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    /// ICMP / ICMPv6 type and code; 0 for other protocols.
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub direction: Direction,
    /// Outer VLAN ID, 0 when untagged; part of the flow key. Exported as
    /// `vlanId` by ingress records, `postVlanId` by egress ones.
    pub vlan_id: u16,
    /// The VLAN ID inside the outer tag (`dot1qCustomerVlanId`), 0 when
    /// there is none; part of the flow key.
    pub inner_vlan_id: u16,
    /// Ethernet source and destination of the first packet.
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Interface the packet arrived on; 0 when unknown (locally sent).
    pub ingress_ifindex: u32,
    /// Interface the packet left on; 0 when unknown (ingress hook).
    pub egress_ifindex: u32,
    /// Packets (GSO segments counted one by one).
    pub packets: u64,
    /// IP total length summed over the packets (L3 octets).
    pub octets: u64,
    /// OR of the 9 TCP flag bits (FIN = 0x01 ... NS = 0x100).
    pub tcp_flags: u16,
    pub ttl_min: u8,
    pub ttl_max: u8,
    /// TOS byte (IPv4) or traffic class (IPv6) of the first packet.
    pub tos: u8,
    /// First and last packet, milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    pub end_reason: FlowEndReason,
    /// Unique per flow within one exporter run.
    pub flow_id: u64,
}

impl FlowRecord {
    pub fn is_ipv6(&self) -> bool {
        self.dst_addr.is_ipv6()
    }

    /// `vlanId`: the VLAN of the ingress interface, known (as the outer tag
    /// seen) to ingress records; 0 in egress records.
    pub fn ingress_vlan_id(&self) -> u16 {
        match self.direction {
            Direction::Ingress => self.vlan_id,
            Direction::Egress => 0,
        }
    }

    /// `postVlanId`: the VLAN of the egress interface, known to egress
    /// records; 0 in ingress records.
    pub fn egress_vlan_id(&self) -> u16 {
        match self.direction {
            Direction::Ingress => 0,
            Direction::Egress => self.vlan_id,
        }
    }

    /// True for ICMP over IPv4 and ICMPv6 over IPv6.
    pub fn is_icmp(&self) -> bool {
        matches!(
            (self.protocol, self.is_ipv6()),
            (PROTO_ICMP, false) | (PROTO_ICMPV6, true)
        )
    }

    /// `icmpTypeCodeIPv4` / `icmpTypeCodeIPv6`: type × 256 + code.
    pub fn icmp_type_code(&self) -> u16 {
        u16::from(self.icmp_type) << 8 | u16::from(self.icmp_code)
    }

    /// `ipDiffServCodePoint`: the upper six bits of the TOS byte.
    pub fn dscp(&self) -> u8 {
        self.tos >> 2
    }
}

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
