//! The runtime API end to end: the real binary with `stats socket` lines,
//! talked to with the real `socat` and with std sockets.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// A client over std: writes, then reads until `done` matches what came.
struct Cli(UnixStream);

impl Cli {
    fn connect(path: &Path) -> Cli {
        let s = UnixStream::connect(path).expect("connect to the API socket");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        Cli(s)
    }

    fn send(&mut self, text: &str) {
        self.0.write_all(text.as_bytes()).expect("write");
    }

    /// Reads until the output ends with `end` (5 s bound).
    fn until(&mut self, end: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).ends_with(end) {
            assert!(
                Instant::now() < deadline,
                "no '{end:?}' in {:?}",
                String::from_utf8_lossy(&got)
            );
            match self.0.read(&mut buf) {
                Ok(0) => panic!(
                    "closed before '{end:?}': {:?}",
                    String::from_utf8_lossy(&got)
                ),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// True when the API closes the connection within `bound`.
    fn closed_within(&mut self, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.0.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => {}
            }
        }
        false
    }
}

/// A TCP listen section `px` on a fresh port in front of hello backends,
/// with the given global lines.
fn tcp_proxy(global: &str, balance: &str, servers: &[&Backend]) -> (Proxy, SocketAddr) {
    let port = free_port();
    let names: Vec<String> = (1..=servers.len()).map(|i| format!("s{i}")).collect();
    let servers: Vec<(&str, SocketAddr)> = names
        .iter()
        .zip(servers)
        .map(|(n, b)| (n.as_str(), b.addr))
        .collect();
    let body = listen_section("px", port, &format!("balance {balance}"), &servers);
    let cfg = mode_config("tcp", 1, global, &body);
    (Proxy::start(&cfg), SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Connects through the proxy and returns the greeting server's name.
fn served_by(addr: SocketAddr) -> String {
    let mut c = connect(addr);
    read_line(&mut c).expect("greeting")
}

fn field<'a>(info: &'a str, key: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
}

#[test]
fn show_info_over_socat_unix_and_tcp() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let port = free_port();
    let b = Backend::hello("s1");
    let global = format!(
        "    stats socket {} mode 600 level admin\n    stats socket ipv4@127.0.0.1:{port}\n",
        sock.display()
    );
    let (p, addr) = tcp_proxy(&global, "roundrobin", &[&b]);
    let mut got = String::new();
    TcpStream::connect(addr)
        .and_then(|mut c| {
            c.shutdown(std::net::Shutdown::Write)?;
            c.read_to_string(&mut got)
        })
        .expect("one session through the proxy");
    assert_eq!(got, "s1\n");
    // The session's bytes are counted when its stream ends, just after the
    // client saw the server's close.
    assert!(
        wait_for(Duration::from_secs(5), || {
            field(&api(&sock, "show info\n"), "TotalBytesOut") == Some("3")
        }),
        "the 3 bytes sent to the client: {}",
        api(&sock, "show info\n")
    );
    let info = api(&sock, "show info\n");
    assert_eq!(field(&info, "CumConns"), Some("1"));
    assert!(
        info.ends_with("\n\n"),
        "output then an empty line: {info:?}"
    );
    assert_eq!(field(&info, "Name"), Some("ringproxy"));
    assert_eq!(field(&info, "Pid"), Some(p.pid().to_string().as_str()));
    assert_eq!(field(&info, "Nbthread"), Some("1"));
    assert_eq!(field(&info, "Nbproc"), Some("1"));
    assert!(field(&info, "Uptime_sec").is_some_and(|v| v.parse::<u64>().is_ok()));
    assert!(field(&info, "Maxconn").is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0)));
    let keys: Vec<&str> = info.lines().filter_map(|l| l.split(": ").next()).collect();
    let order = [
        "Name",
        "Version",
        "Nbthread",
        "Pid",
        "Uptime",
        "Ulimit-n",
        "Maxconn",
        "CurrConns",
        "CumConns",
        "Tainted",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| {
            keys.iter()
                .position(|x| x == k)
                .unwrap_or_else(|| panic!("no {k}"))
        })
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "HAProxy's order: {keys:?}"
    );
    let tcp = socat(&format!("tcp4-connect:127.0.0.1:{port}"), "show info\n");
    assert_eq!(field(&tcp, "Pid"), field(&info, "Pid"));
    let mode = std::fs::metadata(&sock)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stopped = p.stop();
    assert_eq!(stopped.code(), Some(0));
    assert!(!sock.exists(), "socket file removed at exit");
}

