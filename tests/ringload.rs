//! End-to-end tests of the `ringload` binary against small std-thread
//! servers started here (HTTP with Content-Length or chunked bodies, a
//! server answering 500, a silent one) and against `ringload bulk-server`.
//! Bounds are loose on purpose: these check behaviour, not speed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const BODY: &[u8; 64] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[derive(Clone, Copy)]
enum Reply {
    /// 200 with Content-Length: 64.
    Ok,
    /// 200 with the same 64 bytes in two chunks.
    Chunked,
    /// 500 with Content-Length: 64.
    Error,
    /// Reads requests and never answers.
    Silent,
}

struct Server {
    addr: SocketAddr,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    /// Connections currently open.
    open: Arc<AtomicUsize>,
}

/// Starts an HTTP/1.1 server on a free port: one thread per connection,
/// pipelined requests answered in order, `Connection: close` honoured.
fn start_server(reply: Reply) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let (acc, op) = (accepted.clone(), open.clone());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            acc.fetch_add(1, Ordering::SeqCst);
            op.fetch_add(1, Ordering::SeqCst);
            let op = op.clone();
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    serve(stream, reply);
                    op.fetch_sub(1, Ordering::SeqCst);
                })
                .unwrap();
        }
    });
    Server {
        addr,
        accepted,
        open,
    }
}

fn response(reply: Reply, close: bool) -> Vec<u8> {
    let conn = if close { "Connection: close\r\n" } else { "" };
    let mut r = match reply {
        Reply::Ok | Reply::Silent => {
            format!("HTTP/1.1 200 OK\r\nServer: t\r\n{conn}Content-Length: 64\r\n\r\n").into_bytes()
        }
        Reply::Error => {
            format!("HTTP/1.1 500 Internal Server Error\r\n{conn}Content-Length: 64\r\n\r\n")
                .into_bytes()
        }
        Reply::Chunked => {
            let mut r =
                format!("HTTP/1.1 200 OK\r\n{conn}Transfer-Encoding: chunked\r\n\r\n28\r\n")
                    .into_bytes();
            r.extend_from_slice(&BODY[..40]);
            r.extend_from_slice(b"\r\n18\r\n");
            r.extend_from_slice(&BODY[40..]);
            r.extend_from_slice(b"\r\n0\r\n\r\n");
            return r;
        }
    };
    r.extend_from_slice(BODY);
    r
}

fn serve(mut s: TcpStream, reply: Reply) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        if !matches!(reply, Reply::Silent) {
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let close = head.contains("\r\nconnection: close");
                out.extend_from_slice(&response(reply, close));
                buf.drain(..end + 4);
                if close {
                    let _ = s.write_all(&out);
                    return;
                }
            }
            if !out.is_empty() {
                if s.write_all(&out).is_err() {
                    return;
                }
                out.clear();
            }
        } else {
            buf.clear();
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ringload-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn ringload(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ringload"));
    c.args(args);
    c
}

/// Waits for `child` at most `limit`, killing it (and failing) past that.
fn wait_with_limit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringload did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs ringload with `args` plus `--json FILE`; returns the exit code, the
/// JSON (empty if none was written) and stdout.
fn run_json(name: &str, args: &[&str]) -> (i32, String, String) {
    let json = temp_path(&format!("{name}.json"));
    let mut all: Vec<&str> = args.to_vec();
    let json_arg = json.to_str().unwrap().to_string();
    all.extend(["--json", &json_arg]);
    let mut child = ringload(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = String::new();
    let mut out = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let _ = out.read_to_string(&mut stdout);
        stdout
    });
    let status = wait_with_limit(&mut child, Duration::from_secs(20));
    let stdout = reader.join().unwrap();
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    let _ = std::fs::remove_file(&json);
    if !text.is_empty() {
        let t = text.trim();
        assert!(
            t.starts_with('{') && t.ends_with('}'),
            "not a JSON object: {t}"
        );
        assert!(t.contains("\"tool\":\"ringload\""), "{t}");
    }
    (status.code().unwrap_or(-1), text, stdout)
}

/// The number after `"key":` in `json` (keys are unique in ringload's
/// output).
fn num(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end]
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}

fn assert_no_errors(j: &str) {
    for k in ["connect", "read", "write", "timeout", "status"] {
        assert_eq!(num(j, k), 0.0, "errors.{k} in {j}");
    }
}

fn url(s: &Server) -> String {
    format!("http://{}/index.html", s.addr)
}

