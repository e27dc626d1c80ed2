//! Health checks end to end: the real binary, real sockets. Servers go
//! DOWN after `fall` failed checks and come back UP after `rise` good ones,
//! traffic follows, backups take over, `option httpchk` with `http-check
//! expect` judges responses, and the transitions are logged on stderr in
//! HAProxy's words.
//!
//! Every wait polls for a condition with a generous deadline; the only
//! timing assertions are the ones the configuration makes safe (a gap
//! bounded below by `downinter`, or far below `inter`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;

/// Bound on "the proxy notices and logs a transition".
const TRANSITION: Duration = Duration::from_secs(10);

fn config(body: &str) -> String {
    http_config(2, "", body)
}

/// A `listen NAME` section on a fresh port with `extra` lines and raw
/// `server` lines.
fn listen(name: &str, extra: &[&str], servers: &[String]) -> (String, SocketAddr) {
    let port = free_port();
    let lines: Vec<&str> = extra
        .iter()
        .copied()
        .chain(servers.iter().map(String::as_str))
        .collect();
    (
        listen_section(name, port, &lines.join("\n"), &[]),
        SocketAddr::new(LOCALHOST, port),
    )
}

fn server(name: &str, addr: SocketAddr, opts: &str) -> String {
    format!("server {name} {} {opts}", cfg_addr(addr))
}

/// Which server answered a fresh client's `GET /` (`server=` of the body),
/// or the status when the proxy answered itself.
fn who(proxy: SocketAddr) -> String {
    let mut c = HttpClient::connect(proxy);
    let r = c.get("/", "");
    r.field("server")
        .unwrap_or_else(|| format!("status {}", r.status))
}

fn answers(proxy: SocketAddr, n: usize) -> Vec<String> {
    (0..n).map(|_| who(proxy)).collect()
}

/// Waits for a log line containing `needle` and returns it.
fn wait_line(p: &Proxy, needle: &str) -> String {
    assert!(
        p.wait_log(needle, TRANSITION),
        "no log line with {needle:?} within {TRANSITION:?}"
    );
    line_with(&p.log(), needle).expect("line just seen")
}

/// The part of a transition line after `check duration: Nms`.
fn after_duration(line: &str) -> String {
    let at = line.find("check duration: ").expect("check duration") + "check duration: ".len();
    let rest = &line[at..];
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    assert!(digits > 0, "no duration in {line:?}");
    assert!(rest[digits..].starts_with("ms."), "{line:?}");
    rest[digits + 3..].to_string()
}

#[test]
fn tcp_checks_take_a_server_out_and_back_and_traffic_follows() {
    let s1 = FlipServer::start("s1");
    let s2 = FlipServer::start("s2");
    let opts = "check inter 100ms rise 2 fall 2";
    let (section, addr) = listen(
        "px",
        &[],
        &[server("s1", s1.addr, opts), server("s2", s2.addr, opts)],
    );
    let p = Proxy::start(&config(&section));
    assert!(
        !p.log().contains("health checks are not implemented"),
        "the old startup warning is gone"
    );
    let mut seen = answers(addr, 6);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["s1", "s2"], "both servers serve while up");

    s1.stop_listening();
    let down = wait_line(&p, "Server px/s1 is DOWN");
    assert!(
        down.contains(
            "Server px/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: "
        ),
        "{down}"
    );
    assert_eq!(
        after_duration(&down),
        " 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "{down}"
    );
    assert!(down.contains(" WARN "), "logged at warn level: {down}");
    assert_eq!(
        answers(addr, 6),
        vec!["s2"; 6],
        "only the up server gets traffic"
    );

    s1.listen_again();
    let up = wait_line(&p, "Server px/s1 is UP");
    assert!(
        up.contains("Server px/s1 is UP, reason: Layer4 check passed, check duration: "),
        "{up}"
    );
    assert_eq!(
        after_duration(&up),
        " 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
        "{up}"
    );
    let mut seen = answers(addr, 8);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["s1", "s2"], "s1 serves again");
    assert!(!p.log().contains("has no server available"));
    p.stop().assert_clean();
}

