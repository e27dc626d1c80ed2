//! Internal services: `http-request use-service prometheus-exporter` (its
//! output read by Python's `prometheus_client` parser), the stats page
//! (`stats enable/uri/auth/refresh`, `;csv`, loaded in headless Chromium
//! with a screenshot kept under `target/test-artifacts/`), `monitor-uri` and
//! `monitor fail`.
//!
//! Needs Debian's `python3-prometheus-client` and `chromium` (`.ci/run`
//! installs them): these tests fail, not skip, without them.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's interpreter, where `python3-prometheus-client` installs (a
/// `python3` earlier in PATH may be another one).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// One sample as the real parser read it.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The exposition parsed by `prometheus_client.parser`: (family name ->
/// type, samples). Panics (the test fails) when the parser refuses it or
/// the module is missing.
fn parse_exposition(text: &str) -> (HashMap<String, String>, Vec<Sample>) {
    const SCRIPT: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print("F\t%s\t%s" % (fam.name, fam.type))
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("S\t%s\t%s\t%r" % (s.name, labels, s.value))
"#;
    let mut child = Command::new(python())
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (install python3)", python()));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to the parser");
    let out = child.wait_with_output().expect("parser output");
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition (apt-get install python3-prometheus-client):\n{}\n--- exposition ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["F", name, ty] => {
                types.insert(name.to_string(), ty.to_string());
            }
            ["S", name, labels, value] => samples.push(Sample {
                name: name.to_string(),
                labels: labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                value: value.parse().unwrap_or(f64::NAN),
            }),
            _ => panic!("unexpected parser line {line:?}"),
        }
    }
    (types, samples)
}

/// The value of `name` with exactly `labels`; panics when absent.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    want.sort();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

fn has(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|s| s.name == name)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::new(LOCALHOST, port)
}

/// A frontend answering `/metrics` with the exporter and forwarding the
/// rest to `be` (two servers, one `disabled`).
fn exporter_config(port: u16, s1: SocketAddr, s2: SocketAddr, nbthread: usize) -> String {
    http_config(
        nbthread,
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    http-request use-service prometheus-exporter if {{ path /metrics }}\n    default_backend be\n\nbackend be\n    server s1 {s1}\n    server s2 {s2}\n    server s3 127.0.0.1:1 disabled\n"
        ),
    )
}

