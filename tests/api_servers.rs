//! Servers changed at run time through the runtime API, across shards:
//! add / enable / disable / del, the deletion protocol's refusals (a
//! stream using the server, a session's private connection in use), the
//! purge of idle session-owned connections, `show sess` and shutdowns,
//! and churn under load with nothing leaked.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A proxy with an admin socket: `listen px` in `mode`, two shards.
fn proxy(
    dir: &TempDir,
    mode: &str,
    extra: &str,
    servers: &[(&str, SocketAddr)],
) -> (Proxy, SocketAddr, PathBuf) {
    let sock = dir.path.join("api.sock");
    let port = free_port();
    let cfg = mode_config(
        mode,
        2,
        &format!("    stats socket {} level admin", sock.display()),
        &listen_section("px", port, &format!("balance roundrobin\n{extra}"), servers),
    );
    (
        Proxy::start(&cfg),
        SocketAddr::from(([127, 0, 0, 1], port)),
        sock,
    )
}

/// The server names `show servers state px` lists.
fn server_names(p: &mut ApiPrompt) -> Vec<String> {
    p.cmd("show servers state px")
        .lines()
        .filter(|l| !l.starts_with('#') && l.split(' ').count() > 4)
        .map(|l| l.split(' ').nth(3).unwrap().to_string())
        .collect()
}

/// Fetches `n` requests, each on its own connection; the servers that
/// answered.
fn servers_of(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut c = HttpClient::connect(addr);
            let r = c.get(&format!("/r{i}"), "");
            assert_eq!(r.status, 200, "request {i}");
            r.server()
        })
        .collect()
}

#[test]
fn add_enable_disable_del_and_add_again() {
    let dir = TempDir::new();
    let s1 = HttpBackend::start("s1");
    let s2 = HttpBackend::start("s2");
    let (p, addr, sock) = proxy(&dir, "http", "", &[("s1", s1.addr)]);
    let mut api = ApiPrompt::open(&sock);
    assert_eq!(
        api.cmd(&format!("add server px/s2 {}", s2.addr)),
        "New server registered."
    );
    assert_eq!(server_names(&mut api), ["s1", "s2"]);
    // A new server starts in maintenance.
    assert!(servers_of(addr, 6).iter().all(|s| s == "s1"));
    assert_eq!(api.cmd("enable server px/s2"), "");
    let seen = servers_of(addr, 8);
    assert!(seen.iter().any(|s| s == "s2"), "{seen:?}");
    assert!(seen.iter().any(|s| s == "s1"), "{seen:?}");
    assert_eq!(
        api.cmd("del server px/s2"),
        "Only servers in maintenance mode can be deleted."
    );
    assert_eq!(api.cmd("disable server px/s2"), "");
    // Its idle pooled connections were purged on entering maintenance, on
    // both shards: nothing refers to it any more.
    assert_eq!(api.cmd("del server px/s2"), "Server deleted.");
    assert_eq!(server_names(&mut api), ["s1"]);
    assert!(servers_of(addr, 4).iter().all(|s| s == "s1"));
    assert!(!api.cmd("show stat").contains("px,s2,"));
    // The freed slot takes a new server (a new generation of the slot).
    assert_eq!(
        api.cmd(&format!("add server px/s2 {} weight 3", s2.addr)),
        "New server registered."
    );
    assert_eq!(api.cmd("get weight px/s2"), "3 (initial 3)");
    assert_eq!(api.cmd("set server px/s2 state ready"), "");
    assert!(servers_of(addr, 8).iter().any(|s| s == "s2"));
    drop(api);
    p.stop().assert_clean();
}

#[test]
fn add_server_needs_a_dynamic_algorithm() {
    let dir = TempDir::new();
    let s1 = HttpBackend::start("s1");
    let (p, _addr, sock) = proxy(&dir, "http", "balance source", &[("s1", s1.addr)]);
    let mut api = ApiPrompt::open(&sock);
    assert_eq!(
        api.cmd("add server px/s9 127.0.0.1:9"),
        "Backend must use a dynamic load balancing to support dynamic servers."
    );
    drop(api);
    p.stop().assert_clean();
}

