//! The built objects obey the l3afd rules (DESIGN §3): only `tc` program
//! sections, no data sections, the entry and map names shared with Rust and
//! the payload, disjoint map names, and struct sizes matching
//! src/datapath/abi.rs (enum flow_stat has no BTF; the kernel tests pin its
//! values down by behaviour).
//! Pure file inspection: no root needed.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use ipfix_flow_exporter::abi::{
    FlowConfig, FlowKey, FlowValue, FLOW_CONFIG_SIZE, FLOW_KEY4_SIZE, FLOW_KEY_SIZE,
    FLOW_MAP_MAX_ENTRIES, FLOW_REFUSED_MAX_ENTRIES, FLOW_VALUE_SIZE,
};
use ipfix_flow_exporter::datapath::names::{entry_function, object_file, MapRole};
use ipfix_flow_exporter::datapath::BPF_OBJ_DIR;
use ipfix_flow_exporter::flow::Direction;
use libbpf_rs::btf::types::{MemberAttr, Struct};
use libbpf_rs::btf::{Btf, HasSize};
use libbpf_rs::ObjectBuilder;

fn object_path(dir: Direction) -> PathBuf {
    PathBuf::from(BPF_OBJ_DIR).join(object_file(dir))
}

/// Names of the ELF sections of a little-endian ELF64 file.
fn elf_sections(bytes: &[u8]) -> Vec<String> {
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF file");
    assert_eq!(bytes[4], 2, "ELF64");
    assert_eq!(bytes[5], 1, "little endian");
    let shoff = u64_at(0x28);
    let shentsize = u16_at(0x3a);
    let shnum = u16_at(0x3c);
    let shstrndx = u16_at(0x3e);
    let strtab = u64_at(shoff + shstrndx * shentsize + 0x18);
    (0..shnum)
        .map(|i| {
            let name_off = strtab + u32_at(shoff + i * shentsize);
            let end = bytes[name_off..].iter().position(|&b| b == 0).unwrap();
            String::from_utf8_lossy(&bytes[name_off..name_off + end]).into_owned()
        })
        .collect()
}

