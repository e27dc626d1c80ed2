//! Command line and configuration: `-c`, `FILE:LINE` errors (and a failing
//! configuration never serves), several `-f` files, environment expansion,
//! `-v`; SIGTERM / SIGINT with open connections.

mod common;

use common::*;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn fe_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A valid configuration as lines, with a marker line that a case replaces.
fn template(port: u16, server: SocketAddr) -> Vec<String> {
    [
        "global",
        "    nbthread 1",
        "",
        "defaults",
        "    mode tcp",
        "    timeout connect 1s",
        "    timeout client 10s",
        "    timeout server 10s",
        "",
        "frontend fe",
        &format!("    bind 127.0.0.1:{port}"),
        "    default_backend be",
        "",
        "backend be",
        "    balance roundrobin",
        &format!("    server s1 {server}"),
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The template with line `idx` (0-based) replaced; returns (text, 1-based
/// line number).
fn with_line(lines: &[String], idx: usize, replacement: &str) -> (String, usize) {
    let mut l = lines.to_vec();
    l[idx] = replacement.to_string();
    (l.join("\n") + "\n", idx + 1)
}

fn line_index(lines: &[String], starts: &str) -> usize {
    lines
        .iter()
        .position(|l| l.trim_start().starts_with(starts))
        .unwrap_or_else(|| panic!("no line starting with {starts:?}"))
}

#[test]
fn check_accepts_a_valid_configuration() {
    let be = Backend::echo("e");
    let port = free_port();
    let text = template(port, be.addr).join("\n");
    let (code, out, _path, _dir) = run_check(&text);
    assert_eq!(code, Some(0), "output:\n{out}");
    assert!(
        out.contains("Configuration file is valid"),
        "output:\n{out}"
    );
    // -c does not serve.
    let e = TcpStream::connect_timeout(&fe_addr(port), Duration::from_secs(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn check_reports_each_error_with_file_and_line() {
    let port = free_port();
    let lines = template(port, "127.0.0.1:9".parse().unwrap());
    let fe = line_index(&lines, "frontend fe") + 1; // a line inside the frontend
    let bind = line_index(&lines, "bind ");
    let server = line_index(&lines, "server ");
    let default_backend = line_index(&lines, "default_backend");
    let tclient = line_index(&lines, "timeout client");
    let global_line = 1;
    let cases: Vec<(&str, String, usize)> = vec![
        {
            let (t, n) = with_line(&lines, fe, "    frobnicate on");
            ("unknown keyword in a frontend", t, n)
        },
        {
            let (t, n) = with_line(&lines, global_line, "    frobnicate-global 1");
            ("unknown keyword in global", t, n)
        },
        {
            let (t, n) = with_line(&lines, bind, "    bind 127.0.0.1:99999");
            ("bind port out of range", t, n)
        },
        {
            let (t, n) = with_line(&lines, bind, "    bind 300.0.0.1:8080");
            ("bad bind address", t, n)
        },
        {
            let (t, n) = with_line(&lines, server, "    server s1 127.0.0.1:notaport");
            ("bad server address", t, n)
        },
        {
            let (t, n) = with_line(&lines, default_backend, "    default_backend nope");
            ("missing backend", t, n)
        },
        {
            let (t, n) = with_line(&lines, tclient, "    timeout client 10parsecs");
            ("bad timeout", t, n)
        },
        {
            let (t, n) = with_line(&lines, bind, &format!("    bind \"127.0.0.1:{port}"));
            ("unterminated quote", t, n)
        },
    ];
    for (what, text, line) in cases {
        let (code, out, path, _dir) = run_check(&text);
        assert_eq!(code, Some(1), "{what}: exit code; output:\n{out}");
        let loc = format!("{}:{line}", path.display());
        assert!(
            out.contains(&loc),
            "{what}: output does not name {loc}; output:\n{out}\nconfig:\n{text}"
        );
        assert!(
            !out.contains("Configuration file is valid"),
            "{what}: claims valid; output:\n{out}"
        );
    }
}

/// Every error is printed, not only the first.
#[test]
fn check_prints_every_error() {
    let port = free_port();
    let lines = template(port, "127.0.0.1:9".parse().unwrap());
    let (t, a) = with_line(
        &lines,
        line_index(&lines, "frontend fe") + 1,
        "    frobnicate on",
    );
    let lines2: Vec<String> = t.lines().map(String::from).collect();
    let (t, b) = with_line(&lines2, line_index(&lines2, "balance"), "    wobble 3");
    let (code, out, path, _dir) = run_check(&t);
    assert_eq!(code, Some(1), "output:\n{out}");
    for line in [a, b] {
        let loc = format!("{}:{line}", path.display());
        assert!(out.contains(&loc), "output does not name {loc}:\n{out}");
    }
}

/// Without -c, a bad configuration makes the process exit 1 with the
/// error, without ever serving.
#[test]
fn bad_configuration_exits_1_without_serving() {
    let port = free_port();
    let lines = template(port, "127.0.0.1:9".parse().unwrap());
    let (text, line) = with_line(
        &lines,
        line_index(&lines, "default_backend"),
        "    default_backend nope",
    );
    let mut p = Proxy::builder().config(&text).spawn();
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("still running with a bad configuration");
    assert_eq!(status.code(), Some(1), "output:\n{}", p.log());
    let log = p.log();
    assert!(!log.contains("ringproxy ready"), "output:\n{log}");
    let loc = format!("{}:{line}", p.config_paths[0].display());
    assert!(
        wait_for(Duration::from_secs(2), || p.log().contains(&loc)),
        "output does not name {loc}:\n{}",
        p.log()
    );
    let e = TcpStream::connect_timeout(&fe_addr(port), Duration::from_secs(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

/// Two `-f` files: the first references a backend defined in the second.
#[test]
fn several_config_files_are_read_in_order() {
    let be = Backend::hello("from-file-2");
    let port = free_port();
    let first = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be2\n"
    );
    let second = format!("backend be2\n    server s1 {}\n", be.addr);

    // The first file alone is incomplete.
    let dir = TempDir::new();
    let f1 = dir.write("first.cfg", &first);
    let f2 = dir.write("second.cfg", &second);
    let out = run_check_files(&[&f1]);
    assert_eq!(
        out.code,
        Some(1),
        "first file alone should fail:\n{}",
        out.all()
    );
    let out = run_check_files(&[&f1, &f2]);
    assert_eq!(out.code, Some(0), "both files:\n{}", out.all());
    assert!(out.all().contains("Configuration file is valid"));

    let _p = Proxy::builder().config(&first).config(&second).start();
    let mut c = connect(fe_addr(port));
    assert_eq!(read_line(&mut c).unwrap(), "from-file-2");
    roundtrip(&mut c, b"ok");
}

/// `"${VAR}"` in a bind line is expanded from the environment.
#[test]
fn environment_variables_are_expanded_in_quoted_words() {
    let be = Backend::hello("env");
    let port = free_port();
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe\n    bind \"127.0.0.1:${{RINGPROXY_TEST_PORT}}\"\n    default_backend be\n\nbackend be\n    server s1 {}\n",
            be.addr
        ),
    );
    let _p = Proxy::builder()
        .config(&cfg)
        .env("RINGPROXY_TEST_PORT", &port.to_string())
        .start();
    let mut c = connect(fe_addr(port));
    assert_eq!(read_line(&mut c).unwrap(), "env");
}

#[test]
fn version_flags_print_and_exit_0() {
    for flag in ["-v", "-vv"] {
        let out = run_cli(&[flag], &[]);
        assert_eq!(out.code, Some(0), "{flag}: output:\n{}", out.all());
        assert!(!out.all().trim().is_empty(), "{flag} printed nothing");
    }
}

/// A `listen` section is a frontend and a backend in one.
#[test]
fn listen_section_serves() {
    let be = Backend::hello("listen-srv");
    let port = free_port();
    let cfg = tcp_config(
        1,
        &format!(
            "listen li\n    bind 127.0.0.1:{port}\n    balance roundrobin\n    server s1 {}\n",
            be.addr
        ),
    );
    let _p = Proxy::start(&cfg);
    let mut c = connect(fe_addr(port));
    assert_eq!(read_line(&mut c).unwrap(), "listen-srv");
    roundtrip(&mut c, b"ok");
}

/// `-p PIDFILE` in the foreground: the file holds the process id.
#[test]
fn pidfile_holds_the_process_id() {
    let be = Backend::echo("e");
    let port = free_port();
    let dir = TempDir::new();
    let pidfile = dir.path.join("ringproxy.pid");
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server s1 {}\n",
            be.addr
        ),
    );
    let p = Proxy::builder()
        .config(&cfg)
        .arg("-p")
        .arg(pidfile.to_str().unwrap())
        .start();
    let text = std::fs::read_to_string(&pidfile).expect("no pidfile after ready");
    assert_eq!(text.trim(), p.pid().to_string());
    p.stop().assert_clean();
}

/// Kills a daemonized proxy (not our child) when dropped.
struct DaemonGuard(i32);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

/// `-D -p PIDFILE`: the launching process exits 0, the daemon writes its
/// pid, serves, and stops on SIGTERM.
#[test]
fn daemon_mode_serves_and_stops_on_sigterm() {
    let be = Backend::hello("daemon-srv");
    let port = free_port();
    let dir = TempDir::new();
    let pidfile = dir.path.join("ringproxy.pid");
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server s1 {}\n",
            be.addr
        ),
    );
    let mut p = Proxy::builder()
        .config(&cfg)
        .debug(false)
        .arg("-D")
        .arg("-p")
        .arg(pidfile.to_str().unwrap())
        .spawn();
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("the launching process did not exit with -D");
    assert_eq!(status.code(), Some(0), "output:\n{}", p.log());
    let mut pid = 0i32;
    assert!(
        wait_for(Duration::from_secs(10), || {
            pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            pid > 0
        }),
        "no pidfile from the daemon"
    );
    let _guard = DaemonGuard(pid);
    assert_ne!(pid, p.pid(), "the pidfile names the launching process");
    let mut c = connect(fe_addr(port));
    assert_eq!(read_line(&mut c).unwrap(), "daemon-srv");
    drop(c);
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    assert!(
        wait_for(Duration::from_secs(10), || {
            matches!(
                TcpStream::connect_timeout(&fe_addr(port), Duration::from_secs(1)),
                Err(e) if e.kind() == ErrorKind::ConnectionRefused
            )
        }),
        "daemon still listening 10 s after SIGTERM"
    );
}

fn stops_cleanly_with_open_connections(sig: i32) {
    let be = Backend::echo("e");
    let port = free_port();
    let cfg = tcp_config(
        2,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server s1 {}\n",
            be.addr
        ),
    );
    let p = Proxy::start(&cfg);
    let mut conns: Vec<TcpStream> = (0..6).map(|_| connect(fe_addr(port))).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        roundtrip(c, format!("conn {i}").as_bytes());
    }
    let st = p.stop_with(sig);
    st.assert_clean();
    assert_eq!(st.total().accepted, 6, "{:?}", st.shards());
    for c in conns.iter_mut() {
        expect_closed(c, CLOSE_BOUND);
    }
    assert!(be.wait_idle(CLOSE_BOUND), "server connections left open");
    let e = TcpStream::connect_timeout(&fe_addr(port), Duration::from_secs(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn sigterm_with_open_connections_exits_0() {
    stops_cleanly_with_open_connections(libc::SIGTERM);
}

#[test]
fn sigint_with_open_connections_exits_0() {
    stops_cleanly_with_open_connections(libc::SIGINT);
}
