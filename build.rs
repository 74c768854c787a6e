//! Compiles the two BPF objects and generates their skeletons.
//!
//! The objects land at `target/<profile>/bpf/bpf_ipfix_{ingress,egress}.bpf.o`
//! (a stable path, documented in the README) and the skeletons embed exactly
//! those files through `include_bytes!`, so packaging ships the same bytes the
//! binary loads.
//!
//! It also compiles the programs the real-l3afd tests deploy beside ours
//! (objects beside ours, embedded nowhere): `l3af/tc-root/`, our stand-in
//! for l3afd's tc-root (`tc_root_{ingress,egress}.bpf.o`, published as
//! `l3af_tc_root.tar.gz`), and `l3af/witness/`, a function chained after
//! ours that counts what reaches it.

use std::env;
use std::path::{Path, PathBuf};

use libbpf_cargo::SkeletonBuilder;

const DIRECTIONS: [&str; 2] = ["ingress", "egress"];
const BPF_DIR: &str = "bpf";
/// (source directory, object name prefix) of the test programs.
const TEST_PROGRAMS: [(&str, &str); 2] = [("l3af/tc-root", "tc_root"), ("l3af/witness", "witness")];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj_dir = object_dir(&out_dir);
    std::fs::create_dir_all(&obj_dir).expect("create the BPF object directory");

    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets the target arch");
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => panic!("no UAPI header directory known for target arch {other}"),
    };
    let clang_args = [
        format!("-I/usr/include/{multiarch}"),
        "-Wall".to_owned(),
        "-Werror".to_owned(),
        // BPF v3: 32-bit atomics, fetch-and-or and compare-and-swap.
        "-mcpu=v3".to_owned(),
    ];

    for dir in DIRECTIONS {
        let src = Path::new(BPF_DIR).join(format!("ipfix_{dir}.bpf.c"));
        let obj = obj_dir.join(format!("bpf_ipfix_{dir}.bpf.o"));
        let skel = out_dir.join(format!("ipfix_{dir}.skel.rs"));
        SkeletonBuilder::new()
            .source(&src)
            .obj(&obj)
            .reference_obj(true)
            .clang_args(&clang_args)
            .build_and_generate(&skel)
            .unwrap_or_else(|e| panic!("building {}: {e:#}", src.display()));
    }
    for (src_dir, prefix) in TEST_PROGRAMS {
        for dir in DIRECTIONS {
            let src = Path::new(src_dir).join(format!("{prefix}_{dir}.bpf.c"));
            SkeletonBuilder::new()
                .source(&src)
                .obj(obj_dir.join(format!("{prefix}_{dir}.bpf.o")))
                .clang_args(&clang_args)
                .build()
                .unwrap_or_else(|e| panic!("building {}: {e:#}", src.display()));
        }
        println!("cargo:rerun-if-changed={src_dir}");
    }
    println!("cargo:rerun-if-changed={BPF_DIR}");
    println!("cargo:rustc-env=IPFIX_BPF_OBJ_DIR={}", obj_dir.display());
}

/// `OUT_DIR` is `target/<profile>/build/<crate>-<hash>/out`; the objects go to
/// `target/<profile>/bpf/`.
fn object_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR sits three levels below the profile directory")
        .join("bpf")
}
