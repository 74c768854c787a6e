//! Hostile bytes into everything `collect` does with them.
//!
//! One input is used four ways:
//! 1. as one UDP datagram, decoded from three exporter addresses in turn by
//!    one decoder (withdrawals ignored, as over UDP);
//! 2. as a TCP stream, pushed into the [`Framer`] in small chunks; each
//!    framed message is decoded in order by a TCP decoder (one exporter) and
//!    by the UDP decoder (the three exporters in rotation);
//! 3. every decoded record through [`ToFlowRecord::to_flow_record`];
//! 4. the same datagram and stream through a whole [`CollectingProcess`] in
//!    each output format (table and JSON printing of whatever decoded).
//!
//! Besides "no panic", it checks what the decoder promises: a message never
//! claims more octets than it was given, decoded fields stay within the
//! message's octets (no amplification: zero-length fields are refused), an
//! options record's scope is whole, and the framer holds at most one
//! message plus one chunk.
#![no_main]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use ipfix_flow_exporter::collect::net::Framer;
use ipfix_flow_exporter::collect::{CollectingProcess, Input};
use ipfix_flow_exporter::config::CollectFormat;
use ipfix_flow_exporter::endpoint::Protocol;
use ipfix_flow_exporter::ipfix::{DecodedMessage, Decoder, DecoderConfig};
use ipfix_flow_exporter::schema::ToFlowRecord;
use libfuzzer_sys::fuzz_target;

const EXPORTERS: [SocketAddr; 3] = [
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4739),
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000),
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        4739,
    ),
];

/// Octets pushed into the framer at a time: messages straddle pushes.
const CHUNK: usize = 61;
/// The Length field is 16 bits.
const MAX_MESSAGE_LEN: usize = u16::MAX as usize;
const MESSAGE_HEADER_LEN: usize = 16;

fn check(m: &DecodedMessage, given: usize) {
    let len = m.message_len();
    assert!(
        (MESSAGE_HEADER_LEN..=given).contains(&len),
        "message length {len}, {given} octets given"
    );
    let fields: usize = m.records().map(|r| r.fields.len()).sum();
    assert!(fields <= len, "{fields} fields out of {len} octets");
    for r in m.records() {
        if r.is_options() {
            assert_eq!(r.scope_fields().len(), usize::from(r.scope_field_count));
        }
        if let Ok(flow) = r.to_flow_record() {
            assert_eq!(flow.src_addr.is_ipv4(), flow.dst_addr.is_ipv4());
        }
    }
}

/// The input cut into messages as a TCP collector would; stops at the
/// first framing error, as the collector closes the connection there.
fn framed(data: &[u8]) -> Vec<Vec<u8>> {
    let mut framer = Framer::default();
    let mut out = Vec::new();
    for chunk in data.chunks(CHUNK) {
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(m)) => {
                    assert!((MESSAGE_HEADER_LEN..=MAX_MESSAGE_LEN).contains(&m.len()));
                    out.push(m);
                }
                Ok(None) => break,
                Err(_) => return out,
            }
        }
        assert!(framer.pending() < MAX_MESSAGE_LEN + CHUNK);
    }
    out
}

fn collecting_process(format: CollectFormat, data: &[u8], messages: &[Vec<u8>]) {
    let mut p = CollectingProcess::new(format, io::sink(), io::sink());
    let now = Instant::now();
    let mut send = |transport, exporter, bytes: &[u8]| {
        let input = Input::Message {
            transport,
            collector: None,
            exporter,
            bytes: bytes.to_vec(),
        };
        // SANITY: io::sink() never fails a write.
        p.handle(input, now).expect("writing to a sink");
    };
    send(Protocol::Udp, EXPORTERS[0], data);
    for m in messages {
        send(Protocol::Tcp, EXPORTERS[1], m);
    }
    p.handle(
        Input::Closed {
            exporter: EXPORTERS[1],
            error: None,
        },
        now,
    )
    .expect("writing to a sink");
}

fuzz_target!(|data: &[u8]| {
    let mut udp = Decoder::new(DecoderConfig {
        honour_withdrawals: false,
        ..DecoderConfig::default()
    });
    for exporter in EXPORTERS {
        if let Ok(m) = udp.decode(exporter, data) {
            check(&m, data.len());
        }
    }

    let messages = framed(data);
    let mut tcp = Decoder::default();
    for (i, m) in messages.iter().enumerate() {
        if let Ok(d) = tcp.decode(EXPORTERS[0], m) {
            assert_eq!(d.message_len(), m.len(), "a framed message is whole");
            check(&d, m.len());
        }
        if let Ok(d) = udp.decode(EXPORTERS[i % EXPORTERS.len()], m) {
            check(&d, m.len());
        }
    }

    collecting_process(CollectFormat::Json, data, &messages);
    collecting_process(CollectFormat::Table, data, &messages);
});
