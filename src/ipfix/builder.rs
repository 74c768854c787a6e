//! MTU-bounded message building and the per-session sequence number.
//!
//! A [`Session`] is one transport session and observation domain (RFC 7011
//! §3.1: the sequence number counts "all IPFIX Data Records sent in the
//! current stream from the current Observation Domain"); give each
//! collector its own. A [`MessageBuilder`] borrows it, packs records into
//! as few messages as the MTU allows, keeps one set per set ID per message
//! (so one data set per template), and stamps sequence numbers when it
//! finishes.

use super::error::{EncodeError, WireError};
use super::header::{MessageHeader, MessageHeaderView, MESSAGE_HEADER_LEN};
use super::set::{SetHeader, SetHeaderView, MIN_DATA_SET_ID, SET_HEADER_LEN};
use super::template::{Template, TemplateRecord, TEMPLATE_HEADER_LEN};
use super::typed_template::TypedTemplate;
use super::value::Value;

/// Largest IPFIX payload a message may have, header included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mtu(usize);

impl Mtu {
    /// 1400 octets: fits a 1500-octet path under IPv6 + UDP (1452) with
    /// room for tunnels.
    pub const DEFAULT: Mtu = Mtu(1400);
    /// Room for a header, a set header and the smallest record.
    pub const MIN: usize = MESSAGE_HEADER_LEN + SET_HEADER_LEN + TEMPLATE_HEADER_LEN;
    /// The message Length field is 16 bits.
    pub const MAX: usize = u16::MAX as usize;

    pub fn new(bytes: usize) -> Result<Self, EncodeError> {
        if !(Self::MIN..=Self::MAX).contains(&bytes) {
            return Err(EncodeError::MtuOutOfRange {
                mtu: bytes,
                min: Self::MIN,
                max: Self::MAX,
            });
        }
        Ok(Mtu(bytes))
    }

    pub fn bytes(self) -> usize {
        self.0
    }
}

impl Default for Mtu {
    fn default() -> Self {
        Mtu::DEFAULT
    }
}

/// Export state of one transport session and observation domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    observation_domain_id: u32,
    /// Data records sent so far, mod 2^32: the next message's sequence
    /// number.
    next_sequence_number: u32,
}

impl Session {
    pub fn new(observation_domain_id: u32) -> Self {
        Session {
            observation_domain_id,
            next_sequence_number: 0,
        }
    }

    pub fn observation_domain_id(&self) -> u32 {
        self.observation_domain_id
    }

    /// The sequence number the next message will carry.
    pub fn next_sequence_number(&self) -> u32 {
        self.next_sequence_number
    }

    /// A builder for messages exported at `export_time_secs` (§3.1: "Time
    /// at which the IPFIX Message Header leaves the Exporter, expressed in
    /// seconds since the UNIX epoch").
    pub fn builder(&mut self, export_time_secs: u32, mtu: Mtu) -> MessageBuilder<'_> {
        MessageBuilder {
            session: self,
            mtu: mtu.bytes(),
            export_time_secs,
            done: Vec::new(),
            current: OpenMessage::default(),
        }
    }
}

/// One finished message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub bytes: Vec<u8>,
    pub sequence_number: u32,
    /// Data records in this message (options data records included,
    /// template records not): what it added to the sequence number.
    pub data_records: u32,
}

#[derive(Debug, Default)]
struct OpenMessage {
    bytes: Vec<u8>,
    /// Set IDs used in this message, in order; the last one is open.
    set_ids: Vec<u16>,
    /// Offset of the open set's header.
    open_set_at: usize,
    data_records: u32,
}

/// Packs records into messages of at most the MTU.
#[derive(Debug)]
pub struct MessageBuilder<'s> {
    session: &'s mut Session,
    mtu: usize,
    export_time_secs: u32,
    done: Vec<OpenMessage>,
    current: OpenMessage,
}