#[test]
fn show_stat_structure_and_live_gauges() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let (s1, s2) = (Backend::hello("s1"), Backend::hello("s2"));
    let global = format!("    stats socket {} level admin\n", sock.display());
    let (_p, addr) = tcp_proxy(&global, "roundrobin", &[&s1, &s2]);
    let mut held = connect(addr);
    assert_eq!(read_line(&mut held).expect("greeting"), "s1");
    let stat = api(&sock, "show stat\n");
    let mut lines = stat.lines();
    let header = lines.next().expect("header");
    assert!(header.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,"));
    assert!(header.ends_with(",uweight,agg_server_check_status,"));
    let names: Vec<&str> = header[2..].split(',').collect();
    let col = |n: &str| names.iter().position(|x| *x == n).expect("column");
    let rows: Vec<Vec<&str>> = lines
        .take_while(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
        .collect();
    let ids: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        ids,
        [
            ("px", "FRONTEND"),
            ("px", "s1"),
            ("px", "s2"),
            ("px", "BACKEND")
        ]
    );
    assert!(rows.iter().all(|r| r.len() == names.len()));
    let get = |r: usize, n: &str| rows[r][col(n)];
    assert_eq!(
        (get(0, "scur"), get(0, "status"), get(0, "type")),
        ("1", "OPEN", "0")
    );
    assert_eq!(
        (get(1, "scur"), get(1, "status"), get(1, "type")),
        ("1", "no check", "2")
    );
    assert_eq!((get(2, "scur"), get(2, "sid")), ("0", "2"));
    assert_eq!(get(1, "addr"), s1.addr.to_string());
    assert_eq!(
        (get(3, "status"), get(3, "weight"), get(3, "act")),
        ("UP", "2", "2")
    );
    assert_eq!((get(3, "mode"), get(3, "algo")), ("tcp", "roundrobin"));
    let info = api(&sock, "show info\n");
    assert_eq!(field(&info, "CurrConns"), Some("1"));
    drop(held);
    assert!(wait_for(Duration::from_secs(5), || {
        let s = api(&sock, "show stat -1 4 1\n");
        s.lines()
            .nth(1)
            .is_some_and(|l| l.split(',').nth(4) == Some("0"))
    }));
}

#[test]
fn weights_and_states_steer_traffic() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let (s1, s2) = (Backend::hello("s1"), Backend::hello("s2"));
    let global = format!("    stats socket {} level admin\n", sock.display());
    let (_p, addr) = tcp_proxy(&global, "roundrobin", &[&s1, &s2]);
    assert_eq!(api(&sock, "set server px/s1 state maint\n"), "\n");
    let got: Vec<String> = (0..4).map(|_| served_by(addr)).collect();
    assert_eq!(got, ["s2", "s2", "s2", "s2"]);
    let state = api(&sock, "show servers state px\n");
    let rows: Vec<Vec<&str>> = state
        .lines()
        .skip(2)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split(' ').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{state}");
    assert_eq!(
        (rows[0][3], rows[0][5], rows[0][6]),
        ("s1", "0", "1"),
        "stopped, forced maintenance"
    );
    assert_eq!((rows[1][3], rows[1][5], rows[1][6]), ("s2", "2", "0"));
    assert!(
        api(&sock, "show stat\n").contains("\npx,s1,")
            && api(&sock, "show stat\n").contains(",MAINT,")
    );
    assert_eq!(api(&sock, "set server px/s1 state ready\n"), "\n");
    assert_eq!(
        api(&sock, "set weight px/s2 3; get weight px/s2\n"),
        "\n3 (initial 1)\n\n"
    );
    let mut counts = [0, 0];
    for _ in 0..8 {
        match served_by(addr).as_str() {
            "s1" => counts[0] += 1,
            _ => counts[1] += 1,
        }
    }
    assert_eq!(counts, [2, 6], "weights 1 and 3");
    assert_eq!(
        api(
            &sock,
            "disable server px/s2; enable server px/s2; get weight px/s1\n"
        ),
        "\n\n1 (initial 1)\n\n"
    );
    assert_eq!(api(&sock, "set server px/s2 state drain\n"), "\n");
    assert_eq!(served_by(addr), "s1");
    assert_eq!(served_by(addr), "s1");
    assert_eq!(api(&sock, "set maxconn server px/s1 5\n"), "\n");
    let s = api(&sock, "show stat -1 4 1\n");
    assert_eq!(
        s.lines().nth(1).and_then(|l| l.split(',').nth(6)),
        Some("5"),
        "slim"
    );
    assert_eq!(api(&sock, "set weight px/nope 1\n"), "No such server.\n\n");
    assert_eq!(api(&sock, "get weight nope/s1\n"), "No such backend.\n\n");
}

