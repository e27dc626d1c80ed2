//! TCP forwarding: bulk data both ways, half-close in both directions, 1,000
//! concurrent connections over two shards, global and frontend maxconn,
//! IPv6.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

const MIB: usize = 1 << 20;

/// 8 MiB up and 8 MiB down at the same time on one connection through an
/// echo backend, plus an 8 MiB upload to a sink and an 8 MiB download from a
/// source running concurrently on two more frontends; every byte stream is
/// checked by length and FNV-1a 64.
#[test]
fn bulk_8mib_each_way_with_checksums() {
    let echo = Backend::echo("echo");
    let sink = Backend::sink("sink");
    let source = Backend::source("source", 3, 8 * MIB);
    let (p_echo, p_sink, p_src) = (free_port(), free_port(), free_port());
    let cfg = tcp_config(
        2,
        &format!(
            "frontend fe_echo\n    bind 127.0.0.1:{p_echo}\n    default_backend be_echo\n\n\
             frontend fe_sink\n    bind 127.0.0.1:{p_sink}\n    default_backend be_sink\n\n\
             frontend fe_src\n    bind 127.0.0.1:{p_src}\n    default_backend be_src\n\n\
             backend be_echo\n    server e {}\n\n\
             backend be_sink\n    server k {}\n\n\
             backend be_src\n    server s {}\n",
            echo.addr, sink.addr, source.addr
        ),
    );
    let proxy = Proxy::start(&cfg);
    let bound = Duration::from_secs(40);

    thread::scope(|sc| {
        // Echo: upload and download concurrently on one connection.
        let echo_h = sc.spawn(|| {
            let mut c = connect(SocketAddr::from(([127, 0, 0, 1], p_echo)));
            let mut w = c.try_clone().unwrap();
            let data = pattern(1, 8 * MIB);
            let want = (data.len(), fnv1a64(&data));
            let writer = thread::spawn(move || {
                for chunk in data.chunks(64 * 1024) {
                    w.write_all(chunk).expect("echo upload");
                }
                w.shutdown(Shutdown::Write).unwrap();
            });
            let got = read_to_eof(&mut c, bound).expect("echo download");
            writer.join().unwrap();
            assert_eq!((got.len(), fnv1a64(&got)), want, "echo stream corrupted");
        });
        // Upload to a sink that reports length and checksum.
        let sink_h = sc.spawn(|| {
            let mut c = connect(SocketAddr::from(([127, 0, 0, 1], p_sink)));
            let data = pattern(2, 8 * MIB);
            for chunk in data.chunks(64 * 1024) {
                c.write_all(chunk).expect("sink upload");
            }
            c.shutdown(Shutdown::Write).unwrap();
            let reply = read_to_eof(&mut c, bound).expect("sink reply");
            assert_eq!(
                String::from_utf8_lossy(&reply),
                format!("{} {:016x}\n", data.len(), fnv1a64(&data)),
                "sink saw a different stream"
            );
        });
        // Download from a source.
        let src_h = sc.spawn(|| {
            let mut c = connect(SocketAddr::from(([127, 0, 0, 1], p_src)));
            let got = read_to_eof(&mut c, bound).expect("source download");
            let want = pattern(3, 8 * MIB);
            assert_eq!(got.len(), want.len(), "source stream length");
            assert!(got == want, "source stream corrupted");
        });
        for h in [echo_h, sink_h, src_h] {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    let st = proxy.stop();
    st.assert_clean();
    assert_eq!(st.total().accepted, 3);
}

/// Client FIN first: the server must see EOF (with all the data) and may
/// still send afterwards; the client gets everything, then EOF.
#[test]
fn half_close_client_fin_passed_on_while_server_sends() {
    let be = Backend::respond_after_eof("r", 5);
    let port = free_port();
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server r {}\n",
            be.addr
        ),
    );
    let _proxy = Proxy::start(&cfg);
    let mut c = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let req = pattern(5, 100_000);
    c.write_all(&req).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let rec = be.wait_records(1, Duration::from_secs(5));
    assert_eq!(
        rec[0].1,
        format!("eof {} {:016x}", req.len(), fnv1a64(&req)),
        "backend did not get the client's data followed by its FIN"
    );
    let got = read_to_eof(&mut c, Duration::from_secs(10)).expect("server data after client FIN");
    let want: String = (0..5).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&got), want);
}

