//! HTTP mode, configuration features on top of forwarding: ACLs and
//! `use_backend ... if`, `http-request` / `http-response` rules (deny,
//! return, redirect, header and path rewrites), `option forwardfor`,
//! `errorfile`, and `option httplog` with a UDP `log` target.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Starts a proxy with `body` (sections) after the HTTP defaults; panics
/// with the checker's message if the configuration is rejected.
fn start(body: &str) -> Proxy {
    Proxy::start_checked(&http_config(1, "", body))
}

fn listen_with(port: u16, lines: &str, be: &HttpBackend) -> String {
    http_listen(port, lines, &[("s1", be.addr)])
}

#[test]
fn use_backend_with_acl() {
    let web = HttpBackend::start("web");
    let api = HttpBackend::start("api");
    let port = free_port();
    let p = start(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    acl is_api path_beg /api\n    use_backend be_api if is_api\n    use_backend be_api if {{ hdr(host) -i api.example }}\n    default_backend be_web\n\nbackend be_web\n    server web {}\n\nbackend be_api\n    server api {}\n",
        web.addr, api.addr
    ));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    assert_eq!(c.get("/api/v1", "").server(), "api");
    assert_eq!(c.get("/index.html", "").server(), "web");
    // Per request on the same connection.
    assert_eq!(c.get("/api/v2", "").server(), "api");
    c.send("GET /x HTTP/1.1\r\nHost: API.example\r\n\r\n");
    assert_eq!(c.expect_response("by host").server(), "api");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn http_request_deny() {
    let be = HttpBackend::start("s1");
    let port = free_port();
    let p = start(&listen_with(
        port,
        "http-request deny if { path_beg /admin }\nhttp-request deny deny_status 429 if { path /busy }",
        &be,
    ));
    let addr = SocketAddr::new(LOCALHOST, port);
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/admin/x", ""));
    let r = c.expect_response("denied");
    assert_eq!(r.status_line(), "HTTP/1.1 403 Forbidden");
    assert_eq!(
        r.body_str(),
        "<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"
    );
    let mut c = HttpClient::connect(addr);
    c.send(get_req("/busy", ""));
    let r = c.expect_response("429");
    assert_eq!(r.status_line(), "HTTP/1.1 429 Too Many Requests");
    let mut c = HttpClient::connect(addr);
    assert_eq!(c.get("/allowed", "").status, 200);
    assert_eq!(
        be.targets(),
        vec!["/allowed"],
        "a denied request reached the server"
    );
    drop(c);
    p.stop().assert_clean();
}

const RETURN_AND_REDIRECT: &str = "http-request return status 200 content-type text/plain string \"pong\" if { path /ping }\nhttp-request redirect location /new code 301 if { path /old }\nhttp-request redirect prefix https://secure.example if { path_beg /pay }";

#[test]
fn http_request_return_and_redirect() {
    let be = HttpBackend::start("s1");
    let port = free_port();
    let p = start(&listen_with(port, RETURN_AND_REDIRECT, &be));
    let addr = SocketAddr::new(LOCALHOST, port);
    let r = HttpClient::connect(addr).get("/ping", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"pong");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = HttpClient::connect(addr).get("/old", "");
    assert_eq!(r.status, 301, "{}", r.head_str());
    assert_eq!(r.header("location"), Some("/new"));
    let r = HttpClient::connect(addr).get("/pay/now?x=1", "");
    assert!(r.status == 302, "{}", r.head_str());
    assert_eq!(
        r.header("location"),
        Some("https://secure.example/pay/now?x=1")
    );
    assert!(be.seen().is_empty(), "{:?}", be.targets());
    p.stop().assert_clean();
}