#[test]
fn levels_are_refused_with_haproxy_wording() {
    let dir = TempDir::new();
    let (u, o) = (dir.path.join("user.sock"), dir.path.join("oper.sock"));
    let b = Backend::hello("s1");
    let global = format!(
        "    stats socket {} level user\n    stats socket {}\n",
        u.display(),
        o.display()
    );
    let (_p, _) = tcp_proxy(&global, "roundrobin", &[&b]);
    assert_eq!(api(&u, "show cli level\n"), "user\n\n");
    assert_eq!(
        api(&o, "show cli level\n"),
        "operator\n\n",
        "HAProxy's default level"
    );
    assert_eq!(api(&u, "set weight px/s1 2\n"), "Permission denied\n\n");
    assert_eq!(api(&u, "show sess\n"), "Permission denied\n\n");
    assert_eq!(api(&o, "set weight px/s1 2\n"), "Permission denied\n\n");
    assert_eq!(api(&o, "disable server px/s1\n"), "Permission denied\n\n");
    assert_eq!(api(&o, "show sess\n"), "\n", "operators list streams");
    assert_eq!(api(&u, "get weight px/s1\n"), "1 (initial 1)\n\n");
    assert_eq!(
        api(&o, "user; set weight px/s1 1; show cli level\n"),
        "\nPermission denied\n\nuser\n\n"
    );
    let unknown = api(&u, "frobnicate\n");
    assert!(
        unknown.starts_with(
            "Unknown command, but maybe one of the following ones is a better match:\n"
        )
    );
    assert!(unknown.ends_with("  quit                                    : disconnect\n\n"));
    let help = api(&u, "help\n");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    assert!(help.contains("\n  show stat "));
}

#[test]
fn prompt_mode_keeps_the_connection_and_quit_closes_it() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let b = Backend::hello("s1");
    let global = format!("    stats socket {} level admin\n", sock.display());
    let (_p, _) = tcp_proxy(&global, "roundrobin", &[&b]);
    let mut c = Cli::connect(&sock);
    c.send("prompt\n");
    assert_eq!(c.until("> "), "\n> ");
    c.send("show cli level\n");
    assert_eq!(c.until("> "), "admin\n\n> ");
    c.send("get weight px/s1; show version\n");
    let got = c.until(&format!("{}\n\n> ", env!("CARGO_PKG_VERSION")));
    assert!(got.starts_with("1 (initial 1)\n\n> "), "{got:?}");
    c.send("quit\n");
    assert!(c.closed_within(Duration::from_secs(2)), "quit closes");
    // Non-interactive: the connection closes after the line.
    let mut n = Cli::connect(&sock);
    n.send("show cli level\n");
    assert_eq!(n.until("\n\n"), "admin\n\n");
    assert!(n.closed_within(Duration::from_secs(2)));
}