impl MessageBuilder<'_> {
    /// The observation domain of the session being built for.
    pub fn observation_domain_id(&self) -> u32 {
        self.session.observation_domain_id
    }

    /// Adds a template (data: Template Set; options: Options Template Set).
    pub fn add_template(&mut self, template: &Template) -> Result<(), EncodeError> {
        self.push(template.set_id(), template.buffer_len(), false, |buf| {
            template.emit(buf).map_err(EncodeError::from)
        })
    }

    /// As [`Self::add_template`], in a template set of its own (§3.3: a
    /// message may hold several sets of one ID). For collectors that read
    /// only the first options template of a set right.
    pub fn add_template_alone(&mut self, template: &Template) -> Result<(), EncodeError> {
        self.push(template.set_id(), template.buffer_len(), true, |buf| {
            template.emit(buf).map_err(EncodeError::from)
        })
    }

    /// Adds a withdrawal (§8.1; TCP and SCTP only — "Template Withdrawal
    /// Messages MUST NOT be sent over UDP"). `template_id` 2 or 3 withdraws
    /// every data or options template.
    pub fn add_withdrawal(&mut self, template_id: u16, options: bool) -> Result<(), EncodeError> {
        let record = TemplateRecord::Withdrawal {
            template_id,
            options,
        };
        let set_id = if options { 3 } else { 2 };
        self.push(set_id, record.buffer_len(), false, |buf| {
            record.emit(buf).map_err(EncodeError::from)
        })
    }

    /// Adds one data record of `record_len` octets to the data set of
    /// `template_id`; `emit` writes exactly those octets.
    pub fn add_data_record(
        &mut self,
        template_id: u16,
        record_len: usize,
        emit: impl FnOnce(&mut [u8]) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        if template_id < MIN_DATA_SET_ID {
            return Err(EncodeError::InvalidTemplate {
                template_id,
                reason: "data sets need a template ID of 256 or more",
            });
        }
        self.push(template_id, record_len, false, emit)
    }

    /// Adds a record already encoded: `bytes` must be the whole record.
    pub fn add_exact_record(&mut self, template_id: u16, bytes: &[u8]) -> Result<(), EncodeError> {
        self.add_data_record(template_id, bytes.len(), |buf| {
            buf.copy_from_slice(bytes);
            Ok(())
        })
    }

    /// A record of a custom template (variable-length, enterprise-specific
    /// or reduced-size fields). Announce the template with
    /// `add_template(custom.template())` first in each session.
    pub fn add_custom_record(
        &mut self,
        template: &TypedTemplate,
        values: &[Value],
    ) -> Result<(), EncodeError> {
        let mut out = Vec::with_capacity(template.min_record_len());
        template.encode_record(values, &mut out)?;
        self.add_exact_record(template.id(), &out)
    }

    /// Adds one record to the open set of `set_id`, or to a new set
    /// (`own_set`: always a new one, right after a set of the same ID).
    fn push(
        &mut self,
        set_id: u16,
        record_len: usize,
        own_set: bool,
        emit: impl FnOnce(&mut [u8]) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        if MESSAGE_HEADER_LEN + SET_HEADER_LEN + record_len > self.mtu {
            return Err(EncodeError::RecordTooLarge {
                set_id,
                record_len,
                mtu: self.mtu,
            });
        }
        let follows_set = self.current.set_ids.last() == Some(&set_id);
        let continues_set = follows_set && !own_set;
        let needed = record_len + if continues_set { 0 } else { SET_HEADER_LEN };
        let reused_set = !follows_set && self.current.set_ids.contains(&set_id);
        if reused_set || self.current.bytes.len() + needed > self.mtu {
            self.flush();
        }
        let msg = &mut self.current;
        let before = (msg.bytes.len(), msg.set_ids.len(), msg.open_set_at);
        if msg.bytes.is_empty() {
            // Once, instead of a reallocation each time the message doubles.
            msg.bytes.reserve_exact(self.mtu);
            msg.bytes.resize(MESSAGE_HEADER_LEN, 0);
        }
        if msg.set_ids.last() != Some(&set_id) || own_set {
            close_set(msg)?;
            msg.open_set_at = msg.bytes.len();
            msg.bytes.resize(msg.open_set_at + SET_HEADER_LEN, 0);
            msg.set_ids.push(set_id);
        }
        let at = msg.bytes.len();
        msg.bytes.resize(at + record_len, 0);
        if let Err(e) = emit(msg.bytes.get_mut(at..).unwrap_or_default()) {
            // Roll back to the state before this record, set header and all
            // (a closed set's header, rewritten by close_set, is unchanged).
            msg.bytes.truncate(before.0);
            msg.set_ids.truncate(before.1);
            msg.open_set_at = before.2;
            return Err(e);
        }
        if set_id >= MIN_DATA_SET_ID {
            msg.data_records += 1;
        }
        Ok(())
    }

    fn flush(&mut self) {
        if !self.current.set_ids.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    /// Finishes every message: closes sets, writes headers and stamps the
    /// session's sequence numbers (§3.1, mod 2^32). Messages are counted as
    /// sent from here on; a message the transport then fails to deliver
    /// shows up at the collector as a sequence gap, which is what a gap
    /// means.
    pub fn finish(mut self) -> Result<Vec<Message>, EncodeError> {
        self.flush();
        let mut out = Vec::with_capacity(self.done.len());
        let mut sequence_number = self.session.next_sequence_number;
        for mut msg in self.done {
            close_set(&mut msg)?;
            let length = u16::try_from(msg.bytes.len()).map_err(|_| WireError::LengthOverflow {
                length: msg.bytes.len(),
            })?;
            let header = MessageHeader {
                length,
                export_time_secs: self.export_time_secs,
                sequence_number,
                observation_domain_id: self.session.observation_domain_id,
            };
            header.emit(&mut MessageHeaderView::new_checked(&mut msg.bytes[..])?);
            out.push(Message {
                bytes: msg.bytes,
                sequence_number,
                data_records: msg.data_records,
            });
            sequence_number = sequence_number.wrapping_add(msg.data_records);
        }
        self.session.next_sequence_number = sequence_number;
        Ok(out)
    }
}