#[test]
fn no_data_sections_and_only_tc_programs() {
    for dir in Direction::ALL {
        let bytes = std::fs::read(object_path(dir)).unwrap();
        let sections = elf_sections(&bytes);
        for s in &sections {
            assert!(
                !(s.starts_with(".rodata")
                    || s.starts_with(".data")
                    || s == ".kconfig"
                    || s == ".bss"),
                "{dir:?} object has section {s}: l3afd would pin it under a dotted name"
            );
        }
        assert!(sections.iter().any(|s| s == "tc"), "{sections:?}");
        let obj = ObjectBuilder::default()
            .open_file(object_path(dir))
            .unwrap();
        let progs: Vec<(String, String)> = obj
            .progs()
            .map(|p| {
                (
                    p.name().to_string_lossy().into_owned(),
                    p.section().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(progs, vec![(entry_function(dir), "tc".to_owned())]);
        for p in obj.progs() {
            assert_eq!(p.prog_type(), libbpf_rs::ProgramType::SchedCls);
        }
    }
}

#[test]
fn map_names_are_the_rust_names_and_differ_between_objects() {
    let mut all = BTreeSet::new();
    for dir in Direction::ALL {
        let obj = ObjectBuilder::default()
            .open_file(object_path(dir))
            .unwrap();
        let names: BTreeSet<String> = obj
            .maps()
            .map(|m| m.name().to_string_lossy().into_owned())
            .collect();
        let want: BTreeSet<String> = MapRole::ALL
            .iter()
            .map(|r| r.map_name(dir).to_owned())
            .collect();
        assert_eq!(names, want, "{dir:?}");
        for n in names {
            assert!(all.insert(n.clone()), "{n} appears in both objects");
        }
        let jmp = obj
            .maps()
            .find(|m| m.name().to_string_lossy() == MapRole::JmpTable.map_name(dir))
            .unwrap();
        assert_eq!(jmp.map_type(), libbpf_rs::MapType::ProgArray);
        assert_eq!(
            (jmp.key_size(), jmp.value_size(), jmp.max_entries()),
            (4, 4, 1)
        );
        let refused = obj
            .maps()
            .find(|m| m.name().to_string_lossy() == MapRole::RefusedFlows.map_name(dir))
            .unwrap();
        assert_eq!(refused.map_type(), libbpf_rs::MapType::LruHash);
        assert_eq!(
            (
                refused.key_size(),
                refused.value_size(),
                refused.max_entries()
            ),
            (FLOW_KEY_SIZE as u32, 8, FLOW_REFUSED_MAX_ENTRIES)
        );
        for role in MapRole::FLOWS {
            let m = obj
                .maps()
                .find(|m| m.name().to_string_lossy() == role.map_name(dir))
                .unwrap();
            let key = if role.is_ipv4_flows() {
                FLOW_KEY4_SIZE
            } else {
                FLOW_KEY_SIZE
            };
            assert_eq!(m.map_type(), libbpf_rs::MapType::Hash, "{role:?}");
            assert_eq!(
                (m.key_size(), m.value_size(), m.max_entries()),
                (key as u32, FLOW_VALUE_SIZE as u32, FLOW_MAP_MAX_ENTRIES),
                "{role:?}"
            );
        }
        for role in MapRole::MONITORS {
            let m = obj
                .maps()
                .find(|m| m.name().to_string_lossy() == role.map_name(dir))
                .unwrap();
            assert_eq!(m.map_type(), libbpf_rs::MapType::Array, "{role:?}");
            assert_eq!((m.key_size(), m.value_size(), m.max_entries()), (4, 8, 1));
        }
    }
    assert_eq!(
        MapRole::JmpTable.map_name(Direction::Ingress),
        "ipfix_ingress_jmp_table"
    );
}

#[test]
fn btf_layout_matches_the_rust_mirror() {
    for dir in Direction::ALL {
        let btf = Btf::from_path(object_path(dir)).unwrap();
        let key = btf.type_by_name::<Struct<'_>>("flow_key").unwrap();
        assert_eq!(key.size(), FLOW_KEY_SIZE);
        assert_eq!(fields(&key), FlowKey::FIELDS.to_vec(), "flow_key");
        let key4 = btf.type_by_name::<Struct<'_>>("flow_key4").unwrap();
        assert_eq!(key4.size(), FLOW_KEY4_SIZE);
        assert_eq!(fields(&key4), FlowKey::FIELDS.to_vec(), "flow_key4");
        let value = btf.type_by_name::<Struct<'_>>("flow_value").unwrap();
        assert_eq!(value.size(), FLOW_VALUE_SIZE);
        let mut want = FlowValue::FIELDS.to_vec();
        want.push(("pad", 61));
        assert_eq!(fields(&value), want, "flow_value");
        let config = btf.type_by_name::<Struct<'_>>("flow_config").unwrap();
        assert_eq!(config.size(), FLOW_CONFIG_SIZE);
        let mut want = FlowConfig::FIELDS.to_vec();
        want.push(("pad", 20));
        assert_eq!(fields(&config), want, "flow_config");
    }
}

/// Member names and byte offsets of a BTF struct, in order.
fn fields(s: &Struct<'_>) -> Vec<(&'static str, usize)> {
    s.iter()
        .map(|m| {
            let name = m.name.expect("named member").to_string_lossy().into_owned();
            let offset = match m.attr {
                MemberAttr::Normal { offset } => offset,
                MemberAttr::BitField { .. } => panic!("{name} is a bitfield"),
            };
            assert_eq!(offset % 8, 0, "{name} is not byte-aligned");
            (&*name.leak(), offset as usize / 8)
        })
        .collect()
}
