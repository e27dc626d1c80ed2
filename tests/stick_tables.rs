//! Stick tables end to end (issue 7, seed 002): exact `conn_cur` across
//! shards, embryonic sessions and keep-alive sessions running many streams;
//! limits that act exactly at their threshold; rates over a window; expiry;
//! `show table` / `clear table` / `set table` as HAProxy prints them.
//!
//! Counts the test causes are asserted exactly. Closing is asynchronous
//! (the proxy sees a client's FIN when it sees it), so the return to zero is
//! polled with a generous bound; nothing is asserted to happen within a
//! short delay.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::thread;
use std::time::{Duration, Instant};

/// A proxy with an admin API socket; `body` is the proxy sections.
fn start(dir: &TempDir, nbthread: usize, mode: &str, body: &str) -> (Proxy, ApiPrompt) {
    let sock = dir.path.join("api.sock");
    let cfg = mode_config(
        mode,
        nbthread,
        &format!("    stats socket {} level admin", sock.display()),
        body,
    );
    let p = Proxy::start(&cfg);
    let api = ApiPrompt::open(&sock);
    (p, api)
}

/// The data of `key` in `table` (`use`, `exp`, `conn_cur`, ...), from
/// `show table T key K`; None when there is no such entry.
fn entry(api: &mut ApiPrompt, table: &str, key: &str) -> Option<HashMap<String, String>> {
    let out = api.cmd(&format!("show table {table} key {key}"));
    let line = out.lines().nth(1)?;
    let mut m = HashMap::new();
    for w in line.split(' ').skip(1) {
        let (k, v) = w
            .split_once('=')
            .unwrap_or_else(|| panic!("field {w:?} in {line}"));
        // `http_req_rate(10000)` -> `http_req_rate`
        let k = k.split('(').next().unwrap();
        m.insert(k.to_string(), v.to_string());
    }
    Some(m)
}

fn num(e: &HashMap<String, String>, k: &str) -> i64 {
    e.get(k)
        .unwrap_or_else(|| panic!("no {k} in {e:?}"))
        .parse()
        .unwrap()
}

/// Polls entry `key` until `cond` holds (20 s bound); returns it.
fn entry_until(
    api: &mut ApiPrompt,
    table: &str,
    key: &str,
    what: &str,
    cond: impl Fn(Option<&HashMap<String, String>>) -> bool,
) -> Option<HashMap<String, String>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let e = entry(api, table, key);
        if cond(e.as_ref()) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}: {e:?}\n{}",
            api.cmd(&format!("show table {table}"))
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP connection from `src` (any 127.0.0.0/8 address) to `to`.
fn connect_from(src: Ipv4Addr, to: SocketAddr) -> TcpStream {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(std::net::SocketAddrV4::new(src, 0)),
    )
    .expect("bind the client address");
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(to)).expect("connect");
    // SAFETY: `fd` is a connected socket we own; ownership moves.
    let s = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// One echo exchange: proves the connection is proxied (and tracked).
fn echo(s: &mut TcpStream) {
    s.write_all(b"ping\n").unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).expect("echo through the proxy");
    assert_eq!(&b, b"ping\n");
}

fn tcp_listen(port: u16, extra: &str, be: SocketAddr) -> String {
    listen_section("px", port, extra, &[("s1", be)])
}

const TABLE: &str = "stick-table type ip size 1k expire 60s store conn_cur,conn_cnt,sess_cnt,http_req_cnt,http_req_rate(60s),http_err_cnt,bytes_in_cnt,bytes_out_cnt,gpc0";

