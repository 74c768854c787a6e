//! A helper process (tshark, nfcapd, the collector) running for the length
//! of a test: stderr/stdout collected, killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub struct Background {
    pub name: String,
    child: Option<Child>,
    /// Runs as the leader of its own process group (`setsid`): what it
    /// forks (tshark's dumpcap, nfacctd's plugins) goes with it.
    group: bool,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn pump(src: impl Read + Send + 'static, into: Arc<Mutex<String>>, tag: String) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(src).lines().map_while(Result::ok) {
            if !tag.is_empty() {
                eprintln!("[{tag}] {line}");
            }
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

impl Background {
    /// Starts `cmd` inside namespace `ns` (via nsenter, so bpffs stays
    /// visible) with stdout and stderr captured; stderr is echoed.
    pub fn start_in(ns: &str, name: &str, cmd: &[&str]) -> Self {
        Self::spawn_in(ns, name, cmd, false)
    }

    /// As [`Self::start_in`], in a process group of its own that stopping
    /// or dropping kills whole: for tools that fork helpers.
    pub fn start_group_in(ns: &str, name: &str, cmd: &[&str]) -> Self {
        let mut with_setsid = vec!["setsid"];
        with_setsid.extend_from_slice(cmd);
        Self::spawn_in(ns, name, &with_setsid, true)
    }

    fn spawn_in(ns: &str, name: &str, cmd: &[&str], group: bool) -> Self {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{ns}"))
            .arg("--")
            .args(cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            pump(
                child.stdout.take().unwrap(),
                Arc::clone(&stdout),
                String::new(),
            ),
            pump(
                child.stderr.take().unwrap(),
                Arc::clone(&stderr),
                name.to_owned(),
            ),
        ];
        Background {
            name: name.to_owned(),
            child: Some(child),
            group,
            stdout,
            stderr,
            readers,
        }
    }

    /// Waits (bounded) until stderr contains `text`.
    pub fn wait_stderr(&mut self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.stderr.lock().unwrap().contains(text) {
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("{} exited ({st}) before printing {text:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{} did not print {text:?} within {within:?}", self.name);
    }

    /// Waits (bounded) until stdout has at least `n` lines matching `pred`.
    pub fn wait_stdout_lines(
        &self,
        within: Duration,
        n: usize,
        pred: impl Fn(&str) -> bool,
    ) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self
                .stdout
                .lock()
                .unwrap()
                .lines()
                .filter(|l| pred(l))
                .count()
                >= n
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM (or `sig`), wait up to 5 s, then SIGKILL. Returns stdout.
    pub fn stop_with(&mut self, sig: Signal) -> String {
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), sig);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            self.kill_group(child.id());
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.stdout.lock().unwrap().clone()
    }

    pub fn stop(&mut self) -> String {
        self.stop_with(Signal::SIGTERM)
    }

    /// The process's pid (nsenter execs the command in place).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }
}

impl Background {
    /// SIGKILL to whatever is left of the process group it led.
    fn kill_group(&self, leader: u32) {
        if self.group {
            let _ = kill(Pid::from_raw(-(leader as i32)), Signal::SIGKILL);
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.kill_group(child.id());
        }
    }
}
