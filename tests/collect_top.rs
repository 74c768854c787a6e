//! `collect --format top` in a real terminal: the binary runs in a tmux
//! pane (a pseudo-terminal, 160×40), is fed IPFIX over loopback UDP —
//! our own records and another exporter's template with total counts —
//! and the pane's text is compared with the flows sent: exact octets and
//! packets, the order by octets, then by packets after `p`; `q`, SIGTERM
//! and SIGINT end it with the terminal as it was (cooked mode, the normal
//! screen, the cursor shown). Needs tmux (`make setup` installs it; a SKIP
//! without it, a failure under IPFIX_TESTS_STRICT=1). Every wait is
//! bounded in count and time; the tmux server is killed on drop, also when
//! a test fails.

// A failed unwrap fails the test, naming its line: the house rule against
// unwrap (Cargo.toml [lints]) is for the shipped code.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::tempdir::TempDir;
use ipfix_flow_exporter::flow::{Direction, FlowEndReason, FlowRecord};
use ipfix_flow_exporter::ipfix::ie::{self, FieldLength};
use ipfix_flow_exporter::ipfix::{Mtu, Session, TypedTemplate, Value};
use ipfix_flow_exporter::schema::FlowMessages;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_ipfix-flow-exporter");
/// Longest wait for anything the pane or the files should show.
const WAIT: Duration = Duration::from_secs(10);
/// Between two looks at the pane.
const POLL_EVERY: Duration = Duration::from_millis(100);
const EXPORT_TIME: u32 = 1_700_000_100;
const SYSTEM_INIT_MS: u64 = 1_699_999_000_000;

/// The pane's shell: runs `collect` with stderr to a file, then notes its
/// exit status and the terminal's settings, says so on the pane, and stays
/// (for the pane to be read) until the test kills the server.
const SCRIPT: &str = r#"bin=$1; dir=$2; shift 2
"$bin" collect "$@" 2>"$dir/stderr"
status=$?
stty -a >"$dir/stty" 2>&1
echo "$status" >"$dir/status"
echo "top exited with status $status"
: >"$dir/done"
sleep 60"#;

/// A private tmux server (its socket in the scratch directory, no config
/// file) with one session; killed on drop, and its socket goes with the
/// directory.
struct Tmux {
    socket: String,
    dir: TempDir,
}

impl Tmux {
    fn start(collect_args: &[&str]) -> Tmux {
        let dir = TempDir::new("collect-top");
        let t = Tmux {
            socket: dir.str("tmux.sock"),
            dir,
        };
        let dir = t.dir.str("");
        let mut args = vec![
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "160",
            "-y",
            "40",
            "sh",
            "-c",
            SCRIPT,
            "sh",
            BIN,
            &dir,
        ];
        args.extend_from_slice(collect_args);
        t.tmux(&args);
        t
    }