/// Server FIN first: the client sees EOF, then keeps sending; every byte
/// still reaches the server, which then sees the client's FIN.
#[test]
fn half_close_server_fin_passed_on_while_client_sends() {
    let be = Backend::fin_first("f", "bye\n");
    let port = free_port();
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server f {}\n",
            be.addr
        ),
    );
    let _proxy = Proxy::start(&cfg);
    let mut c = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let got = read_to_eof(&mut c, Duration::from_secs(5)).expect("server FIN not passed on");
    assert_eq!(got, b"bye\n");
    // After the server's FIN, the client keeps talking for a while.
    let data = pattern(6, MIB);
    for (i, chunk) in data.chunks(64 * 1024).enumerate() {
        c.write_all(chunk)
            .unwrap_or_else(|e| panic!("write #{i} after server FIN failed: {e}"));
        if i % 4 == 0 {
            thread::sleep(Duration::from_millis(20));
        }
    }
    c.shutdown(Shutdown::Write).unwrap();
    let rec = be.wait_records(1, Duration::from_secs(5));
    assert_eq!(
        rec[0].1,
        format!("eof {} {:016x}", data.len(), fnv1a64(&data)),
        "data sent after the server's FIN did not all reach it"
    );
}

/// 1,000 connections open at once through `nbthread 2`, each exchanging a
/// message; SO_REUSEPORT must spread them over both shards.
#[test]
fn thousand_concurrent_connections_over_two_shards() {
    const N: usize = 1000;
    const THREADS: usize = 4;
    let limit = raise_fd_limit(16384);
    assert!(
        limit >= 4 * N as u64 + 256,
        "RLIMIT_NOFILE {limit} too low for this test"
    );
    let be = Backend::echo("echo");
    let port = free_port();
    let cfg = tcp_config(
        2,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server e {}\n",
            be.addr
        ),
    );
    let proxy = Proxy::start(&cfg);
    assert_eq!(proxy.shards, 2, "nbthread 2 should give 2 shards");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let all_open = Arc::new(Barrier::new(THREADS + 1));
    let all_done = Arc::new(Barrier::new(THREADS + 1));
    let release = Arc::new(Barrier::new(THREADS + 1));
    let mut hs = Vec::new();
    for t in 0..THREADS {
        let (all_open, all_done, release) = (all_open.clone(), all_done.clone(), release.clone());
        hs.push(thread::spawn(move || {
            let mut conns: Vec<TcpStream> = (0..N / THREADS)
                .map(|_| {
                    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                        .expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                    s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
                    s
                })
                .collect();
            all_open.wait();
            let mut ok = 0;
            for (i, c) in conns.iter_mut().enumerate() {
                let msg = format!("thread {t} conn {i} says hello\n");
                c.write_all(msg.as_bytes()).expect("write");
            }
            for (i, c) in conns.iter_mut().enumerate() {
                let msg = format!("thread {t} conn {i} says hello\n");
                let mut got = vec![0u8; msg.len()];
                match c.read_exact(&mut got) {
                    Ok(()) if got == msg.as_bytes() => ok += 1,
                    Ok(()) => eprintln!(
                        "conn {t}/{i}: wrong echo {:?}",
                        String::from_utf8_lossy(&got)
                    ),
                    Err(e) => eprintln!("conn {t}/{i}: {e}"),
                }
            }
            all_done.wait();
            release.wait();
            drop(conns);
            ok
        }));
    }
    all_open.wait();
    all_done.wait();
    let active_at_peak = be.active();
    release.wait();
    let ok: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        ok, N,
        "only {ok} of {N} connections exchanged their message"
    );
    // At least one server connection per open client (a proxy may have
    // retried some connects, so more is not an error).
    assert!(
        active_at_peak >= N,
        "the backend had only {active_at_peak} connections open while {N} clients were"
    );
    assert!(
        be.wait_idle(Duration::from_secs(10)),
        "backend connections not closed after the clients left"
    );
    let st = proxy.stop();
    st.assert_clean();
    let shards = st.shards();
    assert_eq!(shards.len(), 2);
    assert_eq!(st.total().accepted, N as u64, "{shards:?}");
    for s in &shards {
        assert!(
            s.accepted > 0,
            "shard {} accepted nothing: {shards:?}",
            s.shard
        );
    }
}

