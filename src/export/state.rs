//! One collector's exporting state, without I/O: the IPFIX transport
//! session (sequence numbers), when templates are due, the SysUpTime anchor
//! the collector knows, the TCP queue and the counters. Time comes in with
//! each call ([`Context`]); the transports around it (`session.rs`) only
//! move bytes and report what happened.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use super::tcp::Unwritten;
use crate::flow::FlowRecord;
use crate::ipfix::{EncodeError, Message, MessageBuilder, Mtu, Session};
use crate::schema::{ExportStatistics, FlowMessages, InterfaceName, Sampling};

/// Template copies sent when a UDP session starts, so that one lost
/// datagram does not leave the collector blind until the next refresh.
pub const UDP_TEMPLATE_COPIES: usize = 3;
/// Over UDP, templates also go out every this many messages.
pub const UDP_TEMPLATE_EVERY_MESSAGES: u64 = 1000;
/// Records encoded per step while draining the TCP queue.
pub const TCP_ENCODE_BATCH: usize = 512;

/// UDP: templates on a schedule, records sent at once. TCP: templates on
/// each connection, records queued until the connection takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the state needs from the rest of the exporter for each message.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now: Instant,
    pub export_time_secs: u32,
    /// Anchor of the SysUpTime elements (systemInitTimeMilliseconds).
    pub system_init_ms: u64,
    /// Datapath totals: ignoredPacketTotalCount / ignoredOctetTotalCount.
    pub ignored_packets: u64,
    pub ignored_octets: u64,
}

/// Counters of one collector, since the exporter started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub messages: u64,
    /// Flow data records sent (options records not included).
    pub flow_records: u64,
    pub octets: u64,
    /// Failed sends, ICMP-refused datagrams and broken connections.
    pub send_errors: u64,
    /// Flow records dropped instead of sent (notSentFlowTotalCount).
    pub not_sent: u64,
}

impl std::fmt::Display for SessionStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages, {} flow records, {} octets sent; {} send errors; {} records not sent",
            self.messages, self.flow_records, self.octets, self.send_errors, self.not_sent
        )
    }
}

/// A message to send, and the flow records it carries (options records
/// not counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub message: Message,
    pub flow_records: u64,
}

/// Encoding failed: `records` flow records were counted as not sent.
#[derive(Debug)]
pub struct NotEncoded {
    pub records: usize,
    pub error: EncodeError,
}

pub struct CollectorState {
    transport: Transport,
    ipfix: Session,
    observation_domain_id: u32,
    /// `exportingProcessId`, the scope of the §4.3 statistics.
    exporting_process_id: u32,
    /// The address we send from, once the transport knows it.
    exporter_address: Option<IpAddr>,
    /// The namespace's interfaces (template 286), and whether the
    /// collector has the current list.
    interfaces: Vec<InterfaceName>,
    interfaces_told: bool,
    /// How the metering process selects packets (template 287 or 296).
    sampling: Sampling,
    mtu: Mtu,
    /// Records carry the SysUpTime elements (templates 278–285).
    sysuptime: bool,
    template_refresh: Duration,
    /// When templates last went out in this transport session.
    templates_sent: Option<Instant>,
    messages_since_templates: u64,
    /// The anchor the collector was last told.
    system_init_sent: Option<u64>,
    queue: VecDeque<FlowRecord>,
    queue_limit: usize,
    pub stats: SessionStats,
}

impl CollectorState {
    pub fn new(
        transport: Transport,
        observation_domain_id: u32,
        exporting_process_id: u32,
        mtu: Mtu,
        template_refresh: Duration,
        tcp_queue_records: usize,
        sysuptime: bool,
    ) -> Self {
        CollectorState {
            sysuptime,
            transport,
            ipfix: Session::new(observation_domain_id),
            observation_domain_id,
            exporting_process_id,
            exporter_address: None,
            interfaces: Vec::new(),
            interfaces_told: false,
            sampling: Sampling::default(),
            mtu,
            template_refresh,
            templates_sent: None,
            messages_since_templates: 0,
            system_init_sent: None,
            queue: VecDeque::new(),
            queue_limit: tcp_queue_records.max(1),
            stats: SessionStats::default(),
        }
    }