/// Writes the open set's header (ID and final length), if a set is open.
fn close_set(msg: &mut OpenMessage) -> Result<(), EncodeError> {
    let Some(&set_id) = msg.set_ids.last() else {
        return Ok(());
    };
    let set_len = msg.bytes.len() - msg.open_set_at;
    let length =
        u16::try_from(set_len).map_err(|_| WireError::LengthOverflow { length: set_len })?;
    let slot = msg.bytes.get_mut(msg.open_set_at..).unwrap_or_default();
    SetHeader { set_id, length }.emit(&mut SetHeaderView::new_checked(slot)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8, len: usize) -> impl FnOnce(&mut [u8]) -> Result<(), EncodeError> {
        move |buf: &mut [u8]| {
            assert_eq!(buf.len(), len);
            buf.fill(n);
            Ok(())
        }
    }

    #[test]
    fn one_message_golden() {
        let mut session = Session::new(7);
        let mut b = session.builder(1_700_000_000, Mtu::DEFAULT);
        b.add_data_record(256, 3, record(0xaa, 3)).unwrap();
        b.add_data_record(256, 3, record(0xbb, 3)).unwrap();
        b.add_data_record(300, 2, record(0xcc, 2)).unwrap();
        let msgs = b.finish().unwrap();
        #[rustfmt::skip]
        let golden = [
            0x00, 0x0a, 0x00, 0x20,             // version 10, length 32
            0x65, 0x53, 0xf1, 0x00,             // export time 1700000000
            0x00, 0x00, 0x00, 0x00,             // sequence number 0
            0x00, 0x00, 0x00, 0x07,             // observation domain 7
            0x01, 0x00, 0x00, 0x0a,             // set 256, length 10
            0xaa, 0xaa, 0xaa, 0xbb, 0xbb, 0xbb, //   two 3-octet records
            0x01, 0x2c, 0x00, 0x06,             // set 300, length 6
            0xcc, 0xcc,                         //   one record
        ];
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].bytes, golden);
        assert_eq!((msgs[0].sequence_number, msgs[0].data_records), (0, 3));
        assert_eq!(session.next_sequence_number(), 3);
    }

    /// Options templates one set each, right after one another, in one
    /// message: a set header before each.
    #[test]
    fn templates_alone_open_a_set_each() {
        use crate::ipfix::field::FieldSpecifier;
        use crate::ipfix::ie;
        let spec = |e: &ie::InfoElement| FieldSpecifier::new(e.id, e.default_length());
        let t = |id| {
            Template::new_options(
                id,
                1,
                vec![
                    spec(&ie::OBSERVATION_DOMAIN_ID),
                    spec(&ie::SAMPLING_INTERVAL),
                ],
            )
            .unwrap()
        };
        let mut session = Session::new(7);
        let mut b = session.builder(1_700_000_000, Mtu::DEFAULT);
        b.add_template_alone(&t(400)).unwrap();
        b.add_template_alone(&t(401)).unwrap();
        let msgs = b.finish().unwrap();
        #[rustfmt::skip]
        let sets = [
            0x00, 0x03, 0x00, 0x12,             // set 3, length 18
            0x01, 0x90, 0x00, 0x02, 0x00, 0x01, //   template 400, 2 fields, 1 scope
            0x00, 0x95, 0x00, 0x04,             //   observationDomainId
            0x00, 0x22, 0x00, 0x04,             //   samplingInterval
            0x00, 0x03, 0x00, 0x12,             // set 3, length 18
            0x01, 0x91, 0x00, 0x02, 0x00, 0x01, //   template 401
            0x00, 0x95, 0x00, 0x04,
            0x00, 0x22, 0x00, 0x04,
        ];
        assert_eq!(msgs.len(), 1);
        assert_eq!(&msgs[0].bytes[16..], sets);
    }

    #[test]
    fn splits_at_mtu_and_numbers_continuously() {
        let mut session = Session::new(1);
        // 16 header + 4 set header + 10 records of 10 = 120 per message.
        let mut b = session.builder(0, Mtu::new(120).unwrap());
        for i in 0..25u8 {
            b.add_data_record(256, 10, record(i, 10)).unwrap();
        }
        let msgs = b.finish().unwrap();
        assert_eq!(
            msgs.iter().map(|m| m.data_records).collect::<Vec<_>>(),
            [10, 10, 5]
        );
        assert_eq!(
            msgs.iter().map(|m| m.sequence_number).collect::<Vec<_>>(),
            [0, 10, 20]
        );
        assert!(msgs.iter().all(|m| m.bytes.len() <= 120));
        assert_eq!(msgs[0].bytes.len(), 120);
        assert_eq!(session.next_sequence_number(), 25);
    }

    #[test]
    fn templates_do_not_count_and_sets_are_not_repeated() {
        let mut session = Session::new(1);
        let mut b = session.builder(0, Mtu::DEFAULT);
        b.add_withdrawal(2, false).unwrap();
        b.add_data_record(256, 4, record(1, 4)).unwrap();
        b.add_data_record(257, 4, record(2, 4)).unwrap();
        // Back to 256: a second set 256 in the same message is not allowed.
        b.add_data_record(256, 4, record(3, 4)).unwrap();
        let msgs = b.finish().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!((msgs[0].data_records, msgs[1].sequence_number), (2, 2));
        assert_eq!(session.next_sequence_number(), 3);
    }

    #[test]
    fn sequence_number_wraps_mod_2_32() {
        let mut session = Session {
            observation_domain_id: 0,
            next_sequence_number: u32::MAX - 1,
        };
        let mut b = session.builder(0, Mtu::DEFAULT);
        for _ in 0..3 {
            b.add_data_record(256, 1, record(0, 1)).unwrap();
        }
        assert_eq!(b.finish().unwrap()[0].sequence_number, u32::MAX - 1);
        assert_eq!(session.next_sequence_number(), 1);
    }

    #[test]
    fn too_large_is_an_error_not_a_drop() {
        let mut session = Session::new(1);
        let mut b = session.builder(0, Mtu::new(100).unwrap());
        b.add_data_record(256, 80, record(1, 80)).unwrap();
        assert_eq!(
            b.add_data_record(256, 81, record(1, 81)),
            Err(EncodeError::RecordTooLarge {
                set_id: 256,
                record_len: 81,
                mtu: 100
            })
        );
        let msgs = b.finish().unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].data_records, 1);
    }

    #[test]
    fn failed_emit_rolls_back() {
        let mut session = Session::new(1);
        let mut b = session.builder(0, Mtu::DEFAULT);
        let fail = |_: &mut [u8]| Err(EncodeError::ElementNumberOutOfRange { number: 0x8000 });
        assert!(b.add_data_record(256, 4, fail).is_err());
        b.add_data_record(256, 4, record(5, 4)).unwrap();
        let msgs = b.finish().unwrap();
        assert_eq!(msgs[0].bytes.len(), 16 + 4 + 4);
        assert_eq!(msgs[0].data_records, 1);
    }

    #[test]
    fn empty_builder_sends_nothing() {
        let mut session = Session::new(1);
        assert!(session
            .builder(0, Mtu::DEFAULT)
            .finish()
            .unwrap()
            .is_empty());
        assert!(Mtu::new(23).is_err());
        assert!(Mtu::new(65536).is_err());
        assert_eq!(Mtu::new(24).unwrap().bytes(), 24);
        let mut b = session.builder(0, Mtu::DEFAULT);
        assert!(b.add_data_record(255, 1, record(0, 1)).is_err());
    }
}