#[test]
fn del_server_refused_while_a_stream_uses_it() {
    let dir = TempDir::new();
    let echo = Backend::echo("e1");
    let (p, addr, sock) = proxy(&dir, "tcp", "", &[("e1", echo.addr)]);
    let mut api = ApiPrompt::open(&sock);
    let mut c = connect(addr);
    c.write_all(b"ping\n").unwrap();
    assert_eq!(read_line(&mut c).ok().as_deref(), Some("ping"));
    assert_eq!(api.cmd("disable server px/e1"), "");
    assert_eq!(
        api.cmd("del server px/e1"),
        "Server still has connections attached to it, cannot remove it."
    );
    assert_eq!(server_names(&mut api), ["e1"], "nothing changed");
    // The stream goes on undisturbed.
    c.write_all(b"still\n").unwrap();
    assert_eq!(read_line(&mut c).ok().as_deref(), Some("still"));
    let sess = api.cmd("show sess");
    assert!(sess.contains("srv=e1"), "{sess}");
    drop(c);
    assert_eq!(api.cmd("wait 5s srv-removable px/e1"), "Done.");
    assert_eq!(api.cmd("del server px/e1"), "Server deleted.");
    drop(api);
    p.stop().assert_clean();
}

/// A gate the test opens to let a held response go.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn set(&self, open: bool) {
        *self.0.0.lock().unwrap() = open;
        self.0.1.notify_all();
    }

    fn wait_open(&self) {
        let mut g = self.0.0.lock().unwrap();
        while !*g {
            g = self.0.1.wait(g).unwrap();
        }
    }
}

/// An HTTP server answering `server=NAME conn=ID path=P` on keep-alive
/// connections, each answer held until `gate` is open.
fn gated_backend(name: &'static str, gate: Gate, seen: Arc<Mutex<usize>>) -> Backend {
    Backend::spawn(name, move |s, conn| {
        let mut r = ByteReader::new(s);
        while let Ok(Some(head)) = r.read_head(65536, Instant::now() + Duration::from_secs(30)) {
            let head = String::from_utf8_lossy(&head).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            *seen.lock().unwrap() += 1;
            gate.wait_open();
            let body = format!("server={name} conn={} path={path}", conn.id);
            let rsp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if r.s.write_all(rsp.as_bytes()).is_err() {
                return;
            }
        }
    })
}

/// [`gated_backend`] `g1`, its gate open: (the gate, its count of
/// requests received, the backend).
fn gated_g1() -> (Gate, Arc<Mutex<usize>>, Backend) {
    let gate = Gate::default();
    gate.set(true);
    let seen = Arc::new(Mutex::new(0));
    let g1 = gated_backend("g1", gate.clone(), seen.clone());
    (gate, seen, g1)
}

#[test]
fn private_connection_in_use_blocks_deletion_then_is_purged() {
    // Seed 000: with `http-reuse never` the server connection belongs to
    // the session; while a request is in flight on it, the server cannot be
    // deleted; once idle it is purged and the session's next request goes
    // to another server without an error.
    let dir = TempDir::new();
    let (gate, seen, g1) = gated_g1();
    let s2 = HttpBackend::start("s2");
    let (p, addr, sock) = proxy(&dir, "http", "http-reuse never", &[("g1", g1.addr)]);
    let mut api = ApiPrompt::open(&sock);
    assert_eq!(
        api.cmd(&format!("add server px/s2 {}", s2.addr)),
        "New server registered."
    );
    let mut c = HttpClient::connect(addr);
    let first = c.get("/one", "");
    assert_eq!((first.status, first.server()), (200, "g1".to_string()));
    // The next request on this session is held on its private connection.
    gate.set(false);
    c.send("GET /two HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        wait_for(IO_TIMEOUT, || *seen.lock().unwrap() == 2),
        "timed out waiting for the held request"
    );
    assert_eq!(api.cmd("enable server px/s2"), "");
    assert_eq!(api.cmd("disable server px/g1"), "");
    assert_eq!(
        api.cmd("del server px/g1"),
        "Server still has connections attached to it, cannot remove it."
    );
    gate.set(true);
    let second = c.expect_response("held request");
    assert_eq!(second.status, 200);
    assert_eq!(second.server(), "g1");
    assert_eq!(
        second.conn_id(),
        first.conn_id(),
        "the session's private connection"
    );
    // Idle again, on a server in maintenance: purged, so deletion succeeds.
    assert_eq!(api.cmd("wait 5s srv-removable px/g1"), "Done.");
    assert_eq!(api.cmd("del server px/g1"), "Server deleted.");
    let third = c.get("/three", "");
    assert_eq!((third.status, third.server()), (200, "s2".to_string()));
    drop(c);
    drop(api);
    p.stop().assert_clean();
}

