//! The one table of our data templates: every element once, in template
//! order, with the templates that carry it, its size (the IANA size of its
//! type), how a [`FlowRecord`] writes it and how a decoded value is read
//! back. The data templates (`data.rs`), the encoder, the decoder's typed
//! view (`decode.rs`), the drain chunk size and the README's element table
//! all follow from [`FLOW_ELEMENTS`]; adding an element is one row here.

use std::net::{IpAddr, Ipv4Addr};

pub use super::cursor::Cursor;

use crate::flow::{Direction, FlowEndReason, FlowRecord};
use crate::ipfix::ie::{self, InfoElement};
use crate::ipfix::Value;

/// Which of the data templates carry an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carried {
    All,
    /// Only the templates with SysUpTime elements (278–285).
    SysUpTime,
    Ipv4,
    Ipv6,
    NonIcmp,
    Icmpv4,
    Icmpv6,
    Ingress,
    Egress,
}

impl Carried {
    #[inline(always)]
    pub fn by(self, ipv6: bool, icmp: bool, direction: Direction, sysuptime: bool) -> bool {
        match self {
            Carried::All => true,
            Carried::SysUpTime => sysuptime,
            Carried::Ipv4 => !ipv6,
            Carried::Ipv6 => ipv6,
            Carried::NonIcmp => !icmp,
            Carried::Icmpv4 => icmp && !ipv6,
            Carried::Icmpv6 => icmp && ipv6,
            Carried::Ingress => direction == Direction::Ingress,
            Carried::Egress => direction == Direction::Egress,
        }
    }

    /// As the README's element table words it.
    pub fn describe(self) -> &'static str {
        match self {
            Carried::All => "all",
            Carried::SysUpTime => "with SysUpTime",
            Carried::Ipv4 => "IPv4",
            Carried::Ipv6 => "IPv6",
            Carried::NonIcmp => "non-ICMP",
            Carried::Icmpv4 => "IPv4 ICMP",
            Carried::Icmpv6 => "IPv6 ICMPv6",
            Carried::Ingress => "ingress",
            Carried::Egress => "egress",
        }
    }
}

/// What a record needs to be read back as a [`FlowRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Missing is an error (unless another element of the same
    /// [`FlowElement::field`] is present: IPv4 or IPv6 addresses).
    Required,
    /// Missing leaves the field 0.
    Optional,
    /// Derived from other fields (SysUpTime, DSCP); not read back.
    Derived,
}

/// Why a decoded value cannot be read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Wrong type or out of the field's range.
    Value,
    UnknownDirection(u64),
    UnknownEndReason(u64),
}

/// What the encoder knows besides the record: the SysUpTime anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub system_init_ms: u64,
}

