//! Rust mirror of `bpf/flow_abi.h`, the only kernel/user ABI.
//!
//! Values cross the boundary as byte slices in native byte order; parsing is
//! explicit (no transmutes), so a short slice is an error, not UB.
//! A leaf: `flow/` (the pure core) and `datapath/` (the shell) both depend
//! on it, it depends on neither. `datapath` checks these sizes against the
//! skeletons at build time, `tests/object_rules.rs` against the objects' BTF.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// `FLOW_ABI_VERSION`.
pub const FLOW_ABI_VERSION: u32 = 4;
/// `FLOW_MAP_MAX_ENTRIES`: capacity of each flow map as declared in the
/// objects (what l3afd gets; `--max-flows` changes it when we load).
pub const FLOW_MAP_MAX_ENTRIES: u32 = 131_072;
/// How a flow map gets the memory of its entries. The objects ship
/// `OnDemand` (`BPF_F_NO_PREALLOC` in `flow_maps.h`, what l3afd loads); a
/// loader of its own may ask for `Preallocated` instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FlowMapAlloc {
    /// An entry's memory is taken when its flow starts and given back when
    /// it is drained: the kernel holds memory for the flows in use only.
    #[default]
    OnDemand,
    /// Every entry of both maps is allocated at load: a new flow takes one
    /// off a per-CPU free list and a drained one goes back on it, cheaper
    /// than the BPF memory allocator both ways (BENCHMARKS.md), but the
    /// memory of all `4 × max_flows` entries stays reserved while the maps
    /// exist.
    Preallocated,
}

/// `FLOW_REFUSED_MAX_ENTRIES`: capacity of the refused-flows map.
pub const FLOW_REFUSED_MAX_ENTRIES: u32 = 4096;

pub const FLOW_KEY_SIZE: usize = 48;
/// `FLOW_KEY4_SIZE`: the key of the IPv4 flow maps, the first 24 bytes of an
/// IPv4 `struct flow_key`.
pub const FLOW_KEY4_SIZE: usize = 24;
pub const FLOW_VALUE_SIZE: usize = 64;
pub const FLOW_CONFIG_SIZE: usize = 24;
pub const FLOW_SELECTOR_SIZE: usize = 4;

/// Which tc hook observed the flow. IPFIX `flowDirection` (IE 61) values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    /// `flowDirection`: 0 = ingress, 1 = egress (RFC 5102 §5.11.6).
    pub fn flow_direction(self) -> u8 {
        match self {
            Direction::Ingress => 0,
            Direction::Egress => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// TCP flag bits as they appear in `flow_value.tcp_flags`.
pub const TCP_FIN: u16 = 0x001;
pub const TCP_SYN: u16 = 0x002;
pub const TCP_RST: u16 = 0x004;
pub const TCP_PSH: u16 = 0x008;
pub const TCP_ACK: u16 = 0x010;
pub const TCP_URG: u16 = 0x020;
pub const TCP_ECE: u16 = 0x040;
pub const TCP_CWR: u16 = 0x080;
pub const TCP_NS: u16 = 0x100;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum AbiError {
    #[error("{what} is {got} bytes, the ABI says {want}")]
    Size {
        what: &'static str,
        got: usize,
        want: usize,
    },
    #[error("flow key has IP version {0}, expected 4 or 6")]
    IpVersion(u8),
}

/// `enum flow_stat`: indices of the per-CPU statistics array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowStat {
    Packets = 0,
    NonIp = 1,
    ParseFailed = 2,
    TableFullPackets = 3,
    TableFullOctets = 4,
    SampledOut = 5,
}

impl FlowStat {
    /// `FLOW_STAT_COUNT`.
    pub const COUNT: usize = 6;
    pub const ALL: [FlowStat; FlowStat::COUNT] = [
        FlowStat::Packets,
        FlowStat::NonIp,
        FlowStat::ParseFailed,
        FlowStat::TableFullPackets,
        FlowStat::TableFullOctets,
        FlowStat::SampledOut,
    ];

    pub fn index(self) -> u32 {
        self as u32
    }
}

/// `struct flow_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub ifindex: u32,
    pub src_port: u16,
    pub dst_port: u16,
    pub ip_version: u8,
    pub protocol: u8,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Outer VLAN ID (802.1Q or 802.1ad), 0 when untagged.
    pub vlan_id: u16,
    /// The VLAN ID inside the outer tag (QinQ), 0 when there is none.
    pub inner_vlan_id: u16,
}