    /// The address the transport sends from: announced with the templates
    /// and each interval's options (templates 276/277).
    pub fn set_exporter_address(&mut self, addr: IpAddr) {
        self.exporter_address = Some(addr);
    }

    /// How packets are selected: told with the templates and each
    /// interval's options.
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// The interfaces whose names go out with the templates (template
    /// 286), and with the next interval's options when the list changed.
    pub fn set_interfaces(&mut self, interfaces: &[InterfaceName]) {
        if self.interfaces != interfaces {
            self.interfaces = interfaces.to_vec();
            self.interfaces_told = false;
        }
    }

    pub fn mtu(&self) -> Mtu {
        self.mtu
    }

    /// Messages from now on are at most `mtu` octets (the path to the
    /// collector carries no more in one datagram).
    pub fn lower_mtu(&mut self, mtu: Mtu) {
        self.mtu = self.mtu.min(mtu);
    }

    /// Records waiting in the TCP queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// True before the first templates of this transport session.
    pub fn is_new(&self) -> bool {
        self.templates_sent.is_none()
    }

    /// UDP: the template messages due now — [`UDP_TEMPLATE_COPIES`] at the
    /// start, then one on each refresh or after
    /// [`UDP_TEMPLATE_EVERY_MESSAGES`] messages — each with the SysUpTime
    /// anchor. Numbered now: send them before anything encoded later.
    pub fn due_templates(&mut self, cx: &Context) -> Vec<Outgoing> {
        let copies = match self.templates_sent {
            _ if self.transport == Transport::Tcp => 0,
            None => UDP_TEMPLATE_COPIES,
            Some(t)
                if cx.now.duration_since(t) >= self.template_refresh
                    || self.messages_since_templates >= UDP_TEMPLATE_EVERY_MESSAGES =>
            {
                1
            }
            Some(_) => 0,
        };
        let mut out = Vec::new();
        for _ in 0..copies {
            out.extend(self.templates(cx).unwrap_or_else(|e| {
                log::error!("encoding templates: {e}");
                Vec::new()
            }));
        }
        if copies > 0 {
            self.templates_sent = Some(cx.now);
            self.messages_since_templates = 0;
        }
        out
    }

    /// Flow records to send now (UDP), the anchor first if it moved.
    pub fn encode_records(
        &mut self,
        records: &[FlowRecord],
        cx: &Context,
    ) -> Result<Vec<Outgoing>, NotEncoded> {
        // Without SysUpTime elements the anchor rides with the options only.
        let anchor_moved = self.sysuptime && self.system_init_sent != Some(cx.system_init_ms);
        let anchor = self.sysuptime.then_some(cx.system_init_ms);
        let encoded = self.encode(cx, |b| {
            if anchor_moved {
                // The SysUpTime anchor moved: tell the collector first.
                b.add_system_init_time(cx.system_init_ms)?;
            }
            b.add_flow_records(records, anchor)
        });
        match encoded {
            Ok(msgs) => {
                if anchor_moved {
                    self.system_init_sent = Some(cx.system_init_ms);
                }
                Ok(flow_messages(msgs, anchor_moved))
            }
            Err(error) => {
                self.stats.not_sent += records.len() as u64;
                Err(NotEncoded {
                    records: records.len(),
                    error,
                })
            }
        }
    }

