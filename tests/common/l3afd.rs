//! An emulated l3afd: what l3afd does around our kernel function, redone
//! with independent tools so that the artifact is exercised the way l3afd
//! runs it, in `make test`: the real l3afd (tests/e2e_real_l3afd.rs) needs
//! its Go module, which the module proxy of this project's machines does not
//! serve. Paths, names and argument order follow l3afd's bpfprogs/bpf.go
//! after v2.1.0 (`--version`, pins under `<name>/<version>/`):
//!
//! - the artifact unpacked at `<BPFDir>/<name>/<version>/l3af_bpf_ipfix/`;
//! - tc-root: a one-slot prog array pinned at
//!   `/sys/fs/bpf/tc/globals/<iface>/tc-root/latest/tc_<dir>_root_array` and a
//!   tc program that tail-calls its slot 0, attached with clsact
//!   direct-action or TCX;
//! - native load (`LoadBPFProgramChain`): bpftool loads our object with every
//!   map pinned by name under `/sys/fs/bpf/tc/globals/<iface>/<name>/<version>/`,
//!   the program pinned under `/sys/fs/bpf/progs/...`, the monitor maps
//!   zeroed, and the program put into slot 0 of the root's prog array;
//! - `StartUserProgram`: `--iface= --direction= --version= [--map-name=]
//!   --log-dir=` then the payload's start args (a Go map: any order).
//!
//! Everything created here is removed on drop, also when a test panics.

use super::tempdir::TempDir;
use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipfix_flow_exporter::datapath::names::{self, MapRole};
use ipfix_flow_exporter::flow::Direction;
use ipfix_flow_exporter::l3afd::identity::observation_domain;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::bpfobj::{insn, load_sched_cls};
use super::exporter::BIN;
use super::netns::NetnsPair;
use super::process::Background;
use super::traffic::{sa, udp_l3_overhead, udp_send, udp_sink};

/// l3afd's BpfMapDefaultPath.
pub const BPFFS: &str = "/sys/fs/bpf";
/// The payload l3afd deploys (its tc_ingress / tc_egress entries).
pub const PAYLOAD_JSON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/l3af/payload.json");
/// The artifact's top-level directory (`l3af_bpf_ipfix.tar.gz` minus `.tar.gz`).
pub const ARTIFACT_DIR: &str = "l3af_bpf_ipfix";
/// l3afd.cfg `[tc-root] package-name` and its version.
pub const ROOT_NAME: &str = "tc-root";
pub const ROOT_VERSION: &str = "latest";
/// SIGTERM to exit, at most (the contract).
pub const STOP_DEADLINE: Duration = Duration::from_secs(2);
/// How long l3afd waits for a legacy daemon's pins and chain entry
/// (`VerifyPinnedProgMap`, `GetProgID`: 10 tries a second apart).
pub const L3AFD_VERIFY: Duration = Duration::from_secs(10);

const KEY0: [u8; 4] = 0u32.to_ne_bytes();
/// UDP payload of a [`Flow`]'s datagrams.
pub const PAYLOAD: usize = 100;
/// Bound of a wait for the collector to decode a [`Flow`].
pub const FLOW_WAIT: Duration = Duration::from_secs(15);

/// One direction's entry of `l3af/payload.json`: what l3afd knows about
/// the program.
#[derive(Debug, Clone)]
pub struct Payload {
    pub direction: Direction,
    pub name: String,
    /// As in the payload; l3afd replaces dots by underscores for pins and
    /// `--version`, not for the artifact's directory.
    pub version: String,
    /// `start_args`, values already strings (l3afd refuses anything else).
    pub start_args: Vec<(String, String)>,
}

