//! `show stat` and `show servers state` read the truth end to end: real
//! requests through the real binary fill the activity counters, the health
//! checker's results fill the check columns, `enable/disable health` show
//! through the checker, and server ids are HAProxy's `puid` (never reused).
//!
//! Values the test controls (requests sent, checks failed) are asserted
//! exactly; what depends on time is only waited for (polled), never
//! asserted to happen within a given delay beyond a generous bound.

mod common;

use common::*;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

/// Helpers of these tests on the API session.
impl ApiPrompt {
    /// `show stat`, parsed.
    fn stat(&mut self) -> Stat {
        Stat(self.cmd("show stat"))
    }

    /// The `show servers state px` fields of server `sv`.
    fn state(&mut self, sv: &str) -> Vec<String> {
        let out = self.cmd("show servers state px");
        out.lines()
            .map(|l| l.split(' ').map(String::from).collect::<Vec<_>>())
            .find(|f| f.len() > 4 && f[3] == sv)
            .unwrap_or_else(|| panic!("no server {sv} in {out}"))
    }

    /// Polls `show stat` until `cond` holds (30 s bound); the last one.
    fn stat_until(&mut self, what: &str, cond: impl Fn(&Stat) -> bool) -> Stat {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.stat();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{}", s.0);
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A `show stat` output.
struct Stat(String);

impl Stat {
    /// Field `name` of row `px`/`sv` (empty when the row has it empty).
    fn get(&self, sv: &str, name: &str) -> String {
        stat_field(&self.0, "px", sv, name)
    }

    fn num(&self, sv: &str, name: &str) -> u64 {
        let v = self.get(sv, name);
        v.parse()
            .unwrap_or_else(|_| panic!("px/{sv} {name} = {v:?}\n{}", self.0))
    }

    fn has(&self, sv: &str) -> bool {
        self.0.lines().any(|l| l.starts_with(&format!("px,{sv},")))
    }
}

/// A proxy with an admin socket in front of `server` (HTTP, two shards),
/// with `extra` on the server line.
fn start(dir: &TempDir, server: SocketAddr, extra: &str) -> (Proxy, SocketAddr, ApiPrompt) {
    let sock = dir.path.join("api.sock");
    let port = free_port();
    let cfg = http_config(
        2,
        &format!("    stats socket {} level admin", sock.display()),
        &format!(
            "listen px\n    bind 127.0.0.1:{port}\n    balance roundrobin\n    server s1 {} {extra}\n",
            cfg_addr(server)
        ),
    );
    let p = Proxy::start(&cfg);
    let api = ApiPrompt::open(&sock);
    (p, SocketAddr::new(LOCALHOST, port), api)
}

#[test]
fn counters_and_checks_of_real_traffic() {
    const N: u64 = 7;
    let t0 = Instant::now();
    let dir = TempDir::new();
    let s1 = HttpBackend::start("s1");
    let (p, addr, mut api) = start(&dir, s1.addr, "check inter 100ms rise 2 fall 2");

    // The first check passed: fully up (rise 2 + fall 2 - 1 = 3).
    let st = api.stat_until("s1 checked up", |s| {
        s.get("s1", "status") == "UP" && s.get("s1", "check_status") == "L4OK"
    });
    assert_eq!(st.get("s1", "check_desc"), "Layer4 check passed");
    assert_eq!(
        (st.num("s1", "check_health"), st.num("s1", "check_rise")),
        (3, 2)
    );
    assert_eq!((st.num("s1", "chkfail"), st.num("s1", "chkdown")), (0, 0));
    assert!(st.get("s1", "check_duration").parse::<u64>().is_ok());
    assert_eq!(
        st.get("s1", "check_code"),
        "",
        "no code for a layer 4 check"
    );
    assert_eq!(st.num("s1", "sid"), 1, "puid");
    let state = api.state("s1");
    assert_eq!(state[5..9], ["2", "0", "1", "1"], "running: {state:?}");
    assert_eq!(
        state[10..14],
        ["6", "3", "3", "6"],
        "L4OK, passed, health 3, configured and enabled: {state:?}"
    );
    assert_eq!(state[2], "1", "srv_id is the puid");

    // N requests, each on its own connection.
    for i in 0..N {
        let mut c = HttpClient::connect(addr);
        let r = c.get(&format!("/r{i}"), "");
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.server(), "s1");
    }
    // Counters are final once every session and stream ended.
    let st = api.stat_until("every session closed", |s| {
        s.num("FRONTEND", "scur") == 0
            && s.num("BACKEND", "scur") == 0
            && s.num("s1", "scur") == 0
            && s.num("FRONTEND", "stot") == N
    });
    for (sv, name, want) in [
        ("FRONTEND", "req_tot", N),
        ("FRONTEND", "hrsp_2xx", N),
        ("FRONTEND", "stot", N),
        ("FRONTEND", "conn_tot", N),
        ("FRONTEND", "ereq", 0),
        ("FRONTEND", "dreq", 0),
        ("s1", "stot", N),
        ("s1", "lbtot", N),
        ("s1", "req_tot", N),
        ("s1", "hrsp_2xx", N),
        ("s1", "econ", 0),
        ("s1", "eresp", 0),
        ("s1", "wretr", 0),
        ("s1", "wredis", 0),
        ("s1", "cli_abrt", 0),
        ("s1", "srv_abrt", 0),
        ("s1", "qcur", 0),
        ("BACKEND", "stot", N),
        ("BACKEND", "lbtot", N),
        ("BACKEND", "req_tot", N),
        ("BACKEND", "hrsp_2xx", N),
        ("BACKEND", "hrsp_5xx", 0),
        ("BACKEND", "econ", 0),
        ("BACKEND", "qcur", 0),
        ("BACKEND", "qmax", 0),
    ] {
        assert_eq!(st.num(sv, name), want, "px/{sv} {name}\n{}", st.0);
    }
    for sv in ["FRONTEND", "s1", "BACKEND"] {
        assert!(st.num(sv, "bin") > 0, "px/{sv} bin\n{}", st.0);
        assert!(st.num(sv, "bout") > 0, "px/{sv} bout\n{}", st.0);
    }
    // Every stream went to the backend: the same bytes on both sides.
    assert_eq!(st.num("FRONTEND", "bin"), st.num("BACKEND", "bin"));
    assert_eq!(st.num("FRONTEND", "bout"), st.num("BACKEND", "bout"));
    assert_eq!(
        (st.get("BACKEND", "status"), st.num("BACKEND", "act")),
        ("UP".to_string(), 1)
    );

    // The server stops: refused checks take it down after `fall` (2)
    // failures, both counted; none is counted once it is down.
    drop(s1);
    let st = api.stat_until("s1 down", |s| s.get("s1", "status") == "DOWN");
    assert_eq!(
        (st.num("s1", "chkdown"), st.num("s1", "chkfail")),
        (1, 2),
        "{}",
        st.0
    );
    assert_eq!(st.get("s1", "check_status"), "L4CON");
    assert_eq!(st.get("s1", "check_desc"), "Layer4 connection problem");
    assert_eq!(st.num("s1", "check_health"), 0);
    assert!(
        st.num("s1", "lastchg") <= t0.elapsed().as_secs() + 1,
        "the change happened during the test"
    );
    assert!(st.get("s1", "downtime").parse::<u64>().is_ok());
    assert_eq!(
        (st.get("BACKEND", "status"), st.num("BACKEND", "act")),
        ("DOWN".to_string(), 0)
    );
    let state = api.state("s1");
    assert_eq!(state[5], "0", "stopped: {state:?}");
    assert_eq!(
        state[10..14],
        ["8", "2", "0", "6"],
        "L4CON, failed, health 0: {state:?}"
    );

    // `disable health` reaches the checker: no check columns, configured
    // only; `enable health` brings them back.
    assert_eq!(api.cmd("disable health px/s1"), "");
    let st = api.stat_until("checks disabled", |s| {
        s.get("s1", "check_status").is_empty()
    });
    assert_eq!(st.get("s1", "chkdown"), "");
    assert_eq!(api.state("s1")[13], "2");
    assert_eq!(api.cmd("enable health px/s1"), "");
    let st = api.stat_until("checks enabled", |s| s.get("s1", "check_status") == "L4CON");
    assert_eq!(st.num("s1", "chkdown"), 1);
    assert_eq!(api.state("s1")[13], "6");
    drop(api);
    p.stop().assert_clean();
}

#[test]
fn server_ids_and_initial_weights_come_from_the_servers() {
    let dir = TempDir::new();
    let s1 = HttpBackend::start("s1");
    let (p, _addr, mut api) = start(&dir, s1.addr, "weight 4");
    assert_eq!(api.cmd("get weight px/s1"), "4 (initial 4)");
    assert_eq!(api.cmd("set weight px/s1 50%"), "");
    assert_eq!(api.cmd("get weight px/s1"), "2 (initial 4)");
    assert_eq!(api.state("s1")[7..9], ["2", "4"], "uweight, iweight");

    let add = |api: &mut ApiPrompt, name: &str, w: u32| {
        assert_eq!(
            api.cmd(&format!(
                "add server px/{name} {} weight {w}",
                cfg_addr(s1.addr)
            )),
            "New server registered."
        );
    };
    add(&mut api, "s2", 3);
    let st = api.stat();
    assert_eq!(
        (st.num("s2", "sid"), st.get("s2", "status")),
        (2, "MAINT".into())
    );
    assert_eq!(api.cmd("get weight px/s2"), "3 (initial 3)");
    assert_eq!(api.cmd("del server px/s2"), "Server deleted.");
    // s3 takes s2's freed slot but not its id.
    add(&mut api, "s3", 5);
    let st = api.stat();
    assert!(!st.has("s2"));
    assert_eq!(st.num("s3", "sid"), 3, "puids are never reused");
    let state = api.state("s3");
    assert_eq!(
        (state[2].as_str(), state[8].as_str()),
        ("3", "5"),
        "{state:?}"
    );
    assert_eq!(
        api.cmd("show stat -1 4 3")
            .lines()
            .nth(1)
            .map(|l| l.starts_with("px,s3,")),
        Some(true),
        "the sid filter matches the puid"
    );
    // An admin change is a change: `lastchg` restarts from it (a bound
    // that holds whatever the timing: it cannot exceed the test's age).
    let t0 = Instant::now();
    assert_eq!(api.cmd("set server px/s3 state ready"), "");
    let st = api.stat();
    assert!(st.num("s3", "lastchg") <= t0.elapsed().as_secs() + 1);
    assert_eq!(st.get("s3", "status"), "no check");
    drop(api);
    p.stop().assert_clean();
}