#[test]
fn conn_cur_is_exact_across_shards_and_keys() {
    const PER_KEY: usize = 60;
    let dir = TempDir::new();
    let be = Backend::echo("s1");
    let port = free_port();
    let extra = format!("{TABLE}\ntcp-request connection track-sc0 src");
    let (p, mut api) = start(&dir, 3, "tcp", &tcp_listen(port, &extra, be.addr));
    let addr = SocketAddr::new(LOCALHOST, port);
    let keys: Vec<Ipv4Addr> = (1..=3).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let mut conns: Vec<(Ipv4Addr, TcpStream)> = Vec::new();
    for _ in 0..PER_KEY {
        for k in &keys {
            let mut s = connect_from(*k, addr);
            echo(&mut s);
            conns.push((*k, s));
        }
    }
    // Every connection has been served, so each was accepted and tracked
    // by whichever shard took it: the counts are exact at once.
    for k in &keys {
        let e = entry(&mut api, "px", &k.to_string()).expect("entry");
        assert_eq!(num(&e, "conn_cur"), PER_KEY as i64, "{k}: {e:?}");
        assert_eq!(num(&e, "use"), PER_KEY as i64, "{k}: {e:?}");
        assert_eq!(num(&e, "conn_cnt"), PER_KEY as i64, "{k}: {e:?}");
        assert_eq!(num(&e, "sess_cnt"), PER_KEY as i64, "{k}: {e:?}");
    }
    // The connections were spread over the shards.
    let info = api.cmd("show info");
    assert!(info.contains("Nbthread: 3"), "{info}");
    // Close the first key's connections and half of the second's.
    let mut kept = Vec::new();
    let mut closed_second = 0;
    for (k, s) in conns {
        if k == keys[0] || (k == keys[1] && closed_second < PER_KEY / 2) {
            if k == keys[1] {
                closed_second += 1;
            }
            drop(s);
        } else {
            kept.push((k, s));
        }
    }
    entry_until(&mut api, "px", "127.0.0.1", "127.0.0.1 back to 0", |e| {
        e.is_some_and(|e| num(e, "conn_cur") == 0 && num(e, "use") == 0)
    });
    let e = entry_until(&mut api, "px", "127.0.0.2", "127.0.0.2 at half", |e| {
        e.is_some_and(|e| num(e, "conn_cur") == (PER_KEY / 2) as i64)
    })
    .unwrap();
    assert_eq!(num(&e, "conn_cnt"), PER_KEY as i64);
    let e = entry(&mut api, "px", "127.0.0.3").unwrap();
    assert_eq!(num(&e, "conn_cur"), PER_KEY as i64);
    // The tracked entries carry the bytes of their sessions' streams once
    // those end.
    drop(kept);
    for k in &keys {
        let e = entry_until(&mut api, "px", &k.to_string(), "back to 0", |e| {
            e.is_some_and(|e| num(e, "conn_cur") == 0 && num(e, "use") == 0)
        })
        .unwrap();
        assert_eq!(num(&e, "bytes_in_cnt"), 5 * PER_KEY as i64, "{k}: {e:?}");
        assert_eq!(num(&e, "bytes_out_cnt"), 5 * PER_KEY as i64, "{k}: {e:?}");
    }
    p.stop();
}

#[test]
fn embryonic_sessions_give_their_count_back() {
    let dir = TempDir::new();
    let be = Backend::echo("s1");
    let port = free_port();
    let body = format!(
        "listen px\n    bind 127.0.0.1:{port} accept-proxy\n    timeout client-hs 300ms\n{}    server s1 {}\n",
        indent(&format!("{TABLE}\ntcp-request connection track-sc0 src")),
        cfg_addr(be.addr)
    );
    let (p, mut api) = start(&dir, 2, "tcp", &body);
    let addr = SocketAddr::new(LOCALHOST, port);
    // Embryonic sessions: half a PROXY header then silence (killed by the
    // handshake timeout), half a header then a close, a malformed header.
    let mut silent = Vec::new();
    for _ in 0..5 {
        let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 9), addr);
        s.write_all(b"PROXY TCP4 1.2.").unwrap();
        silent.push(s);
    }
    for _ in 0..5 {
        let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 9), addr);
        s.write_all(b"PROXY TCP4 1.2.").unwrap();
        drop(s);
    }
    for _ in 0..5 {
        let mut s = connect_from(Ipv4Addr::new(127, 0, 0, 9), addr);
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut b = [0u8; 16];
        // Closed by the proxy without an answer.
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));
    }
    // One full session, still open, from the same address.
    let mut full = connect_from(Ipv4Addr::new(127, 0, 0, 9), addr);
    full.write_all(&proxy_v1(
        "10.0.0.1:1000".parse().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
    ))
    .unwrap();
    echo(&mut full);
    // The silent ones are killed by the handshake timeout; then only the
    // full session counts.
    for s in &mut silent {
        let mut b = [0u8; 1];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)), "killed");
    }
    let e = entry_until(
        &mut api,
        "px",
        "127.0.0.9",
        "only the full session left",
        |e| e.is_some_and(|e| num(e, "conn_cur") == 1),
    )
    .unwrap();
    assert_eq!(num(&e, "conn_cnt"), 16);
    // Only the session that completed its handshake counts as a session.
    assert_eq!(num(&e, "sess_cnt"), 1);
    drop(full);
    entry_until(&mut api, "px", "127.0.0.9", "none left", |e| {
        e.is_some_and(|e| num(e, "conn_cur") == 0 && num(e, "use") == 0)
    });
    p.stop();
}