    /// Runs a tmux command against this server; its stdout.
    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's text as shown now (the alternate screen while it is on).
    fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "top"])
    }

    fn format(&self, f: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "top", f])
            .trim()
            .to_owned()
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "top", keys]);
    }

    /// Looks at the pane until `ok` holds, at most [`WAIT`]; the last text
    /// seen.
    fn wait_pane(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut text = String::new();
        for _ in 0..(WAIT.as_millis() / POLL_EVERY.as_millis()) {
            text = self.capture();
            if ok(&text) || Instant::now() > deadline {
                break;
            }
            thread::sleep(POLL_EVERY);
        }
        assert!(
            ok(&text),
            "{what} not seen within {WAIT:?}; the pane:\n{text}"
        );
        text
    }

    /// The contents of `name` in the scratch directory, once `ok` holds, at
    /// most [`WAIT`].
    fn wait_file(&self, name: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut text = String::new();
        for _ in 0..(WAIT.as_millis() / POLL_EVERY.as_millis()) {
            text = std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            if ok(&text) || Instant::now() > deadline {
                break;
            }
            thread::sleep(POLL_EVERY);
        }
        assert!(
            ok(&text),
            "{name} not as expected within {WAIT:?}: {text:?}; the pane:\n{}",
            self.capture()
        );
        text
    }

    /// The UDP address the collector says it listens on.
    fn listening(&self) -> SocketAddr {
        let stderr = self.wait_file("stderr", |t| t.contains("listening on udp://"));
        let line = stderr.lines().next().unwrap();
        line.strip_prefix("listening on udp://")
            .unwrap_or_else(|| panic!("unexpected first stderr line {line:?}"))
            .parse()
            .unwrap()
    }

    /// The collector's process: the pane's shell's child.
    fn collector_pid(&self) -> Pid {
        let shell: i32 = self.format("#{pane_pid}").parse().unwrap();
        for entry in std::fs::read_dir("/proc").unwrap().map_while(Result::ok) {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, not ')'.
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let ppid = rest.split_whitespace().nth(1);
            if ppid == Some(shell.to_string().as_str()) && stat.contains("(ipfix-flow-expo") {
                return Pid::from_raw(entry.file_name().to_str().unwrap().parse().unwrap());
            }
        }
        panic!("no collector process under the pane's shell {shell}");
    }

    /// After the collector ended: it exited 0 and left the terminal as it
    /// found it — cooked mode with echo, the normal screen holding only
    /// the shell's line, the cursor shown.
    fn assert_ended_cleanly(&self) {
        self.wait_file("done", |_| self.dir.join("done").exists());
        let status = std::fs::read_to_string(self.dir.join("status")).unwrap();
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap();
        assert_eq!(status.trim(), "0", "exit status; stderr: {stderr}");
        let stty = std::fs::read_to_string(self.dir.join("stty")).unwrap();
        let settings: Vec<&str> = stty.split_whitespace().collect();
        for mode in ["icanon", "echo", "isig", "icrnl", "opost"] {
            assert!(
                settings.contains(&mode),
                "{mode} is off after the view: {stty}"
            );
        }
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "still on the alternate screen"
        );
        assert_eq!(self.format("#{cursor_flag}"), "1", "the cursor is hidden");
        let pane = self.capture();
        let shown: Vec<&str> = pane.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(shown, ["top exited with status 0"], "the pane:\n{pane}");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn flow(src: &str, src_port: u16, dst: &str, dst_port: u16, protocol: u8) -> FlowRecord {
    FlowRecord {
        src_addr: src.parse().unwrap(),
        dst_addr: dst.parse().unwrap(),
        src_port,
        dst_port,
        protocol,
        icmp_type: 0,
        icmp_code: 0,
        direction: Direction::Ingress,
        vlan_id: 0,
        inner_vlan_id: 0,
        src_mac: [0; 6],
        dst_mac: [0; 6],
        ingress_ifindex: 2,
        egress_ifindex: 0,
        packets: 0,
        octets: 0,
        tcp_flags: 0x18,
        ttl_min: 64,
        ttl_max: 64,
        tos: 0,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_001_000,
        end_reason: FlowEndReason::ActiveTimeout,
        flow_id: u64::from(src_port),
    }
}

/// Three ingress TCP flows whose order by octets (A, B, C) is not their
/// order by packets (B, C, A), and an egress IPv6 UDP flow: our records,
/// observation domain 7.
fn our_flows() -> Vec<FlowRecord> {
    let tcp = |port, octets, packets| FlowRecord {
        octets,
        packets,
        ..flow("192.0.2.1", port, "198.51.100.2", 443, 6)
    };
    vec![
        tcp(40_001, 9_000, 10),
        tcp(40_002, 5_000, 50),
        tcp(40_003, 1_200, 20),
        FlowRecord {
            direction: Direction::Egress,
            ingress_ifindex: 0,
            egress_ifindex: 3,
            octets: 700,
            packets: 7,
            tcp_flags: 0,
            ..flow("2001:db8::1", 5353, "2001:db8::2", 53, 17)
        },
    ]
}

