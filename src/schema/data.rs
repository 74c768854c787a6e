//! The sixteen data templates — eight layouts, each with and without the
//! SysUpTime elements: which template a [`FlowRecord`] goes to, and the
//! template and record bytes, all from the element table.

use std::sync::LazyLock;

use super::elements::{Context, Cursor, FlowElement, FLOW_ELEMENTS};
use crate::flow::{Direction, FlowRecord};
use crate::ipfix::field::FieldSpecifier;
use crate::ipfix::{EncodeError, Template};

/// First data template ID with the SysUpTime elements (the C package's
/// records, under l3afd or with `--sysuptime-elements`): 278..=285.
///
/// A template ID never changes meaning: a change to the data templates'
/// elements takes the next free block of eight (and `RETIRED_DATA_TEMPLATES`
/// records the old one). 256..=263 carried only the interface of the
/// observing direction; 268..=275 had no VLAN IDs (so no VLAN in the flow
/// key), MAC addresses or ipVersion.
pub const FIRST_DATA_TEMPLATE_ID: u16 = 278;

/// First data template ID without the SysUpTime elements (absolute
/// `flowStart/EndMilliseconds` only; `run`'s default): 288..=295.
pub const FIRST_ABSOLUTE_TEMPLATE_ID: u16 = 288;

/// Data template IDs of earlier layouts: never sent again.
pub const RETIRED_DATA_TEMPLATES: [std::ops::RangeInclusive<u16>; 2] = [256..=263, 268..=275];

/// Which of the sixteen data templates a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTemplate {
    pub ipv6: bool,
    pub icmp: bool,
    pub direction: Direction,
    /// Carries flowStart/EndSysUpTime (anchored by template 264).
    pub sysuptime: bool,
}

/// What each template carries, in [`FlowTemplate::index`] order, derived
/// once from [`FLOW_ELEMENTS`]: its rows of the table and its record length.
struct Layout {
    elements: Vec<&'static FlowElement>,
    record_len: usize,
}

static LAYOUTS: LazyLock<[Layout; 16]> = LazyLock::new(|| {
    std::array::from_fn(|i| {
        let t = FlowTemplate::all()
            .nth(i)
            .expect("sixteen templates, in index order");
        let elements: Vec<&'static FlowElement> = FLOW_ELEMENTS
            .iter()
            .filter(|e| e.carried.by(t.ipv6, t.icmp, t.direction, t.sysuptime))
            .collect();
        let record_len = elements.iter().map(|e| e.octets()).sum();
        Layout {
            elements,
            record_len,
        }
    })
});

impl FlowTemplate {
    /// All sixteen, in index order: with SysUpTime (278..=285), then
    /// without (288..=295).
    pub fn all() -> impl Iterator<Item = FlowTemplate> {
        [true, false].into_iter().flat_map(Self::in_use)
    }

    /// The eight one exporter uses: with the SysUpTime elements or without.
    pub fn in_use(sysuptime: bool) -> impl Iterator<Item = FlowTemplate> {
        Direction::ALL.into_iter().flat_map(move |direction| {
            [(false, false), (false, true), (true, false), (true, true)]
                .into_iter()
                .map(move |(ipv6, icmp)| FlowTemplate {
                    ipv6,
                    icmp,
                    direction,
                    sysuptime,
                })
        })
    }

    /// The template a record belongs to: by direction, IP version (of the
    /// destination, as [`FlowRecord::is_ipv6`]) and ICMP-ness, with or
    /// without the SysUpTime elements.
    pub fn of(record: &FlowRecord, sysuptime: bool) -> Result<Self, EncodeError> {
        if record.src_addr.is_ipv6() != record.dst_addr.is_ipv6() {
            return Err(EncodeError::MixedAddressFamily {
                flow_id: record.flow_id,
            });
        }
        Ok(FlowTemplate {
            ipv6: record.is_ipv6(),
            icmp: record.is_icmp(),
            direction: record.direction,
            sysuptime,
        })
    }

    pub fn id(self) -> u16 {
        let first = if self.sysuptime {
            FIRST_DATA_TEMPLATE_ID
        } else {
            FIRST_ABSOLUTE_TEMPLATE_ID
        };
        // SANITY: index() % 8 < 8.
        first + (self.index() % 8) as u16
    }