fn http_body(port: u16, extra: &str, be: SocketAddr) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n{}    default_backend be\n\nbackend per_req\n    stick-table type ip size 1k expire 60s store conn_cur,conn_cnt,http_req_cnt\n\nbackend be\n    server s1 {}\n",
        indent(extra),
        cfg_addr(be)
    )
}

#[test]
fn keepalive_session_counts_once_and_streams_own_their_entries() {
    const N: i64 = 40;
    let dir = TempDir::new();
    let be = HttpBackend::start("s1");
    let port = free_port();
    // sc0: the session's (connection rule); the content rule on sc0 must be
    // ignored (already tracked by the session: seed 002); sc1: per request.
    let extra = format!(
        "{TABLE}\ntcp-request connection track-sc0 src\ntcp-request content track-sc0 src\nhttp-request track-sc1 src table per_req"
    );
    let (p, mut api) = start(&dir, 2, "http", &http_body(port, &extra, be.addr));
    let addr = SocketAddr::new(LOCALHOST, port);
    let mut c = HttpClient::connect(addr);
    for i in 0..N {
        let r = c.get("/", "");
        assert_eq!(r.status, 200);
        if i == N / 2 {
            let e = entry(&mut api, "fe", "127.0.0.1").unwrap();
            assert_eq!(num(&e, "conn_cur"), 1, "{e:?}");
            assert_eq!(num(&e, "use"), 1, "{e:?}");
            // The previous request's stream is over: its own entry too.
            let r = entry_until(&mut api, "per_req", "127.0.0.1", "request ended", |e| {
                e.is_some_and(|e| num(e, "use") == 0)
            })
            .unwrap();
            assert_eq!(num(&r, "conn_cur"), 0, "{r:?}");
        }
    }
    let r = c.get("/missing-page", "");
    assert_eq!(r.status, 200, "the test backend answers every path");
    let e = entry(&mut api, "fe", "127.0.0.1").unwrap();
    assert_eq!(num(&e, "conn_cur"), 1, "{e:?}");
    assert_eq!(num(&e, "conn_cnt"), 1, "{e:?}");
    assert_eq!(num(&e, "sess_cnt"), 1, "{e:?}");
    assert_eq!(num(&e, "http_req_cnt"), N + 1, "{e:?}");
    assert_eq!(num(&e, "http_req_rate"), N + 1, "{e:?}");
    let r = entry_until(
        &mut api,
        "per_req",
        "127.0.0.1",
        "last request ended",
        |e| e.is_some_and(|e| num(e, "use") == 0),
    )
    .unwrap();
    // Each request tracked it once: one connection count per stream.
    assert_eq!(num(&r, "conn_cnt"), N + 1, "{r:?}");
    assert_eq!(num(&r, "http_req_cnt"), N + 1, "{r:?}");
    assert_eq!(num(&r, "conn_cur"), 0, "{r:?}");
    drop(c);
    let e = entry_until(&mut api, "fe", "127.0.0.1", "session ended", |e| {
        e.is_some_and(|e| num(e, "conn_cur") == 0 && num(e, "use") == 0)
    })
    .unwrap();
    assert!(num(&e, "bytes_out_cnt") > 0, "{e:?}");
    p.stop();
}