    /// The per-interval options records: systemInitTimeMilliseconds and
    /// the RFC 7011 §4 statistics.
    pub fn encode_options(&mut self, cx: &Context) -> Result<Vec<Outgoing>, NotEncoded> {
        let stats = ExportStatistics {
            exporting_process_id: self.exporting_process_id,
            exported_message_total: self.stats.messages,
            exported_flow_record_total: self.stats.flow_records,
            exported_octet_total: self.stats.octets,
            ignored_packet_total: cx.ignored_packets,
            ignored_octet_total: cx.ignored_octets,
            not_sent_flow_total: self.stats.not_sent,
        };
        let (process, address) = (self.exporting_process_id, self.exporter_address);
        let interfaces = std::mem::take(&mut self.interfaces);
        let tell = !self.interfaces_told;
        let sampling = self.sampling;
        let encoded = self.encode(cx, |b| {
            b.add_system_init_time(cx.system_init_ms)?;
            b.add_sampling(&sampling)?;
            b.add_statistics(&stats)?;
            address.map_or(Ok(()), |a| b.add_exporter_address(process, a))?;
            if tell {
                b.add_interface_names(&interfaces)?;
            }
            Ok(())
        });
        self.interfaces = interfaces;
        let msgs = encoded.map_err(|error| NotEncoded { records: 0, error })?;
        self.system_init_sent = Some(cx.system_init_ms);
        self.interfaces_told = true;
        Ok(options_messages(msgs))
    }

    /// TCP: a new connection is a new transport session — sequence numbers
    /// restart at 0 and the templates come first (RFC 7011 §8.1, §10.4.2).
    pub fn connected(&mut self, cx: &Context) -> Vec<Outgoing> {
        self.ipfix = Session::new(self.observation_domain_id);
        self.templates(cx).unwrap_or_else(|e| {
            log::error!("encoding templates: {e}");
            Vec::new()
        })
    }

    /// TCP, at the end of the session: every data and options template
    /// withdrawn (RFC 7011 §8.1, §10.4.2: before closing the connection).
    pub fn withdrawal(&mut self, cx: &Context) -> Vec<Outgoing> {
        let encoded = self.encode(cx, |b| {
            b.add_withdrawal(2, false)?;
            b.add_withdrawal(3, true)
        });
        options_messages(encoded.unwrap_or_else(|e| {
            log::error!("encoding the template withdrawal: {e}");
            Vec::new()
        }))
    }

    /// TCP: queues records, dropping the oldest beyond the limit (counted
    /// as not sent). Returns how many were dropped.
    pub fn enqueue(&mut self, records: &[FlowRecord]) -> usize {
        self.queue.extend(records.iter().cloned());
        let excess = self.queue.len().saturating_sub(self.queue_limit);
        self.queue.drain(..excess);
        self.stats.not_sent += excess as u64;
        excess
    }

    /// TCP: the next [`TCP_ENCODE_BATCH`] queued records encoded (the
    /// anchor first if it moved); `None` when the queue is empty.
    pub fn next_batch(&mut self, cx: &Context) -> Option<Result<Vec<Outgoing>, NotEncoded>> {
        if self.queue.is_empty() {
            return None;
        }
        let n = self.queue.len().min(TCP_ENCODE_BATCH);
        let batch: Vec<FlowRecord> = self.queue.drain(..n).collect();
        Some(self.encode_records(&batch, cx))
    }

    /// A message went out (UDP: the datagram was sent; TCP: it was handed
    /// to the connection).
    pub fn sent(&mut self, o: &Outgoing) {
        self.stats.messages += 1;
        self.stats.octets += o.message.bytes.len() as u64;
        self.stats.flow_records += o.flow_records;
        self.messages_since_templates += 1;
    }

    /// A message could not be sent: its records are not sent.
    pub fn send_failed(&mut self, o: &Outgoing) {
        self.stats.send_errors += 1;
        self.stats.not_sent += o.flow_records;
    }

    /// Records that met no collector (UDP: no address yet).
    pub fn dropped(&mut self, records: usize) {
        self.stats.not_sent += records as u64;
    }

    /// An error on the transport that lost no records (refused datagram,
    /// failed resolution or socket).
    pub fn send_error(&mut self) {
        self.stats.send_errors += 1;
    }

    /// TCP: the connection broke; `lost` was handed to it but never
    /// written whole: not sent after all, in every total.
    pub fn connection_lost(&mut self, lost: Unwritten) {
        self.unsend(lost);
        self.stats.send_errors += 1;
    }

