//! In-process configuration reload: SIGHUP or SIGUSR2 re-reads every `-f`
//! file given at startup and applies it on every shard without dropping a
//! connection; `show info` counts `Reloads` (applied) and `FailedReloads`
//! (refused: the errors are logged with their `file:line`, nothing changes).
//!
//! Frontends, backends and servers are matched by name: a matched server
//! keeps its counters and health; a removed one is no longer picked (what is
//! in flight to it completes) and leaves `show stat` at once; a removed bind
//! refuses new connections while its sessions go on; a removed frontend's
//! keep-alive session finishes its request in flight, answers with
//! `Connection: close` and is closed; changed timeouts apply to new sessions.
//!
//! Every wait is bounded; nothing depends on how fast the reload is: a test
//! waits for `Reloads` to reach its expected value, and requests that must
//! be in flight during a reload are held by a gated test server until the
//! test releases them.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Bound on "the reload is applied (or refused)" after the signal.
const RELOAD_BOUND: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// The proxy, its stats socket, reloads
// ---------------------------------------------------------------------------

/// A proxy started on one configuration file, with a `stats socket` (the
/// same line in every configuration of a test) to follow its reloads.
struct Rig {
    p: Proxy,
    sock: PathBuf,
    _dir: TempDir,
}

impl Rig {
    /// Starts the proxy on `config(sock)` (`sock`: the stats socket path to
    /// put in `global`).
    fn start(config: impl Fn(&Path) -> String) -> Rig {
        let dir = TempDir::new();
        let sock = dir.path.join("api.sock");
        let p = Proxy::start(&config(&sock));
        Rig { p, sock, _dir: dir }
    }

    fn cfg_path(&self) -> &Path {
        &self.p.config_paths[0]
    }

    /// Checks `text` with `ringproxy -c` (so that a failure after this is
    /// the reload's), then [`reload_unchecked`](Self::reload_unchecked).
    #[track_caller]
    fn reload(&self, text: &str, sig: i32) {
        assert_config_ok(text);
        self.reload_unchecked(text, sig);
    }

    /// Replaces the configuration file (same path, atomically: a new file
    /// renamed over it) and sends `sig`.
    fn reload_unchecked(&self, text: &str, sig: i32) {
        let path = self.cfg_path();
        let tmp = path.with_extension("cfg.new");
        std::fs::write(&tmp, text).expect("write the new configuration");
        std::fs::rename(&tmp, path).expect("rename it over the configuration");
        self.p.signal(sig);
    }

    fn info(&self) -> String {
        api(&self.sock, "show info\n")
    }

    /// Waits until `show info` says `Reloads: reloads` and `FailedReloads:
    /// failed`; the last `show info` on failure.
    fn try_wait_info(&mut self, reloads: u64, failed: u64) -> Result<(), String> {
        let mut last = String::new();
        let mut exited = None;
        let ok = wait_for(RELOAD_BOUND, || {
            if let Some(st) = self.p.try_wait() {
                exited = Some(st);
                return true;
            }
            last = self.info();
            info_num(&last, "Reloads") == Some(reloads)
                && info_num(&last, "FailedReloads") == Some(failed)
        });
        if let Some(st) = exited {
            return Err(format!("ringproxy exited ({st})"));
        }
        if !ok {
            return Err(format!(
                "`show info` did not reach Reloads: {reloads}, FailedReloads: {failed} within {RELOAD_BOUND:?}; last one:\n{last}"
            ));
        }
        Ok(())
    }

    #[track_caller]
    fn wait_info(&mut self, reloads: u64, failed: u64) {
        if let Err(e) = self.try_wait_info(reloads, failed) {
            panic!("{e}");
        }
    }

    fn stat(&self) -> String {
        api(&self.sock, "show stat\n")
    }

    /// `backend/server` of every server row of `show stat`.
    fn stat_servers(&self) -> BTreeSet<String> {
        stat_servers(&self.stat())
    }

    /// `backend/server` of every row of `show servers state`.
    fn state_servers(&self) -> BTreeSet<String> {
        api(&self.sock, "show servers state\n")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f.len() > 4)
            .map(|f| format!("{}/{}", f[1], f[3]))
            .collect()
    }

    /// Both `show stat` and `show servers state` list exactly `want`.
    #[track_caller]
    fn assert_servers(&self, want: &[&str], when: &str) {
        let want = set(want);
        assert_eq!(self.stat_servers(), want, "show stat {when}");
        assert_eq!(self.state_servers(), want, "show servers state {when}");
    }

    /// Field `name` of `px/sv` in a fresh `show stat`, as a number.
    fn stat_num(&self, px: &str, sv: &str, name: &str) -> u64 {
        let csv = self.stat();
        let v = stat_field(&csv, px, sv, name);
        v.parse()
            .unwrap_or_else(|_| panic!("{px}/{sv} {name} = {v:?} in\n{csv}"))
    }
}