#[test]
fn show_sess_and_shutdowns() {
    let dir = TempDir::new();
    let echo = Backend::echo("e1");
    let (p, addr, sock) = proxy(&dir, "tcp", "", &[("e1", echo.addr)]);
    let mut api = ApiPrompt::open(&sock);
    let mut a = connect(addr);
    let mut b = connect(addr);
    for c in [&mut a, &mut b] {
        c.write_all(b"hi\n").unwrap();
        assert_eq!(read_line(c).ok().as_deref(), Some("hi"));
    }
    let sess = api.cmd("show sess");
    let ids: Vec<String> = sess
        .lines()
        .filter(|l| l.contains("srv=e1"))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{sess}");
    assert_eq!(api.cmd(&format!("shutdown session {}", ids[0])), "");
    assert_eq!(
        api.cmd(&format!("shutdown session {}", ids[0])),
        "No such session (use 'show sess')."
    );
    assert!(
        wait_for(IO_TIMEOUT, || {
            api.cmd("show sess")
                .lines()
                .filter(|l| l.contains("srv=e1"))
                .count()
                == 1
        }),
        "timed out waiting for one stream left"
    );
    assert_eq!(api.cmd("shutdown sessions server px/e1"), "");
    assert!(
        wait_for(IO_TIMEOUT, || !api.cmd("show sess").contains("srv=e1")),
        "timed out waiting for no stream left"
    );
    for c in [&mut a, &mut b] {
        let mut buf = [0u8; 16];
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(
            matches!(c.read(&mut buf), Ok(0) | Err(_)),
            "killed streams close their client"
        );
    }
    drop(api);
    p.stop().assert_clean();
}

#[test]
fn churn_under_load_fails_nothing_and_leaks_nothing() {
    let dir = TempDir::new();
    let s1 = HttpBackend::start("s1");
    let s2 = HttpBackend::start("s2");
    let (p, addr, sock) = proxy(&dir, "http", "", &[("s1", s1.addr)]);
    let json = dir.path.join("load.json");
    // Keep-alive load spread over both shards for the whole churn.
    let mut load = Command::new(env!("CARGO_BIN_EXE_ringload"))
        .args([
            "http",
            "--url",
            &format!("http://{addr}/load"),
            "-c",
            "16",
            "-t",
            "2",
            "-d",
            "60s",
            "--quiet",
            "--json",
        ])
        .arg(&json)
        .spawn()
        .expect("ringload");
    let mut api = ApiPrompt::open(&sock);
    for i in 0..200 {
        let name = format!("d{i}");
        assert_eq!(
            api.cmd(&format!("add server px/{name} {}", s2.addr)),
            "New server registered.",
            "cycle {i}"
        );
        assert_eq!(
            api.cmd(&format!("enable server px/{name}")),
            "",
            "cycle {i}"
        );
        assert_eq!(
            api.cmd(&format!("disable server px/{name}")),
            "",
            "cycle {i}"
        );
        assert_eq!(
            api.cmd(&format!("wait 5s srv-removable px/{name}")),
            "Done.",
            "cycle {i}"
        );
        assert_eq!(
            api.cmd(&format!("del server px/{name}")),
            "Server deleted.",
            "cycle {i}"
        );
    }
    // Stop the load (SIGINT: ringload writes its report).
    let _ = Command::new("kill")
        .args(["-INT", &load.id().to_string()])
        .status();
    let status = load.wait().expect("ringload exit");
    assert!(status.success(), "ringload: {status}");
    let report = std::fs::read_to_string(&json).expect("ringload report");
    let errors = report
        .split("\"errors\":{")
        .nth(1)
        .and_then(|r| r.split('}').next())
        .unwrap_or_else(|| panic!("no errors in {report}"));
    assert!(
        errors.split(',').all(|kv| kv.ends_with(":0")),
        "failed requests during the churn: {errors}"
    );
    assert!(s2.accepted() > 0, "the added servers served traffic");
    assert_eq!(server_names(&mut api), ["s1"]);
    assert!(
        wait_for(IO_TIMEOUT, || {
            let info = api.cmd("show info");
            info.lines().any(|l| l == "CurrConns: 0")
        }),
        "timed out waiting for every connection closed"
    );
    let csv = api.cmd("show stat");
    for (px, sv) in [("px", "FRONTEND"), ("px", "s1"), ("px", "BACKEND")] {
        assert_eq!(
            stat_field(&csv, px, sv, "scur"),
            "0",
            "{px}/{sv} scur\n{csv}"
        );
    }
    assert_eq!(stat_field(&csv, "px", "BACKEND", "qcur"), "0", "{csv}");
    // The load went through: the counters add up on the server that stayed.
    let req_tot: u64 = stat_field(&csv, "px", "FRONTEND", "req_tot")
        .parse()
        .unwrap();
    let s1_tot: u64 = stat_field(&csv, "px", "s1", "stot").parse().unwrap();
    assert!(req_tot > 0 && s1_tot > 0 && s1_tot <= req_tot, "{csv}");
    drop(api);
    p.stop().assert_clean();
}