#[test]
fn http_checks_go_down_after_fall_and_up_after_rise() {
    // Data on d1, checks on h1 (`addr` + `port`). inter/downinter 3s and
    // fastinter 100ms make the counts exact: after a transition the next
    // check is 3s away.
    let d1 = FlipServer::start("d1");
    let h1 = FlipServer::start("h1");
    let d2 = FlipServer::start("d2");
    let opts = format!(
        "check inter 3s fastinter 100ms downinter 3s rise 3 fall 2 addr 127.0.0.1 port {}",
        h1.addr.port()
    );
    let (section, addr) = listen(
        "px",
        &[
            "option httpchk GET /health HTTP/1.1",
            "http-check send hdr Host www.example.com",
        ],
        &[server("s1", d1.addr, &opts), server("s2", d2.addr, "")],
    );
    let p = Proxy::start(&config(&section));
    assert!(
        wait_for(TRANSITION, || !h1.hits().is_empty()),
        "the first check comes at once (its interval, fastinter, is under 1s)"
    );
    h1.set_status(500);
    let first = &h1.hits()[0];
    assert_eq!(first.request_line, "GET /health HTTP/1.1");
    assert!(
        first.head.contains("\r\nHost: www.example.com\r\n"),
        "{}",
        first.head
    );
    assert!(
        first.head.contains("\r\nConnection: close\r\n"),
        "{}",
        first.head
    );
    assert!(d1.hits_for("/health").is_empty(), "checks go to addr:port");

    let down = wait_line(&p, "Server px/s1 is DOWN");
    assert!(
        down.contains(
            "Server px/s1 is DOWN, reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", check duration: "
        ),
        "{down}"
    );
    assert_eq!(
        after_duration(&down),
        " 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let hits = h1.hits();
    let failed: Vec<&FlipHit> = hits.iter().filter(|h| h.status == 500).collect();
    assert_eq!(
        failed.len(),
        2,
        "DOWN at the 2nd failure (fall 2): {hits:?}"
    );
    assert!(
        failed[1].at - failed[0].at < Duration::from_secs(2),
        "the second failing check comes after fastinter, not inter"
    );
    assert_eq!(answers(addr, 4), vec!["d2"; 4]);

    h1.set_status(200);
    let up = wait_line(&p, "Server px/s1 is UP");
    assert!(
        up.contains("Server px/s1 is UP, reason: Layer7 check passed, code: 200, check duration: "),
        "{up}"
    );
    let hits = h1.hits();
    let last_fail = hits
        .iter()
        .rposition(|h| h.status == 500)
        .expect("failures");
    let good: Vec<&FlipHit> = hits[last_fail + 1..].iter().collect();
    assert_eq!(good.len(), 3, "UP at the 3rd success (rise 3): {hits:?}");
    assert!(
        good[0].at - hits[last_fail].at >= Duration::from_millis(2900),
        "fully down: the next check waits downinter"
    );
    let mut seen = answers(addr, 8);
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["d1", "d2"]);
    p.stop().assert_clean();
}

#[test]
fn backup_takes_over_when_every_active_server_is_down() {
    let a1 = FlipServer::start("a1");
    let b1 = FlipServer::start("b1");
    let b2 = FlipServer::start("b2");
    let opts = "check inter 100ms rise 2 fall 2";
    let (section, addr) = listen(
        "px",
        &[],
        &[
            server("a1", a1.addr, opts),
            server("b1", b1.addr, &format!("{opts} backup")),
            server("b2", b2.addr, &format!("{opts} backup")),
        ],
    );
    let p = Proxy::start(&config(&section));
    assert_eq!(
        answers(addr, 4),
        vec!["a1"; 4],
        "backups idle while a1 is up"
    );

    a1.stop_listening();
    let down = wait_line(&p, "Server px/a1 is DOWN");
    assert!(
        after_duration(&down)
            .starts_with(" 0 active and 2 backup servers left. Running on backup."),
        "{down}"
    );
    assert_eq!(
        answers(addr, 4),
        vec!["b1"; 4],
        "the first backup takes over"
    );

    b1.stop_listening();
    wait_line(&p, "Backup Server px/b1 is DOWN");
    assert_eq!(answers(addr, 2), vec!["b2"; 2]);
    b2.stop_listening();
    let down = wait_line(&p, "Backup Server px/b2 is DOWN");
    assert!(after_duration(&down).starts_with(" 0 active and 0 backup servers left."));
    let alert = wait_line(&p, "has no server available!");
    assert!(
        alert.contains("backend 'px' has no server available!"),
        "{alert}"
    );
    assert!(alert.contains(" ERROR "), "an alert: {alert}");
    assert_eq!(answers(addr, 2), vec!["status 503"; 2]);

    a1.listen_again();
    wait_line(&p, "Server px/a1 is UP");
    assert_eq!(
        answers(addr, 4),
        vec!["a1"; 4],
        "the active server is preferred again"
    );
    p.stop().assert_clean();
}