/// One row of the table.
pub struct FlowElement {
    pub element: InfoElement,
    pub carried: Carried,
    /// The [`FlowRecord`] field it writes and reads; elements of one field
    /// (IPv4/IPv6 variants) are alternatives.
    pub field: &'static str,
    pub need: Need,
    /// Big-endian value, exactly [`FlowElement::octets`].
    pub write: fn(&FlowRecord, &Context, &mut Cursor<'_>),
    pub read: fn(&mut FlowRecord, &Value) -> Result<(), Unreadable>,
}

impl FlowElement {
    /// Octets on the wire: the full IANA size; every element of ours has a
    /// fixed size.
    pub const fn octets(&self) -> usize {
        match self.element.ty.default_length() {
            Some(n) => n as usize,
            None => 0,
        }
    }
}

/// A row's writer as an `#[inline(always)]` function item, so that each
/// template's encoder (`data::emit`) takes it in straight-line code rather
/// than a call per element per record (with the release profile's single
/// codegen unit, where the table and the encoders meet).
macro_rules! writer {
    (|$r:pat_param, $cx:pat_param, $out:ident| $body:expr) => {{
        #[inline(always)]
        fn write($r: &FlowRecord, $cx: &Context, $out: &mut Cursor<'_>) {
            $body
        }
        write
    }};
}

/// The data templates' elements in template order. The C package's 17
/// elements keep their order, both interfaces where it had one. Changing
/// which elements a template carries takes new template IDs
/// (`data::FIRST_DATA_TEMPLATE_ID`).
pub static FLOW_ELEMENTS: [FlowElement; 31] = [
    FlowElement {
        element: ie::OCTET_DELTA_COUNT,
        carried: Carried::All,
        field: "octets",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.octets.to_be_bytes())),
        read: |r, v| set(&mut r.octets, unsigned(v)),
    },
    FlowElement {
        element: ie::PACKET_DELTA_COUNT,
        carried: Carried::All,
        field: "packets",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.packets.to_be_bytes())),
        read: |r, v| set(&mut r.packets, unsigned(v)),
    },
    FlowElement {
        element: ie::PROTOCOL_IDENTIFIER,
        carried: Carried::All,
        field: "protocol",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&[r.protocol])),
        read: |r, v| set(&mut r.protocol, narrow(v)),
    },
    FlowElement {
        element: ie::SOURCE_IPV4_ADDRESS,
        carried: Carried::Ipv4,
        field: "src_addr",
        need: Need::Required,
        write: writer!(|r, _, out| out.put_addr(r.src_addr)),
        read: |r, v| set(&mut r.src_addr, address(v)),
    },
    FlowElement {
        element: ie::SOURCE_IPV6_ADDRESS,
        carried: Carried::Ipv6,
        field: "src_addr",
        need: Need::Required,
        write: writer!(|r, _, out| out.put_addr(r.src_addr)),
        read: |r, v| set(&mut r.src_addr, address(v)),
    },
    FlowElement {
        element: ie::DESTINATION_IPV4_ADDRESS,
        carried: Carried::Ipv4,
        field: "dst_addr",
        need: Need::Required,
        write: writer!(|r, _, out| out.put_addr(r.dst_addr)),
        read: |r, v| set(&mut r.dst_addr, address(v)),
    },
    FlowElement {
        element: ie::DESTINATION_IPV6_ADDRESS,
        carried: Carried::Ipv6,
        field: "dst_addr",
        need: Need::Required,
        write: writer!(|r, _, out| out.put_addr(r.dst_addr)),
        read: |r, v| set(&mut r.dst_addr, address(v)),
    },
    FlowElement {
        element: ie::SOURCE_TRANSPORT_PORT,
        carried: Carried::All,
        field: "src_port",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.src_port.to_be_bytes())),
        read: |r, v| set(&mut r.src_port, narrow(v)),
    },
    FlowElement {
        element: ie::DESTINATION_TRANSPORT_PORT,
        carried: Carried::All,
        field: "dst_port",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.dst_port.to_be_bytes())),
        read: |r, v| set(&mut r.dst_port, narrow(v)),
    },
    FlowElement {
        element: ie::FLOW_DIRECTION,
        carried: Carried::All,
        field: "direction",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&[r.direction.flow_direction()])),
        read: |r, v| {
            r.direction = match unsigned(v)? {
                0 => Direction::Ingress,
                1 => Direction::Egress,
                other => return Err(Unreadable::UnknownDirection(other)),
            };
            Ok(())
        },
    },
    FlowElement {
        element: ie::TCP_CONTROL_BITS,
        carried: Carried::NonIcmp,
        field: "tcp_flags",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.tcp_flags.to_be_bytes())),
        read: |r, v| set(&mut r.tcp_flags, narrow(v)),
    },
    FlowElement {
        element: ie::IP_CLASS_OF_SERVICE,
        carried: Carried::All,
        field: "tos",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&[r.tos])),
        read: |r, v| set(&mut r.tos, narrow(v)),
    },
    FlowElement {
        element: ie::ICMP_TYPE_CODE_IPV4,
        carried: Carried::Icmpv4,
        field: "icmp_type, icmp_code",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.icmp_type_code().to_be_bytes())),
        read: read_icmp_type_code,
    },
    FlowElement {
        element: ie::ICMP_TYPE_CODE_IPV6,
        carried: Carried::Icmpv6,
        field: "icmp_type, icmp_code",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.icmp_type_code().to_be_bytes())),
        read: read_icmp_type_code,
    },
    FlowElement {
        element: ie::INGRESS_INTERFACE,
        carried: Carried::All,
        field: "ingress_ifindex",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.ingress_ifindex.to_be_bytes())),
        read: |r, v| set(&mut r.ingress_ifindex, narrow(v)),
    },
    FlowElement {
        element: ie::EGRESS_INTERFACE,
        carried: Carried::All,
        field: "egress_ifindex",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.egress_ifindex.to_be_bytes())),
        read: |r, v| set(&mut r.egress_ifindex, narrow(v)),
    },
    FlowElement {
        element: ie::MINIMUM_TTL,
        carried: Carried::All,
        field: "ttl_min",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&[r.ttl_min])),
        read: |r, v| set(&mut r.ttl_min, narrow(v)),
    },
    FlowElement {
        element: ie::MAXIMUM_TTL,
        carried: Carried::All,
        field: "ttl_max",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&[r.ttl_max])),
        read: |r, v| set(&mut r.ttl_max, narrow(v)),
    },
    FlowElement {
        element: ie::FLOW_START_SYS_UP_TIME,
        carried: Carried::SysUpTime,
        field: "start_ms",
        need: Need::Derived,
        write: writer!(
            |r, cx, out| out.put(&sys_up_time_ms(r.start_ms, cx.system_init_ms).to_be_bytes())
        ),
        read: |_, _| Ok(()),
    },
    FlowElement {
        element: ie::FLOW_END_SYS_UP_TIME,
        carried: Carried::SysUpTime,
        field: "end_ms",
        need: Need::Derived,
        write: writer!(
            |r, cx, out| out.put(&sys_up_time_ms(r.end_ms, cx.system_init_ms).to_be_bytes())
        ),
        read: |_, _| Ok(()),
    },
    FlowElement {
        element: ie::FLOW_ID,
        carried: Carried::All,
        field: "flow_id",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.flow_id.to_be_bytes())),
        read: |r, v| set(&mut r.flow_id, unsigned(v)),
    },
    FlowElement {
        element: ie::IP_DIFF_SERV_CODE_POINT,
        carried: Carried::All,
        field: "tos",
        need: Need::Derived,
        write: writer!(|r, _, out| out.put(&[r.dscp()])),
        read: |_, _| Ok(()),
    },
    FlowElement {
        element: ie::FLOW_START_MILLISECONDS,
        carried: Carried::All,
        field: "start_ms",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.start_ms.to_be_bytes())),
        read: |r, v| set(&mut r.start_ms, unsigned(v)),
    },
    FlowElement {
        element: ie::FLOW_END_MILLISECONDS,
        carried: Carried::All,
        field: "end_ms",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&r.end_ms.to_be_bytes())),
        read: |r, v| set(&mut r.end_ms, unsigned(v)),
    },
    FlowElement {
        element: ie::FLOW_END_REASON,
        carried: Carried::All,
        field: "end_reason",
        need: Need::Required,
        write: writer!(|r, _, out| out.put(&[r.end_reason.code()])),
        read: |r, v| {
            r.end_reason = match unsigned(v)? {
                1 => FlowEndReason::IdleTimeout,
                2 => FlowEndReason::ActiveTimeout,
                3 => FlowEndReason::EndOfFlow,
                4 => FlowEndReason::ForcedEnd,
                5 => FlowEndReason::LackOfResources,
                other => return Err(Unreadable::UnknownEndReason(other)),
            };
            Ok(())
        },
    },
    FlowElement {
        element: ie::IP_VERSION,
        carried: Carried::All,
        field: "src_addr, dst_addr",
        need: Need::Derived,
        write: writer!(|r, _, out| out.put(&[if r.is_ipv6() { 6 } else { 4 }])),
        read: |_, _| Ok(()),
    },
    FlowElement {
        element: ie::VLAN_ID,
        carried: Carried::All,
        field: "vlan_id (ingress)",
        need: Need::Optional,
        // The VLAN of the ingress interface: known to ingress records.
        write: writer!(|r, _, out| out.put(&r.ingress_vlan_id().to_be_bytes())),
        read: read_vlan_id,
    },
    FlowElement {
        element: ie::POST_VLAN_ID,
        carried: Carried::All,
        field: "vlan_id (egress)",
        need: Need::Optional,
        // The VLAN of the egress interface: known to egress records.
        write: writer!(|r, _, out| out.put(&r.egress_vlan_id().to_be_bytes())),
        read: read_vlan_id,
    },
    FlowElement {
        element: ie::DOT1Q_CUSTOMER_VLAN_ID,
        carried: Carried::All,
        field: "inner_vlan_id",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.inner_vlan_id.to_be_bytes())),
        read: |r, v| set(&mut r.inner_vlan_id, narrow(v)),
    },
    FlowElement {
        element: ie::SOURCE_MAC_ADDRESS,
        carried: Carried::All,
        field: "src_mac",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.src_mac)),
        read: |r, v| set(&mut r.src_mac, mac(v)),
    },
    FlowElement {
        element: ie::DESTINATION_MAC_ADDRESS,
        carried: Carried::All,
        field: "dst_mac",
        need: Need::Optional,
        write: writer!(|r, _, out| out.put(&r.dst_mac)),
        read: |r, v| set(&mut r.dst_mac, mac(v)),
    },
];

