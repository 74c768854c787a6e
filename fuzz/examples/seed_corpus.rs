//! Writes the decoder target's seed corpus: what our own encoder sends.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus -- DIR`
//! (`make fuzz` does it). Each file is one TCP stream: one or more whole
//! messages back to back; the target also reads each file as one datagram.
//! Seeds: the ten templates; records of all eight data templates; the two
//! options records; custom templates with variable-length (1- and 3-octet
//! prefixes), enterprise-specific and reduced-size fields; MTU-split
//! batches; withdrawals; data before its template; a hand-written options
//! template and record.
//!
//! With a second directory it also writes the `collector_state` target's
//! seeds: the same messages as its operations, spread over exporters and
//! transports.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipfix_flow_exporter::flow::{Direction, FlowEndReason, FlowRecord};
use ipfix_flow_exporter::ipfix::{
    ie, AbstractType, Decoder, FieldLength, InfoElement, Message, MessageBuilder, Mtu, Session,
    TypedTemplate, Value,
};
use ipfix_flow_exporter::schema::{ExportStatistics, FlowMessages};

const EXPORT_TIME: u32 = 1_700_000_100;
const SYSTEM_INIT_MS: u64 = 1_700_000_000_000;
const EXPORTER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4739);
/// RFC 5612: the Private Enterprise Number for documentation.
const DOC_PEN: u32 = 32473;

/// A flow of every shape our templates route: IPv4/IPv6, ingress/egress,
/// ICMP/other; `n` varies the values.
fn flows(n: u64) -> Vec<FlowRecord> {
    let v4 = |last: u8| IpAddr::V4(Ipv4Addr::new(192, 0, 2, last));
    let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last));
    let mut out = Vec::new();
    for (i, (src, dst)) in [(v4(1), v4(2)), (v6(1), v6(2))].into_iter().enumerate() {
        for direction in [Direction::Ingress, Direction::Egress] {
            for icmp in [false, true] {
                let v6 = i == 1;
                let protocol = match (icmp, v6) {
                    (false, _) => 6,
                    (true, false) => 1,
                    (true, true) => 58,
                };
                let id = n * 8 + out.len() as u64;
                out.push(FlowRecord {
                    src_addr: src,
                    dst_addr: dst,
                    src_port: if icmp { 0 } else { 49152 + id as u16 },
                    dst_port: if icmp { 0 } else { 443 },
                    protocol,
                    icmp_type: if icmp { 8 } else { 0 },
                    icmp_code: 0,
                    direction,
                    vlan_id: (id % 3) as u16 * 100,
                    inner_vlan_id: if id % 3 == 2 { 7 } else { 0 },
                    src_mac: [0x02, 0, 0, 0, 0, id as u8],
                    dst_mac: [0x02, 0, 0, 0, 1, id as u8],
                    ingress_ifindex: if direction == Direction::Ingress {
                        2
                    } else {
                        0
                    },
                    egress_ifindex: if direction == Direction::Egress { 3 } else { 0 },
                    packets: 1 + id,
                    octets: 60 * (1 + id),
                    tcp_flags: if icmp { 0 } else { 0x1b },
                    ttl_min: 63,
                    ttl_max: 64,
                    tos: 0xb8,
                    start_ms: SYSTEM_INIT_MS + 1000 * id,
                    end_ms: SYSTEM_INIT_MS + 1000 * id + 500,
                    end_reason: FlowEndReason::ActiveTimeout,
                    flow_id: id,
                });
            }
        }
    }
    out
}

/// The messages `fill` builds in one session of `domain`.
fn messages(
    domain: u32,
    mtu: Mtu,
    fill: impl FnOnce(&mut MessageBuilder<'_>) -> Result<()>,
) -> Result<Vec<Message>> {
    let mut session = Session::new(domain);
    let mut b = session.builder(EXPORT_TIME, mtu);
    fill(&mut b)?;
    Ok(b.finish()?)
}

fn stream(msgs: &[Message]) -> Vec<u8> {
    msgs.iter().flat_map(|m| m.bytes.iter().copied()).collect()
}

/// A custom template with every kind of field we can encode, and rows for
/// it: short and long variable-length values, enterprise elements,
/// reduced-size integers.
fn custom() -> Result<(TypedTemplate, Vec<Vec<Value>>)> {
    let label = InfoElement::enterprise(DOC_PEN, 1, "interfaceLabel", AbstractType::String)?;
    let score = InfoElement::enterprise(DOC_PEN, 2, "score", AbstractType::Signed32)?;
    let blob = InfoElement::enterprise(DOC_PEN, 3, "opaque", AbstractType::OctetArray)?;
    let template = TypedTemplate::new(
        300,
        vec![
            (ie::FLOW_ID, FieldLength::Fixed(8)),
            (ie::OCTET_DELTA_COUNT, FieldLength::Fixed(4)),
            (label, FieldLength::Variable),
            (score, FieldLength::Fixed(2)),
            (blob, FieldLength::Variable),
        ],
    )?;
    let rows = [0usize, 1, 254, 255, 300]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            vec![
                Value::Unsigned(i as u64),
                Value::Unsigned(1000 * i as u64),
                Value::String("x".repeat(len.min(40))),
                Value::Signed(-(i as i64)),
                Value::Bytes(vec![i as u8; len]),
            ]
        })
        .collect();
    Ok((template, rows))
}