#[test]
fn limits_act_exactly_at_their_threshold() {
    let dir = TempDir::new();
    let be = HttpBackend::start("s1");
    let port = free_port();
    let extra = format!(
        "{TABLE}\ntcp-request connection track-sc0 src\ntcp-request connection reject if {{ sc0_conn_cur gt 3 }}\nhttp-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 5 }}"
    );
    let (p, mut api) = start(&dir, 2, "http", &http_body(port, &extra, be.addr));
    let addr = SocketAddr::new(LOCALHOST, port);
    // Three connections are served, the fourth is refused (closed with no
    // answer), and counted in the frontend's denied connections.
    let mut cs: Vec<HttpClient> = (0..3).map(|_| HttpClient::connect(addr)).collect();
    for c in &mut cs {
        assert_eq!(c.get("/", "").status, 200);
    }
    let mut fourth = HttpClient::connect(addr);
    fourth.send(get_req("/", ""));
    assert!(
        fourth.read_response(false).is_err(),
        "the 4th connection must be refused"
    );
    let stat = api.cmd("show stat");
    assert_eq!(stat_field(&stat, "fe", "FRONTEND", "dcon"), "1", "{stat}");
    // Requests 1 to 5 within the window pass (3 already sent), the 6th and
    // later get 429.
    assert_eq!(cs[0].get("/", "").status, 200);
    assert_eq!(cs[1].get("/", "").status, 200);
    let r = cs[2].get("/", "");
    assert_eq!(r.status, 429, "6th request: {}", r.head_str());
    // A freed slot admits a new connection.
    drop(cs.pop());
    entry_until(&mut api, "fe", "127.0.0.1", "one connection gone", |e| {
        e.is_some_and(|e| num(e, "conn_cur") == 2)
    });
    let mut again = HttpClient::connect(addr);
    let r = again.get("/", "");
    assert_eq!(r.status, 429, "admitted, but still over the rate");
    // (A deny closes its connection: this one no longer counts.)
    drop(again);
    entry_until(
        &mut api,
        "fe",
        "127.0.0.1",
        "the denied connection gone",
        |e| e.is_some_and(|e| num(e, "conn_cur") == 2),
    );
    // An operator resets the rate: requests pass again.
    assert_eq!(
        api.cmd("set table fe key 127.0.0.1 data.http_req_rate 0"),
        ""
    );
    let mut again = HttpClient::connect(addr);
    assert_eq!(again.get("/", "").status, 200);
    p.stop();
}

#[test]
fn rates_slide_over_their_window() {
    let dir = TempDir::new();
    let be = HttpBackend::start("s1");
    let port = free_port();
    let extra = "stick-table type ip size 1k expire 60s store http_req_rate(1s),http_req_cnt\nhttp-request track-sc0 src";
    let (p, mut api) = start(&dir, 1, "http", &http_body(port, extra, be.addr));
    let addr = SocketAddr::new(LOCALHOST, port);
    let mut c = HttpClient::connect(addr);
    let t0 = Instant::now();
    for _ in 0..4 {
        assert_eq!(c.get("/", "").status, 200);
    }
    // The period starts at the first request: read within it, the rate is
    // every request so far; past it, a share of them; never more.
    let e = entry(&mut api, "fe", "127.0.0.1").unwrap();
    let rate = num(&e, "http_req_rate");
    assert!(rate <= 4, "{e:?}");
    if t0.elapsed() < Duration::from_millis(1000) {
        assert_eq!(rate, 4, "{e:?}");
    }
    // Two periods later the window holds nothing; the count stays.
    thread::sleep(Duration::from_millis(2100));
    let e = entry(&mut api, "fe", "127.0.0.1").unwrap();
    assert_eq!(num(&e, "http_req_rate"), 0, "{e:?}");
    assert_eq!(num(&e, "http_req_cnt"), 4, "{e:?}");
    // A request now starts a new window.
    assert_eq!(c.get("/", "").status, 200);
    let e = entry(&mut api, "fe", "127.0.0.1").unwrap();
    assert_eq!(num(&e, "http_req_rate"), 1, "{e:?}");
    p.stop();
}

#[test]
fn tracked_entries_do_not_expire() {
    let dir = TempDir::new();
    let be = Backend::echo("s1");
    let port = free_port();
    let extra = "stick-table type ip size 1k expire 200ms store conn_cur\ntcp-request connection track-sc0 src";
    let (p, mut api) = start(&dir, 1, "tcp", &tcp_listen(port, extra, be.addr));
    let mut s = connect(SocketAddr::new(LOCALHOST, port));
    echo(&mut s);
    thread::sleep(Duration::from_millis(600));
    let e = entry(&mut api, "px", "127.0.0.1").expect("a tracked entry stays");
    assert_eq!(num(&e, "conn_cur"), 1);
    drop(s);
    // Released, it lives `expire` more, then leaves the table.
    entry_until(
        &mut api,
        "px",
        "127.0.0.1",
        "expired after its release",
        |e| e.is_none(),
    );
    assert_eq!(
        api.cmd("show table px"),
        "# table: px, type: ip, size:1024, used:0"
    );
    p.stop();
}