fn set<T>(field: &mut T, value: Result<T, Unreadable>) -> Result<(), Unreadable> {
    *field = value?;
    Ok(())
}

fn unsigned(v: &Value) -> Result<u64, Unreadable> {
    v.as_unsigned().ok_or(Unreadable::Value)
}

fn narrow<T: TryFrom<u64>>(v: &Value) -> Result<T, Unreadable> {
    T::try_from(unsigned(v)?).map_err(|_| Unreadable::Value)
}

fn address(v: &Value) -> Result<IpAddr, Unreadable> {
    match v {
        Value::Ipv4(a) => Ok(IpAddr::V4(*a)),
        Value::Ipv6(a) => Ok(IpAddr::V6(*a)),
        _ => Err(Unreadable::Value),
    }
}

/// vlanId or postVlanId: the one of the record's direction carries the
/// VLAN, the other 0.
fn read_vlan_id(r: &mut FlowRecord, v: &Value) -> Result<(), Unreadable> {
    let id: u16 = narrow(v)?;
    if id != 0 {
        r.vlan_id = id;
    }
    Ok(())
}

fn mac(v: &Value) -> Result<[u8; 6], Unreadable> {
    match v {
        Value::Mac(m) => Ok(*m),
        _ => Err(Unreadable::Value),
    }
}