/// Sends our flows (domain 7) and another exporter's layout (domain 9): a
/// template of addresses, protocol and 4-octet total counts, no ports and
/// no flowDirection, whose one flow reports totals 1000/4, then 1500/6.
/// Returns the sender's address.
fn send_flows(to: SocketAddr) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(to).unwrap();
    let mtu = Mtu::new(9000).unwrap();
    let mut ours = Session::new(7);
    let mut b = ours.builder(EXPORT_TIME, mtu);
    b.add_flow_templates(true).unwrap();
    b.add_flow_records(&our_flows(), Some(SYSTEM_INIT_MS))
        .unwrap();
    for m in b.finish().unwrap() {
        sock.send(&m.bytes).unwrap();
    }
    let theirs = TypedTemplate::new(
        400,
        vec![
            (ie::SOURCE_IPV4_ADDRESS, FieldLength::Fixed(4)),
            (ie::DESTINATION_IPV4_ADDRESS, FieldLength::Fixed(4)),
            (ie::PROTOCOL_IDENTIFIER, FieldLength::Fixed(1)),
            (ie::OCTET_TOTAL_COUNT, FieldLength::Fixed(4)),
            (ie::PACKET_TOTAL_COUNT, FieldLength::Fixed(4)),
        ],
    )
    .unwrap();
    let mut other = Session::new(9);
    for (i, (octets, packets)) in [(1_000u64, 4u64), (1_500, 6)].into_iter().enumerate() {
        let mut b = other.builder(EXPORT_TIME, mtu);
        if i == 0 {
            b.add_template(theirs.template()).unwrap();
        }
        b.add_custom_record(
            &theirs,
            &[
                Value::Ipv4("203.0.113.5".parse().unwrap()),
                Value::Ipv4("203.0.113.6".parse().unwrap()),
                Value::Unsigned(47),
                Value::Unsigned(octets),
                Value::Unsigned(packets),
            ],
        )
        .unwrap();
        for m in b.finish().unwrap() {
            sock.send(&m.bytes).unwrap();
        }
    }
    sock.local_addr().unwrap()
}

