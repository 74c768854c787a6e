//! tshark as an outside decoder: capture the IPFIX a namespace sends, then
//! decode it as tshark's JSON (`-T json`); or write messages built in a
//! test to a pcap ([`write_pcap`]) and read tshark's PDML of it, every field
//! with its offset ([`pdml`], [`pdml_fields`]).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use super::process::Background;
use super::tempdir::TempDir;

/// tshark capturing UDP to `ports` on an interface of a namespace; dumpcap
/// and tshark run as one process group, killed whole on stop and on drop.
pub struct Capture {
    bg: Background,
    pcap: PathBuf,
    ports: Vec<u16>,
    _dir: TempDir,
}

impl Capture {
    pub fn start(ns: &str, iface: &str, ports: &[u16]) -> Self {
        let dir = TempDir::new("ipfix-tshark-");
        let pcap = dir.join("capture.pcap");
        let filter = ports
            .iter()
            .map(|p| format!("udp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut bg = Background::start_group_in(
            ns,
            "tshark",
            &[
                "tshark",
                "-i",
                iface,
                "-f",
                &filter,
                "-w",
                pcap.to_str().expect("temp path is UTF-8"),
            ],
        );
        bg.wait_stderr("Capturing on", Duration::from_secs(30));
        Capture {
            bg,
            pcap,
            ports: ports.to_vec(),
            _dir: dir,
        }
    }

    /// Stops capturing (after a moment for the last packets); tshark's JSON
    /// decoding of everything captured, the ports decoded as IPFIX.
    pub fn stop(mut self) -> String {
        std::thread::sleep(Duration::from_millis(500));
        self.bg.stop_with(Signal::SIGINT);
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(&self.pcap);
        for p in &self.ports {
            cmd.args(["-d", &format!("udp.port=={p},cflow")]);
        }
        let out = cmd.args(["-T", "json"]).output().expect("running tshark");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// One `(UDP source port, observation domain, sequence number)` per IPFIX
/// message in tshark's JSON.
pub fn messages(tshark_json: &str) -> Vec<(u64, u64, u64)> {
    let packets: Vec<Value> = serde_json::from_str(tshark_json).unwrap_or_default();
    let num = |v: &Value| v.as_str().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    packets
        .iter()
        .map(|p| {
            let l = &p["_source"]["layers"];
            (
                num(&l["udp"]["udp.srcport"]),
                num(&l["cflow"]["cflow.od_id"]),
                num(&l["cflow"]["cflow.sequence"]),
            )
        })
        .collect()
}

/// The octets before an IPFIX message in the frames [`write_pcap`] writes:
/// an IPv4 header (20) and a UDP header (8), no link layer.
pub const PCAP_PAYLOAD_OFFSET: usize = 28;
/// The UDP port [`write_pcap`]'s datagrams go to: IPFIX's, which tshark
/// decodes as IPFIX without being told.
pub const IPFIX_PORT: u16 = 4739;

/// Writes `messages` as a pcap file of UDP datagrams from 192.0.2.1:40000
/// to 192.0.2.2:4739, one per message, as raw IPv4 (link type 101: no
/// Ethernet header), so a message's octet `i` is frame octet
/// [`PCAP_PAYLOAD_OFFSET`] + `i`.
pub fn write_pcap(path: &std::path::Path, messages: &[Vec<u8>]) {
    use super::frames::{Ipv4, Transport};
    // pcap global header, little-endian: magic, version 2.4, zone 0,
    // sigfigs 0, snaplen 65535, link type 101 (LINKTYPE_RAW).
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (i, m) in messages.iter().enumerate() {
        let packet = Ipv4::new([192, 0, 2, 1].into(), [192, 0, 2, 2].into())
            .carrying(&Transport::udp(40_000, IPFIX_PORT, m))
            .bytes();
        assert_eq!(packet.len(), PCAP_PAYLOAD_OFFSET + m.len());
        let len = u32::try_from(packet.len()).unwrap();
        // Record header: seconds, microseconds, captured and original length.
        out.extend_from_slice(&(1_700_000_100 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&packet);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// tshark's PDML (`-T pdml`: every field with its offset in the frame) of
/// `pcap`, in UTC, with no limit on the fields of a template (its default,
/// 60, drops larger templates).
pub fn pdml(pcap: &std::path::Path) -> String {
    let out = Command::new("tshark")
        .env("TZ", "UTC")
        .args(["-o", "cflow.max_template_fields:0", "-r"])
        .arg(pcap)
        .args(["-T", "pdml"])
        .output()
        .expect("running tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `<field>` of a PDML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdmlField {
    /// 0 for the first packet.
    pub packet: usize,
    /// The display filter name (`cflow.octets`); empty for text items
    /// such as `Field (2/2): octetDeltaCount`.
    pub name: String,
    /// The value as tshark shows it (`show`); for a text item, its text.
    pub show: String,
    /// Octet offset in the frame.
    pub pos: usize,
    pub size: usize,
}

/// Every `<field>` of `pdml`, in document order. PDML puts one element on
/// a line; attribute values are XML-escaped.
pub fn pdml_fields(pdml: &str) -> Vec<PdmlField> {
    let mut packet = None::<usize>;
    let mut fields = Vec::new();
    for line in pdml.lines().map(str::trim_start) {
        if line.starts_with("<packet>") {
            packet = Some(packet.map_or(0, |p| p + 1));
        }
        let (Some(packet), true) = (packet, line.starts_with("<field ")) else {
            continue;
        };
        let num = |key| attr(line, key).and_then(|v| v.parse().ok()).unwrap_or(0);
        fields.push(PdmlField {
            packet,
            name: attr(line, "name").unwrap_or_default(),
            show: attr(line, "show").unwrap_or_default(),
            pos: num("pos"),
            size: num("size"),
        });
    }
    fields
}

/// The value of attribute `key` in one PDML element, unescaped.
fn attr(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!(" {key}=\""))? + key.len() + 3;
    let len = line.get(start..)?.find('"')?;
    Some(xml_unescape(line.get(start..start + len)?))
}

/// XML character references and the five predefined entities.
fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let Some(semi) = rest[amp..].find(';') else {
            break;
        };
        let entity = &rest[amp + 1..amp + semi];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => out.push(c),
            None => out.push_str(&rest[amp..=amp + semi]),
        }
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    out
}

/// The type tshark gives each of its fields (`tshark -G fields`): display
/// filter name to `FT_UINT32`, `FT_STRING`, ...
pub fn field_types() -> std::collections::HashMap<String, String> {
    let out = Command::new("tshark")
        .args(["-G", "fields"])
        .output()
        .expect("running tshark -G fields");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            match cols[..] {
                ["F", _, name, ftype, ..] => Some((name.to_owned(), ftype.to_owned())),
                _ => None,
            }
        })
        .collect()
}

/// An absolute time as tshark shows it in UTC (`Nov 14, 2023
/// 22:13:20.123456789 UTC`) as ISO 8601 with `digits` fractional digits
/// (truncated), the form `collect` prints: `2023-11-14T22:13:20.123Z`.
pub fn iso_time(show: &str, digits: usize) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = show.split_whitespace();
    let (month, day, year, time, zone) = (
        parts.next()?,
        parts.next()?.strip_suffix(',')?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if zone != "UTC" {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let day: u32 = day.trim().parse().ok()?;
    let (hms, fraction) = time.split_once('.')?;
    let fraction = fraction.get(..digits)?;
    let dot = if digits == 0 { "" } else { "." };
    Some(format!("{year}-{month:02}-{day:02}T{hms}{dot}{fraction}Z"))
}
