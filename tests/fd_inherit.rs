//! `bind fd@N`: listening sockets inherited from the parent (systemd
//! socket activation, supervisors, test harnesses), shared by every shard.

mod common;

use common::*;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;

fn config(fd: i32, be: &HttpBackend) -> String {
    http_config(
        2,
        "",
        &format!("listen px\n    bind fd@{fd}\n    server s1 {}\n", be.addr),
    )
}

#[test]
fn http_served_on_an_inherited_listener_shared_by_two_shards() {
    let be = HttpBackend::start("s1");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let p = Proxy::builder()
        .config(&config(3, &be))
        .inherit_fd(3, listener.as_raw_fd())
        .start();
    // The proxy owns the socket now: ours is closed, the listener stays.
    drop(listener);
    for i in 0..20 {
        let mut c = HttpClient::connect(addr);
        let r = c.get(&format!("/n{i}"), "");
        assert_eq!((r.status, r.server()), (200, "s1".to_string()));
    }
    assert_eq!(be.seen().len(), 20);
    p.stop().assert_clean();
}

#[test]
fn an_inherited_fd_that_is_not_a_listener_is_refused_with_its_line() {
    let be = HttpBackend::start("s1");
    let dir = TempDir::new();
    let file = std::fs::File::create(dir.path.join("not-a-socket")).unwrap();
    let mut p = Proxy::builder()
        .config(&config(3, &be))
        .inherit_fd(3, file.as_raw_fd())
        .spawn();
    let status = p.wait_exit(IO_TIMEOUT).expect("startup fails");
    assert_eq!(status.code(), Some(1));
    // The output readers may still be draining the pipes.
    p.wait_log("[fd@3]", IO_TIMEOUT);
    let log = p.log();
    assert!(
        log.contains("ringproxy1.cfg:")
            && log.contains("cannot bind socket")
            && log.contains("[fd@3]"),
        "{log}"
    );
    // Nothing inherited at all.
    let mut p = Proxy::builder().config(&config(9, &be)).spawn();
    let status = p.wait_exit(IO_TIMEOUT).expect("startup fails");
    assert_eq!(status.code(), Some(1));
    assert!(p.wait_log("[fd@9]", IO_TIMEOUT), "{}", p.log());
}

#[test]
fn stats_socket_on_an_inherited_unix_listener() {
    let be = HttpBackend::start("s1");
    let dir = TempDir::new();
    let path = dir.path.join("inherited.sock");
    let sock = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let port = free_port();
    let cfg = http_config(
        1,
        "    stats socket fd@4 level admin\n",
        &format!(
            "listen px\n    bind 127.0.0.1:{port}\n    server s1 {}\n",
            be.addr
        ),
    );
    let p = Proxy::builder()
        .config(&cfg)
        .inherit_fd(4, sock.as_raw_fd())
        .start();
    drop(sock);
    assert_eq!(api(&path, "get weight px/s1\n"), "1 (initial 1)\n\n");
    assert_eq!(api(&path, "show cli level\n"), "admin\n\n");
    p.stop().assert_clean();
}