fn maxconn_pauses_accepting(cfg_body: impl Fn(u16, SocketAddr) -> String) {
    let be = Backend::echo("echo");
    let port = free_port();
    let proxy = Proxy::start(&tcp_config(1, &cfg_body(port, be.addr)));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut a = connect(addr);
    roundtrip(&mut a, b"a1");
    let mut b = connect(addr);
    roundtrip(&mut b, b"b1");
    // The third connection is not refused: it waits in the kernel backlog.
    let mut c = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("third client refused");
    c.write_all(b"c1").unwrap();
    assert_open_and_silent(
        &mut c,
        Duration::from_millis(600),
        "third client while at maxconn",
    );
    assert_eq!(
        be.accepted(),
        2,
        "the proxy served a third connection above maxconn"
    );
    drop(a);
    c.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let got = read_n(&mut c, 2).expect("third client not served after a slot freed");
    assert_eq!(got, b"c1");
    roundtrip(&mut c, b"c2");
    roundtrip(&mut b, b"b2");
    assert_eq!(be.accepted(), 3);
    drop(proxy);
}

/// Global `maxconn 2`: a third client waits and is served once one of the
/// first two leaves.
#[test]
fn global_maxconn_pauses_and_resumes_accepting() {
    maxconn_pauses_accepting(|port, be| {
        format!(
            "global\n    maxconn 2\n\nfrontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\nbackend be\n    server e {be}\n"
        )
    });
}

/// Same with `maxconn 2` in the frontend.
#[test]
fn frontend_maxconn_pauses_and_resumes_accepting() {
    maxconn_pauses_accepting(|port, be| {
        format!(
            "frontend fe\n    bind 127.0.0.1:{port}\n    maxconn 2\n    default_backend be\n\nbackend be\n    server e {be}\n"
        )
    });
}

/// `bind [::1]:PORT` to an IPv6 backend; and the real IPv6 addresses reach a
/// send-proxy-v2 server.
#[test]
fn ipv6_frontend_to_ipv6_backend() {
    if !ipv6_available() {
        eprintln!("SKIPPED ipv6_frontend_to_ipv6_backend: ::1 cannot be bound on this machine");
        return;
    }
    let echo = Backend::echo_on("echo6", "[::1]:0".parse().unwrap());
    let cap = Backend::proxy_capture_on("cap6", "[::1]:0".parse().unwrap());
    let (p1, p2) = (free_port_on(LOCALHOST6), free_port_on(LOCALHOST6));
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe6\n    bind [::1]:{p1}\n    default_backend be6\n\n\
             frontend fe6p\n    bind [::1]:{p2}\n    default_backend be6p\n\n\
             backend be6\n    server e {}\n\n\
             backend be6p\n    server c {} send-proxy-v2\n",
            echo.addr, cap.addr
        ),
    );
    let _proxy = Proxy::start(&cfg);
    let fe1: SocketAddr = format!("[::1]:{p1}").parse().unwrap();
    let mut c = connect(fe1);
    roundtrip(&mut c, b"over IPv6");
    let data = pattern(15, 256 * 1024);
    c.write_all(&data).unwrap();
    let got = read_n(&mut c, data.len()).unwrap();
    assert!(got == data, "IPv6 echo corrupted");

    let fe2: SocketAddr = format!("[::1]:{p2}").parse().unwrap();
    let mut c = connect(fe2);
    let local = c.local_addr().unwrap();
    assert_eq!(read_line(&mut c).unwrap(), describe_v2(local, fe2));
    roundtrip(&mut c, b"after header");
}