#[test]
fn idle_clients_time_out_and_a_slow_wait_stalls_nobody() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let b = Backend::hello("s1");
    let global = format!(
        "    stats socket {} level admin\n    stats timeout 300ms\n",
        sock.display()
    );
    let (_p, _) = tcp_proxy(&global, "roundrobin", &[&b]);
    let mut idle = Cli::connect(&sock);
    idle.send("prompt\n");
    idle.until("> ");
    assert!(
        idle.closed_within(Duration::from_secs(3)),
        "closed after stats timeout"
    );
    let mut waiter = Cli::connect(&sock);
    waiter.send("prompt\nwait 1500\n");
    waiter.until("\n> ");
    let t0 = Instant::now();
    let quick = api(&sock, "show version\n");
    assert_eq!(quick, format!("{}\n\n", env!("CARGO_PKG_VERSION")));
    assert!(
        t0.elapsed() < Duration::from_millis(1000),
        "not stalled by the wait"
    );
    assert_eq!(waiter.until("Done.\n\n> "), "Done.\n\n> ");
    assert!(t0.elapsed() >= Duration::from_millis(1000));
    // A half-closed client interrupts a wait (socat's usual way), also when
    // the close comes after the wait started.
    assert_eq!(api(&sock, "wait 5s\n"), "Interrupted.\n\n");
    let mut late = Cli::connect(&sock);
    late.send("wait 5s\n");
    thread::sleep(Duration::from_millis(200));
    late.0
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    let t0 = Instant::now();
    assert_eq!(late.until("Interrupted.\n\n"), "Interrupted.\n\n");
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn stale_socket_is_replaced_and_bind_errors_name_the_line() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    drop(UnixListener::bind(&sock).expect("stale socket"));
    assert!(
        std::fs::metadata(&sock)
            .expect("stale")
            .file_type()
            .is_socket()
    );
    let b = Backend::hello("s1");
    let global = format!("    stats socket {} level admin\n", sock.display());
    let (p, _) = tcp_proxy(&global, "roundrobin", &[&b]);
    assert_eq!(api(&sock, "show cli level\n"), "admin\n\n");
    // A second process may not steal a live socket.
    let cfg = dir.write(
        "again.cfg",
        &format!("global\n    stats socket {}\nlisten x\n    bind 127.0.0.1:{}\n    server a 127.0.0.1:1\n", sock.display(), free_port()),
    );
    let out = run_cli(&[std::ffi::OsString::from("-f"), cfg.into_os_string()], &[]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.all()
            .contains("again.cfg:2: cannot bind 'stats socket' unix@"),
        "{}",
        out.all()
    );
    assert!(
        out.all().contains("another process is listening on it"),
        "{}",
        out.all()
    );
    drop(p);
    let missing = dir.write(
        "missing.cfg",
        &format!("global\n    stats socket {}/no/such/dir/a.sock\nlisten x\n    bind 127.0.0.1:{}\n    server a 127.0.0.1:1\n", dir.path.display(), free_port()),
    );
    let out = run_cli(
        &[std::ffi::OsString::from("-f"), missing.into_os_string()],
        &[],
    );
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.all()
            .contains("missing.cfg:2: cannot bind 'stats socket'"),
        "{}",
        out.all()
    );
}

#[test]
fn add_and_del_server_answers_in_haproxy_words() {
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let b = Backend::hello("s1");
    let global = format!("    stats socket {} level admin\n", sock.display());
    let (_p, _) = tcp_proxy(&global, "roundrobin", &[&b]);
    assert_eq!(
        api(&sock, "add server px/s1 127.0.0.1:9\n"),
        "Already exists a server with the same name in backend.\n"
    );
    assert_eq!(
        api(&sock, "add server nope/x 127.0.0.1:9\n"),
        "No such backend.\n"
    );
    assert_eq!(
        api(&sock, "add server px/x 127.0.0.1:9 frob\n"),
        "unknown keyword 'frob'.\n"
    );
    assert_eq!(
        api(&sock, "add server px/x 127.0.0.1:9 weight 2\n"),
        "New server registered.\n\n"
    );
    assert_eq!(api(&sock, "del server px/zz\n"), "No such server.\n");
    assert_eq!(
        api(&sock, "del server px/s1\n"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    assert_eq!(
        api(&sock, "wait 1s srv-removable px/s1\n"),
        "Interrupted.\n\n",
        "not in maintenance: waits, and socat's close interrupts"
    );
}

#[test]
fn tcp_socket_serves_several_commands_per_line() {
    let port = free_port();
    let b = Backend::hello("s1");
    let global = format!("    stats socket 127.0.0.1:{port} level operator\n");
    let (_p, _) = tcp_proxy(&global, "roundrobin", &[&b]);
    let out = socat(
        &format!("tcp4-connect:127.0.0.1:{port}"),
        "show cli level; show backend; get weight px/s1\n",
    );
    assert_eq!(out, "operator\n\n# name\npx\n\n1 (initial 1)\n\n");
    let mut t = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    t.write_all(b"show version\n").expect("write");
    let mut s = String::new();
    t.read_to_string(&mut s).expect("read until the API closes");
    assert_eq!(s, format!("{}\n\n", env!("CARGO_PKG_VERSION")));
    thread::sleep(Duration::from_millis(10));
}