    /// Position among [`Self::all`] (0..16).
    pub fn index(self) -> usize {
        let direction = match self.direction {
            Direction::Ingress => 0,
            Direction::Egress => 4,
        };
        8 * usize::from(!self.sysuptime)
            + direction
            + 2 * usize::from(self.ipv6)
            + usize::from(self.icmp)
    }

    /// This template's elements, in order.
    pub fn elements(self) -> &'static [&'static FlowElement] {
        &LAYOUTS[self.index()].elements
    }

    /// The template record announcing this template.
    pub fn template(self) -> Result<Template, EncodeError> {
        let specs = self
            .elements()
            .iter()
            .map(|e| FieldSpecifier::new(e.element.id, e.element.default_length()))
            .collect();
        Template::new(self.id(), specs)
    }

    /// Octets of one data record.
    pub fn record_len(self) -> usize {
        LAYOUTS[self.index()].record_len
    }

    /// The largest record of any data template.
    pub fn max_record_len() -> usize {
        Self::all().map(Self::record_len).max().unwrap_or(0)
    }

    /// Writes `record` into `buf` (exactly [`Self::record_len`] octets).
    /// `system_init_ms` anchors the SysUpTime elements, if it has them.
    pub fn emit_record(
        self,
        record: &FlowRecord,
        system_init_ms: u64,
        buf: &mut [u8],
    ) -> Result<(), EncodeError> {
        let cx = Context { system_init_ms };
        let mut out = Cursor::new(buf);
        // One instance per template: the table's filter and its writers
        // fold into straight-line code (a million records an interval).
        macro_rules! by_template {
            ($($v6:literal $icmp:literal $eg:literal $sys:literal),*) => {
                match (self.ipv6, self.icmp, self.direction == Direction::Egress, self.sysuptime) {
                    $(($v6, $icmp, $eg, $sys) => emit::<$v6, $icmp, $eg, $sys>,)*
                }
            };
        }
        let emit = by_template!(
            false false false true, false true false true, true false false true, true true false true,
            false false true true, false true true true, true false true true, true true true true,
            false false false false, false true false false, true false false false, true true false false,
            false false true false, false true true false, true false true false, true true true false
        );
        emit(record, &cx, &mut out);
        if !out.filled() {
            return Err(EncodeError::InvalidTemplate {
                template_id: self.id(),
                reason: "record does not match the template's length",
            });
        }
        Ok(())
    }
}

/// Writes the elements template (`V6`, `ICMP`, `EGRESS`, `SYS`) carries:
/// one [`row`] per row of the table, by constant index, so that each row's
/// filter and writer fold into straight-line code (a loop over the table
/// is not unrolled past a couple of dozen rows, and then every element
/// costs an indirect call). The indices run past the table's end: a row
/// added to the table is written without a change here, and the indices
/// beyond it compile to nothing.
fn emit<const V6: bool, const ICMP: bool, const EGRESS: bool, const SYS: bool>(
    record: &FlowRecord,
    cx: &Context,
    out: &mut Cursor<'_>,
) {
    macro_rules! rows {
        ($($i:literal)*) => {
            // Every row of the table, each once: grow the list when the
            // table outgrows it.
            const _: () = assert!(FLOW_ELEMENTS.len() <= [$($i),*].len());
            $(row::<V6, ICMP, EGRESS, SYS, $i>(record, cx, out);)*
        };
    }
    rows!(
        0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63
    );
}