#[test]
fn prometheus_exporter_counts_what_the_test_caused() {
    let b1 = HttpBackend::start("s1");
    let b2 = HttpBackend::start("s2");
    let port = free_port();
    let p = Proxy::start_checked(&exporter_config(port, b1.addr, b2.addr, 2));
    const N: usize = 10;
    // A new connection each: the requests spread over both shards.
    for i in 0..N {
        let r = HttpClient::connect(addr(port)).get(&format!("/delay/30/{i}"), "");
        assert_eq!(r.status, 200, "request {i}");
    }
    let mut c = HttpClient::connect(addr(port));
    let r = c.get("/metrics", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let (types, s) = parse_exposition(&r.body_str());
    let be = [("proxy", "be")];
    let fe = [("proxy", "fe")];
    assert_eq!(
        value(&s, "haproxy_backend_http_requests_total", &be),
        N as f64
    );
    assert_eq!(
        value(&s, "haproxy_backend_loadbalanced_total", &be),
        N as f64
    );
    // HAProxy's sliding averages: every response took the backend's 30 ms
    // at least (no upper bound: the machine's load decides it).
    let rtime = value(&s, "haproxy_backend_response_time_average_seconds", &be);
    let ttime = value(&s, "haproxy_backend_total_time_average_seconds", &be);
    assert!(rtime >= 0.03, "response time average {rtime}");
    assert!(ttime >= rtime, "total {ttime} < response {rtime}");
    assert!(has(&s, "haproxy_server_queue_time_average_seconds"));
    assert_eq!(value(&s, "haproxy_backend_sessions_total", &be), N as f64);
    assert_eq!(
        value(
            &s,
            "haproxy_backend_http_responses_total",
            &[("proxy", "be"), ("code", "2xx")]
        ),
        N as f64
    );
    let over_servers = |metric: &str| -> f64 {
        ["s1", "s2"]
            .iter()
            .map(|sv| value(&s, metric, &[("proxy", "be"), ("server", sv)]))
            .sum()
    };
    assert_eq!(over_servers("haproxy_server_sessions_total"), N as f64);
    assert_eq!(over_servers("haproxy_server_loadbalanced_total"), N as f64);
    // The exporter request itself is counted after its answer is built.
    assert_eq!(
        value(&s, "haproxy_frontend_http_requests_total", &fe),
        N as f64
    );
    assert_eq!(
        value(&s, "haproxy_frontend_intercepted_requests_total", &fe),
        0.0
    );
    assert_eq!(
        value(&s, "haproxy_frontend_connections_total", &fe),
        (N + 1) as f64
    );
    assert_eq!(value(&s, "haproxy_process_requests_total", &[]), N as f64);
    assert_eq!(value(&s, "haproxy_process_nbthread", &[]), 2.0);
    // HAProxy 2.4+ state gauges.
    for (sv, state) in [("s1", "UP"), ("s2", "UP"), ("s3", "MAINT")] {
        let l = [("proxy", "be"), ("server", sv), ("state", state)];
        assert_eq!(value(&s, "haproxy_server_status", &l), 1.0, "{sv}");
        let l = [("proxy", "be"), ("server", sv), ("state", "DOWN")];
        assert_eq!(value(&s, "haproxy_server_status", &l), 0.0, "{sv}");
    }
    assert_eq!(
        value(
            &s,
            "haproxy_backend_status",
            &[("proxy", "be"), ("state", "UP")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "haproxy_backend_agg_server_check_status",
            &[("proxy", "be"), ("state", "MAINT")]
        ),
        1.0
    );
    assert_eq!(value(&s, "haproxy_backend_active_servers", &be), 2.0);
    // The latency histograms: every request waited 30 ms at the server.
    assert_eq!(
        types
            .get("ringproxy_backend_response_time_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    for h in ["response", "total"] {
        let name = format!("ringproxy_backend_{h}_time_seconds");
        assert_eq!(value(&s, &format!("{name}_count"), &be), N as f64, "{h}");
        let inf = [("proxy", "be"), ("le", "+Inf")];
        assert_eq!(value(&s, &format!("{name}_bucket"), &inf), N as f64, "{h}");
        let fast = [("proxy", "be"), ("le", "0.025")];
        assert_eq!(
            value(&s, &format!("{name}_bucket"), &fast),
            0.0,
            "{h}: under 25 ms"
        );
        let sum = value(&s, &format!("{name}_sum"), &be);
        assert!(sum >= 0.030 * N as f64 && sum < 5.0, "{h}: sum {sum}");
    }
    let max = value(&s, "haproxy_backend_max_response_time_seconds", &be);
    assert!((0.030..5.0).contains(&max), "{max}");
    // Keep-alive after the service's answer; the next exposition counts
    // the first one as intercepted.
    let r = c.get("/metrics", "");
    let (_, s) = parse_exposition(&r.body_str());
    assert_eq!(
        value(&s, "haproxy_frontend_intercepted_requests_total", &fe),
        1.0
    );
    assert_eq!(
        value(&s, "haproxy_frontend_http_requests_total", &fe),
        (N + 1) as f64
    );
    assert_eq!(
        value(&s, "haproxy_backend_http_requests_total", &be),
        N as f64
    );
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn exporter_scopes_no_maint_and_bad_scope() {
    let b1 = HttpBackend::start("s1");
    let port = free_port();
    let p = Proxy::start_checked(&exporter_config(port, b1.addr, b1.addr, 1));
    let mut c = HttpClient::connect(addr(port));
    let r = c.get("/metrics?scope=server&no-maint", "");
    assert_eq!(r.status, 200);
    let (_, s) = parse_exposition(&r.body_str());
    assert!(
        s.iter().all(|x| x.name.starts_with("haproxy_server_")),
        "{s:?}"
    );
    assert!(has(&s, "haproxy_server_status"));
    assert!(
        !s.iter()
            .any(|x| x.labels.contains(&("server".into(), "s3".into()))),
        "no-maint hides s3"
    );
    let r = c.get("/metrics?scope=global&scope=frontend", "");
    let (_, s) = parse_exposition(&r.body_str());
    assert!(has(&s, "haproxy_process_uptime_seconds"));
    assert!(has(&s, "haproxy_frontend_status"));
    assert!(!has(&s, "haproxy_backend_status") && !has(&s, "haproxy_server_status"));
    let r = c.get("/metrics?scope=nope", "");
    assert_eq!(r.status, 400);
    // HEAD: the head only.
    c.send("HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    let (_, r) = c.read_final(true).expect("HEAD answer");
    assert_eq!(r.status, 200);
    assert!(r.header("content-length").is_some_and(|l| l != "0"));
    // Other paths still reach the backend on the same connection.
    assert_eq!(c.get("/app", "").server(), "s1");
    drop(c);
    p.stop().assert_clean();
}

/// `user:pass` as an `Authorization` field value.
fn basic(user_pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = user_pass.as_bytes();
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    format!("Authorization: Basic {s}\r\n")
}

#[test]
fn stats_auth_csv_refresh_and_keep_alive() {
    let b1 = HttpBackend::start("s1");
    let port = free_port();
    let p = Proxy::start_checked(&http_config(
        1,
        "",
        &http_listen(
            port,
            "stats enable\nstats uri /admin/stats\nstats refresh 10s\nstats realm Ring\\ Stats\nstats auth admin:s3cret\nstats auth ops:pw",
            &[("s1", b1.addr)],
        ),
    ));
    let mut c = HttpClient::connect(addr(port));
    let r = c.get("/admin/stats", "");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Ring Stats\"")
    );
    let r = c.get("/admin/stats", &basic("admin:wrong"));
    assert_eq!(r.status, 401);
    // Keep-alive across the answers: still the same connection.
    let r = c.get("/admin/stats", &basic("admin:s3cret"));
    assert_eq!(r.status, 200, "{}", r.head_str());
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.header("refresh"), Some("10"));
    let html = r.body_str();
    assert!(html.contains("data-server=\"s1\""), "{html}");
    let r = c.get("/admin/stats;csv;norefresh", &basic("ops:pw"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("refresh"), None);
    let csv = r.body_str();
    assert!(csv.starts_with("# pxname,svname,qcur,"), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("px,s1,")), "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("px,FRONTEND,")), "{csv}");
    // Same rows as `show stat` for this proxy: the intercepted requests
    // so far are counted on the frontend (column 80).
    let fe_row = csv.lines().find(|l| l.starts_with("px,FRONTEND,")).unwrap();
    assert_eq!(fe_row.split(',').nth(80), Some("3"), "{fe_row}");
    // Not the stats URI: forwarded.
    assert_eq!(c.get("/admin/other", "").server(), "s1");
    assert_eq!(b1.targets(), vec!["/admin/other"]);
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn monitor_uri_and_monitor_fail_are_answered_and_not_logged() {
    let b1 = HttpBackend::start("s1");
    let sock = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log_addr = sock.local_addr().unwrap();
    let port = free_port();
    let p = Proxy::start_checked(&http_config(
        1,
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    log {log_addr} local0\n    option httplog\n    monitor-uri /healthz\n    acl down hdr(x-down) -m found\n    monitor fail if down\n    http-request deny if {{ path /healthz }}\n    default_backend be\n\nbackend be\n    server s1 {}\n",
            b1.addr
        ),
    ));
    let mut c = HttpClient::connect(addr(port));
    // Before any rule: the deny never sees it.
    let r = c.get("/healthz", "");
    assert_eq!(r.status_line(), "HTTP/1.1 200 OK");
    assert_eq!(
        r.body_str(),
        "<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n"
    );
    let r = c.get("/healthz", "X-Down: 1\r\n");
    assert_eq!(r.status, 503);
    // Exact match: another target is a normal request.
    assert_eq!(c.get("/healthz/x", "").server(), "s1");
    drop(c);
    assert_eq!(b1.targets(), vec!["/healthz/x"]);
    // Only the forwarded request is logged.
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            if lines.iter().any(|l| l.contains("/healthz/x")) {
                // Give a stray monitor line the time to arrive too.
                std::thread::sleep(Duration::from_millis(300));
                while let Ok(n) = sock.recv(&mut buf) {
                    lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                break;
            }
        }
    }
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("GET /healthz/x "), "{lines:?}");
    p.stop().assert_clean();
}

/// Where test artifacts are kept: `target/test-artifacts/`.
fn artifacts_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp
        .parent()
        .map_or_else(|| tmp.join("test-artifacts"), |t| t.join("test-artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

/// Runs headless Chromium with `args`, at most 60 s; its stdout.
fn chromium(args: &[&str]) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args([
            "--disable-dev-shm-usage",
            "--user-data-dir=/tmp/ringproxy-chromium-test",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run chromium: {e} (apt-get install chromium)"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait().expect("chromium status") {
            Some(_) => break,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("chromium did not finish within 60 s");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let out = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn stats_page_in_headless_chromium() {
    let up = HttpBackend::start("up");
    let backup = HttpBackend::start("bk");
    let dead = free_port();
    let port = free_port();
    let p = Proxy::start_checked(&http_config(
        1,
        "",
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    stats enable\n    default_backend be\n\nbackend be\n    stats enable\n    server web1 {} check inter 200ms rise 1 fall 1\n    server web2 127.0.0.1:{dead} check inter 200ms rise 1 fall 1\n    server web3 {} disabled\n    server spare {} backup\n",
            up.addr, up.addr, backup.addr
        ),
    ));
    let url = format!("http://127.0.0.1:{port}/haproxy?stats");
    // Wait for the checks: web2 down, web1 up.
    let mut c = HttpClient::connect(addr(port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let csv = c.get("/haproxy?stats;csv", "").body_str();
        let status = |sv: &str| {
            csv.lines()
                .find(|l| l.starts_with(&format!("be,{sv},")))
                .and_then(|l| l.split(',').nth(17).map(str::to_string))
        };
        if status("web2").as_deref() == Some("DOWN") && status("web1").as_deref() == Some("UP") {
            break;
        }
        assert!(Instant::now() < deadline, "checks did not settle: {csv}");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(c);
    let png = artifacts_dir().join("stats-page.png");
    let _ = std::fs::remove_file(&png);
    let window = "--window-size=1400,900";
    chromium(&[&format!("--screenshot={}", png.display()), window, &url]);
    let bytes =
        std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "screenshot too small ({} bytes)",
        bytes.len()
    );
    println!("stats page screenshot: {}", png.display());
    let dom = chromium(&["--dump-dom", &url]);
    for (server, class) in [
        ("web1", "active_up"),
        ("web2", "active_down"),
        ("web3", "maintain"),
        ("spare", "backup_no_check"),
    ] {
        let row = format!("<tr class=\"{class} server\" data-server=\"{server}\">");
        assert!(dom.contains(&row), "no {row} in the page:\n{dom}");
    }
    // One table per proxy, with its frontend and backend rows.
    assert!(dom.contains("data-proxy=\"fe\"") && dom.contains("data-proxy=\"be\""));
    assert!(dom.contains("<td class=\"al\">Frontend</td>"));
    assert!(dom.contains("<td class=\"al\">Backend</td>"));
    assert!(dom.contains("L4OK"), "web1's check result");
    p.stop().assert_clean();
}

#[test]
fn stats_and_services_config_checks() {
    // Accepted by `ringproxy -c`, HAProxy's usual forms included.
    let (a, b) = (free_port(), free_port());
    assert_config_ok(&http_config(
        1,
        "",
        &format!(
            "defaults\n    mode http\n    stats enable\n    stats hide-version\n\nfrontend prometheus\n    bind 127.0.0.1:{a}\n    http-request use-service prometheus-exporter if {{ path /metrics }}\n    no log\n\nlisten stats\n    bind 127.0.0.1:{b}\n    stats uri /\n    stats refresh 5s\n    stats auth a:b\n    monitor-uri /ping\n    monitor fail unless {{ src 127.0.0.1 }}\n"
        ),
    ));
    for (line, msg) in [
        ("stats refresh x", "'stats refresh'"),
        (
            "stats auth nopassword",
            "'stats auth' needs a user:password account.",
        ),
        ("stats bogus", "'stats' expects"),
        ("stats admin if TRUE", "'stats admin' is not supported yet"),
        ("monitor fail", "'monitor fail' expects 'if' or 'unless'"),
        ("monitor-uri", "'monitor-uri' expects an URI."),
        ("http-request use-service nope", "unknown service 'nope'"),
    ] {
        let cfg = http_config(1, "", &http_listen(free_port(), line, &[]));
        let (code, out, _, _d) = run_check(&cfg);
        assert_ne!(code, Some(0), "{line} accepted");
        assert!(out.contains(msg), "{line}: {out}");
        assert!(out.contains(".cfg:"), "{line}: no file:line in {out}");
    }
}

#[test]
fn session_and_request_rates_are_exported_and_shown() {
    let b1 = HttpBackend::start("s1");
    let b2 = HttpBackend::start("s2");
    let port = free_port();
    let p = Proxy::start_checked(&exporter_config(port, b1.addr, b2.addr, 2));
    const N: usize = 5;
    let t0 = Instant::now();
    for i in 0..N {
        let r = HttpClient::connect(addr(port)).get(&format!("/{i}"), "");
        assert_eq!(r.status, 200, "request {i}");
    }
    let mut c = HttpClient::connect(addr(port));
    let r = c.get("/metrics", "");
    let within_a_second = t0.elapsed() < Duration::from_millis(900);
    let (_, s) = parse_exposition(&r.body_str());
    let fe = [("proxy", "fe")];
    let be = [("proxy", "be")];
    let got = (
        value(&s, "haproxy_frontend_max_session_rate", &fe),
        value(&s, "haproxy_frontend_http_requests_rate_max", &fe),
        value(&s, "haproxy_backend_max_session_rate", &be),
    );
    // Every event within one second (the window starts at the first):
    // the highest rates are the counts; the exporter's own connection is a
    // session, its request is counted once answered.
    if within_a_second {
        assert_eq!(got, ((N + 1) as f64, N as f64, N as f64));
    } else {
        assert!(got.0 >= 1.0 && got.0 <= (N + 1) as f64, "{got:?}");
    }
    p.stop();
}