#[test]
fn a_stream_waiting_in_the_server_queue_blocks_deletion() {
    // Sessions A and B each hold a private connection to g1 (maxconn 1).
    // A's request is in flight; B's, bound to g1 by its connection, waits
    // in g1's own queue. In maintenance (without `option redispatch`) the
    // queued stream stays: deletion is refused until it is gone (here, by
    // `timeout queue`: 503 to B).
    let dir = TempDir::new();
    let (gate, seen, g1) = gated_g1();
    let extra = "http-reuse never\ntimeout queue 1s\ndefault-server maxconn 1";
    let (p, addr, sock) = proxy(&dir, "http", extra, &[("g1", g1.addr)]);
    let mut api = ApiPrompt::open(&sock);
    let mut a = HttpClient::connect(addr);
    let mut b = HttpClient::connect(addr);
    assert_eq!(a.get("/a1", "").server(), "g1");
    assert_eq!(b.get("/b1", "").server(), "g1");
    gate.set(false);
    a.send("GET /a2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        wait_for(IO_TIMEOUT, || *seen.lock().unwrap() == 3),
        "timed out waiting for A's request at g1"
    );
    b.send("GET /b2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        wait_for(IO_TIMEOUT, || {
            let csv = api.cmd("show stat");
            stat_field(&csv, "px", "g1", "qcur") == "1"
        }),
        "timed out waiting for B's stream in g1's queue"
    );
    assert_eq!(api.cmd("disable server px/g1"), "");
    let refused = "Server still has connections attached to it, cannot remove it.";
    assert_eq!(
        api.cmd("del server px/g1"),
        refused,
        "A in flight, B queued"
    );
    gate.set(true);
    assert_eq!(a.expect_response("A's held request").status, 200);
    // A's connection is gone (its server is in maintenance); B still waits
    // for g1 in its queue, which is enough to refuse the deletion.
    assert_eq!(stat_field(&api.cmd("show stat"), "px", "g1", "qcur"), "1");
    assert_eq!(api.cmd("del server px/g1"), refused, "B queued");
    assert_eq!(b.expect_response("B after timeout queue").status, 503);
    assert_eq!(api.cmd("wait 5s srv-removable px/g1"), "Done.");
    assert_eq!(api.cmd("del server px/g1"), "Server deleted.");
    assert_eq!(
        *seen.lock().unwrap(),
        3,
        "B never reached g1 in maintenance"
    );
    drop((a, b, api));
    p.stop().assert_clean();
}

#[test]
fn a_stream_queued_for_its_server_gets_its_private_connection() {
    let dir = TempDir::new();
    let (gate, seen, g1) = gated_g1();
    let s2 = HttpBackend::start("s2");
    let extra = "http-reuse never\ndefault-server maxconn 1";
    let (p, addr, sock) = proxy(&dir, "http", extra, &[("g1", g1.addr), ("s2", s2.addr)]);
    let mut api = ApiPrompt::open(&sock);
    assert_eq!(api.cmd("disable server px/s2"), "");
    let mut a = HttpClient::connect(addr);
    let mut b = HttpClient::connect(addr);
    assert_eq!(a.get("/a1", "").server(), "g1");
    let b1 = b.get("/b1", "");
    assert_eq!(b1.server(), "g1");
    assert_eq!(api.cmd("enable server px/s2"), "");
    gate.set(false);
    a.send("GET /a2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        wait_for(IO_TIMEOUT, || *seen.lock().unwrap() == 3),
        "timed out waiting for A's request at g1"
    );
    // g1 is full: B waits for it (its connection's server), although s2 is
    // free.
    b.send("GET /b2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        wait_for(IO_TIMEOUT, || {
            stat_field(&api.cmd("show stat"), "px", "g1", "qcur") == "1"
        }),
        "timed out waiting for B's stream in g1's queue"
    );
    gate.set(true);
    assert_eq!(a.expect_response("A").status, 200);
    let b2 = b.expect_response("B from the queue");
    assert_eq!((b2.status, b2.server()), (200, "g1".to_string()));
    assert_eq!(b2.conn_id(), b1.conn_id(), "B's own private connection");
    assert_eq!(s2.accepted(), 0);
    drop((a, b, api));
    p.stop().assert_clean();
}