#[test]
fn keepalive_duration_run() {
    let s = start_server(Reply::Ok);
    let (code, j, out) = run_json(
        "ka",
        &[
            "http",
            "--url",
            &url(&s),
            "-c",
            "4",
            "-t",
            "2",
            "-d",
            "700ms",
        ],
    );
    assert_eq!(code, 0, "{j}");
    assert!(j.contains("\"mode\":\"http\""), "{j}");
    assert!(j.contains("\"keepalive\":true"), "{j}");
    assert!(j.contains("\"rate\":null"), "{j}");
    assert!(!j.contains("established"), "{j}");
    assert_eq!(num(&j, "connections"), 4.0);
    assert_eq!(num(&j, "threads"), 2.0);
    let requests = num(&j, "requests");
    assert!(requests > 100.0, "{j}");
    assert!(num(&j, "rps") > 0.0);
    let d = num(&j, "duration_s");
    assert!((0.6..3.0).contains(&d), "{j}");
    // Each response is at least its 64-byte body plus a head.
    assert!(num(&j, "bytes_read") >= requests * 64.0, "{j}");
    assert!(num(&j, "bytes_written") >= requests * 20.0, "{j}");
    assert_no_errors(&j);
    let (p50, p99, max) = (num(&j, "p50"), num(&j, "p99"), num(&j, "max"));
    assert!(p50 >= 1.0 && p50 <= p99 && p99 <= max, "{j}");
    assert!(num(&j, "mean") > 0.0, "{j}");
    assert_eq!(s.accepted.load(Ordering::SeqCst), 4);
    assert!(
        out.contains("requests") && out.contains("latency") && out.contains("p99.9"),
        "{out}"
    );
}