#[test]
fn show_clear_and_set_table_as_haproxy() {
    let dir = TempDir::new();
    let be = Backend::echo("s1");
    let port = free_port();
    let extra = "stick-table type ip size 100k expire 30s store gpc0,conn_cnt,conn_rate(10s),conn_cur\ntcp-request connection track-sc0 src\ntcp-request connection sc-inc-gpc0(0)";
    let body = format!(
        "{}\nbackend other\n    stick-table type string len 8 size 10 store http_req_cnt\n",
        tcp_listen(port, extra, be.addr)
    );
    let (p, mut api) = start(&dir, 2, "tcp", &body);
    let addr = SocketAddr::new(LOCALHOST, port);
    let mut s = connect(addr);
    echo(&mut s);
    let mut s2 = connect(addr);
    echo(&mut s2);
    assert_eq!(
        api.cmd("show table"),
        "# table: px, type: ip, size:102400, used:1\n# table: other, type: string, size:10, used:0"
    );
    let out = api.cmd("show table px");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# table: px, type: ip, size:102400, used:1");
    let re = regex::Regex::new(
        r"^0x[0-9a-f]+: key=127\.0\.0\.1 use=2 exp=\d+ gpc0=2 conn_cnt=2 conn_rate\(10000\)=2 conn_cur=2$",
    )
    .unwrap();
    assert!(re.is_match(lines[1]), "{out}");
    assert_eq!(lines.len(), 2, "{out}");
    // Filters.
    assert_eq!(
        api.cmd("show table px data.conn_cur gt 2").lines().count(),
        1
    );
    assert_eq!(
        api.cmd("show table px data.conn_cur eq 2").lines().count(),
        2
    );
    assert_eq!(api.cmd("show table px key 10.9.9.9"), "");
    // set creates, string keys are truncated to their length.
    assert_eq!(
        api.cmd("set table other key abcdefghijk data.http_req_cnt 42"),
        ""
    );
    let out = api.cmd("show table other");
    assert!(
        out.ends_with(" key=abcdefgh use=0 exp=0 http_req_cnt=42"),
        "{out}"
    );
    assert_eq!(
        api.cmd("set table px key 10.1.1.1 data.gpc0 7 data.conn_cnt 3"),
        ""
    );
    let e = entry(&mut api, "px", "10.1.1.1").unwrap();
    assert_eq!(
        (num(&e, "gpc0"), num(&e, "conn_cnt"), num(&e, "use")),
        (7, 3, 0)
    );
    // clear: an entry in use stays, with HAProxy's message.
    assert_eq!(
        api.cmd("clear table px key 127.0.0.1"),
        "Entry currently in use, cannot remove"
    );
    assert_eq!(api.cmd("clear table px key 10.1.1.1"), "");
    assert!(entry(&mut api, "px", "10.1.1.1").is_none());
    api.cmd("set table px key 10.1.1.2 data.gpc0 1");
    api.cmd("set table px key 10.1.1.3 data.gpc0 5");
    assert_eq!(api.cmd("clear table px data.gpc0 lt 3"), "");
    assert!(entry(&mut api, "px", "10.1.1.2").is_none());
    assert!(entry(&mut api, "px", "10.1.1.3").is_some());
    assert!(entry(&mut api, "px", "127.0.0.1").is_some(), "in use: kept");
    api.cmd("clear table px");
    assert_eq!(
        api.cmd("show table px").lines().count(),
        2,
        "only the tracked entry"
    );
    // HAProxy's messages.
    for (cmd, want) in [
        ("show table nope", "No such table"),
        ("show table px data.bogus eq 1", "Unknown data type"),
        (
            "show table px data.http_req_cnt eq 1",
            "Data type not stored in this table",
        ),
        (
            "show table px data.gpc0 is 1",
            "Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"",
        ),
        (
            "show table px data.gpc0 eq x",
            "Require a valid integer value to compare against",
        ),
        ("show table px key", "Key value expected"),
        ("show table px key 1.2.3", "Invalid key"),
        (
            "set table px key 1.2.3.4 data.gpc0 x",
            "Require a valid integer value to store",
        ),
        (
            "show table px bogus",
            "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>",
        ),
        (
            "clear table",
            "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>",
        ),
    ] {
        assert_eq!(api.cmd(cmd), want, "{cmd}");
    }
    // A user-level session sees the heads only; clear needs operator.
    api.cmd("user");
    assert_eq!(
        api.cmd("show table px"),
        "# table: px, type: ip, size:102400, used:1"
    );
    assert_eq!(api.cmd("clear table px"), "Permission denied");
    drop((s, s2));
    p.stop();
}