    /// At shutdown: the queue and what the connection still holds are not
    /// sent. Returns how many flow records.
    pub fn abandon(&mut self, pending: Unwritten) -> u64 {
        let left = self.queue.len() as u64 + pending.records;
        self.stats.not_sent += self.queue.len() as u64;
        self.queue.clear();
        self.unsend(pending);
        left
    }

    fn unsend(&mut self, u: Unwritten) {
        self.stats.messages = self.stats.messages.saturating_sub(u.messages);
        self.stats.octets = self.stats.octets.saturating_sub(u.octets);
        self.stats.flow_records = self.stats.flow_records.saturating_sub(u.records);
        self.stats.not_sent += u.records;
    }

    /// Templates and the anchor, numbered now.
    fn templates(&mut self, cx: &Context) -> Result<Vec<Outgoing>, EncodeError> {
        let (process, address) = (self.exporting_process_id, self.exporter_address);
        let interfaces = std::mem::take(&mut self.interfaces);
        let (sysuptime, sampling) = (self.sysuptime, self.sampling);
        let encoded = self.encode(cx, |b| {
            b.add_flow_templates(sysuptime)?;
            b.add_system_init_time(cx.system_init_ms)?;
            b.add_sampling(&sampling)?;
            address.map_or(Ok(()), |a| b.add_exporter_address(process, a))?;
            b.add_interface_names(&interfaces)
        });
        self.interfaces = interfaces;
        let msgs = encoded?;
        self.templates_sent = Some(cx.now);
        self.system_init_sent = Some(cx.system_init_ms);
        self.interfaces_told = true;
        Ok(options_messages(msgs))
    }

    fn encode(
        &mut self,
        cx: &Context,
        add: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), EncodeError>,
    ) -> Result<Vec<Message>, EncodeError> {
        let mut b = self.ipfix.builder(cx.export_time_secs, self.mtu);
        add(&mut b)?;
        b.finish()
    }
}

/// Messages of flow records, the first led by `options_first` options
/// records' worth of anchor.
fn flow_messages(msgs: Vec<Message>, anchor_first: bool) -> Vec<Outgoing> {
    msgs.into_iter()
        .enumerate()
        .map(|(i, message)| {
            let options = u32::from(i == 0 && anchor_first);
            Outgoing {
                flow_records: u64::from(message.data_records.saturating_sub(options)),
                message,
            }
        })
        .collect()
}