fn read_icmp_type_code(r: &mut FlowRecord, v: &Value) -> Result<(), Unreadable> {
    let [icmp_type, icmp_code] = narrow::<u16>(v)?.to_be_bytes();
    r.icmp_type = icmp_type;
    r.icmp_code = icmp_code;
    Ok(())
}

/// Milliseconds since `system_init_ms`, saturating at 0 below the anchor and
/// clamped to `u32::MAX` (unsigned32, RFC 5102 `flowStartSysUpTime`).
pub fn sys_up_time_ms(epoch_ms: u64, system_init_ms: u64) -> u32 {
    u32::try_from(epoch_ms.saturating_sub(system_init_ms)).unwrap_or(u32::MAX)
}

/// 2^32 ms (49.7 days): the span of a SysUpTime element.
pub const SYSUPTIME_SPAN_MS: u64 = 1 << 32;

/// `systemInitTimeMilliseconds`, the anchor of the SysUpTime elements: the
/// real boot time, moved on by whole 2^32 ms spans of uptime — so the boot
/// time itself for the first 49.7 days, and the moment the 32-bit uptime
/// counter last wrapped after that (as SNMP's sysUpTime wraps). A record
/// that started before that moment carries 0 (its `flowStartMilliseconds`
/// is exact).
pub fn sysuptime_anchor_ms(boot_epoch_ms: u64, now_ms: u64) -> u64 {
    let up = now_ms.saturating_sub(boot_epoch_ms);
    boot_epoch_ms + up / SYSUPTIME_SPAN_MS * SYSUPTIME_SPAN_MS
}

/// The record every read starts from: what absent optional elements leave.
pub fn blank_record() -> FlowRecord {
    FlowRecord {
        src_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        src_port: 0,
        dst_port: 0,
        protocol: 0,
        icmp_type: 0,
        icmp_code: 0,
        direction: Direction::Ingress,
        vlan_id: 0,
        inner_vlan_id: 0,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        ingress_ifindex: 0,
        egress_ifindex: 0,
        packets: 0,
        octets: 0,
        tcp_flags: 0,
        ttl_min: 0,
        ttl_max: 0,
        tos: 0,
        start_ms: 0,
        end_ms: 0,
        end_reason: FlowEndReason::IdleTimeout,
        flow_id: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_element_once() {
        for (i, a) in FLOW_ELEMENTS.iter().enumerate() {
            for b in &FLOW_ELEMENTS[i + 1..] {
                assert_ne!(a.element.id, b.element.id, "{}", a.element.name);
            }
            assert!(a.octets() > 0, "{} has no fixed size", a.element.name);
        }
    }

    #[test]
    fn the_anchor_is_the_boot_time_moved_on_by_whole_32_bit_spans() {
        let boot = 1_700_000_000_000;
        let day = 86_400_000;
        assert_eq!(sysuptime_anchor_ms(boot, boot + 10 * day), boot);
        assert_eq!(
            sysuptime_anchor_ms(boot, boot + SYSUPTIME_SPAN_MS - 1),
            boot
        );
        assert_eq!(
            sysuptime_anchor_ms(boot, boot + SYSUPTIME_SPAN_MS),
            boot + SYSUPTIME_SPAN_MS
        );
        let now = boot + 3 * SYSUPTIME_SPAN_MS + 12_345;
        let anchor = sysuptime_anchor_ms(boot, now);
        assert_eq!(anchor, boot + 3 * SYSUPTIME_SPAN_MS);
        assert_eq!(sys_up_time_ms(now, anchor), 12_345);
        // A clock before the boot time (stepped back) keeps the boot time.
        assert_eq!(sysuptime_anchor_ms(boot, boot - 5), boot);
    }

    #[test]
    fn sys_up_time_clamps() {
        assert_eq!(sys_up_time_ms(1_000, 400), 600);
        assert_eq!(sys_up_time_ms(399, 400), 0);
        assert_eq!(sys_up_time_ms(400 + (1 << 32), 400), u32::MAX);
        assert_eq!(sys_up_time_ms(400 + u64::from(u32::MAX), 400), u32::MAX);
    }
}
