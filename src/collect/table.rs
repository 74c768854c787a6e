//! `--format table`: flow records as aligned columns, any other record as
//! one `name=value` line. Pure: records in, lines out.
//!
//! The table is printed as records arrive, so column widths cannot be known
//! in advance: each column starts at a width that fits IPv4 and grows to the
//! widest cell seen so far; the header is printed before the first row and
//! again whenever a column grew, so the rows under a header line up.

use std::net::{IpAddr, SocketAddr};

use super::fields::{keyed_fields, value_text};
use super::utc::utc_text;
use crate::flow::FlowRecord;
use crate::ipfix::DataRecord;

/// Column titles; the numeric columns are right-aligned.
const COLUMNS: [(&str, Align); 11] = [
    ("exporter", Align::Left),
    ("dir", Align::Left),
    ("proto", Align::Left),
    ("src", Align::Left),
    ("dst", Align::Left),
    ("packets", Align::Right),
    ("octets", Align::Right),
    ("flags", Align::Left),
    ("start", Align::Left),
    ("end", Align::Left),
    ("end reason", Align::Left),
];

/// Starting widths: `255.255.255.255:65535` for addresses, a full
/// millisecond timestamp for times.
const MIN_WIDTHS: [usize; 11] = [21, 7, 6, 21, 21, 8, 10, 9, 24, 24, 0];

const GAP: &str = "  ";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// The table's state: the widths of the header last printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    widths: [usize; 11],
    header_printed: bool,
}

impl Default for Table {
    fn default() -> Self {
        let mut widths = MIN_WIDTHS;
        for (w, (title, _)) in widths.iter_mut().zip(COLUMNS) {
            *w = (*w).max(title.len());
        }
        Table {
            widths,
            header_printed: false,
        }
    }
}

impl Table {
    /// The lines for one flow: its row, preceded by a header line when none
    /// was printed yet or a column had to grow.
    pub fn flow_lines(&mut self, exporter: SocketAddr, flow: &FlowRecord) -> Vec<String> {
        let cells = flow_cells(exporter, flow);
        let mut grew = false;
        // The last column is not padded: its width never matters.
        let padded = cells.len() - 1;
        for (w, cell) in self.widths.iter_mut().zip(&cells).take(padded) {
            let len = cell.chars().count();
            if len > *w {
                *w = len;
                grew = true;
            }
        }
        let mut lines = Vec::with_capacity(2);
        if grew || !self.header_printed {
            self.header_printed = true;
            lines.push(self.row(COLUMNS.map(|(title, _)| title.to_owned())));
        }
        lines.push(self.row(cells));
        lines
    }

    fn row(&self, cells: [String; 11]) -> String {
        let last = cells.len() - 1;
        let mut line = String::new();
        for (i, ((cell, width), (_, align))) in
            cells.iter().zip(self.widths).zip(COLUMNS).enumerate()
        {
            if i > 0 {
                line.push_str(GAP);
            }
            match align {
                Align::Right => line.push_str(&format!("{cell:>width$}")),
                Align::Left if i == last => line.push_str(cell),
                Align::Left => line.push_str(&format!("{cell:<width$}")),
            }
        }
        line
    }
}

/// One line for a record that is not one of our flows: `options 266 from
/// 192.0.2.1:40000 domain 4: observationDomainId=4 exportedMessageTotalCount=9 ...`
/// (`record 300 ...` for a data record).
pub fn record_line(
    exporter: SocketAddr,
    observation_domain_id: u32,
    record: &DataRecord,
) -> String {
    let kind = if record.is_options() {
        "options"
    } else {
        "record"
    };
    let mut line = format!(
        "{kind} {} from {exporter} domain {observation_domain_id}:",
        record.template_id
    );
    for (key, value) in keyed_fields(&record.fields) {
        line.push(' ');
        line.push_str(&key);
        line.push('=');
        line.push_str(&value_text(value));
    }
    line
}

fn flow_cells(exporter: SocketAddr, f: &FlowRecord) -> [String; 11] {
    let (src, dst) = if f.is_icmp() {
        (
            f.src_addr.to_string(),
            format!("{} {}/{}", f.dst_addr, f.icmp_type, f.icmp_code),
        )
    } else if has_ports(f.protocol) {
        (
            endpoint(f.src_addr, f.src_port),
            endpoint(f.dst_addr, f.dst_port),
        )
    } else {
        (f.src_addr.to_string(), f.dst_addr.to_string())
    };
    [
        exporter.to_string(),
        f.direction.as_str().to_owned(),
        protocol_name(f.protocol),
        src,
        dst,
        f.packets.to_string(),
        f.octets.to_string(),
        if f.protocol == crate::flow::record::PROTO_TCP {
            tcp_flags_text(f.tcp_flags)
        } else {
            "-".to_owned()
        },
        utc_text(f.start_ms, true),
        utc_text(f.end_ms, true),
        f.end_reason.as_str().to_owned(),
    ]
}

/// `192.0.2.1:443`, `[2001:db8::1]:443`.
fn endpoint(addr: IpAddr, port: u16) -> String {
    SocketAddr::new(addr, port).to_string()
}

/// Protocols whose records carry transport ports: TCP, UDP, DCCP, SCTP,
/// UDP-Lite.
pub fn has_ports(protocol: u8) -> bool {
    matches!(protocol, 6 | 17 | 33 | 132 | 136)
}

/// IANA protocol keyword (lowercase) for common protocols, else the number.
pub fn protocol_name(protocol: u8) -> String {
    let name = match protocol {
        1 => "icmp",
        2 => "igmp",
        4 => "ipip",
        6 => "tcp",
        17 => "udp",
        33 => "dccp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        136 => "udplite",
        n => return n.to_string(),
    };
    name.to_owned()
}