#[test]
fn request_count_with_pipelining_and_chunked_bodies() {
    let s = start_server(Reply::Chunked);
    let (code, j, _) = run_json(
        "pipe",
        &[
            "http",
            "--url",
            &url(&s),
            "-c",
            "3",
            "-n",
            "2000",
            "--pipeline",
            "8",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{j}");
    assert_eq!(num(&j, "requests"), 2000.0, "{j}");
    assert_eq!(num(&j, "pipeline"), 8.0, "{j}");
    assert_no_errors(&j);
}

#[test]
fn connection_per_request() {
    let s = start_server(Reply::Ok);
    let (code, j, _) = run_json(
        "close",
        &[
            "http",
            "--url",
            &url(&s),
            "-c",
            "4",
            "-n",
            "300",
            "--close",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{j}");
    assert_eq!(num(&j, "requests"), 300.0, "{j}");
    assert!(j.contains("\"keepalive\":false"), "{j}");
    assert_no_errors(&j);
    assert!(s.accepted.load(Ordering::SeqCst) >= 300);
}

#[test]
fn bad_statuses_are_counted() {
    let s = start_server(Reply::Error);
    let (code, j, _) = run_json(
        "status",
        &["http", "--url", &url(&s), "-c", "2", "-n", "100", "--quiet"],
    );
    assert_eq!(code, 0, "{j}");
    assert_eq!(num(&j, "requests"), 100.0, "{j}");
    assert_eq!(num(&j, "status"), 100.0, "{j}");
    assert_eq!(num(&j, "read") + num(&j, "connect"), 0.0, "{j}");
}

#[test]
fn refused_connections_exit_1() {
    let target = format!("http://127.0.0.1:{}/", closed_port());
    let (code, j, _) = run_json(
        "refused",
        &[
            "http", "--url", &target, "-c", "2", "-d", "300ms", "--quiet",
        ],
    );
    assert_eq!(code, 1, "{j}");
    assert!(num(&j, "connect") >= 2.0, "{j}");
    assert_eq!(num(&j, "requests"), 0.0, "{j}");
}

#[test]
fn silent_server_times_out_and_reconnects() {
    let s = start_server(Reply::Silent);
    let (code, j, _) = run_json(
        "timeout",
        &[
            "http",
            "--url",
            &url(&s),
            "-c",
            "2",
            "-d",
            "1s",
            "--timeout",
            "200ms",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{j}");
    assert!(num(&j, "timeout") >= 4.0, "{j}");
    assert_eq!(num(&j, "requests"), 0.0, "{j}");
    // Each timeout closes the connection and opens a new one.
    assert!(s.accepted.load(Ordering::SeqCst) >= 6);
}

#[test]
fn fixed_rate_is_respected() {
    let s = start_server(Reply::Ok);
    let (code, j, _) = run_json(
        "rate",
        &[
            "http",
            "--url",
            &url(&s),
            "-c",
            "4",
            "-d",
            "2s",
            "--rate",
            "200",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{j}");
    assert_eq!(num(&j, "rate"), 200.0, "{j}");
    // 400 expected; loose bounds for a busy machine.
    let requests = num(&j, "requests");
    assert!((280.0..=440.0).contains(&requests), "{j}");
    assert_no_errors(&j);
}

#[test]
fn warmup_is_not_recorded() {
    let s = start_server(Reply::Ok);
    let (code, j, _) = run_json(
        "warmup",
        &[
            "http",
            "--url",
            &url(&s),
            "-c",
            "2",
            "-d",
            "400ms",
            "--warmup",
            "400ms",
            "--rate",
            "100",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{j}");
    let d = num(&j, "duration_s");
    assert!((0.35..1.0).contains(&d), "{j}");
    // 40 expected in the measured 400 ms, not 80.
    assert!((20.0..=60.0).contains(&num(&j, "requests")), "{j}");
}

#[test]
fn idle_connections_are_held() {
    let s = start_server(Reply::Ok);
    let ready = temp_path("ready");
    let json = temp_path("idle.json");
    let mut child = ringload(&[
        "idle",
        "--url",
        &url(&s),
        "-c",
        "200",
        "--concurrency",
        "50",
        "--hold",
        "600ms",
        "--ready-file",
        ready.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--quiet",
    ])
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "no ready file");
        assert!(child.try_wait().unwrap().is_none(), "ringload exited early");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(std::fs::read_to_string(&ready).unwrap().trim(), "200");
    // All of them are open on the server's side while held.
    assert_eq!(s.open.load(Ordering::SeqCst), 200);
    let status = wait_with_limit(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let j = std::fs::read_to_string(&json).unwrap();
    assert!(j.contains("\"mode\":\"idle\""), "{j}");
    assert_eq!(num(&j, "established"), 200.0, "{j}");
    assert_eq!(num(&j, "requests"), 200.0, "{j}");
    assert_no_errors(&j);
    let _ = std::fs::remove_file(&ready);
    let _ = std::fs::remove_file(&json);
}

/// `ringload bulk-server` on a free port, killed on drop.
struct BulkServer {
    child: Child,
    addr: String,
}

impl Drop for BulkServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bulk_server() -> BulkServer {
    let mut child = ringload(&["bulk-server", "--listen", "127.0.0.1:0", "-t", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_else(|| panic!("unexpected bulk-server output {line:?}"))
        .to_string();
    BulkServer { child, addr }
}

#[test]
fn tcp_bulk_each_direction() {
    let server = start_bulk_server();
    for (dir, reads, writes) in [
        ("both", true, true),
        ("up", false, true),
        ("down", true, false),
    ] {
        let (code, j, _) = run_json(
            &format!("tcp-{dir}"),
            &[
                "tcp",
                "--addr",
                &server.addr,
                "-c",
                "2",
                "-d",
                "400ms",
                "--direction",
                dir,
                "--quiet",
            ],
        );
        assert_eq!(code, 0, "{j}");
        assert!(j.contains("\"mode\":\"tcp\""), "{j}");
        assert!(j.contains(&format!("\"direction\":\"{dir}\"")), "{j}");
        let (read, written) = (num(&j, "bytes_read"), num(&j, "bytes_written"));
        assert_eq!(read > 1e6, reads, "{dir}: {j}");
        assert_eq!(written > 1e6, writes, "{dir}: {j}");
        if !reads {
            assert_eq!(read, 0.0, "{j}");
        }
        if !writes {
            assert_eq!(written, 0.0, "{j}");
        }
        assert!(num(&j, "read_mb_s") > 0.0 || !reads, "{j}");
        assert_no_errors(&j);
    }
}

#[test]
fn usage_errors_exit_1() {
    for args in [
        &["http", "--url", "http://127.0.0.1:1/", "-d", "5x"][..],
        &["http", "--url", "https://127.0.0.1/"][..],
        &["http", "-c", "5"][..],
        &[
            "http",
            "--url",
            "http://127.0.0.1:1/",
            "--close",
            "--pipeline",
            "2",
        ][..],
        &["tcp", "--addr", "127.0.0.1:1", "--direction", "sideways"][..],
        &["frobnicate"][..],
    ] {
        let out = ringload(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