impl Payload {
    /// The payload's entry for `direction`, checked against our names.
    pub fn load(direction: Direction) -> Self {
        let text = std::fs::read_to_string(PAYLOAD_JSON)
            .unwrap_or_else(|e| panic!("reading {PAYLOAD_JSON}: {e}"));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{PAYLOAD_JSON} is not JSON: {e}"));
        let key = format!("tc_{}", direction.as_str());
        let entry = &v[0]["bpf_programs"][&key][0];
        let s = |k: &str| {
            entry[k]
                .as_str()
                .unwrap_or_else(|| panic!("{PAYLOAD_JSON}: {key}[0].{k} is not a string"))
                .to_owned()
        };
        for (k, want) in [
            ("cmd_start", names::artifact_binary(direction)),
            ("object_file", names::object_file(direction)),
            ("entry_function_name", names::entry_function(direction)),
            ("map_name", MapRole::JmpTable.map_name(direction).to_owned()),
            ("prog_type", "tc".to_owned()),
        ] {
            assert_eq!(s(k), want, "{PAYLOAD_JSON}: {key}[0].{k}");
        }
        let start_args = entry["start_args"]
            .as_object()
            .unwrap_or_else(|| panic!("{PAYLOAD_JSON}: {key}[0].start_args"))
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .unwrap_or_else(|| panic!("start_args.{k} is not a string (l3afd refuses it)"));
                (k.clone(), v.to_owned())
            })
            .collect();
        Payload {
            direction,
            name: s("name"),
            version: s("version"),
            start_args,
        }
    }

    /// utils.ReplaceDotsWithUnderscores(version).
    pub fn pin_version(&self) -> String {
        self.version.replace('.', "_")
    }

    /// `/sys/fs/bpf/tc/globals/<iface>/<name>/<version>`: where l3afd pins
    /// our maps.
    pub fn map_dir(&self, iface: &str) -> PathBuf {
        Path::new(BPFFS)
            .join("tc/globals")
            .join(iface)
            .join(&self.name)
            .join(self.pin_version())
    }

    pub fn map_pin(&self, iface: &str, role: MapRole) -> PathBuf {
        self.map_dir(iface).join(role.map_name(self.direction))
    }

    /// `/sys/fs/bpf/progs/<iface>/<name>/<version>/<entry>_tc` (utils.ProgPinPath).
    pub fn prog_pin(&self, iface: &str) -> PathBuf {
        Path::new(BPFFS)
            .join("progs")
            .join(iface)
            .join(&self.name)
            .join(self.pin_version())
            .join(format!("{}_tc", names::entry_function(self.direction)))
    }

    fn links_dir(&self, iface: &str) -> PathBuf {
        Path::new(BPFFS)
            .join("links")
            .join(iface)
            .join(&self.name)
            .join(self.pin_version())
    }
}

/// `/sys/fs/bpf/tc/globals/<iface>/tc-root/latest/tc_<dir>_root_array`.
pub fn root_array_pin(iface: &str, direction: Direction) -> PathBuf {
    Path::new(BPFFS)
        .join("tc/globals")
        .join(iface)
        .join(ROOT_NAME)
        .join(ROOT_VERSION)
        .join(format!("tc_{}_root_array", direction.as_str()))
}

pub fn other(direction: Direction) -> Direction {
    match direction {
        Direction::Ingress => Direction::Egress,
        Direction::Egress => Direction::Ingress,
    }
}

fn mkdir_l3afd(dir: &Path) {
    // l3afd: os.MkdirAll(dir, 0750)
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
}

/// The shared bpffs directories l3afd keeps (`tc/globals`, `progs`,
/// `links`): created when missing, and removed again (if empty) once the
/// last tree of this process is gone.
struct SharedDirs {
    live: usize,
    created: Vec<PathBuf>,
}

static SHARED: Mutex<SharedDirs> = Mutex::new(SharedDirs {
    live: 0,
    created: Vec::new(),
});

/// Everything l3afd would pin for one interface: the per-interface trees
/// under `tc/globals/`, `progs/` and `links/`, removed whole on drop. Only
/// ever for a test's own veth.
pub struct L3afdTree {
    pub iface: String,
}

impl L3afdTree {
    pub fn new(iface: &str) -> Self {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        for rel in ["tc", "tc/globals", "progs", "links"] {
            let d = Path::new(BPFFS).join(rel);
            if !d.exists() {
                mkdir_l3afd(&d);
                shared.created.push(d);
            }
        }
        shared.live += 1;
        L3afdTree {
            iface: iface.to_owned(),
        }
    }