#[test]
fn src_fetches_read_without_tracking() {
    let dir = TempDir::new();
    let be = HttpBackend::start("s1");
    let port = free_port();
    // The table lives in a backend of its own; the frontend tracks into it
    // and denies on `src_http_req_cnt(table)`, which only reads.
    let extra = "http-request track-sc2 src table per_req\nhttp-request deny if { src_http_req_cnt(per_req) gt 2 }";
    let (p, mut api) = start(&dir, 2, "http", &http_body(port, extra, be.addr));
    let addr = SocketAddr::new(LOCALHOST, port);
    let mut c = HttpClient::connect(addr);
    assert_eq!(c.get("/", "").status, 200);
    assert_eq!(c.get("/", "").status, 200);
    assert_eq!(c.get("/", "").status, 403);
    let e = entry(&mut api, "per_req", "127.0.0.1").unwrap();
    assert_eq!(num(&e, "http_req_cnt"), 3, "{e:?}");
    p.stop();
}

#[test]
fn configuration_errors_name_the_line() {
    let port = free_port();
    for (extra, want) in [
        (
            "tcp-request connection track-sc0 src table nowhere",
            "stick-table 'nowhere' not found",
        ),
        (
            "tcp-request connection track-sc0 src",
            "stick-table 'px' not found",
        ),
        (
            "stick-table type ip size 1k store conn_rate",
            "data type 'conn_rate' expects a period",
        ),
        (
            "stick-table type ip size 1k store bogus",
            "unknown data type 'bogus'",
        ),
        ("stick-table type ip", "missing 'size'"),
        ("stick-table size 10", "missing 'type'"),
        (
            "tcp-request connection track-sc3 src",
            "unknown or unsupported action 'track-sc3'",
        ),
        (
            "http-request deny if { sc3_conn_cur gt 1 }",
            "unknown fetch method 'sc3_conn_cur'",
        ),
        (
            "http-response sc-inc-gpc0(0)",
            "'http-response sc-inc-gpc0(0)' is not supported yet",
        ),
        (
            "http-response track-sc0 src",
            "'http-response track-sc0' is not supported yet",
        ),
    ] {
        let cfg = mode_config(
            "http",
            1,
            "",
            &listen_section("px", port, extra, &[("s1", "127.0.0.1:9".parse().unwrap())]),
        );
        let (code, out, _, _dir) = run_check(&cfg);
        assert_ne!(code, Some(0), "{extra}: accepted");
        assert!(out.contains(want), "{extra}: {out}");
        assert!(out.contains("check.cfg:"), "{extra}: no file:line in {out}");
    }
}

/// A `tcp-request connection` or `session` condition that reads the
/// request can never match (no request exists yet): accepted, with
/// HAProxy's warning at file:line; the same condition in a `content` rule
/// (HTTP mode: run with the request) draws none.
#[test]
fn request_fetches_in_connection_rules_warn() {
    let port = free_port();
    let server = [("s1", "127.0.0.1:9".parse().unwrap())];
    for (extra, warned) in [
        (
            "tcp-request connection reject if { path /admin }",
            Some("connection"),
        ),
        (
            "tcp-request session reject if { hdr(host) -m found }",
            Some("session"),
        ),
        ("tcp-request connection reject if { src 10.0.0.1 }", None),
        ("tcp-request content reject if { path /admin }", None),
    ] {
        let cfg = mode_config("http", 1, "", &listen_section("px", port, extra, &server));
        let (code, out, _, _dir) = run_check(&cfg);
        assert_eq!(code, Some(0), "{extra}: {out}");
        match warned {
            Some(phase) => {
                let want =
                    format!("which is incompatible with 'frontend tcp-request {phase} rule'");
                assert!(out.contains(&want), "{extra}: {out}");
                assert!(out.contains("check.cfg:"), "{extra}: no file:line in {out}");
            }
            None => assert!(!out.contains("will never match"), "{extra}: {out}"),
        }
    }
}

/// The name a `Backend::hello` server greets a new connection with.
fn greeted_by(src: Ipv4Addr, addr: SocketAddr) -> String {
    greeting(&mut connect_from(src, addr))
}

/// Reads the greeting line of a `Backend::hello` server on `s`.
fn greeting(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\n") {
        let n = s.read(&mut b).expect("greeting");
        assert!(n > 0, "closed before the greeting");
        got.push(b[0]);
    }
    String::from_utf8(got).unwrap().trim().to_string()
}

/// Frontend `fe` on `port` with `extra` lines, switching between backend
/// `a` (its default) and backend `b`, one server each.
fn switching_body(port: u16, extra: &str, a: (&str, SocketAddr), b: (&str, SocketAddr)) -> String {
    format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n{}    default_backend {}\n\nbackend {}\n    server s1 {}\n\nbackend {}\n    server s1 {}\n",
        indent(extra),
        a.0,
        a.0,
        cfg_addr(a.1),
        b.0,
        cfg_addr(b.1)
    )
}