/// A custom options template: two scope fields, one of them enterprise.
fn custom_options() -> Result<(TypedTemplate, Vec<Value>)> {
    let site = InfoElement::enterprise(DOC_PEN, 4, "site", AbstractType::String)?;
    let template = TypedTemplate::new_options(
        301,
        2,
        vec![
            (ie::OBSERVATION_DOMAIN_ID, FieldLength::Fixed(4)),
            (site, FieldLength::Variable),
            (ie::EXPORTED_MESSAGE_TOTAL_COUNT, FieldLength::Fixed(8)),
        ],
    )?;
    let row = vec![
        Value::Unsigned(7),
        Value::String("lab".into()),
        Value::Unsigned(42),
    ];
    Ok((template, row))
}

/// Options template 302, scoped by observationDomainId, and one record:
/// header, options template set, data set (a template set by hand, as
/// another exporter would write it).
fn hand_written_options() -> Vec<u8> {
    #[rustfmt::skip]
    let body: &[u8] = &[
        0x00, 0x03, 0x00, 0x12,             // options template set, length 18
        0x01, 0x2e, 0x00, 0x02, 0x00, 0x01, //   template 302, 2 fields, 1 scope
        0x00, 0x95, 0x00, 0x04,             //   observationDomainId, 4 octets
        0x00, 0x94, 0x00, 0x08,             //   flowId, 8 octets
        0x01, 0x2e, 0x00, 0x10,             // data set 302, length 16
        0, 0, 0, 5,                         //   observationDomainId 5
        0, 0, 0, 0, 0, 0, 0, 9,             //   flowId 9
    ];
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&10u16.to_be_bytes());
    m.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&EXPORT_TIME.to_be_bytes());
    m.extend_from_slice(&0u32.to_be_bytes()); // sequence number
    m.extend_from_slice(&5u32.to_be_bytes()); // observation domain
    m.extend_from_slice(body);
    m
}