    fn roots(&self) -> [PathBuf; 3] {
        ["tc/globals", "progs", "links"].map(|rel| Path::new(BPFFS).join(rel).join(&self.iface))
    }
}

impl Drop for L3afdTree {
    fn drop(&mut self) {
        for root in self.roots() {
            let _ = std::fs::remove_dir_all(&root);
        }
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        shared.live -= 1;
        if shared.live == 0 {
            for d in shared.created.drain(..).rev() {
                let _ = std::fs::remove_dir(&d);
            }
        }
    }
}

/// The artifact as l3afd unpacks it: `<BPFDir>/<name>/<version>/l3af_bpf_ipfix/`
/// (BPFDir a temporary directory).
pub struct Artifact {
    _tmp: TempDir,
    pub dir: PathBuf,
    /// Where the files came from, for the test log.
    pub source: String,
}

impl Artifact {
    /// `$IPFIX_ARTIFACT` (`l3af_bpf_ipfix.tar.gz`, as `make package` writes
    /// it) unpacked with tar; otherwise the same layout built from this
    /// build's binary and objects. Under IPFIX_TESTS_STRICT the real
    /// artifact is required.
    pub fn prepare(payload: &Payload) -> Self {
        let tmp = TempDir::new("ipfix-l3afd-");
        let version_dir = tmp
            .0
            .join("repo")
            .join(&payload.name)
            .join(&payload.version);
        std::fs::create_dir_all(&version_dir).unwrap();
        let dir = version_dir.join(ARTIFACT_DIR);
        let source = match std::env::var_os("IPFIX_ARTIFACT") {
            Some(tgz) => {
                let out = Command::new("tar")
                    .arg("-xzf")
                    .arg(&tgz)
                    .arg("-C")
                    .arg(&version_dir)
                    .output()
                    .expect("running tar");
                assert!(
                    out.status.success(),
                    "unpacking {}: {}",
                    Path::new(&tgz).display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                format!("artifact {}", Path::new(&tgz).display())
            }
            None => {
                if std::env::var_os("IPFIX_TESTS_STRICT").is_some() {
                    panic!(
                        "IPFIX_TESTS_STRICT: set IPFIX_ARTIFACT to the l3af_bpf_ipfix.tar.gz \
                         `make package` wrote; CI must test the real artifact"
                    );
                }
                std::fs::create_dir_all(&dir).unwrap();
                for d in Direction::ALL {
                    let to = dir.join(names::artifact_binary(d));
                    if std::fs::hard_link(BIN, &to).is_err() {
                        std::fs::copy(BIN, &to).expect("copying the binary");
                    }
                    let obj = Path::new(ipfix_flow_exporter::datapath::BPF_OBJ_DIR)
                        .join(names::object_file(d));
                    std::fs::copy(&obj, dir.join(names::object_file(d)))
                        .unwrap_or_else(|e| panic!("copying {}: {e}", obj.display()));
                }
                format!(
                    "this build ({BIN} and {}; set IPFIX_ARTIFACT to test a packaged artifact)",
                    ipfix_flow_exporter::datapath::BPF_OBJ_DIR
                )
            }
        };
        for d in Direction::ALL {
            let bin = dir.join(names::artifact_binary(d));
            let mode = std::fs::metadata(&bin)
                .unwrap_or_else(|e| panic!("{} in the artifact: {e}", bin.display()))
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "{} is not executable", bin.display());
            let obj = dir.join(names::object_file(d));
            assert!(obj.is_file(), "{} missing from the artifact", obj.display());
        }
        println!("emulated l3afd: using {source}");
        Artifact {
            _tmp: tmp,
            dir,
            source,
        }
    }

    /// The executable l3afd starts (absolute, as filepath.Join(FilePath, cmd_start)).
    pub fn binary(&self, d: Direction) -> PathBuf {
        self.dir.join(names::artifact_binary(d))
    }

    pub fn object(&self, d: Direction) -> PathBuf {
        self.dir.join(names::object_file(d))
    }
}

/// How the root program is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootAttach {
    /// clsact qdisc, direct-action filter (l3afd without TCX).
    Clsact,
    /// TCX link (l3afd on kernels ≥ 6.8).
    Tcx,
}