#[test]
fn stick_on_src_keeps_a_client_on_its_server() {
    let dir = TempDir::new();
    let (a, b, c) = (
        Backend::hello("a"),
        Backend::hello("b"),
        Backend::hello("c"),
    );
    let port = free_port();
    let extra = "balance roundrobin\nstick-table type ip size 1k expire 60s\nstick on src";
    let body = listen_section(
        "px",
        port,
        extra,
        &[("a", a.addr), ("b", b.addr), ("c", c.addr)],
    );
    let (p, mut api) = start(&dir, 2, "tcp", &body);
    let addr = SocketAddr::new(LOCALHOST, port);
    // Each client address gets a server once, then always the same one,
    // whatever the round robin would say and whichever shard accepts.
    let mut first = HashMap::new();
    for round in 0..4 {
        for i in 1..=3u8 {
            let src = Ipv4Addr::new(127, 0, 0, 10 + i);
            let got = greeted_by(src, addr);
            let want = first.entry(src).or_insert_with(|| got.clone());
            assert_eq!(&got, want, "round {round}, {src}");
        }
    }
    // The table says so: server_id is the server's id (1, 2, 3).
    let ids = |n: &str| ["a", "b", "c"].iter().position(|s| *s == n).unwrap() as i64 + 1;
    for (src, srv) in &first {
        let e = entry(&mut api, "px", &src.to_string()).unwrap();
        assert_eq!(num(&e, "server_id"), ids(srv), "{src}: {e:?}");
    }
    // Its server in maintenance, a client goes elsewhere and sticks there.
    let src = Ipv4Addr::new(127, 0, 0, 11);
    let old = first[&src].clone();
    assert_eq!(api.cmd(&format!("disable server px/{old}")), "");
    let moved = greeted_by(src, addr);
    assert_ne!(moved, old);
    assert_eq!(greeted_by(src, addr), moved);
    let e = entry(&mut api, "px", &src.to_string()).unwrap();
    assert_eq!(num(&e, "server_id"), ids(&moved));
    // `set table` moves it by hand.
    let target = ["a", "b", "c"]
        .into_iter()
        .find(|s| *s != old && *s != moved)
        .unwrap();
    api.cmd(&format!(
        "set table px key {src} data.server_id {}",
        ids(target)
    ));
    assert_eq!(greeted_by(src, addr), target);
    p.stop();
}

#[test]
fn a_long_tunnel_reports_its_bytes_as_they_flow() {
    let dir = TempDir::new();
    let be = Backend::echo("s1");
    let port = free_port();
    let extra = "stick-table type ip size 1k expire 60s store bytes_in_cnt,bytes_out_cnt,bytes_in_rate(60s)\ntcp-request connection track-sc0 src";
    let (p, mut api) = start(&dir, 2, "tcp", &tcp_listen(port, extra, be.addr));
    let mut s = connect(SocketAddr::new(LOCALHOST, port));
    for _ in 0..3 {
        echo(&mut s);
    }
    // Still open: the counts are there already, not at the tunnel's end.
    let e = entry_until(&mut api, "px", "127.0.0.1", "15 bytes each way", |e| {
        e.is_some_and(|e| num(e, "bytes_in_cnt") == 15 && num(e, "bytes_out_cnt") == 15)
    })
    .unwrap();
    assert_eq!(num(&e, "bytes_in_rate"), 15, "{e:?}");
    echo(&mut s);
    drop(s);
    // The end adds what was not reported yet, nothing twice.
    let e = entry_until(&mut api, "px", "127.0.0.1", "closed", |e| {
        e.is_some_and(|e| num(e, "use") == 0)
    })
    .unwrap();
    assert_eq!(
        (num(&e, "bytes_in_cnt"), num(&e, "bytes_out_cnt")),
        (20, 20),
        "{e:?}"
    );
    p.stop();
}

#[test]
fn use_backend_reads_the_counters() {
    let dir = TempDir::new();
    let (fast, slow) = (HttpBackend::start("fast"), HttpBackend::start("slow"));
    let port = free_port();
    let body = switching_body(
        port,
        &format!(
            "{TABLE}\ntcp-request connection track-sc0 src\nuse_backend slow if {{ sc0_http_req_rate gt 3 }}"
        ),
        ("fast", fast.addr),
        ("slow", slow.addr),
    );
    let (p, _api) = start(&dir, 2, "http", &body);
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    let got: Vec<String> = (0..5).map(|_| c.get("/", "").server()).collect();
    assert_eq!(got, ["fast", "fast", "fast", "slow", "slow"]);
    p.stop();
}