fn seeds() -> Result<Vec<(&'static str, Vec<u8>)>> {
    let stats = ExportStatistics {
        exporting_process_id: 4242,
        exported_message_total: 1,
        exported_flow_record_total: 2,
        exported_octet_total: 3,
        ignored_packet_total: 4,
        ignored_octet_total: 5,
        not_sent_flow_total: 6,
    };
    let (custom, rows) = custom()?;
    let (options, option_row) = custom_options()?;
    let mut out = Vec::new();

    let templates = messages(1, Mtu::DEFAULT, |b| Ok(b.add_flow_templates(true)?))?;
    out.push(("templates", stream(&templates)));
    // Templates and the records of all eight data templates, one message.
    let all = messages(1, Mtu::new(usize::from(u16::MAX))?, |b| {
        b.add_flow_templates(true)?;
        b.add_flow_records(&flows(0), Some(SYSTEM_INIT_MS))?;
        Ok(())
    })?;
    out.push(("templates-and-flows", stream(&all)));
    // Templates, then records in later messages of the same session.
    let later = messages(2, Mtu::DEFAULT, |b| {
        b.add_flow_templates(true)?;
        Ok(())
    })?;
    let data = messages(2, Mtu::DEFAULT, |b| {
        b.add_flow_records(&flows(1), Some(SYSTEM_INIT_MS))?;
        Ok(())
    })?;
    out.push((
        "templates-then-flows",
        stream(&[later, data.clone()].concat()),
    ));
    // Data before its template: reported, skipped.
    out.push(("flows-without-templates", stream(&data)));
    // The options records.
    let opts = messages(3, Mtu::DEFAULT, |b| {
        b.add_flow_templates(true)?;
        b.add_system_init_time(SYSTEM_INIT_MS)?;
        b.add_statistics(&stats)?;
        Ok(())
    })?;
    out.push(("options", stream(&opts)));
    // A batch split by a small MTU: many messages, sequence numbers.
    let split = messages(4, Mtu::new(200)?, |b| {
        b.add_flow_templates(true)?;
        for n in 0..4 {
            b.add_flow_records(&flows(n), Some(SYSTEM_INIT_MS))?;
        }
        Ok(())
    })?;
    out.push(("mtu-split", stream(&split)));
    // Custom data and options templates with their records.
    let custom_msgs = messages(6, Mtu::new(usize::from(u16::MAX))?, |b| {
        b.add_template(custom.template())?;
        for row in &rows {
            b.add_custom_record(&custom, row)?;
        }
        b.add_template(options.template())?;
        b.add_custom_record(&options, &option_row)?;
        Ok(())
    })?;
    out.push(("custom-varlen-enterprise", stream(&custom_msgs)));
    // Withdrawals: one template, all data templates, all options templates,
    // then data of a withdrawn template.
    let withdraw = messages(7, Mtu::DEFAULT, |b| {
        b.add_flow_templates(true)?;
        b.add_template(custom.template())?;
        b.add_custom_record(&custom, &rows[1])?;
        Ok(())
    })?;
    let gone = messages(7, Mtu::DEFAULT, |b| {
        b.add_withdrawal(300, false)?;
        b.add_withdrawal(2, false)?;
        b.add_withdrawal(3, true)?;
        Ok(())
    })?;
    let after = messages(7, Mtu::DEFAULT, |b| {
        b.add_custom_record(&custom, &rows[1])?;
        Ok(())
    })?;
    out.push(("withdrawals", stream(&[withdraw, gone, after].concat())));
    out.push(("hand-written-options", hand_written_options()));
    Ok(out)
}

/// Every seed must be valid: each of its messages decodes without error
/// (a fresh decoder per seed, as the fuzz target has), and records come out.
fn check(name: &str, mut stream: &[u8]) -> Result<usize> {
    let mut d = Decoder::default();
    let mut records = 0;
    while !stream.is_empty() {
        let m = d
            .decode(EXPORTER, stream)
            .with_context(|| format!("seed {name} does not decode"))?;
        records += m.records().count();
        stream = stream.get(m.message_len()..).unwrap_or_default();
    }
    Ok(records)
}

fn main() -> Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/corpus/decoder"), PathBuf::from);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let seeds = seeds()?;
    for (name, bytes) in &seeds {
        let records = check(name, bytes)?;
        anyhow::ensure!(
            records > 0 || ["templates", "flows-without-templates"].contains(name),
            "seed {name} decodes to no records"
        );
        let path: &Path = &dir.join(format!("seed-{name}"));
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("wrote {} seeds to {}", seeds.len(), dir.display());
    if let Some(state_dir) = std::env::args_os().nth(2).map(PathBuf::from) {
        write_state_seeds(&state_dir, &seeds)?;
    }
    Ok(())
}

/// One `collector_state` operation: a message from exporter `exporter`
/// (`kind` 0: UDP, 1: TCP), as that target reads them.
fn op(kind: u8, exporter: u8, message: &[u8]) -> Vec<u8> {
    let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
    let mut v = vec![kind, exporter];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(message.get(..usize::from(len)).unwrap_or(message));
    v
}

/// The messages of each seed (a stream of whole messages).
fn split_messages(mut stream: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while stream.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([stream[2], stream[3]]));
        if len < 16 || len > stream.len() {
            break;
        }
        out.push(&stream[..len]);
        stream = &stream[len..];
    }
    out
}

fn write_state_seeds(dir: &Path, seeds: &[(&'static str, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    for (i, (name, bytes)) in seeds.iter().enumerate() {
        let mut ops = Vec::new();
        for (j, m) in split_messages(bytes).into_iter().enumerate() {
            // Alternate transports and exporters; every other seed also
            // replays the messages from a second exporter.
            let kind = u8::from((i + j) % 2 == 1);
            ops.extend(op(kind, (i % 8) as u8, m));
            if i % 2 == 0 {
                ops.extend(op(0, ((i + 3) % 8) as u8, m));
            }
        }
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, &ops).with_context(|| format!("writing {}", path.display()))?;
        written += 1;
    }
    println!("wrote {written} seeds to {}", dir.display());
    Ok(())
}