/// tc-root's shape: `bpf_tail_call(skb, &root_array, 0); return TC_ACT_OK;`.
fn load_root_prog(array: &MapHandle, name: &str) -> OwnedFd {
    use libbpf_sys::*;
    let map_fd = array.as_fd().as_raw_fd();
    let insns = [
        // r2 = &root_array (ld_imm64, two slots)
        insn(
            BPF_LD | BPF_DW | BPF_IMM,
            2,
            BPF_PSEUDO_MAP_FD as u8,
            map_fd,
        ),
        insn(0, 0, 0, 0),
        // r3 = 0; r1 is still the skb
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0),
        insn(BPF_JMP | BPF_CALL, 0, 0, BPF_FUNC_tail_call as i32),
        // r0 = TC_ACT_OK (what tc-root returns when the slot is empty)
        insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0),
        insn(BPF_JMP | BPF_EXIT, 0, 0, 0),
    ];
    load_sched_cls(name, &insns)
}

/// Our stand-in for l3afd's tc-root on one hook of a veth. Detached,
/// closed and unpinned on drop.
pub struct TcRoot {
    pub array: MapHandle,
    pub pin: PathBuf,
    pub direction: Direction,
    pub how: RootAttach,
    _prog: OwnedFd,
    stop: Option<mpsc::Sender<()>>,
    holder: Option<JoinHandle<()>>,
}