/// The pane's line that holds `needle`, as its words; its line number.
fn row(pane: &str, needle: &str) -> Option<(usize, Vec<String>)> {
    pane.lines().enumerate().find_map(|(i, l)| {
        l.contains(needle)
            .then(|| (i, l.split_whitespace().map(str::to_owned).collect()))
    })
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Line numbers of the three ingress flows, A, B, C.
fn ingress_lines(pane: &str) -> [usize; 3] {
    ["192.0.2.1:40001", "192.0.2.1:40002", "192.0.2.1:40003"].map(|n| row(pane, n).unwrap().0)
}

#[test]
fn the_view_shows_the_flows_ranked_and_sorts_on_keys() {
    common::require_tools!("tmux");
    let t = Tmux::start(&[
        "--format",
        "top",
        "--listen",
        "udp://127.0.0.1:0",
        "--window",
        "60s",
    ]);
    let collector = t.listening();
    t.wait_pane("the view's title", |p| p.contains("top flows of the last"));
    let sender = send_flows(collector);
    let all_rows = |p: &str| {
        [
            "40001",
            "40002",
            "40003",
            "[2001:db8::1]:5353",
            "203.0.113.5",
        ]
        .iter()
        .all(|n| p.contains(n))
            && p.contains("1500")
    };
    let pane = t.wait_pane("every flow", all_rows);

    let title = pane.lines().next().unwrap();
    assert!(
        title.starts_with(&format!(
            "top flows of the last 1 min by octets · udp://{collector} · o octets  p packets  q quit"
        )),
        "{title}"
    );
    // The exact rows, each group under its heading: direction, exporter
    // (the sender's address and the observation domain), flows, packets,
    // octets.
    let heading = |domain: u32| {
        row(&pane, &format!("{sender} domain {domain} "))
            .unwrap_or_else(|| panic!("no heading of domain {domain}:\n{pane}"))
    };
    assert_eq!(
        heading(7).1,
        words(&format!("ingress {sender} domain 7 3 flows 80 15200"))
    );
    let expect = [
        (
            "192.0.2.1:40001",
            "tcp 192.0.2.1:40001 198.51.100.2:443 10 9000",
        ),
        (
            "192.0.2.1:40002",
            "tcp 192.0.2.1:40002 198.51.100.2:443 50 5000",
        ),
        (
            "192.0.2.1:40003",
            "tcp 192.0.2.1:40003 198.51.100.2:443 20 1200",
        ),
        (
            "[2001:db8::1]:5353",
            "udp [2001:db8::1]:5353 [2001:db8::2]:53 7 700",
        ),
        // Totals 1000 then 1500: the first whole, then the increase.
        ("203.0.113.5", "gre 203.0.113.5 203.0.113.6 6 1500"),
    ];
    for (needle, want) in expect {
        let (_, got) = row(&pane, needle).unwrap();
        assert_eq!(got, words(want), "the row of {needle}:\n{pane}");
    }
    // Ranked by octets: A, B, C right under their heading; then the egress
    // group; then domain 9, whose records say no direction.
    let ingress_heading = heading(7).0;
    assert_eq!(
        ingress_lines(&pane),
        [
            ingress_heading + 1,
            ingress_heading + 2,
            ingress_heading + 3
        ],
        "{pane}"
    );
    let egress = pane
        .lines()
        .position(|l| l.starts_with("egress") && l.contains(" domain 7 "))
        .unwrap_or_else(|| panic!("no egress heading:\n{pane}"));
    assert_eq!(egress, ingress_heading + 4, "{pane}");
    assert_eq!(row(&pane, "[2001:db8::1]:5353").unwrap().0, egress + 1);
    assert_eq!(
        heading(9),
        (
            egress + 2,
            words(&format!("- {sender} domain 9 1 flow 6 1500"))
        )
    );

    // `p`: by packets, B (50), C (20), A (10).
    t.keys("p");
    let pane = t.wait_pane("the packet order", |p| {
        p.lines().next().is_some_and(|l| l.contains("by packets")) && all_rows(p) && {
            let [a, b, c] = ingress_lines(p);
            b < c && c < a
        }
    });
    let [a, b, c] = ingress_lines(&pane);
    assert_eq!(
        [b, c, a],
        [
            ingress_heading + 1,
            ingress_heading + 2,
            ingress_heading + 3
        ],
        "{pane}"
    );
    // `o`: back to octets.
    t.keys("o");
    t.wait_pane("the octet order again", |p| {
        p.lines().next().is_some_and(|l| l.contains("by octets")) && {
            let [a, b, c] = ingress_lines(p);
            a < b && b < c
        }
    });

    t.keys("q");
    t.assert_ended_cleanly();
}

#[test]
fn sigterm_and_sigint_give_the_terminal_back() {
    common::require_tools!("tmux");
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        let t = Tmux::start(&["--format", "top", "--listen", "udp://127.0.0.1:0"]);
        t.listening();
        t.wait_pane("the view's title", |p| {
            p.contains("top flows of the last 10 s")
        });
        assert_eq!(t.format("#{alternate_on}"), "1");
        kill(t.collector_pid(), sig).unwrap();
        t.assert_ended_cleanly();
    }
}

#[test]
fn without_a_terminal_it_says_so() {
    let out = Command::new(BIN)
        .args([
            "collect",
            "--format",
            "top",
            "--listen",
            "udp://127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "error: --format top draws a live view and needs a terminal, but stdout is not one; \
         use --format table or --format json to pipe or redirect the records"
    );
}