#[test]
fn keep_alive_after_a_proxy_generated_answer() {
    // `return` and `redirect` answer without a server; a keep-alive client
    // then sends its next request on the same connection.
    let be = HttpBackend::start("s1");
    let port = free_port();
    let p = start(&listen_with(port, RETURN_AND_REDIRECT, &be));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    c.r.s
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for i in 0..3 {
        let r = c.get("/ping", "");
        assert_eq!(r.body, b"pong", "round {i}");
        let r = c.get("/old", "");
        assert_eq!(r.status, 301, "round {i}");
        let r = c.get(&format!("/forwarded/{i}"), "");
        assert_eq!(r.server(), "s1", "round {i}");
    }
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn http_request_header_and_path_rewrites() {
    let be = HttpBackend::start("s1");
    let port = free_port();
    let p = start(&listen_with(
        port,
        "http-request set-header X-Added yes\nhttp-request add-header X-Multi two\nhttp-request del-header X-Remove\nhttp-request set-path /rewritten if { path /orig }\nhttp-request replace-header User-Agent (.*)bot(.*) \\1robot\\2",
        &be,
    ));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    let r = c.get(
        "/orig",
        "X-Remove: secret\r\nX-Multi: one\r\nUser-Agent: my-bot-1\r\n",
    );
    assert_eq!(r.status, 200);
    let s = be.wait_seen(1, IO_TIMEOUT).remove(0);
    let h = s.head_str();
    assert_eq!(s.target, "/rewritten", "{h}");
    assert_eq!(s.parsed.header("x-added"), Some("yes"), "{h}");
    assert_eq!(s.parsed.headers_named("x-multi"), vec!["one", "two"], "{h}");
    assert!(s.parsed.header("x-remove").is_none(), "{h}");
    assert_eq!(s.parsed.header("user-agent"), Some("my-robot-1"), "{h}");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn http_response_header_rewrites() {
    let be = HttpBackend::start("s1");
    let port = free_port();
    let p = start(&listen_with(
        port,
        "http-response set-header X-Resp added\nhttp-response del-header X-Served-By\nhttp-response set-header X-Status %[status]",
        &be,
    ));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    let r = c.get("/", "");
    assert_eq!(r.header("x-resp"), Some("added"), "{}", r.head_str());
    assert!(r.header("x-served-by").is_none(), "{}", r.head_str());
    assert_eq!(r.header("x-status"), Some("200"), "{}", r.head_str());
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn option_forwardfor() {
    let be = HttpBackend::start("s1");
    let port = free_port();
    let p = start(&listen_with(port, "option forwardfor", &be));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    let r = c.get("/xff", "X-Forwarded-For: 10.0.0.1\r\n");
    assert_eq!(r.status, 200);
    let s = be.wait_seen(1, IO_TIMEOUT).remove(0);
    // HAProxy appends its own field after the client's.
    assert_eq!(
        s.parsed.headers_named("x-forwarded-for"),
        vec!["10.0.0.1", "127.0.0.1"],
        "{}",
        s.head_str()
    );
    // Every request of the connection gets it.
    c.get("/xff2", "");
    let s = be.wait_seen(2, IO_TIMEOUT).remove(1);
    assert_eq!(s.parsed.header("x-forwarded-for"), Some("127.0.0.1"));
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn errorfile_replaces_default_page() {
    let dir = TempDir::new();
    let page = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nsorry";
    let path = dir.write("503.http", page);
    let port = free_port();
    let p = start(&format!(
        "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend empty\n\nbackend empty\n    errorfile 503 {}\n",
        path.display()
    ));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    c.send(get_req("/", ""));
    let r = c.expect_response("503 errorfile");
    assert_eq!(r.status, 503);
    assert_eq!(r.body, b"sorry");
    drop(c);
    p.stop().assert_clean();
}

#[test]
fn option_httplog_to_udp_syslog() {
    let be = HttpBackend::start("s1");
    let sock = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log_addr = sock.local_addr().unwrap();
    let port = free_port();
    let p = start(&listen_with(
        port,
        &format!("log {log_addr} local0\noption httplog"),
        &be,
    ));
    let mut c = HttpClient::connect(SocketAddr::new(LOCALHOST, port));
    assert_eq!(c.get("/logme?a=1", "").status, 200);
    drop(c);
    // One line is expected; once something arrived, wait a little more only.
    let mut deadline = Instant::now() + Duration::from_secs(5);
    let mut lines: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let l = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = l.contains("/logme");
            if lines.is_empty() {
                deadline = deadline.min(Instant::now() + Duration::from_millis(500));
            }
            lines.push(l);
            if done {
                break;
            }
        }
    }
    let line = lines
        .iter()
        .find(|l| l.contains("/logme"))
        .unwrap_or_else(|| panic!("no httplog line for /logme; got {lines:?}"));
    // <134> = local0.info
    assert!(line.starts_with("<134>"), "{line:?}");
    assert!(line.contains(" px px/s1 "), "{line:?}");
    assert!(line.contains(" 200 "), "{line:?}");
    assert!(line.contains("\"GET /logme?a=1 HTTP/1.1\""), "{line:?}");
    p.stop().assert_clean();
}