impl TcRoot {
    pub fn attach(ns: &str, iface: &str, direction: Direction, how: RootAttach) -> Self {
        let pin = root_array_pin(iface, direction);
        mkdir_l3afd(pin.parent().unwrap());
        let opts = libbpf_sys::bpf_map_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
            ..Default::default()
        };
        let entry = format!("tc_{}_root", direction.as_str());
        let mut array = MapHandle::create(
            MapType::ProgArray,
            Some(&entry[..entry.len().min(15)]),
            4,
            4,
            1,
            &opts,
        )
        .expect("creating the root prog array");
        array.pin(&pin).expect("pinning the root prog array");
        let prog = load_root_prog(&array, &entry[..entry.len().min(15)]);
        let ifindex = NetnsPair::ifindex_in(ns, iface);
        let held = prog.try_clone().expect("dup of the root program fd");
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        // The attachment lives on a thread inside the namespace until drop.
        let holder = NetnsPair::spawn_in(ns, move || match how {
            RootAttach::Clsact => {
                let mut hook = libbpf_rs::TcHook::new(held.as_fd());
                hook.ifindex(ifindex as i32)
                    .attach_point(match direction {
                        Direction::Ingress => libbpf_rs::TC_INGRESS,
                        Direction::Egress => libbpf_rs::TC_EGRESS,
                    })
                    .handle(1)
                    .priority(1);
                // The clsact qdisc (l3afd adds it when missing).
                let _ = hook.create();
                let mut attached = match hook.attach() {
                    Ok(h) => h,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("clsact attach: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let _ = stop_rx.recv_timeout(Duration::from_secs(900));
                let _ = attached.detach();
            }
            RootAttach::Tcx => {
                let link = match ipfix_flow_exporter::datapath::attach::tcx_link(
                    held.as_fd(),
                    ifindex,
                    direction,
                ) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("TCX attach: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let _ = stop_rx.recv_timeout(Duration::from_secs(900));
                drop(link);
            }
        });
        let root = TcRoot {
            array,
            pin,
            direction,
            how,
            _prog: prog,
            stop: Some(stop_tx),
            holder: Some(holder),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("attaching the root program: {e}"),
            Err(e) => panic!("attaching the root program: no answer ({e})"),
        }
        root
    }

    /// Program id in slot 0, if any (what l3afd's GetProgID reads).
    pub fn slot0(&self) -> Option<u32> {
        prog_array_slot0(&self.array)
    }
}

impl Drop for TcRoot {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.holder.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_file(&self.pin);
    }
}

/// Program id in slot 0 of a prog array.
pub fn prog_array_slot0(array: &MapHandle) -> Option<u32> {
    match array.lookup(&KEY0, MapFlags::ANY) {
        Ok(Some(v)) if v.len() == 4 => Some(u32::from_ne_bytes([v[0], v[1], v[2], v[3]])),
        _ => None,
    }
}

/// Puts `prog` into slot 0 of `array`.
pub fn set_slot0(array: &MapHandle, prog: std::os::fd::BorrowedFd<'_>) {
    let fd = prog.as_raw_fd() as u32;
    array
        .update(&KEY0, &fd.to_ne_bytes(), MapFlags::ANY)
        .expect("putting a program into slot 0");
}

/// The id of the program pinned at `path`.
pub fn pinned_prog_id(path: &Path) -> u32 {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated path.
    let fd = unsafe { libbpf_sys::bpf_obj_get(c.as_ptr()) };
    assert!(
        fd >= 0,
        "opening {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    libbpf_rs::ProgramImpl::<()>::id_from_fd(fd.as_fd()).expect("program id")
}

/// A bind mount of the host's bpffs inside bpftool's private mount
/// namespace; only the (empty) mount point is left on the host, removed on
/// drop.
struct HostBpffsView(PathBuf);

impl Drop for HostBpffsView {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// l3afd's native load (LoadBPFProgramChain), by bpftool: every map of
/// `object` pinned by name in [`map_dir`], the program pinned at
/// [`prog_pin`], the monitor maps zeroed (InitialiseMetricMaps), and the
/// program put into slot 0 of the root's prog array.
///
/// bpftool 7.1 (libbpf 1.1) pins by-name maps only at `/sys/fs/bpf/<name>`,
/// so it runs in a private mount namespace where the l3afd directory is
/// bind-mounted over `/sys/fs/bpf`; the host's bpffs stays reachable there
/// through a second bind mount.
pub fn native_load(payload: &Payload, iface: &str, object: &Path, root: &TcRoot) {
    let direction = payload.direction;
    let maps = payload.map_dir(iface);
    let prog = payload.prog_pin(iface);
    let prog_dir = prog.parent().unwrap().to_path_buf();
    // CreatePinDirectories
    mkdir_l3afd(&maps);
    mkdir_l3afd(&prog_dir);
    mkdir_l3afd(&payload.links_dir(iface));
    let view = HostBpffsView(PathBuf::from(format!(
        "/run/{}",
        super::unique("ipfix-hostbpf-")
    )));
    let host = |p: &Path| view.0.join(p.strip_prefix(BPFFS).unwrap());
    let loaded = host(&prog_dir).join(names::entry_function(direction));
    let script = r#"set -e
mkdir -p "$1"
mount --bind /sys/fs/bpf "$1"
mount --bind "$2" /sys/fs/bpf
bpftool prog loadall "$3" "$4" type classifier
bpftool map update pinned "$5" key 0 0 0 0 value pinned "$6"
"#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&view.0)
        .arg(&maps)
        .arg(object)
        .arg(host(&prog_dir))
        .arg(host(&root.pin))
        .arg(&loaded)
        .output()
        .expect("running unshare");
    assert!(
        out.status.success(),
        "bpftool load of {} failed: {}{}",
        object.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(view);
    // bpftool pins under the program's name; l3afd under <entry>_tc.
    std::fs::rename(prog_dir.join(names::entry_function(direction)), &prog)
        .expect("renaming the program pin");
    for role in MapRole::MONITORS {
        let m = MapHandle::from_pinned_path(payload.map_pin(iface, role))
            .unwrap_or_else(|e| panic!("monitor map {role:?} not pinned: {e}"));
        m.update(&KEY0, &0u64.to_ne_bytes(), MapFlags::ANY)
            .expect("zeroing a monitor map");
    }
}

/// l3afd's `StartUserProgram` argument list: fixed keys first, then the
/// payload's start args in Go map order, i.e. any order (shuffled here).
/// The collector is the test's (`collector_ip`, `collector_port` replaced),
/// and `--active-timeout=300ms` is added so that tests need not wait 10 s.
pub fn l3afd_argv(
    payload: &Payload,
    iface: &str,
    direction: &str,
    map_name: Option<&Path>,
    log_dir: &Path,
    collector_port: u16,
) -> Vec<String> {
    let mut argv = vec![
        format!("--iface={iface}"),
        format!("--direction={direction}"),
        format!("--version={}", payload.pin_version()),
    ];
    if let Some(m) = map_name {
        argv.push(format!("--map-name={}", m.display()));
    }
    argv.push(format!("--log-dir={}", log_dir.display()));
    let mut start_args: Vec<(String, String)> = payload
        .start_args
        .iter()
        .filter(|(k, _)| k != "collector_ip" && k != "collector_port")
        .cloned()
        .collect();
    start_args.push(("collector_ip".into(), "127.0.0.1".into()));
    start_args.push(("collector_port".into(), collector_port.to_string()));
    start_args.push(("active-timeout".into(), "300ms".into()));
    shuffle(&mut start_args);
    argv.extend(start_args.into_iter().map(|(k, v)| format!("--{k}={v}")));
    argv
}

/// Fisher–Yates with a xorshift seeded from the clock.
fn shuffle<T>(v: &mut [T]) {
    let mut x: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    x = (x ^ (u64::from(std::process::id()) << 32)) | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// The daemon as l3afd runs it: started in the test namespace (nsenter, so
/// bpffs stays the host's), stdout discarded (l3afd does), stderr kept for
/// failure reports. Killed on drop.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    pub fn start(ns: &str, bin: &Path, argv: &[String], log: PathBuf) -> Self {
        eprintln!("emulated l3afd: {} {}", bin.display(), argv.join(" "));
        let mut child = Command::new("nsenter")
            .arg(format!("--net={}", NetnsPair::ns_path(ns)))
            .arg("--")
            .arg(bin)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the daemon");
        let err = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let into = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[daemon stderr] {line}");
                let mut s = into.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Daemon {
            child: Some(child),
            log,
            stderr,
            reader: Some(reader),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn report(&self) -> String {
        format!(
            "stderr:\n{}\nlog {}:\n{}",
            self.stderr.lock().unwrap(),
            self.log.display(),
            self.log_text()
        )
    }

    /// Waits (bounded) until the log file contains `text`; fails early when
    /// the daemon exits.
    pub fn wait_log(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log_text().contains(text) {
                return;
            }
            if let Some(st) = self.exited() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "daemon exited ({st}) before logging {text:?}\n{}",
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "daemon did not log {text:?} within {within:?}\n{}",
            self.report()
        );
    }

    pub fn assert_running(&mut self) {
        if let Some(st) = self.exited() {
            std::thread::sleep(Duration::from_millis(100));
            panic!("daemon exited ({st})\n{}", self.report());
        }
    }

    /// SIGTERM, as l3afd's Stop does; the daemon must exit 0 within
    /// [`STOP_DEADLINE`]. Returns how long it took.
    pub fn terminate(mut self) -> Duration {
        self.assert_running();
        let mut child = self.child.take().unwrap();
        let t0 = Instant::now();
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("SIGTERM");
        let status = loop {
            if let Some(st) = child.try_wait().expect("waiting for the daemon") {
                break st;
            }
            if t0.elapsed() > STOP_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not exit within {STOP_DEADLINE:?} of SIGTERM\n{}",
                    self.report()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = t0.elapsed();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        assert_eq!(
            status.code(),
            Some(0),
            "daemon exit status after SIGTERM\n{}",
            self.report()
        );
        took
    }

    /// SIGKILL: a crash; nothing cleaned up by the daemon.
    pub fn kill(mut self) {
        self.assert_running();
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Log lines at WARN or ERROR (env_logger: `[<time> WARN  <target>] ...`).
pub fn log_warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.strip_prefix('[')
                .and_then(|r| r.split(']').next())
                .is_some_and(|h| h.contains(" WARN") || h.contains(" ERROR"))
        })
        .collect()
}

/// Our `collect` in the test namespace, decoding what the daemon exports.
pub struct Collector {
    bg: Background,
    pub port: u16,
}

impl Collector {
    pub fn start(ns: &str) -> Self {
        let mut bg = Background::start_in(
            ns,
            "collect",
            &[
                BIN,
                "collect",
                "--listen",
                "udp://127.0.0.1:0",
                "--format",
                "json",
            ],
        );
        const PREFIX: &str = "listening on udp://127.0.0.1:";
        bg.wait_stderr(PREFIX, Duration::from_secs(10));
        let port = bg
            .stderr
            .lock()
            .unwrap()
            .lines()
            .find_map(|l| l.split(PREFIX).nth(1).map(|p| p.trim().to_owned()))
            .and_then(|p| p.parse().ok())
            .expect("the collector's port");
        Collector { bg, port }
    }

    /// Every record decoded so far.
    pub fn records(&self) -> Vec<Value> {
        self.bg
            .stdout
            .lock()
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("collect printed {l:?}: {e}"))
            })
            .collect()
    }

    /// Waits (bounded) until the records matching `pred` add up to `want`
    /// (or more); returns what they add up to.
    pub fn wait_totals(
        &self,
        pred: impl Fn(&Value) -> bool,
        want: (u64, u64),
        within: Duration,
    ) -> (u64, u64) {
        let deadline = Instant::now() + within;
        loop {
            let got = super::exporter::totals(&self.records(), &pred);
            if got.0 >= want.0 || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(mut self) -> Vec<Value> {
        self.bg.stop();
        self.records()
    }
}

/// One UDP flow through the hook under test: B→A crosses veth_a's ingress,
/// A→B its egress.
#[derive(Debug, Clone)]
pub struct Flow {
    pub direction: Direction,
    pub from_ns: String,
    pub to_ns: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub port: u16,
}

impl Flow {
    pub fn new(net: &NetnsPair, direction: Direction, port: u16) -> Self {
        let (a, b) = (NetnsPair::ip(false, true), NetnsPair::ip(false, false));
        let (from_ns, to_ns, src, dst) = match direction {
            Direction::Ingress => (net.b.clone(), net.a.clone(), b, a),
            Direction::Egress => (net.a.clone(), net.b.clone(), a, b),
        };
        Flow {
            direction,
            from_ns,
            to_ns,
            src,
            dst,
            port,
        }
    }

    /// Sends `count` datagrams, all of which must arrive; returns how many.
    pub fn send(&self, count: u64, gap: Duration) -> u64 {
        let sink = udp_sink(&self.to_ns, sa(self.dst, self.port));
        let n = udp_send(
            &self.from_ns,
            sa(self.src, self.port + 20_000),
            sa(self.dst, self.port),
            count,
            PAYLOAD,
            gap,
        );
        assert_eq!(
            sink.join().unwrap(),
            n,
            "port {}: every datagram arrived",
            self.port
        );
        n
    }

    /// (packets, octets) of `n` datagrams, as IPFIX counts them (L3).
    pub fn expect(&self, n: u64) -> (u64, u64) {
        (n, n * (udp_l3_overhead(false) + PAYLOAD as u64))
    }

    pub fn matches(&self, r: &Value) -> bool {
        r["direction"] == self.direction.as_str()
            && r["protocol"] == 17
            && r["src_addr"] == self.src.to_string()
            && r["dst_addr"] == self.dst.to_string()
            && r["dst_port"] == self.port
    }

    /// Waits for the collector to decode `n` datagrams of this flow and
    /// asserts the counts are exact.
    pub fn assert_collected(&self, collector: &Collector, n: u64, what: &str) {
        let want = self.expect(n);
        let got = collector.wait_totals(|r| self.matches(r), want, FLOW_WAIT);
        assert_eq!(
            got, want,
            "{what}: port {} decoded by the collector",
            self.port
        );
    }

    /// Every record of this flow names veth_a: in the observation domain a
    /// daemon of this direction defaults to, and as the interface of its
    /// direction.
    pub fn assert_interface(&self, records: &[Value], ifindex: u32) {
        let field = match self.direction {
            Direction::Ingress => "ingress_ifindex",
            Direction::Egress => "egress_ifindex",
        };
        for r in records.iter().filter(|r| self.matches(r)) {
            assert_eq!(
                r["observation_domain_id"],
                observation_domain(ifindex, self.direction),
                "{r}"
            );
            assert_eq!(r[field], ifindex, "{r}");
        }
    }
}

/// Waits (bounded) for `cond`.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