/// `http-response` rules see the counters the stream sees: its session's
/// (sc0, from the connection rule) and its own (sc1, tracked by this
/// request, still live while its response is processed), in conditions
/// and in log-format values.
#[test]
fn http_response_rules_read_the_counters() {
    let dir = TempDir::new();
    let be = HttpBackend::start("s1");
    let port = free_port();
    let extra = format!(
        "{TABLE}\ntcp-request connection track-sc0 src\nhttp-request track-sc1 src table per_req\n\
         http-response set-header X-Req-Cnt %[sc0_http_req_cnt]\n\
         http-response set-header X-Own-Cur %[sc1_conn_cur]\n\
         http-response add-header X-Over-Two yes if {{ sc_http_req_cnt(0) gt 2 }}"
    );
    let (p, _api) = start(&dir, 2, "http", &http_body(port, &extra, be.addr));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    for i in 1..=4 {
        let r = c.get("/", "");
        assert_eq!(r.status, 200);
        let want = i.to_string();
        assert_eq!(r.header("x-req-cnt"), Some(want.as_str()), "request {i}");
        assert_eq!(r.header("x-own-cur"), Some("1"), "request {i}");
        let over = (i > 2).then_some("yes");
        assert_eq!(r.header("x-over-two"), over, "request {i}");
    }
    p.stop();
}

/// In TCP mode, as in HAProxy, `use_backend` is decided after the
/// frontend's `tcp-request content` rules: it sees what they tracked (the
/// stream's own sc1 here), not only the session's counters.
#[test]
fn tcp_use_backend_sees_what_content_rules_tracked() {
    let dir = TempDir::new();
    let (first, second) = (Backend::hello("first"), Backend::hello("second"));
    let port = free_port();
    let body = switching_body(
        port,
        &format!(
            "{TABLE}\ntcp-request content track-sc1 src\nuse_backend second if {{ sc1_conn_cur gt 1 }}"
        ),
        ("first", first.addr),
        ("second", second.addr),
    );
    let (p, _api) = start(&dir, 2, "tcp", &body);
    let addr = SocketAddr::new(LOCALHOST, port);
    let src = Ipv4Addr::new(127, 0, 0, 21);
    let mut held = connect_from(src, addr);
    assert_eq!(greeting(&mut held), "first");
    // A second connection from the same address while the first lives:
    // its own tracking makes conn_cur 2 before the backend is chosen.
    let mut again = connect_from(src, addr);
    assert_eq!(greeting(&mut again), "second");
    assert_eq!(greeted_by(Ipv4Addr::new(127, 0, 0, 22), addr), "first");
    drop((held, again));
    p.stop();
}

#[test]
fn a_queued_stream_stores_the_server_it_finally_gets() {
    let dir = TempDir::new();
    let a = Backend::hello("a");
    let port = free_port();
    let body = format!(
        "listen px\n    bind 127.0.0.1:{port}\n    timeout queue 10s\n    stick-table type ip size 1k expire 60s\n    stick on src\n    server a {} maxconn 1\n",
        cfg_addr(a.addr)
    );
    let (p, mut api) = start(&dir, 1, "tcp", &body);
    let addr = SocketAddr::new(LOCALHOST, port);
    let first = Ipv4Addr::new(127, 0, 0, 21);
    let mut holder = connect_from(first, addr);
    let mut b = [0u8; 2];
    holder.read_exact(&mut b).expect("greeting");
    // The only server is full: the next client waits in the queue.
    let mut queued = connect_from(Ipv4Addr::new(127, 0, 0, 22), addr);
    let stat = (0..200)
        .map(|_| {
            thread::sleep(Duration::from_millis(10));
            api.cmd("show stat")
        })
        .find(|s| stat_field(s, "px", "BACKEND", "qcur") == "1")
        .expect("the second client queued");
    assert_eq!(stat_field(&stat, "px", "BACKEND", "qcur"), "1");
    assert!(
        entry(&mut api, "px", "127.0.0.22").is_none(),
        "no server yet"
    );
    drop(holder);
    queued
        .read_exact(&mut b)
        .expect("served once the slot freed");
    assert_eq!(&b, b"a\n");
    let e = entry(&mut api, "px", "127.0.0.22").expect("stored at last");
    assert_eq!(num(&e, "server_id"), 1);
    p.stop();
}