#[inline(always)]
fn row<const V6: bool, const ICMP: bool, const EGRESS: bool, const SYS: bool, const I: usize>(
    record: &FlowRecord,
    cx: &Context,
    out: &mut Cursor<'_>,
) {
    let direction = if EGRESS {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let Some(e) = FLOW_ELEMENTS.get(I) else {
        return;
    };
    if e.carried.by(V6, ICMP, direction, SYS) {
        (e.write)(record, cx, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_and_id_order() {
        for (i, t) in FlowTemplate::all().enumerate() {
            assert_eq!(t.index(), i);
            let first = if i < 8 { 278 } else { 288 - 8 };
            assert_eq!(usize::from(t.id()), first + i);
            assert_eq!(t.sysuptime, i < 8);
        }
    }

    #[test]
    fn ids_and_lengths() {
        let ids: Vec<u16> = FlowTemplate::all().map(|t| t.id()).collect();
        assert_eq!(ids, (278..=285).chain(288..=295).collect::<Vec<_>>());
        for t in FlowTemplate::all() {
            // The two SysUpTime elements: 4 octets each.
            let sys = if t.sysuptime { 8 } else { 0 };
            assert_eq!(t.record_len(), if t.ipv6 { 112 } else { 88 } + sys);
            let template = t.template().unwrap();
            let fields = if t.sysuptime { 27 } else { 25 };
            assert_eq!(template.fields().len(), fields);
            // 4-octet header + the IANA specifiers.
            assert_eq!(template.buffer_len(), 4 + 4 * fields);
        }
        assert_eq!(FlowTemplate::max_record_len(), 120);
        for retired in RETIRED_DATA_TEMPLATES {
            assert!(FlowTemplate::all().all(|t| !retired.contains(&t.id())));
        }
    }

    #[test]
    fn template_278_golden() {
        let t = FlowTemplate {
            ipv6: false,
            icmp: false,
            direction: Direction::Ingress,
            sysuptime: true,
        };
        let template = t.template().unwrap();
        let mut buf = vec![0u8; template.buffer_len()];
        template.emit(&mut buf).unwrap();
        #[rustfmt::skip]
        let golden = [
            0x01, 0x16, 0x00, 0x1b, // template 278, 27 fields
            0x00, 0x01, 0x00, 0x08, // octetDeltaCount
            0x00, 0x02, 0x00, 0x08, // packetDeltaCount
            0x00, 0x04, 0x00, 0x01, // protocolIdentifier
            0x00, 0x08, 0x00, 0x04, // sourceIPv4Address
            0x00, 0x0c, 0x00, 0x04, // destinationIPv4Address
            0x00, 0x07, 0x00, 0x02, // sourceTransportPort
            0x00, 0x0b, 0x00, 0x02, // destinationTransportPort
            0x00, 0x3d, 0x00, 0x01, // flowDirection
            0x00, 0x06, 0x00, 0x02, // tcpControlBits
            0x00, 0x05, 0x00, 0x01, // ipClassOfService
            0x00, 0x0a, 0x00, 0x04, // ingressInterface
            0x00, 0x0e, 0x00, 0x04, // egressInterface
            0x00, 0x34, 0x00, 0x01, // minimumTTL
            0x00, 0x35, 0x00, 0x01, // maximumTTL
            0x00, 0x16, 0x00, 0x04, // flowStartSysUpTime
            0x00, 0x15, 0x00, 0x04, // flowEndSysUpTime
            0x00, 0x94, 0x00, 0x08, // flowId
            0x00, 0xc3, 0x00, 0x01, // ipDiffServCodePoint
            0x00, 0x98, 0x00, 0x08, // flowStartMilliseconds
            0x00, 0x99, 0x00, 0x08, // flowEndMilliseconds
            0x00, 0x88, 0x00, 0x01, // flowEndReason
            0x00, 0x3c, 0x00, 0x01, // ipVersion
            0x00, 0x3a, 0x00, 0x02, // vlanId
            0x00, 0x3b, 0x00, 0x02, // postVlanId
            0x00, 0xf5, 0x00, 0x02, // dot1qCustomerVlanId
            0x00, 0x38, 0x00, 0x06, // sourceMacAddress
            0x00, 0x50, 0x00, 0x06, // destinationMacAddress
        ];
        assert_eq!(buf, golden);
    }

    #[test]
    fn icmp_and_egress_swap_the_right_elements() {
        let ids = |t: FlowTemplate| -> Vec<u16> {
            t.template()
                .unwrap()
                .fields()
                .iter()
                .map(|f| f.id.number())
                .collect()
        };
        let v6_icmp_egress = FlowTemplate {
            ipv6: true,
            icmp: true,
            direction: Direction::Egress,
            sysuptime: true,
        };
        assert_eq!(v6_icmp_egress.id(), 285);
        assert_eq!(
            ids(v6_icmp_egress),
            [
                1, 2, 4, 27, 28, 7, 11, 61, 5, 139, 10, 14, 52, 53, 22, 21, 148, 195, 152, 153,
                136, 60, 58, 59, 245, 56, 80
            ]
        );
        let v4_icmp_ingress = FlowTemplate {
            ipv6: false,
            icmp: true,
            direction: Direction::Ingress,
            sysuptime: true,
        };
        assert_eq!(v4_icmp_ingress.id(), 279);
        assert_eq!(
            ids(v4_icmp_ingress)[8..12],
            [5, 32, 10, 14] // ipClassOfService, icmpTypeCodeIPv4, both interfaces
        );
    }
}