fn options_messages(msgs: Vec<Message>) -> Vec<Outgoing> {
    msgs.into_iter()
        .map(|message| Outgoing {
            message,
            flow_records: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::flow::{Direction, FlowEndReason};

    const REFRESH: Duration = Duration::from_secs(60);

    fn cx(at: Instant) -> Context {
        Context {
            now: at,
            export_time_secs: 1_700_000_000,
            system_init_ms: 1_699_000_000_000,
            ignored_packets: 7,
            ignored_octets: 700,
        }
    }

    fn record(i: u16) -> FlowRecord {
        FlowRecord {
            src_addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst_addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
            src_port: i,
            dst_port: 443,
            protocol: 6,
            icmp_type: 0,
            icmp_code: 0,
            direction: Direction::Ingress,
            vlan_id: 0,
            inner_vlan_id: 0,
            src_mac: [0; 6],
            dst_mac: [0; 6],
            ingress_ifindex: 2,
            egress_ifindex: 0,
            packets: 1,
            octets: 60,
            tcp_flags: 0x10,
            ttl_min: 64,
            ttl_max: 64,
            tos: 0,
            start_ms: 1_700_000_000_000,
            end_ms: 1_700_000_000_000,
            end_reason: FlowEndReason::IdleTimeout,
            flow_id: u64::from(i),
        }
    }

    /// What a link would report for `out` not written.
    fn unwritten(out: &[Outgoing]) -> Unwritten {
        Unwritten {
            messages: out.len() as u64,
            octets: out.iter().map(|o| o.message.bytes.len() as u64).sum(),
            records: out.iter().map(|o| o.flow_records).sum(),
        }
    }

    fn records(n: u16) -> Vec<FlowRecord> {
        (0..n).map(record).collect()
    }

    fn udp() -> CollectorState {
        CollectorState::new(Transport::Udp, 1, 4242, Mtu::DEFAULT, REFRESH, 0, true)
    }

    fn tcp(queue: usize) -> CollectorState {
        CollectorState::new(Transport::Tcp, 1, 4242, Mtu::DEFAULT, REFRESH, queue, true)
    }

    /// Sends everything (counting it) and returns the sequence numbers.
    fn send(s: &mut CollectorState, out: &[Outgoing]) -> Vec<u32> {
        out.iter()
            .map(|o| {
                s.sent(o);
                o.message.sequence_number
            })
            .collect()
    }

    #[test]
    fn udp_templates_three_copies_then_on_refresh() {
        let t0 = Instant::now();
        let mut s = udp();
        assert!(s.is_new());
        let first = s.due_templates(&cx(t0));
        assert_eq!(first.len(), UDP_TEMPLATE_COPIES);
        assert!(!s.is_new());
        assert!(s.due_templates(&cx(t0 + REFRESH / 2)).is_empty());
        assert!(s
            .due_templates(&cx(t0 + REFRESH - Duration::from_millis(1)))
            .is_empty());
        assert_eq!(s.due_templates(&cx(t0 + REFRESH)).len(), 1);
        assert!(s.due_templates(&cx(t0 + REFRESH + REFRESH / 2)).is_empty());
    }

    #[test]
    fn udp_templates_also_after_a_thousand_messages() {
        let t0 = Instant::now();
        let mut s = udp();
        let first = s.due_templates(&cx(t0));
        send(&mut s, &first);
        for i in 0..UDP_TEMPLATE_EVERY_MESSAGES - 3 {
            let out = s.encode_records(&[record(i as u16)], &cx(t0)).unwrap();
            send(&mut s, &out);
        }
        assert_eq!(s.stats.messages, UDP_TEMPLATE_EVERY_MESSAGES);
        assert_eq!(s.due_templates(&cx(t0)).len(), 1);
    }

    #[test]
    fn tcp_has_no_template_schedule() {
        let mut s = tcp(10);
        assert!(s.due_templates(&cx(Instant::now())).is_empty());
    }

    /// The options of an interval whose end brings a refresh: templates
    /// first, then the options, numbered in that order (the bug tshark
    /// showed as 26 before 24).
    #[test]
    fn sequence_numbers_follow_the_sending_order_across_a_refresh() {
        let t0 = Instant::now();
        let mut s = udp();
        let first = s.due_templates(&cx(t0));
        let mut seq = send(&mut s, &first);
        let data = s.encode_records(&records(20), &cx(t0)).unwrap();
        seq.extend(send(&mut s, &data));
        let at = cx(t0 + REFRESH);
        let templates = s.due_templates(&at);
        seq.extend(send(&mut s, &templates));
        let options = s.encode_options(&at).unwrap();
        seq.extend(send(&mut s, &options));
        // Each message is numbered with the data records sent before it,
        // in the order they are sent.
        let all: Vec<&Outgoing> = first
            .iter()
            .chain(&data)
            .chain(&templates)
            .chain(&options)
            .collect();
        assert_eq!(seq.len(), all.len());
        for i in 1..all.len() {
            assert_eq!(
                seq[i],
                seq[i - 1] + all[i - 1].message.data_records,
                "message {i}"
            );
        }
        assert_eq!(templates.len(), 1);
        assert_eq!(seq[0], 0);
        assert_eq!(
            *seq.last().unwrap(),
            3 * 2 + 20 + 2,
            "3 template copies with the anchor and the sampling, 20 records, a refresh with both"
        );
        assert!(seq.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_anchor_goes_out_again_only_when_it_moves() {
        let t0 = Instant::now();
        let mut s = udp();
        let t = s.due_templates(&cx(t0));
        send(&mut s, &t);
        let same = s.encode_records(&records(2), &cx(t0)).unwrap();
        assert_eq!(same[0].message.data_records, 2);
        assert_eq!(same[0].flow_records, 2);
        let mut moved = cx(t0);
        moved.system_init_ms += 86_400_000;
        let out = s.encode_records(&records(2), &moved).unwrap();
        assert_eq!(out[0].message.data_records, 3, "anchor + 2 records");
        assert_eq!(out[0].flow_records, 2);
        let again = s.encode_records(&records(2), &moved).unwrap();
        assert_eq!(again[0].message.data_records, 2);
    }

    #[test]
    fn interface_names_go_with_the_templates_and_again_only_when_they_change() {
        let t0 = Instant::now();
        let iface = |index: u32, name: &str| InterfaceName {
            index,
            name: name.into(),
            description: String::new(),
        };
        let mut s = udp();
        s.set_interfaces(&[iface(1, "lo"), iface(2, "eth0")]);
        let t = s.due_templates(&cx(t0));
        assert_eq!(
            t[0].message.data_records,
            2 + 2,
            "anchor, sampling, two interfaces"
        );
        send(&mut s, &t);
        let options =
            |s: &mut CollectorState| s.encode_options(&cx(t0)).unwrap()[0].message.data_records;
        // The anchor, the sampling and the two statistics records; the
        // names are known.
        assert_eq!(options(&mut s), 4);
        s.set_interfaces(&[iface(1, "lo"), iface(2, "eth0")]);
        assert_eq!(options(&mut s), 4);
        s.set_interfaces(&[iface(1, "lo"), iface(2, "eth0"), iface(9, "veth9")]);
        assert_eq!(options(&mut s), 4 + 3, "the changed list, whole");
        assert_eq!(options(&mut s), 4);
    }

    #[test]
    fn statistics_count_what_was_sent() {
        let t0 = Instant::now();
        let mut s = udp();
        let t = s.due_templates(&cx(t0));
        send(&mut s, &t);
        let data = s.encode_records(&records(40), &cx(t0)).unwrap();
        assert!(data.len() >= 3, "40 records span three 1400-octet messages");
        send(&mut s, &data[1..]);
        s.send_failed(&data[0]);
        let sent_records: u64 = data[1..].iter().map(|o| o.flow_records).sum();
        assert_eq!(s.stats.flow_records, sent_records);
        assert_eq!(s.stats.not_sent, data[0].flow_records);
        assert_eq!(s.stats.send_errors, 1);
        assert_eq!(s.stats.messages, (t.len() + data.len() - 1) as u64);
        let octets: usize = t
            .iter()
            .chain(&data[1..])
            .map(|o| o.message.bytes.len())
            .sum();
        assert_eq!(s.stats.octets, octets as u64);
    }

    #[test]
    fn tcp_reconnect_restarts_sequence_numbers_with_templates_first() {
        let t0 = Instant::now();
        let mut s = tcp(1000);
        let hello = s.connected(&cx(t0));
        assert_eq!(hello[0].message.sequence_number, 0);
        send(&mut s, &hello);
        s.enqueue(&records(10));
        let batch = s.next_batch(&cx(t0)).unwrap().unwrap();
        // The greeting's anchor and sampling records counted 2.
        assert_eq!(batch[0].message.sequence_number, 2);
        send(&mut s, &batch);
        assert!(s.next_batch(&cx(t0)).is_none());
        let before = s.stats;
        // The batch's message never left whole.
        s.connection_lost(unwritten(&batch));
        assert_eq!(s.stats.flow_records, 0);
        assert_eq!(s.stats.not_sent, 10);
        // The exported totals count only what was written: the greeting.
        let hello_octets: usize = hello.iter().map(|o| o.message.bytes.len()).sum();
        assert_eq!(s.stats.messages, hello.len() as u64);
        assert_eq!(s.stats.octets, hello_octets as u64);
        assert_eq!(before.messages, (hello.len() + batch.len()) as u64);
        let again = s.connected(&cx(t0 + Duration::from_secs(1)));
        assert_eq!(again[0].message.sequence_number, 0);
        // Templates and the anchor, in one message at the default MTU.
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].flow_records, 0);
    }

    #[test]
    fn tcp_queue_overflow_drops_the_oldest_and_counts_them() {
        let t0 = Instant::now();
        let mut s = tcp(600);
        assert_eq!(s.enqueue(&records(500)), 0);
        assert_eq!(s.enqueue(&records(300)), 200);
        assert_eq!(s.queued(), 600);
        assert_eq!(s.stats.not_sent, 200);
        let first = s.next_batch(&cx(t0)).unwrap().unwrap();
        let n: u64 = first.iter().map(|o| o.flow_records).sum();
        assert_eq!(n, TCP_ENCODE_BATCH as u64);
        assert_eq!(s.queued(), 600 - TCP_ENCODE_BATCH);
        send(&mut s, &first);
        // Shutdown with the rest queued and the last message not written.
        let last = unwritten(&first[first.len() - 1..]);
        let left = s.abandon(last);
        assert_eq!(left, (600 - TCP_ENCODE_BATCH) as u64 + last.records);
        assert_eq!(s.stats.flow_records, TCP_ENCODE_BATCH as u64 - last.records);
        assert_eq!(s.stats.messages, first.len() as u64 - 1);
        assert_eq!(s.stats.not_sent, 200 + left);
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn a_batch_that_cannot_be_encoded_is_counted_not_sent() {
        let t0 = Instant::now();
        let mut s = udp();
        let mut bad = record(1);
        bad.src_addr = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        let err = s.encode_records(&[record(0), bad], &cx(t0)).unwrap_err();
        assert_eq!(err.records, 2);
        assert_eq!(s.stats.not_sent, 2);
    }

    /// NAT and containers hide the source address: the exporter says it.
    #[test]
    fn the_exporter_address_goes_with_templates_and_options_once_known() {
        let t0 = Instant::now();
        let mut s = udp();
        let before = s.due_templates(&cx(t0));
        assert_eq!(
            before[0].message.data_records, 2,
            "the anchor and the sampling"
        );
        s.set_exporter_address("2001:db8::7".parse().unwrap());
        let opts = s.encode_options(&cx(t0)).unwrap();
        assert_eq!(
            opts[0].message.data_records, 5,
            "anchor, sampling, 266, 267, 277"
        );
        let bytes = &opts[0].message.bytes;
        // Set 277: header, exportingProcessId 4242, the address.
        let tail = &bytes[bytes.len() - 24..];
        assert_eq!(&tail[..4], &[0x01, 0x15, 0x00, 0x18]);
        assert_eq!(&tail[4..8], &4242u32.to_be_bytes());
        assert_eq!(
            &tail[8..],
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        let refresh = s.due_templates(&cx(t0 + REFRESH));
        assert_eq!(
            refresh[0].message.data_records, 3,
            "anchor, sampling and address"
        );
    }

    #[test]
    fn options_carry_the_counters_and_the_datapath_totals() {
        let t0 = Instant::now();
        let mut s = udp();
        let t = s.due_templates(&cx(t0));
        send(&mut s, &t);
        s.dropped(3);
        let out = s.encode_options(&cx(t0)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flow_records, 0);
        assert_eq!(out[0].message.data_records, 4, "anchor, sampling, 266, 267");
        let bytes = &out[0].message.bytes;
        // The message ends with set 267 (exportingProcessId, then
        // notSentFlowTotalCount) after set 266 (five counters, the last
        // ignoredOctetTotalCount).
        let tail = |k: usize| {
            let at = bytes.len() - 8 * k;
            u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
        };
        assert_eq!(tail(1), 3, "notSentFlowTotalCount");
        let scope = &bytes[bytes.len() - 12..bytes.len() - 8];
        assert_eq!(u32::from_be_bytes(scope.try_into().unwrap()), 4242);
        assert_eq!((tail(4), tail(3)), (7, 700), "ignored packets, octets");
        assert_eq!(tail(7), 3, "the three template messages");
    }
}
