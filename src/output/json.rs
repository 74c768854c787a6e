//! `--output json`: one JSON object per exported flow record, one per line.

use std::io::Write;

use serde_json::{json, Value};

use crate::flow::record_sink::RecordSink;
use crate::flow::FlowRecord;

pub fn record_json(r: &FlowRecord) -> Value {
    json!({
        "flow_id": r.flow_id,
        "direction": r.direction.as_str(),
        "ip_version": if r.is_ipv6() { 6 } else { 4 },
        "src_addr": r.src_addr.to_string(),
        "dst_addr": r.dst_addr.to_string(),
        "src_port": r.src_port,
        "dst_port": r.dst_port,
        "protocol": r.protocol,
        "icmp_type": r.icmp_type,
        "icmp_code": r.icmp_code,
        "packets": r.packets,
        "octets": r.octets,
        "tcp_flags": r.tcp_flags,
        "ttl_min": r.ttl_min,
        "ttl_max": r.ttl_max,
        "tos": r.tos,
        "vlan_id": r.vlan_id,
        "inner_vlan_id": r.inner_vlan_id,
        "src_mac": mac_text(&r.src_mac),
        "dst_mac": mac_text(&r.dst_mac),
        "ingress_ifindex": r.ingress_ifindex,
        "egress_ifindex": r.egress_ifindex,
        "start_ms": r.start_ms,
        "end_ms": r.end_ms,
        "end_reason": r.end_reason.as_str(),
        "end_reason_code": r.end_reason.code(),
    })
}

/// `02:00:00:00:00:01`, as `ip link` writes it.
pub fn mac_text(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// Writes JSON lines; a write error is counted and logged, never fatal.
pub struct JsonLines<W: Write> {
    out: W,
    pub write_errors: u64,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            write_errors: 0,
        }
    }

    fn write_all(&mut self, records: &[FlowRecord]) -> std::io::Result<()> {
        for r in records {
            serde_json::to_writer(&mut self.out, &record_json(r))?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }
}

impl<W: Write> RecordSink for JsonLines<W> {
    fn records(&mut self, records: &[FlowRecord]) {
        if let Err(e) = self.write_all(records) {
            self.write_errors += 1;
            if self.write_errors.is_power_of_two() {
                log::warn!(
                    "writing JSON records failed ({} times): {e}",
                    self.write_errors
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Direction, FlowEndReason};

    #[test]
    fn one_line_per_record_with_every_field() {
        let rec = FlowRecord {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8::2".parse().unwrap(),
            src_port: 0,
            dst_port: 0,
            protocol: 58,
            icmp_type: 128,
            icmp_code: 0,
            direction: Direction::Egress,
            vlan_id: 100,
            inner_vlan_id: 7,
            src_mac: [0x02, 0, 0, 0, 0, 0x0a],
            dst_mac: [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54],
            ingress_ifindex: 0,
            egress_ifindex: 4,
            packets: 3,
            octets: 312,
            tcp_flags: 0,
            ttl_min: 64,
            ttl_max: 64,
            tos: 0,
            start_ms: 1000,
            end_ms: 3000,
            end_reason: FlowEndReason::ActiveTimeout,
            flow_id: 7,
        };
        let mut sink = JsonLines::new(Vec::new());
        sink.records(&[rec.clone(), rec]);
        let text = String::from_utf8(sink.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["src_addr"], "2001:db8::1");
        assert_eq!(v["icmp_type"], 128);
        assert_eq!(v["packets"], 3);
        assert_eq!(v["octets"], 312);
        assert_eq!(v["direction"], "egress");
        assert_eq!(v["egress_ifindex"], 4);
        assert_eq!(v["end_reason"], "active timeout");
        assert_eq!(v["ip_version"], 6);
        assert_eq!(
            (v["vlan_id"].as_u64(), v["inner_vlan_id"].as_u64()),
            (Some(100), Some(7))
        );
        assert_eq!(v["src_mac"], "02:00:00:00:00:0a");
        assert_eq!(v["dst_mac"], "fe:dc:ba:98:76:54");
    }
}