/// `backend/server` of every server row (not FRONTEND, not BACKEND) of a
/// `show stat` output.
fn stat_servers(csv: &str) -> BTreeSet<String> {
    csv.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(',');
            let (px, sv) = (f.next()?, f.next()?);
            (sv != "FRONTEND" && sv != "BACKEND").then(|| format!("{px}/{sv}"))
        })
        .collect()
}

/// What the log says from `reload N applied` on, up to `reload N+1
/// applied` (the changes listed for reload N).
fn reload_entry(log: &str, n: u64) -> &str {
    let marker = format!("reload {n} applied");
    let start = log
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{marker}` in the log:\n{}", tail_of(log)));
    let rest = &log[start..];
    let end = rest
        .find(&format!("reload {} applied", n + 1))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Asserts that the log entry of reload `n` lists every token of `changes`.
#[track_caller]
fn assert_changes(log: &str, n: u64, changes: &[&str]) {
    let entry = reload_entry(log, n);
    for c in changes {
        assert!(
            entry.contains(c),
            "reload {n}: `{c}` not listed in:\n{entry}"
        );
    }
}

fn tail_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The `global` and `defaults` sections every configuration here starts
/// with.
fn head(sock: &Path, nbthread: usize, mode: &str, tclient: &str, tserver: &str) -> String {
    format!(
        "global\n    nbthread {nbthread}\n    stats socket {} level admin\n\n\
         defaults\n    mode {mode}\n    timeout connect 1s\n    timeout client {tclient}\n    timeout server {tserver}\n\n",
        sock.display()
    )
}

fn server_lines(servers: &[(&str, SocketAddr)]) -> String {
    servers
        .iter()
        .map(|(n, a)| format!("    server {n} {}\n", cfg_addr(*a)))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// Single requests and sessions (the test thread's own checks)
// ---------------------------------------------------------------------------

/// One GET on a fresh connection (`Connection: close`); panics on error.
fn fresh_get(addr: SocketAddr, path: &str) -> HttpResponse {
    let mut c = HttpClient::connect(addr);
    let r = c.get(path, "Connection: close\r\n");
    assert_eq!(r.status, 200, "GET {path} via {addr}: {}", r.head_str());
    assert_eq!(
        r.field("path").as_deref(),
        Some(path),
        "GET {path} via {addr}: body {:?}",
        r.body_str()
    );
    r
}

/// The server that answered a GET of `path` on a fresh connection.
fn served_by(addr: SocketAddr, path: &str) -> String {
    fresh_get(addr, path).server()
}

/// Connecting to `addr` fails (the bind is gone).
#[track_caller]
fn assert_refused(addr: SocketAddr, what: &str) {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Err(_) => {}
        Ok(_) => panic!("{what}: {addr} still accepts connections"),
    }
}

// ---------------------------------------------------------------------------
// A gated HTTP server: holds chosen requests until the test releases them
// ---------------------------------------------------------------------------

/// An HTTP/1.1 keep-alive server answering `server=NAME path=P\n`, except:
/// - `/hold-head/...`: holds the request (no byte of answer) until
///   [`Gated::release`];
/// - `/hold-body/N`: sends the head (Content-Length N) and the first half
///   of `pattern(N, N)`, then holds the rest until [`Gated::release`].
struct Gated {
    _backend: Backend,
    addr: SocketAddr,
    /// Requests received.
    requests: Arc<AtomicUsize>,
    /// Requests being held (or released).
    held: Arc<AtomicUsize>,
    released: Arc<AtomicBool>,
}

impl Gated {
    fn start(name: &str) -> Gated {
        let requests = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(AtomicUsize::new(0));
        let released = Arc::new(AtomicBool::new(false));
        let (r, h, rel, n) = (
            requests.clone(),
            held.clone(),
            released.clone(),
            name.to_string(),
        );
        let backend = Backend::spawn(name, move |s, _| gated_serve(s, &n, &r, &h, &rel));
        Gated {
            addr: backend.addr,
            _backend: backend,
            requests,
            held,
            released,
        }
    }

    #[track_caller]
    fn wait_held(&self, n: usize) {
        assert!(
            wait_for(IO_TIMEOUT, || self.held.load(Ordering::SeqCst) >= n),
            "{n} requests held expected, {} are",
            self.held.load(Ordering::SeqCst)
        );
    }

    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn gated_serve(
    s: TcpStream,
    name: &str,
    requests: &AtomicUsize,
    held: &AtomicUsize,
    released: &AtomicBool,
) {
    let mut r = ByteReader::new(s);
    let hold = || {
        held.fetch_add(1, Ordering::SeqCst);
        wait_for(Duration::from_secs(20), || released.load(Ordering::SeqCst));
    };
    loop {
        let deadline = Instant::now() + Duration::from_secs(30);
        let head = match r.read_head(64 * 1024, deadline) {
            Ok(Some(h)) => h,
            _ => return,
        };
        requests.fetch_add(1, Ordering::SeqCst);
        let p = parse_head(&head);
        let path = p.start[1].split('?').next().unwrap_or("").to_string();
        let close = p.has_token("connection", "close");
        let conn_hdr = if close { "Connection: close\r\n" } else { "" };
        let ok = if let Some(n) = path.strip_prefix("/hold-body/") {
            let n: usize = n.parse().unwrap_or(0);
            let body = pattern(n as u64, n);
            let mut out =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n{conn_hdr}\r\n").into_bytes();
            out.extend_from_slice(&body[..n / 2]);
            r.s.write_all(&out).is_ok() && {
                hold();
                r.s.write_all(&body[n / 2..]).is_ok()
            }
        } else {
            if path.starts_with("/hold-head/") {
                hold();
            }
            let body = format!("server={name} path={path}\n");
            let out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{conn_hdr}\r\n{body}",
                body.len()
            );
            r.s.write_all(out.as_bytes()).is_ok()
        };
        if !ok || close {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// a) The main one: 100 reloads under load, zero failures
// ---------------------------------------------------------------------------

struct LoadPorts {
    http: u16,
    extra: u16,
    tcp: u16,
}

struct LoadServers {
    s1: HttpBackend,
    s2: HttpBackend,
    s3: HttpBackend,
    x1: HttpBackend,
    e1: Backend,
    e2: Backend,
    e3: Backend,
}

impl LoadServers {
    fn start() -> LoadServers {
        LoadServers {
            s1: HttpBackend::start("s1"),
            s2: HttpBackend::start("s2"),
            s3: HttpBackend::start("s3"),
            x1: HttpBackend::start("x1"),
            e1: Backend::hello("e1"),
            e2: Backend::hello("e2"),
            e3: Backend::hello("e3"),
        }
    }
}

const LOAD_A_SERVERS: &[&str] = &["extra/x1", "tcp_be/e1", "tcp_be/e2", "web/s1", "web/s2"];
const LOAD_B_SERVERS: &[&str] = &["tcp_be/e2", "tcp_be/e3", "web/s2", "web/s3"];

/// Config A: `web` has s1, s2; backend `extra` (a `use_backend` rule on
/// `/extra` and a frontend of its own, `fe_extra`); `tcp_be` has e1, e2;
/// timeouts 10s. Config B: `web` has s2, s3; no `extra`, no `fe_extra`, no
/// rule; `tcp_be` has e2, e3; timeouts client 15s / server 12s.
fn load_config(sock: &Path, ports: &LoadPorts, sv: &LoadServers, b: bool) -> String {
    let (tc, ts) = if b { ("15s", "12s") } else { ("10s", "10s") };
    let mut c = head(sock, 2, "http", tc, ts);
    c.push_str(&format!("frontend fe\n    bind 127.0.0.1:{}\n", ports.http));
    if !b {
        c.push_str("    acl is_extra path_beg /extra\n    use_backend extra if is_extra\n");
    }
    c.push_str("    default_backend web\n\n");
    c.push_str("backend web\n    balance roundrobin\n");
    c.push_str(&if b {
        server_lines(&[("s2", sv.s2.addr), ("s3", sv.s3.addr)])
    } else {
        server_lines(&[("s1", sv.s1.addr), ("s2", sv.s2.addr)])
    });
    if !b {
        c.push_str(&format!(
            "\nfrontend fe_extra\n    bind 127.0.0.1:{}\n    default_backend extra\n\nbackend extra\n{}",
            ports.extra,
            server_lines(&[("x1", sv.x1.addr)])
        ));
    }
    c.push_str(&format!(
        "\nfrontend tcp_fe\n    mode tcp\n    bind 127.0.0.1:{}\n    default_backend tcp_be\n\n\
         backend tcp_be\n    mode tcp\n    balance roundrobin\n",
        ports.tcp
    ));
    c.push_str(&if b {
        server_lines(&[("e2", sv.e2.addr), ("e3", sv.e3.addr)])
    } else {
        server_lines(&[("e1", sv.e1.addr), ("e2", sv.e2.addr)])
    });
    c
}

/// The test thread's own checks right after a reload to A or B: new
/// connections see exactly the new configuration.
fn check_load_config(rig: &Rig, ports: &LoadPorts, b: bool, i: u64) -> Result<(), String> {
    let (web, tcp, servers) = if b {
        (["s2", "s3"], ["e2", "e3"], LOAD_B_SERVERS)
    } else {
        (["s1", "s2"], ["e1", "e2"], LOAD_A_SERVERS)
    };
    let web: Vec<String> = web.iter().map(|s| s.to_string()).collect();
    let extra = if b {
        web.clone()
    } else {
        vec!["x1".to_string()]
    };
    let get = |port: u16, path: &str, allowed: &[String]| -> Result<(), String> {
        let mut c = HttpClient::try_connect(local(port))?;
        http_exchange(&mut c, path, "Connection: close\r\n", allowed, 1).map(|_| ())
    };
    get(ports.http, &format!("/main/{i}"), &web)?;
    get(ports.http, &format!("/extra/{i}"), &extra)?;
    if b {
        if TcpStream::connect_timeout(&local(ports.extra), Duration::from_secs(2)).is_ok() {
            return Err(format!("removed bind :{} still accepts", ports.extra));
        }
    } else {
        get(ports.extra, &format!("/fe-extra/{i}"), &extra)?;
    }
    let (mut s, name) = hello_session(local(ports.tcp))?;
    if !tcp.contains(&name.as_str()) {
        return Err(format!("TCP session served by {name} (allowed: {tcp:?})"));
    }
    try_echo_line(&mut s, "main")?;
    let want = set(servers);
    let got = rig.stat_servers();
    if got != want {
        return Err(format!("show stat lists {got:?}, expected {want:?}"));
    }
    Ok(())
}

#[test]
fn reload_under_load_zero_failures() {
    const RELOADS: u64 = 100;
    let sv = LoadServers::start();
    let ports = LoadPorts {
        http: free_port(),
        extra: free_port(),
        tcp: free_port(),
    };
    let mut rig = Rig::start(|sock| load_config(sock, &ports, &sv, false));
    let cfg_a = load_config(&rig.sock, &ports, &sv, false);
    let cfg_b = load_config(&rig.sock, &ports, &sv, true);
    assert_config_ok(&cfg_b);
    rig.wait_info(0, 0);
    rig.assert_servers(LOAD_A_SERVERS, "at startup");

    // Clients target only the binds present in both configurations.
    let web = ["s1", "s2", "s3"];
    let tcp = ["e1", "e2", "e3"];
    let mut load = Load::new(OnClose::Fail);
    load.add("ka", Kind::HttpKeepAlive, local(ports.http), &web);
    load.add("close", Kind::HttpClose, local(ports.http), &web);
    load.add("long1", Kind::TcpLong, local(ports.tcp), &tcp);
    load.add("long2", Kind::TcpLong, local(ports.tcp), &tcp);
    load.add("short", Kind::TcpShort, local(ports.tcp), &tcp);

    thread::scope(|scope| {
        let stop = StopOnDrop(&load.stop);
        load.spawn(scope);
        load.try_wait_progress(&[0; 5], 1, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("before the first reload: {e}"));
        for i in 1..=RELOADS {
            let to_b = i % 2 == 1;
            let sig = if i % 4 == 0 {
                libc::SIGUSR2
            } else {
                libc::SIGHUP
            };
            rig.reload_unchecked(if to_b { &cfg_b } else { &cfg_a }, sig);
            if let Err(e) = rig.try_wait_info(i, 0) {
                panic!("reload {i}: {e}\n{}", load.report());
            }
            if let Err(e) = check_load_config(&rig, &ports, to_b, i) {
                panic!(
                    "after reload {i} (to {}): {e}\n{}",
                    if to_b { "B" } else { "A" },
                    load.report()
                );
            }
            // Every client works on this configuration before the next
            // reload.
            let since = load.progress();
            if let Err(e) = load.try_wait_progress(&since, 1, IO_TIMEOUT) {
                panic!("after reload {i}: {e}");
            }
        }
        drop(stop);
    });
    load.assert_clean(RELOADS);

    // The last reload (100) was to A.
    rig.assert_servers(LOAD_A_SERVERS, "after the last reload");
    rig.wait_info(RELOADS, 0);
    let log = rig.p.log();
    assert_changes(
        &log,
        1,
        &[
            "-server 'web/s1'",
            "+server 'web/s3'",
            "-backend 'extra'",
            "-server 'tcp_be/e1'",
            "+server 'tcp_be/e3'",
        ],
    );
    assert_changes(
        &log,
        2,
        &[
            "+server 'web/s1'",
            "-server 'web/s3'",
            "+backend 'extra'",
            "+server 'tcp_be/e1'",
            "-server 'tcp_be/e3'",
        ],
    );
    assert_changes(&log, RELOADS, &["+backend 'extra'"]);
    assert!(!log.contains("reload refused"), "{}", tail_of(&log));
    // Every server of both configurations had traffic.
    for (name, n) in [
        ("s1", sv.s1.seen().len()),
        ("s2", sv.s2.seen().len()),
        ("s3", sv.s3.seen().len()),
        ("x1", sv.x1.seen().len()),
        ("e1", sv.e1.accepted()),
        ("e2", sv.e2.accepted()),
        ("e3", sv.e3.accepted()),
    ] {
        assert!(n > 0, "{name} never served");
    }
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// b) A broken configuration changes nothing
// ---------------------------------------------------------------------------

#[test]
fn broken_reload_under_load_changes_nothing() {
    let sv = LoadServers::start();
    let ports = LoadPorts {
        http: free_port(),
        extra: free_port(),
        tcp: free_port(),
    };
    let mut rig = Rig::start(|sock| load_config(sock, &ports, &sv, false));
    rig.wait_info(0, 0);

    // B (other servers, no `extra`, no `fe_extra`, timeouts 300ms) with three
    // errors: two unknown keywords and a bad server address.
    let b = load_config(&rig.sock, &ports, &sv, true)
        .replace("timeout client 15s", "timeout client 300ms")
        .replace("timeout server 12s", "timeout server 300ms")
        .replace(
            "    default_backend web\n",
            "    frobnicate on\n    default_backend web\n",
        )
        .replace(
            "backend web\n    balance roundrobin\n",
            "backend web\n    balance roundrobin\n    wobble 3\n",
        )
        .replace(
            "backend tcp_be\n    mode tcp\n    balance roundrobin\n",
            "backend tcp_be\n    mode tcp\n    balance roundrobin\n    server e9 127.0.0.1:notaport\n",
        );
    let line_of = |needle: &str| {
        b.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{b}"))
            + 1
    };
    let error_lines = [
        line_of("frobnicate"),
        line_of("wobble"),
        line_of("notaport"),
    ];

    let mut load = Load::new(OnClose::Fail);
    load.add("ka", Kind::HttpKeepAlive, local(ports.http), &["s1", "s2"]);
    load.add("extra", Kind::HttpClose, local(ports.extra), &["x1"]);
    load.add("long", Kind::TcpLong, local(ports.tcp), &["e1", "e2"]);

    let path = rig.cfg_path().to_path_buf();
    thread::scope(|scope| {
        let stop = StopOnDrop(&load.stop);
        load.spawn(scope);
        load.try_wait_progress(&[0; 3], 5, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("before the reload: {e}"));
        rig.reload_unchecked(&b, libc::SIGHUP);
        if let Err(e) = rig.try_wait_info(0, 1) {
            panic!("{e}\n{}", load.report());
        }
        let since = load.progress();
        load.try_wait_progress(&since, 5, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("after the refused reload: {e}"));
        drop(stop);
    });
    load.assert_clean(10);

    // Each error is logged as `ringproxy -c` prints it, then the refusal.
    let check = run_check_files(&[&path]);
    assert_eq!(check.code, Some(1), "{}", check.all());
    let prefix = format!("{}:", path.display());
    let errors: Vec<&str> = check
        .stderr
        .lines()
        .chain(check.stdout.lines())
        .filter(|l| l.starts_with(&prefix))
        .collect();
    for n in error_lines {
        let loc = format!("{prefix}{n}:");
        assert!(
            errors.iter().any(|e| e.starts_with(&loc)),
            "`ringproxy -c` does not report line {n}:\n{}",
            check.all()
        );
    }
    assert!(rig.p.wait_log("reload refused", IO_TIMEOUT));
    let log = rig.p.log();
    let refused_at = log.find("reload refused").unwrap();
    for e in &errors {
        let at = log
            .find(e)
            .unwrap_or_else(|| panic!("error not logged: {e}\nlog:\n{}", tail_of(&log)));
        assert!(at < refused_at, "`{e}` logged after `reload refused`");
    }
    assert!(!log.contains("reload 1 applied"), "{}", tail_of(&log));

    // Nothing changed: servers, binds, rules, timeouts.
    rig.wait_info(0, 1);
    rig.assert_servers(LOAD_A_SERVERS, "after the refused reload");
    assert_eq!(served_by(local(ports.extra), "/fe-extra"), "x1");
    assert_eq!(served_by(local(ports.http), "/extra/rule"), "x1");
    let got: BTreeSet<String> = (0..6)
        .map(|i| served_by(local(ports.http), &format!("/after/{i}")))
        .collect();
    assert_eq!(got, set(&["s1", "s2"]), "web's servers");
    let (mut idle, name) = hello_session(local(ports.tcp)).expect("TCP session");
    assert!(["e1", "e2"].contains(&name.as_str()), "{name}");
    // The refused configuration's 300ms timeouts are not in force.
    assert_open_and_silent(&mut idle, Duration::from_secs(1), "idle TCP session");
    try_echo_line(&mut idle, "still here").unwrap();
    assert_eq!(
        sv.s3.seen().len(),
        0,
        "s3 (refused configuration) got traffic"
    );
    assert_eq!(
        sv.e3.accepted(),
        0,
        "e3 (refused configuration) got traffic"
    );
}

// ---------------------------------------------------------------------------
// c) Binds, backends and servers added and removed
// ---------------------------------------------------------------------------

#[test]
fn reload_adds_and_removes_binds_backends_and_servers() {
    let (s1, s2, s3) = (
        HttpBackend::start("s1"),
        HttpBackend::start("s2"),
        HttpBackend::start("s3"),
    );
    let n1 = HttpBackend::start("n1");
    let o1 = Backend::hello("o1");
    let (p_fe, p_old, p_new) = (free_port(), free_port(), free_port());
    let config = |sock: &Path, b: bool| {
        let mut c = head(sock, 2, "http", "10s", "10s");
        c.push_str(&format!(
            "frontend fe\n    bind 127.0.0.1:{p_fe}\n    default_backend web\n\n\
             backend web\n    balance roundrobin\n"
        ));
        if b {
            c.push_str(&server_lines(&[("s2", s2.addr), ("s3", s3.addr)]));
            c.push_str(&format!(
                "\nfrontend new_fe\n    bind 127.0.0.1:{p_new}\n    default_backend new_be\n\n\
                 backend new_be\n{}",
                server_lines(&[("n1", n1.addr)])
            ));
        } else {
            c.push_str(&server_lines(&[("s1", s1.addr), ("s2", s2.addr)]));
            c.push_str(&format!(
                "\nfrontend old_fe\n    mode tcp\n    bind 127.0.0.1:{p_old}\n    default_backend old_be\n\n\
                 backend old_be\n    mode tcp\n{}",
                server_lines(&[("o1", o1.addr)])
            ));
        }
        c
    };
    let mut rig = Rig::start(|sock| config(sock, false));
    rig.wait_info(0, 0);
    rig.assert_servers(&["old_be/o1", "web/s1", "web/s2"], "with A");
    assert_refused(local(p_new), "new_fe before the reload");
    let (mut old, name) = hello_session(local(p_old)).expect("session on old_fe");
    assert_eq!(name, "o1");
    try_echo_line(&mut old, "before").unwrap();
    let got: BTreeSet<String> = (0..6)
        .map(|i| served_by(local(p_fe), &format!("/a/{i}")))
        .collect();
    assert_eq!(got, set(&["s1", "s2"]));

    rig.reload(&config(&rig.sock, true), libc::SIGHUP);
    rig.wait_info(1, 0);
    // Nothing is in flight: s1 has seen every request it will ever see.
    let s1_seen = s1.seen().len();

    // The new bind accepts and routes to the new backend.
    assert_eq!(served_by(local(p_new), "/new"), "n1");
    // The removed bind refuses new connections...
    assert_refused(local(p_old), "old_fe after the reload");
    // ... while the session it accepted before goes on.
    for i in 0..3 {
        try_echo_line(&mut old, &format!("after {i}")).expect("old session keeps echoing");
    }
    // The new server takes traffic, the removed one none.
    let got: Vec<String> = (0..20)
        .map(|i| served_by(local(p_fe), &format!("/b/{i}")))
        .collect();
    assert!(got.iter().any(|s| s == "s3"), "s3 never picked: {got:?}");
    assert!(got.iter().all(|s| s == "s2" || s == "s3"), "{got:?}");
    assert_eq!(
        s1.seen().len(),
        s1_seen,
        "s1 got requests after its removal"
    );
    assert!(!s3.seen().is_empty());
    rig.assert_servers(&["new_be/n1", "web/s2", "web/s3"], "with B");
    assert_changes(
        &rig.p.log(),
        1,
        &[
            "+backend 'new_be'",
            "-backend 'old_be'",
            "-server 'web/s1'",
            "+server 'web/s3'",
        ],
    );
    drop(old);
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// d) A request in flight to a removed server completes
// ---------------------------------------------------------------------------

#[test]
fn request_in_flight_survives_its_server_being_removed() {
    const BODY: usize = 300_000;
    let s1 = Gated::start("s1");
    let s2 = HttpBackend::start("s2");
    let port = free_port();
    let config = |sock: &Path, b: bool| {
        let servers = if b {
            server_lines(&[("s2", s2.addr)])
        } else {
            server_lines(&[("s1", s1.addr)])
        };
        head(sock, 2, "http", "10s", "10s")
            + &format!(
                "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend web\n\n\
                 backend web\n{servers}"
            )
    };
    let mut rig = Rig::start(|sock| config(sock, false));
    rig.wait_info(0, 0);
    let addr = local(port);
    // Two requests held by s1: one before any byte of its answer, one in
    // the middle of its body.
    let mut mid_body = HttpClient::connect(addr);
    mid_body.send(get_req(&format!("/hold-body/{BODY}"), ""));
    let mut no_answer = HttpClient::connect(addr);
    no_answer.send(get_req("/hold-head/x", ""));
    s1.wait_held(2);

    rig.reload(&config(&rig.sock, true), libc::SIGHUP);
    rig.wait_info(1, 0);
    // Gone from the statistics at once, and no longer picked.
    rig.assert_servers(&["web/s2"], "with requests in flight to s1");
    assert_eq!(served_by(addr, "/meanwhile"), "s2");

    s1.release();
    let r = mid_body.expect_response("answer held mid-body");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert!(
        r.body == pattern(BODY as u64, BODY),
        "body of {} bytes, not the {BODY} sent",
        r.body.len()
    );
    let r = no_answer.expect_response("answer held before its head");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert_eq!(r.server(), "s1");
    // The next request on each keep-alive connection: the new configuration.
    for (c, what) in [(&mut mid_body, "mid-body"), (&mut no_answer, "no-answer")] {
        let r = c.get("/next", "");
        assert_eq!(r.status, 200, "{what}: {}", r.head_str());
        assert_eq!(r.server(), "s2", "{what}");
    }
    assert_eq!(s1.requests(), 2, "s1 got requests after its removal");
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// A removed frontend: its request in flight completes, then the close
// ---------------------------------------------------------------------------

#[test]
fn removed_frontend_finishes_its_request_in_flight_then_closes() {
    let s1 = Gated::start("s1");
    let (p_fe, p_old) = (free_port(), free_port());
    let config = |sock: &Path, b: bool| {
        let mut c = head(sock, 2, "http", "10s", "10s");
        c.push_str(&format!(
            "frontend fe\n    bind 127.0.0.1:{p_fe}\n    default_backend web\n\n"
        ));
        if !b {
            c.push_str(&format!(
                "frontend old_fe\n    bind 127.0.0.1:{p_old}\n    default_backend web\n\n"
            ));
        }
        c.push_str(&format!(
            "backend web\n{}",
            server_lines(&[("s1", s1.addr)])
        ));
        c
    };
    let mut rig = Rig::start(|sock| config(sock, false));
    rig.wait_info(0, 0);
    let mut old = HttpClient::connect(local(p_old));
    let r = old.get("/warm", "");
    assert_eq!((r.status, r.server()), (200, "s1".to_string()));
    assert!(!r.has_token("connection", "close"), "{}", r.head_str());
    old.send(get_req("/hold-head/old", ""));
    let mut kept = HttpClient::connect(local(p_fe));
    kept.send(get_req("/hold-head/kept", ""));
    s1.wait_held(2);

    rig.reload(&config(&rig.sock, true), libc::SIGHUP);
    rig.wait_info(1, 0);
    assert_refused(local(p_old), "old_fe after the reload");
    s1.release();
    let r = old.expect_response("request in flight on the removed frontend");
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert_eq!(r.field("path").as_deref(), Some("/hold-head/old"));
    assert!(
        r.has_token("connection", "close"),
        "the answer announces the close: {}",
        r.head_str()
    );
    let closed = old.expect_closed(CLOSE_BOUND);
    assert!(closed.data.is_empty(), "{:?}", closed.data);
    // On the kept frontend, the keep-alive connection goes on.
    let r = kept.expect_response("request in flight on the kept frontend");
    assert_eq!(r.status, 200, "{}", r.head_str());
    let r = kept.get("/next", "");
    assert_eq!((r.status, r.server()), (200, "s1".to_string()));
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// e) A matched server keeps its counters and its health
// ---------------------------------------------------------------------------

#[test]
fn matched_server_keeps_its_counters() {
    let (s1, s2, s3) = (
        HttpBackend::start("s1"),
        HttpBackend::start("s2"),
        HttpBackend::start("s3"),
    );
    let h1 = FlipServer::start("h1");
    let port = free_port();
    let config = |sock: &Path, b: bool| {
        let web = if b {
            server_lines(&[("s2", s2.addr), ("s3", s3.addr)])
        } else {
            server_lines(&[("s1", s1.addr), ("s2", s2.addr)])
        };
        head(sock, 1, "http", "10s", "10s")
            + &format!(
                "frontend fe\n    bind 127.0.0.1:{port}\n    acl is_hc path_beg /hc\n    use_backend hc if is_hc\n    default_backend web\n\n\
                 backend web\n    balance roundrobin\n{web}\n\
                 backend hc\n    option httpchk GET /health\n    server h1 {} check inter 100ms rise 1 fall 1\n",
                cfg_addr(h1.addr)
            )
    };
    let mut rig = Rig::start(|sock| config(sock, false));
    rig.wait_info(0, 0);
    let addr = local(port);
    let count =
        |servers: &[String], name: &str| servers.iter().filter(|s| *s == name).count() as u64;

    let before: Vec<String> = (0..6)
        .map(|i| served_by(addr, &format!("/a/{i}")))
        .collect();
    let n2 = count(&before, "s2");
    assert!(n2 > 0, "{before:?}");
    // Counters are final once the sessions ended.
    assert!(
        wait_for(IO_TIMEOUT, || {
            rig.stat_num("web", "s2", "stot") == n2 && rig.stat_num("web", "s2", "req_tot") == n2
        }),
        "web/s2 counters: {}",
        rig.stat()
    );
    // h1: down, up, down again (chkdown 2).
    let status = |rig: &Rig| stat_field(&rig.stat(), "hc", "h1", "status");
    for (code, want) in [(503, "DOWN"), (200, "UP"), (503, "DOWN")] {
        h1.set_status(code);
        assert!(
            wait_for(IO_TIMEOUT, || status(&rig) == want),
            "h1 never {want}: {}",
            rig.stat()
        );
    }
    let chkdown = rig.stat_num("hc", "h1", "chkdown");
    assert!(chkdown >= 2, "{}", rig.stat());

    rig.reload(&config(&rig.sock, true), libc::SIGHUP);
    rig.wait_info(1, 0);
    // Right after the reload: the same counters, the same health.
    assert_eq!(rig.stat_num("web", "s2", "stot"), n2, "{}", rig.stat());
    assert_eq!(rig.stat_num("web", "s2", "req_tot"), n2, "{}", rig.stat());
    assert_eq!(status(&rig), "DOWN", "h1 keeps its health: {}", rig.stat());
    assert!(
        rig.stat_num("hc", "h1", "chkdown") >= chkdown,
        "h1 keeps its check counters: {}",
        rig.stat()
    );
    // And they keep counting.
    let after: Vec<String> = (0..6)
        .map(|i| served_by(addr, &format!("/b/{i}")))
        .collect();
    let (m2, m3) = (count(&after, "s2"), count(&after, "s3"));
    assert_eq!(m2 + m3, 6, "{after:?}");
    assert!(
        wait_for(IO_TIMEOUT, || {
            rig.stat_num("web", "s2", "stot") == n2 + m2
                && rig.stat_num("web", "s2", "req_tot") == n2 + m2
                && rig.stat_num("web", "s3", "stot") == m3
        }),
        "expected web/s2 stot {} and web/s3 stot {m3}: {}",
        n2 + m2,
        rig.stat()
    );
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// f) Timeouts changed by a reload apply to new sessions
// ---------------------------------------------------------------------------

#[test]
fn reload_changes_timeouts_for_new_sessions() {
    let e1 = Backend::hello("e1");
    let port = free_port();
    let config = |sock: &Path, t: &str| {
        head(sock, 2, "tcp", "10s", "10s")
            + &listen_section(
                "px",
                port,
                &format!("timeout client {t}\ntimeout server {t}"),
                &[("e1", e1.addr)],
            )
    };
    let mut rig = Rig::start(|sock| config(sock, "10s"));
    rig.wait_info(0, 0);
    let (mut old, name) = hello_session(local(port)).expect("session before the reload");
    assert_eq!(name, "e1");
    try_echo_line(&mut old, "before").unwrap();

    rig.reload(&config(&rig.sock, "300ms"), libc::SIGHUP);
    rig.wait_info(1, 0);
    let (mut new, _) = hello_session(local(port)).expect("session after the reload");
    try_echo_line(&mut new, "new").unwrap();
    // The new session idles out under the new timeouts...
    expect_closed(&mut new, CLOSE_BOUND);
    // ... while the one opened before, idle as long, keeps the old ones.
    try_echo_line(&mut old, "still open").expect("the session opened before the reload");
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// g) SIGUSR2 reloads like SIGHUP
// ---------------------------------------------------------------------------

#[test]
fn sigusr2_reloads_like_sighup() {
    let (s1, s2) = (HttpBackend::start("s1"), HttpBackend::start("s2"));
    let port = free_port();
    let config = |sock: &Path, sv: &HttpBackend| {
        head(sock, 1, "http", "10s", "10s")
            + &format!(
                "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend web\n\n\
                 backend web\n{}",
                server_lines(&[(sv.name.as_str(), sv.addr)])
            )
    };
    let mut rig = Rig::start(|sock| config(sock, &s1));
    rig.wait_info(0, 0);
    let addr = local(port);
    assert_eq!(served_by(addr, "/a"), "s1");
    rig.reload(&config(&rig.sock, &s2), libc::SIGUSR2);
    rig.wait_info(1, 0);
    assert_eq!(served_by(addr, "/b"), "s2");
    assert_changes(&rig.p.log(), 1, &["-server 'web/s1'", "+server 'web/s2'"]);
    rig.reload(&config(&rig.sock, &s1), libc::SIGHUP);
    rig.wait_info(2, 0);
    assert_eq!(served_by(addr, "/c"), "s1");
    assert_changes(&rig.p.log(), 2, &["+server 'web/s1'", "-server 'web/s2'"]);
    rig.p.stop().assert_clean();
}

// ---------------------------------------------------------------------------
// A kept server's weight changed by the file
// ---------------------------------------------------------------------------

#[test]
fn reload_applies_a_kept_servers_new_weight_in_place() {
    let s1 = HttpBackend::start("s1");
    let s2 = HttpBackend::start("s2");
    let port = free_port();
    let config = |sock: &Path, w2: u32| {
        head(sock, 1, "http", "10s", "10s")
            + &format!(
                "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend web\n\n\
                 backend web\n    server s1 {}\n    server s2 {} weight {w2}\n",
                s1.addr, s2.addr
            )
    };
    let mut rig = Rig::start(|sock| config(sock, 1));
    rig.wait_info(0, 0);
    assert_eq!(api(&rig.sock, "get weight web/s2\n"), "1 (initial 1)\n\n");
    assert_eq!(served_by(local(port), "/before"), "s1");
    let before = rig.stat_num("web", "s2", "stot");
    rig.reload(&config(&rig.sock, 3), libc::SIGHUP);
    rig.wait_info(1, 0);
    // The same server (its counters go on), with the file's new weight,
    // which is also its initial weight from now on.
    assert_eq!(api(&rig.sock, "get weight web/s2\n"), "3 (initial 3)\n\n");
    assert!(rig.stat_num("web", "s2", "stot") >= before);
    assert_changes(&rig.p.log(), 1, &["~server 'web/s2' (weight 3)"]);
    let log = rig.p.log();
    assert!(!log.contains("-server 'web/s2'"), "{}", tail_of(&log));
    rig.p.stop().assert_clean();
}