#[test]
fn http_check_expect_rules() {
    let status = FlipServer::start("status");
    let string = FlipServer::start("string");
    let unwanted = FlipServer::start("unwanted");
    let rstatus = FlipServer::start("rstatus");
    let default = FlipServer::start("default");
    string.set_body("I am healthy");
    let opts = "check inter 100ms rise 1 fall 1";
    let mut body = String::new();
    let mut add = |name: &str, rules: &[&str], s: &FlipServer| {
        let mut extra = vec!["option httpchk GET /health"];
        extra.extend_from_slice(rules);
        body.push_str(&listen(name, &extra, &[server("s", s.addr, opts)]).0);
    };
    add("st", &["http-check expect status 204"], &status);
    add("str", &["http-check expect string healthy"], &string);
    add(
        "nstr",
        &["http-check expect ! string maintenance"],
        &unwanted,
    );
    add("rst", &["http-check expect rstatus ^2"], &rstatus);
    add("dflt", &[], &default);
    let p = Proxy::start(&config(&body));

    // A status rule that the answer misses: down at the first check.
    let line = wait_line(&p, "Server st/s is DOWN");
    assert!(
        line.contains("reason: Layer7 wrong status, code: 200, info: \"OK\", check duration: "),
        "{line}"
    );
    // Passing rules: several checks and still up.
    default.set_status(302);
    for s in [&string, &unwanted, &rstatus, &default] {
        let n = s.hits().len();
        assert!(
            wait_for(TRANSITION, || s.hits().len() >= n + 3),
            "{} keeps being checked",
            s.name
        );
    }
    for name in ["str", "nstr", "rst", "dflt"] {
        assert!(
            !p.log().contains(&format!("Server {name}/s is DOWN")),
            "{name} must stay up:\n{}",
            p.log()
        );
    }
    string.set_body("I am sick");
    let line = wait_line(&p, "Server str/s is DOWN");
    assert!(
        line.contains(
            "reason: Layer7 invalid response, info: \"HTTP content check did not match\", check duration: "
        ),
        "{line}"
    );
    unwanted.set_body("in maintenance");
    let line = wait_line(&p, "Server nstr/s is DOWN");
    assert!(
        line.contains("info: \"HTTP check matched unwanted content\""),
        "{line}"
    );
    rstatus.set_status(503);
    let line = wait_line(&p, "Server rst/s is DOWN");
    assert!(
        line.contains("reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\""),
        "{line}"
    );
    default.set_status(404);
    wait_line(&p, "Server dflt/s is DOWN");
    // And back: rise 1.
    string.set_body("healthy again");
    let line = wait_line(&p, "Server str/s is UP");
    assert!(
        line.contains("reason: Layer7 check passed, code: 200"),
        "{line}"
    );
    p.stop().assert_clean();
}

#[test]
fn check_timeouts() {
    // Accepts, never answers: Layer7 timeout after `timeout check`.
    let silent = Backend::black_hole("silent");
    // Connects hang: Layer4 timeout within min(timeout connect, inter).
    let hung = Unaccepting::new();
    let (a, _) = listen(
        "l7",
        &["option httpchk", "timeout check 300ms"],
        &[server("s", silent.addr, "check inter 100ms")],
    );
    let (b, _) = listen(
        "l4",
        &["timeout check 300ms", "timeout connect 200ms"],
        &[server("s", hung.addr, "check inter 5s")],
    );
    let p = Proxy::start(&config(&format!("{a}{b}")));
    let line = wait_line(&p, "Server l7/s is DOWN");
    assert!(
        line.contains("reason: Layer7 timeout, check duration: "),
        "{line}"
    );
    let line = wait_line(&p, "Server l4/s is DOWN");
    assert!(
        line.contains("reason: Layer4 timeout, check duration: "),
        "{line}"
    );
    p.stop().assert_clean();
}

#[test]
fn a_server_coming_up_serves_the_queue_at_once() {
    // s1 (maxconn 1) holds a first request; s2 is DOWN: a second request
    // queues. When s2's check passes, the queued request goes to s2 at
    // once, while s1 still holds the first (before, only a freed slot woke
    // a queue: the request waited for s1).
    let open = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (gate, seen) = (open.clone(), held.clone());
    let s1 = Backend::spawn("s1", move |s, _| {
        let mut r = ByteReader::new(s);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        if let Ok(Some(_)) = r.read_head(65536, deadline) {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut g = gate.0.lock().unwrap();
            while !*g {
                g = gate.1.wait(g).unwrap();
            }
            let body = "server=s1";
            let rsp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut r.s, rsp.as_bytes());
        }
    });
    let s2 = FlipServer::start("s2");
    s2.stop_listening();
    let dir = TempDir::new();
    let sock = dir.path.join("api.sock");
    let (section, addr) = listen(
        "px",
        &["timeout queue 20s"],
        &[
            server("s1", s1.addr, "maxconn 1"),
            server("s2", s2.addr, "check inter 100ms rise 1 fall 1"),
        ],
    );
    let global = format!("    stats socket {} level admin\n", sock.display());
    let p = Proxy::start(&http_config(2, &global, &section));
    wait_line(&p, "Server px/s2 is DOWN");

    let mut first = HttpClient::connect(addr);
    first.send(get_req("/first", ""));
    let qcur = || {
        let stat = api(&sock, "show stat\n");
        line_with(&stat, "px,BACKEND,")
            .and_then(|l| l.split(',').nth(2).map(str::to_string))
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + TRANSITION;
    while held.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "s1 never got /first");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut queued = HttpClient::connect(addr);
    queued.send(get_req("/queued", ""));
    while qcur() != "1" {
        assert!(std::time::Instant::now() < deadline, "/queued never queued");
        std::thread::sleep(Duration::from_millis(5));
    }

    s2.listen_again();
    let rsp = queued.expect_response("the queued request, once s2 is up");
    assert_eq!(rsp.field("server").as_deref(), Some("s2"), "{rsp:?}");
    wait_line(&p, "Server px/s2 is UP");
    assert_eq!(qcur(), "0");

    *open.0.lock().unwrap() = true;
    open.1.notify_all();
    let rsp = first.expect_response("the held request");
    assert_eq!(rsp.field("server").as_deref(), Some("s1"), "{rsp:?}");
    drop((first, queued));
    p.stop().assert_clean();
}
