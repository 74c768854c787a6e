//! `--format json`: one object per data record. Pure.
//!
//! Our flow records print as [`record_json`] (the same shape as `run
//! --output json`) plus where they came from: `exporter`,
//! `observation_domain_id`, `template_id`, and the message's
//! `sequence_number` and `export_time` (seconds since the UNIX epoch). Any
//! other record (options records, other exporters' templates) prints as
//! `{exporter, observation_domain_id, template_id, options, fields}` with
//! `fields` keyed by element name, `PEN/number` or number, valued by type
//! ([`super::fields`]).

use std::net::SocketAddr;

use serde_json::{Map, Value as Json};

use super::fields::{keyed_fields, value_json};
use crate::flow::FlowRecord;
use crate::ipfix::header::MessageHeader;
use crate::ipfix::DataRecord;
use crate::output::json::record_json;

pub fn flow_json(
    exporter: SocketAddr,
    header: &MessageHeader,
    template_id: u16,
    flow: &FlowRecord,
) -> Json {
    let mut v = record_json(flow);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("exporter".into(), exporter.to_string().into());
        obj.insert(
            "observation_domain_id".into(),
            header.observation_domain_id.into(),
        );
        obj.insert("template_id".into(), template_id.into());
        obj.insert("sequence_number".into(), header.sequence_number.into());
        obj.insert("export_time".into(), header.export_time_secs.into());
    }
    v
}

pub fn record_fields_json(
    exporter: SocketAddr,
    observation_domain_id: u32,
    record: &DataRecord,
) -> Json {
    let fields: Map<String, Json> = keyed_fields(&record.fields)
        .into_iter()
        .map(|(key, value)| (key, value_json(value)))
        .collect();
    let mut obj = Map::new();
    obj.insert("exporter".into(), exporter.to_string().into());
    obj.insert("observation_domain_id".into(), observation_domain_id.into());
    obj.insert("template_id".into(), record.template_id.into());
    obj.insert("options".into(), record.is_options().into());
    obj.insert("fields".into(), Json::Object(fields));
    Json::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Direction, FlowEndReason};
    use crate::ipfix::ie::{self, ElementId};
    use crate::ipfix::{DecodedField, Value};
    use serde_json::json;

    fn exporter() -> SocketAddr {
        "[2001:db8::9]:4000".parse().unwrap()
    }

    #[test]
    fn flow_records_carry_their_origin() {
        let flow = FlowRecord {
            src_addr: "192.0.2.1".parse().unwrap(),
            dst_addr: "192.0.2.2".parse().unwrap(),
            src_port: 0,
            dst_port: 0,
            protocol: 1,
            icmp_type: 8,
            icmp_code: 0,
            direction: Direction::Egress,
            vlan_id: 0,
            inner_vlan_id: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ingress_ifindex: 0,
            egress_ifindex: 3,
            packets: 2,
            octets: 168,
            tcp_flags: 0,
            ttl_min: 63,
            ttl_max: 64,
            tos: 4,
            start_ms: 10,
            end_ms: 20,
            end_reason: FlowEndReason::IdleTimeout,
            flow_id: 77,
        };
        let header = MessageHeader {
            length: 100,
            export_time_secs: 1_700_000_000,
            sequence_number: 41,
            observation_domain_id: 5,
        };
        let v = flow_json(exporter(), &header, 261, &flow);
        let mut want = record_json(&flow);
        let obj = want.as_object_mut().unwrap();
        obj.insert("exporter".into(), json!("[2001:db8::9]:4000"));
        obj.insert("observation_domain_id".into(), json!(5));
        obj.insert("template_id".into(), json!(261));
        obj.insert("sequence_number".into(), json!(41));
        obj.insert("export_time".into(), json!(1_700_000_000));
        assert_eq!(v, want);
        assert_eq!(v["icmp_type"], 8);
        assert_eq!(v["direction"], "egress");
    }

    #[test]
    fn other_records_list_their_fields() {
        let rec = DataRecord {
            template_id: 300,
            scope_field_count: 0,
            fields: vec![
                DecodedField {
                    id: ie::SOURCE_IPV4_ADDRESS.id,
                    name: Some(ie::SOURCE_IPV4_ADDRESS.name.clone()),
                    value: Value::Ipv4("198.51.100.7".parse().unwrap()),
                },
                DecodedField {
                    id: ElementId::new(Some(32473), 1).unwrap(),
                    name: None,
                    value: Value::Bytes(b"eth0".to_vec()),
                },
                DecodedField {
                    id: ie::PACKET_DELTA_COUNT.id,
                    name: Some(ie::PACKET_DELTA_COUNT.name.clone()),
                    value: Value::Unsigned(513),
                },
            ],
        };
        assert_eq!(
            record_fields_json(exporter(), 9, &rec),
            json!({
                "exporter": "[2001:db8::9]:4000",
                "observation_domain_id": 9,
                "template_id": 300,
                "options": false,
                "fields": {
                    "sourceIPv4Address": "198.51.100.7",
                    "32473/1": "65746830",
                    "packetDeltaCount": 513,
                },
            })
        );
    }
}