/// `struct flow_value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowValue {
    pub packets: u64,
    pub octets: u64,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    pub tcp_flags: u32,
    pub ttl_min: u32,
    pub ttl_max: u32,
    pub peer_ifindex: u32,
    pub tos: u8,
    /// Ethernet source and destination of the flow's first packet.
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
}

fn check_len(what: &'static str, b: &[u8], want: usize) -> Result<(), AbiError> {
    if b.len() == want {
        Ok(())
    } else {
        Err(AbiError::Size {
            what,
            got: b.len(),
            want,
        })
    }
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_ne_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

fn mac_at(b: &[u8], off: usize) -> [u8; 6] {
    let mut a = [0u8; 6];
    a.copy_from_slice(&b[off..off + 6]);
    a
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

impl FlowKey {
    // Offsets of struct flow_key (and of struct flow_key4, its prefix).
    const IFINDEX: usize = 0;
    const SPORT: usize = 4;
    const DPORT: usize = 6;
    const VERSION: usize = 8;
    const PROTO: usize = 9;
    const ICMP_TYPE: usize = 10;
    const ICMP_CODE: usize = 11;
    const VLAN: usize = 12;
    const INNER_VLAN: usize = 14;
    /// Source then destination, 4 bytes each for IPv4, 16 for IPv6.
    const ADDR: usize = 16;

    /// Every field of `struct flow_key` with its offset, in C order (checked
    /// against the objects' BTF by `tests/object_rules.rs`); the same
    /// fields, at the same offsets, make `struct flow_key4`.
    pub const FIELDS: [(&'static str, usize); 10] = [
        ("ifindex", Self::IFINDEX),
        ("src_port", Self::SPORT),
        ("dst_port", Self::DPORT),
        ("ip_version", Self::VERSION),
        ("protocol", Self::PROTO),
        ("icmp_type", Self::ICMP_TYPE),
        ("icmp_code", Self::ICMP_CODE),
        ("vlan_id", Self::VLAN),
        ("inner_vlan_id", Self::INNER_VLAN),
        ("addr", Self::ADDR),
    ];

    /// A key of a full-key map (IPv6 flows, refused flows): IPv4 addresses
    /// packed at the start of `addr`, IPv6 ones 16 bytes each.
    pub fn parse(b: &[u8]) -> Result<Self, AbiError> {
        check_len("flow_key", b, FLOW_KEY_SIZE)?;
        Ok(Self::parse_prefix(b))
    }

    /// A key of an IPv4 flow map (`struct flow_key4`).
    pub fn parse_v4(b: &[u8]) -> Result<Self, AbiError> {
        check_len("flow_key4", b, FLOW_KEY4_SIZE)?;
        match b[Self::VERSION] {
            4 => Ok(Self::parse_prefix(b)),
            v => Err(AbiError::IpVersion(v)),
        }
    }

    /// The fields of `b`, whose length the caller checked: 24 bytes for
    /// IPv4, 48 otherwise.
    fn parse_prefix(b: &[u8]) -> Self {
        let mut key = FlowKey {
            ifindex: u32_at(b, Self::IFINDEX),
            src_port: u16_at(b, Self::SPORT),
            dst_port: u16_at(b, Self::DPORT),
            ip_version: b[Self::VERSION],
            protocol: b[Self::PROTO],
            icmp_type: b[Self::ICMP_TYPE],
            icmp_code: b[Self::ICMP_CODE],
            vlan_id: u16_at(b, Self::VLAN),
            inner_vlan_id: u16_at(b, Self::INNER_VLAN),
            ..FlowKey::default()
        };
        let len = key.addr_len();
        key.src_addr[..len].copy_from_slice(&b[Self::ADDR..Self::ADDR + len]);
        key.dst_addr[..len].copy_from_slice(&b[Self::ADDR + len..Self::ADDR + 2 * len]);
        key
    }

    /// Octets of each address in the packed `addr`: 4 for IPv4, else 16.
    fn addr_len(&self) -> usize {
        if self.ip_version == 4 {
            4
        } else {
            16
        }
    }

    /// The full `struct flow_key` (an IPv6 map, the refused-flows map).
    pub fn emit(&self) -> [u8; FLOW_KEY_SIZE] {
        let mut b = [0u8; FLOW_KEY_SIZE];
        self.emit_into(&mut b);
        b
    }

    /// `struct flow_key4`, the key of an IPv4 map: the first
    /// [`FLOW_KEY4_SIZE`] bytes of [`emit`](Self::emit). For IPv4 keys only.
    pub fn emit4(&self) -> [u8; FLOW_KEY4_SIZE] {
        debug_assert_eq!(self.ip_version, 4, "a compact key is IPv4");
        let mut b = [0u8; FLOW_KEY4_SIZE];
        self.emit_into(&mut b);
        b
    }

    /// Writes the fields and the packed addresses into `b`, zeroed, of 24
    /// bytes (IPv4) or 48.
    fn emit_into(&self, b: &mut [u8]) {
        b[Self::IFINDEX..Self::IFINDEX + 4].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[Self::SPORT..Self::SPORT + 2].copy_from_slice(&self.src_port.to_ne_bytes());
        b[Self::DPORT..Self::DPORT + 2].copy_from_slice(&self.dst_port.to_ne_bytes());
        b[Self::VERSION] = self.ip_version;
        b[Self::PROTO] = self.protocol;
        b[Self::ICMP_TYPE] = self.icmp_type;
        b[Self::ICMP_CODE] = self.icmp_code;
        b[Self::VLAN..Self::VLAN + 2].copy_from_slice(&self.vlan_id.to_ne_bytes());
        b[Self::INNER_VLAN..Self::INNER_VLAN + 2]
            .copy_from_slice(&self.inner_vlan_id.to_ne_bytes());
        let len = self.addr_len();
        b[Self::ADDR..Self::ADDR + len].copy_from_slice(&self.src_addr[..len]);
        b[Self::ADDR + len..Self::ADDR + 2 * len].copy_from_slice(&self.dst_addr[..len]);
    }

    /// The interface index in a key's bytes, either layout.
    pub fn ifindex_of(packed: &[u8]) -> u32 {
        u32_at(packed, Self::IFINDEX)
    }

    /// The key as its flow map holds it: [`emit4`](Self::emit4) for IPv4,
    /// [`emit`](Self::emit) otherwise.
    pub fn emit_for_map(&self) -> Vec<u8> {
        if self.ip_version == 4 {
            self.emit4().to_vec()
        } else {
            self.emit().to_vec()
        }
    }

    fn addr(&self, raw: &[u8; 16]) -> Result<IpAddr, AbiError> {
        match self.ip_version {
            4 => Ok(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(*raw))),
            v => Err(AbiError::IpVersion(v)),
        }
    }

    pub fn src_ip(&self) -> Result<IpAddr, AbiError> {
        self.addr(&self.src_addr)
    }

    pub fn dst_ip(&self) -> Result<IpAddr, AbiError> {
        self.addr(&self.dst_addr)
    }

    /// Key for a tuple, as the BPF program builds it (tests and fakes).
    pub fn from_tuple(
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
    ) -> Self {
        fn raw(a: IpAddr) -> [u8; 16] {
            let mut out = [0u8; 16];
            match a {
                IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => out = v6.octets(),
            }
            out
        }
        FlowKey {
            src_addr: raw(src),
            dst_addr: raw(dst),
            src_port,
            dst_port,
            ip_version: if dst.is_ipv6() { 6 } else { 4 },
            protocol,
            ..FlowKey::default()
        }
    }
}

impl FlowValue {
    // Offsets of struct flow_value.
    const PACKETS: usize = 0;
    const OCTETS: usize = 8;
    const FIRST: usize = 16;
    const LAST: usize = 24;
    const FLAGS: usize = 32;
    const TTL_MIN: usize = 36;
    const TTL_MAX: usize = 40;
    const PEER: usize = 44;
    const TOS: usize = 48;
    const SRC_MAC: usize = 49;
    const DST_MAC: usize = 55;

    /// Every field of `struct flow_value` but the padding, with its offset,
    /// in C order (checked against the objects' BTF).
    pub const FIELDS: [(&'static str, usize); 11] = [
        ("packets", Self::PACKETS),
        ("octets", Self::OCTETS),
        ("first_seen_ns", Self::FIRST),
        ("last_seen_ns", Self::LAST),
        ("tcp_flags", Self::FLAGS),
        ("ttl_min", Self::TTL_MIN),
        ("ttl_max", Self::TTL_MAX),
        ("peer_ifindex", Self::PEER),
        ("tos", Self::TOS),
        ("src_mac", Self::SRC_MAC),
        ("dst_mac", Self::DST_MAC),
    ];

    pub fn parse(b: &[u8]) -> Result<Self, AbiError> {
        check_len("flow_value", b, FLOW_VALUE_SIZE)?;
        Ok(FlowValue {
            packets: u64_at(b, Self::PACKETS),
            octets: u64_at(b, Self::OCTETS),
            first_seen_ns: u64_at(b, Self::FIRST),
            last_seen_ns: u64_at(b, Self::LAST),
            tcp_flags: u32_at(b, Self::FLAGS),
            ttl_min: u32_at(b, Self::TTL_MIN),
            ttl_max: u32_at(b, Self::TTL_MAX),
            peer_ifindex: u32_at(b, Self::PEER),
            tos: b[Self::TOS],
            src_mac: mac_at(b, Self::SRC_MAC),
            dst_mac: mac_at(b, Self::DST_MAC),
        })
    }

    pub fn emit(&self) -> [u8; FLOW_VALUE_SIZE] {
        let mut b = [0u8; FLOW_VALUE_SIZE];
        b[Self::PACKETS..Self::PACKETS + 8].copy_from_slice(&self.packets.to_ne_bytes());
        b[Self::OCTETS..Self::OCTETS + 8].copy_from_slice(&self.octets.to_ne_bytes());
        b[Self::FIRST..Self::FIRST + 8].copy_from_slice(&self.first_seen_ns.to_ne_bytes());
        b[Self::LAST..Self::LAST + 8].copy_from_slice(&self.last_seen_ns.to_ne_bytes());
        b[Self::FLAGS..Self::FLAGS + 4].copy_from_slice(&self.tcp_flags.to_ne_bytes());
        b[Self::TTL_MIN..Self::TTL_MIN + 4].copy_from_slice(&self.ttl_min.to_ne_bytes());
        b[Self::TTL_MAX..Self::TTL_MAX + 4].copy_from_slice(&self.ttl_max.to_ne_bytes());
        b[Self::PEER..Self::PEER + 4].copy_from_slice(&self.peer_ifindex.to_ne_bytes());
        b[Self::TOS] = self.tos;
        b[Self::SRC_MAC..Self::SRC_MAC + 6].copy_from_slice(&self.src_mac);
        b[Self::DST_MAC..Self::DST_MAC + 6].copy_from_slice(&self.dst_mac);
        b
    }
}

/// `enum flow_sample_mode`: how 1 in `sample_period` packets are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleMode {
    /// Count-based systematic: every Nth packet over all CPUs (PSAMP
    /// selectorAlgorithm 1), so the metered share is exact.
    #[default]
    Systematic = 0,
    /// Uniform probabilistic: each packet with probability 1/N (PSAMP
    /// selectorAlgorithm 4).
    Random = 1,
}

/// `enum flow_clock`: the clock of `first_seen_ns`/`last_seen_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowClock {
    /// CLOCK_MONOTONIC at the last kernel tick (`bpf_ktime_get_coarse_ns`):
    /// one tick's resolution (1 to 10 ms by CONFIG_HZ), a load on the hit
    /// path instead of a clocksource read.
    #[default]
    Coarse = 0,
    /// CLOCK_BOOTTIME (`bpf_ktime_get_boot_ns`): nanosecond resolution.
    Boot = 1,
}

/// `struct flow_config`; all zero means the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowConfig {
    /// Meter 1 in N packets; 0 and 1 mean every packet.
    pub sample_period: u32,
    pub sample_mode: SampleMode,
    /// Packets the systematic sampler counted (the program's; written 0).
    pub sample_count: u64,
    pub clock: FlowClock,
}