/// The 9 TCP flag bits (`tcpControlBits`, RFC 7125), most significant
/// first, a letter for each bit set and `.` for each clear:
/// NS CWR ECE URG ACK PSH RST SYN FIN.
pub fn tcp_flags_text(bits: u16) -> String {
    "NCEUAPRSF"
        .chars()
        .enumerate()
        .map(|(i, letter)| {
            if bits & (0x100 >> i) != 0 {
                letter
            } else {
                '.'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Direction, FlowEndReason};
    use crate::ipfix::ie;
    use crate::ipfix::{DecodedField, Value};

    fn exporter() -> SocketAddr {
        "192.0.2.1:40000".parse().unwrap()
    }

    fn flow() -> FlowRecord {
        FlowRecord {
            src_addr: "198.51.100.1".parse().unwrap(),
            dst_addr: "198.51.100.2".parse().unwrap(),
            src_port: 40_001,
            dst_port: 443,
            protocol: 6,
            icmp_type: 0,
            icmp_code: 0,
            direction: Direction::Ingress,
            vlan_id: 0,
            inner_vlan_id: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ingress_ifindex: 4,
            egress_ifindex: 0,
            packets: 12,
            octets: 3_456,
            tcp_flags: 0x1b,
            ttl_min: 64,
            ttl_max: 64,
            tos: 0,
            start_ms: 1_700_000_000_123,
            end_ms: 1_700_000_001_456,
            end_reason: FlowEndReason::EndOfFlow,
            flow_id: 1,
        }
    }

    #[test]
    fn header_then_rows_aligned() {
        let mut t = Table::default();
        let lines = t.flow_lines(exporter(), &flow());
        assert_eq!(
            lines,
            [
                "exporter               dir      proto   src                    dst                     packets      octets  flags      start                     end                       end reason",
                "192.0.2.1:40000        ingress  tcp     198.51.100.1:40001     198.51.100.2:443             12        3456  ....AP.SF  2023-11-14T22:13:20.123Z  2023-11-14T22:13:21.456Z  end of flow",
            ]
        );
        // Same widths: no second header, whatever the last column holds.
        let mut longer_reason = flow();
        longer_reason.end_reason = FlowEndReason::LackOfResources;
        assert_eq!(t.flow_lines(exporter(), &longer_reason).len(), 1);
    }

    #[test]
    fn wider_cells_grow_the_columns_and_repeat_the_header() {
        let mut t = Table::default();
        t.flow_lines(exporter(), &flow());
        let mut v6 = flow();
        v6.src_addr = "2001:db8:1234:5678:9abc::1".parse().unwrap();
        v6.dst_addr = "2001:db8::2".parse().unwrap();
        v6.protocol = 58;
        v6.icmp_type = 128;
        v6.direction = Direction::Egress;
        let lines = t.flow_lines(exporter(), &v6);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("exporter"));
        // ICMPv6: no ports, type/code after the destination, no TCP flags.
        assert!(
            lines[1].contains("  egress   icmpv6  2001:db8:1234:5678:9abc::1  2001:db8::2 128/0  "),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("  -          2023-11-14T"),
            "{}",
            lines[1]
        );
        let header_src = lines[0].find("src").unwrap();
        assert_eq!(lines[1].find("2001:db8:1234"), Some(header_src));
        // Narrower rows keep the grown widths, without a header.
        assert_eq!(t.flow_lines(exporter(), &flow()).len(), 1);
    }

    #[test]
    fn portless_protocols_and_names() {
        let mut gre = flow();
        gre.protocol = 47;
        let cells = flow_cells(exporter(), &gre);
        assert_eq!(
            (cells[2].as_str(), cells[3].as_str()),
            ("gre", "198.51.100.1")
        );
        assert_eq!(protocol_name(253), "253");
        let mut udp6 = flow();
        udp6.protocol = 17;
        udp6.src_addr = "2001:db8::1".parse().unwrap();
        assert_eq!(flow_cells(exporter(), &udp6)[3], "[2001:db8::1]:40001");
    }

    #[test]
    fn tcp_flags() {
        assert_eq!(tcp_flags_text(0), ".........");
        assert_eq!(tcp_flags_text(0x02), ".......S.");
        assert_eq!(tcp_flags_text(0x1ff), "NCEUAPRSF");
        assert_eq!(tcp_flags_text(0x12), "....A..S.");
    }

    #[test]
    fn options_line() {
        let rec = DataRecord {
            template_id: 264,
            scope_field_count: 1,
            fields: vec![
                DecodedField {
                    id: ie::OBSERVATION_DOMAIN_ID.id,
                    name: Some(ie::OBSERVATION_DOMAIN_ID.name.clone()),
                    value: Value::Unsigned(4),
                },
                DecodedField {
                    id: ie::SYSTEM_INIT_TIME_MILLISECONDS.id,
                    name: Some(ie::SYSTEM_INIT_TIME_MILLISECONDS.name.clone()),
                    value: Value::DateTimeMilliseconds(1_700_000_000_000),
                },
            ],
        };
        assert_eq!(
            record_line(exporter(), 4, &rec),
            "options 264 from 192.0.2.1:40000 domain 4: observationDomainId=4 \
             systemInitTimeMilliseconds=2023-11-14T22:13:20.000Z"
        );
        let custom = DataRecord {
            template_id: 300,
            scope_field_count: 0,
            fields: vec![DecodedField {
                id: crate::ipfix::ElementId::new(Some(32473), 1).unwrap(),
                name: None,
                value: Value::Bytes(b"eth0".to_vec()),
            }],
        };
        assert_eq!(
            record_line(exporter(), 4, &custom),
            "record 300 from 192.0.2.1:40000 domain 4: 32473/1=0x65746830"
        );
    }
}