impl FlowConfig {
    // Offsets of struct flow_config.
    const PERIOD: usize = 0;
    const MODE: usize = 4;
    const COUNT: usize = 8;
    const CLOCK: usize = 16;

    /// Every field of `struct flow_config` but the padding, with its
    /// offset, in C order (checked against the objects' BTF).
    pub const FIELDS: [(&'static str, usize); 4] = [
        ("sample_period", Self::PERIOD),
        ("sample_mode", Self::MODE),
        ("sample_count", Self::COUNT),
        ("clock", Self::CLOCK),
    ];

    pub fn emit(&self) -> [u8; FLOW_CONFIG_SIZE] {
        let mut b = [0u8; FLOW_CONFIG_SIZE];
        b[Self::PERIOD..Self::PERIOD + 4].copy_from_slice(&self.sample_period.to_ne_bytes());
        b[Self::MODE..Self::MODE + 4].copy_from_slice(&(self.sample_mode as u32).to_ne_bytes());
        b[Self::COUNT..Self::COUNT + 8].copy_from_slice(&self.sample_count.to_ne_bytes());
        b[Self::CLOCK..Self::CLOCK + 4].copy_from_slice(&(self.clock as u32).to_ne_bytes());
        b
    }

    pub fn parse(b: &[u8]) -> Result<Self, AbiError> {
        check_len("flow_config", b, FLOW_CONFIG_SIZE)?;
        Ok(FlowConfig {
            sample_period: u32_at(b, Self::PERIOD),
            sample_mode: if u32_at(b, Self::MODE) == SampleMode::Random as u32 {
                SampleMode::Random
            } else {
                SampleMode::Systematic
            },
            sample_count: u64_at(b, Self::COUNT),
            clock: if u32_at(b, Self::CLOCK) == FlowClock::Boot as u32 {
                FlowClock::Boot
            } else {
                FlowClock::Coarse
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_keeps_every_field() {
        let key = FlowKey {
            src_addr: [1; 16],
            dst_addr: [2; 16],
            ifindex: 7,
            src_port: 443,
            dst_port: 51000,
            ip_version: 6,
            protocol: 6,
            icmp_type: 3,
            icmp_code: 4,
            vlan_id: 100,
            inner_vlan_id: 4094,
        };
        assert_eq!(FlowKey::parse(&key.emit()), Ok(key));
    }

    #[test]
    fn key_layout_matches_the_c_struct() {
        let key = FlowKey::from_tuple(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
            17,
            0x1234,
            0x5678,
        );
        let b = key.emit();
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 0x1234);
        assert_eq!(b[8], 4);
        assert_eq!(b[9], 17);
        // IPv4: the two addresses packed, so that 24 bytes hold the key.
        assert_eq!(&b[16..24], &[192, 0, 2, 1, 198, 51, 100, 2]);
        assert_eq!(&b[24..], &[0; 24]);
        assert_eq!(key.emit_for_map(), b[..FLOW_KEY4_SIZE].to_vec());
        assert_eq!(FlowKey::parse_v4(&b[..FLOW_KEY4_SIZE]), Ok(key));
        assert_eq!(FlowKey::parse(&b), Ok(key));

        let v6 = FlowKey::from_tuple(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            6,
            1,
            2,
        );
        let b = v6.emit();
        assert_eq!(b[16..32], v6.src_addr);
        assert_eq!(b[32..48], v6.dst_addr);
        assert_eq!(v6.emit_for_map(), b.to_vec());
    }

    #[test]
    fn a_compact_key_is_ipv4_only() {
        let mut b = [0u8; FLOW_KEY4_SIZE];
        b[8] = 6;
        assert_eq!(FlowKey::parse_v4(&b), Err(AbiError::IpVersion(6)));
        assert!(FlowKey::parse_v4(&[0; 48]).is_err());
    }

    #[test]
    fn value_round_trip_keeps_every_field() {
        let v = FlowValue {
            packets: 3,
            octets: 4500,
            first_seen_ns: 10,
            last_seen_ns: 20,
            tcp_flags: 0x1ff,
            ttl_min: 63,
            ttl_max: 64,
            peer_ifindex: 9,
            tos: 0xb8,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
        };
        assert_eq!(FlowValue::parse(&v.emit()), Ok(v));
    }

    #[test]
    fn config_round_trip_keeps_every_field() {
        let c = FlowConfig {
            sample_period: 100,
            sample_mode: SampleMode::Random,
            sample_count: 1 << 40,
            clock: FlowClock::Boot,
        };
        assert_eq!(FlowConfig::parse(&c.emit()), Ok(c));
        assert_eq!(FlowConfig::default().emit(), [0; FLOW_CONFIG_SIZE]);
    }

    #[test]
    fn short_slices_are_errors() {
        assert_eq!(
            FlowKey::parse(&[0; 47]),
            Err(AbiError::Size {
                what: "flow_key",
                got: 47,
                want: FLOW_KEY_SIZE
            })
        );
        assert!(FlowValue::parse(&[0; 65]).is_err());
    }

    #[test]
    fn addresses_need_a_known_version() {
        let key = FlowKey {
            ip_version: 5,
            ..FlowKey::default()
        };
        assert_eq!(key.src_ip(), Err(AbiError::IpVersion(5)));
    }
}
