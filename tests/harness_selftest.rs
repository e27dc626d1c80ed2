//! Checks of the test harness itself, without the proxy: the backends, the
//! PROXY protocol builders and parser, the stop-line parser. When a proxy
//! test fails, these tell whether the harness can be trusted.

mod common;

use common::*;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[test]
fn echo_and_hello_backends() {
    let e = Backend::echo("e");
    let mut c = connect(e.addr);
    roundtrip(&mut c, b"hello world");
    drop(c);
    let h = Backend::hello("h1");
    let mut c = connect(h.addr);
    assert_eq!(read_line(&mut c).unwrap(), "h1");
    roundtrip(&mut c, b"abc");
    c.shutdown(Shutdown::Write).unwrap();
    let rest = read_to_eof(&mut c, Duration::from_secs(5)).unwrap();
    assert!(rest.is_empty());
    assert!(h.wait_conn_closed(1, Duration::from_secs(5)));
    assert_eq!(h.accepted(), 1);
    assert_eq!(h.events(), vec![Event::Open(1), Event::Closed(1)]);
}

#[test]
fn sink_and_source_checksums() {
    let sink = Backend::sink("sink");
    let data = pattern(7, 1 << 20);
    let mut c = connect(sink.addr);
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let line = read_line(&mut c).unwrap();
    assert_eq!(line, format!("{} {:016x}", data.len(), fnv1a64(&data)));

    let src = Backend::source("src", 9, 1 << 20);
    let mut c = connect(src.addr);
    let got = read_to_eof(&mut c, Duration::from_secs(5)).unwrap();
    assert_eq!(got.len(), 1 << 20);
    assert_eq!(fnv1a64(&got), fnv1a64(&pattern(9, 1 << 20)));
    assert_ne!(pattern(9, 64), pattern(10, 64));
}

#[test]
fn proxy_header_roundtrip_through_capture_backend() {
    let b = Backend::proxy_capture("pc");
    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            proxy_v1(
                "192.0.2.1:56324".parse().unwrap(),
                "198.51.100.2:443".parse().unwrap(),
            ),
            "v1 TCP4 192.0.2.1:56324 -> 198.51.100.2:443".into(),
        ),
        (
            proxy_v1(
                "[2001:db8::1]:1234".parse().unwrap(),
                "[2001:db8::2]:80".parse().unwrap(),
            ),
            "v1 TCP6 [2001:db8::1]:1234 -> [2001:db8::2]:80".into(),
        ),
        (
            proxy_v2(
                "10.1.2.3:1000".parse().unwrap(),
                "10.4.5.6:2000".parse().unwrap(),
                &[(0x01, b"h2"), (0x02, b"example.com")],
            ),
            "v2 PROXY TCP4 10.1.2.3:1000 -> 10.4.5.6:2000".into(),
        ),
        (
            proxy_v2(
                "[2001:db8::7]:7".parse().unwrap(),
                "[2001:db8::8]:8".parse().unwrap(),
                &[],
            ),
            "v2 PROXY TCP6 [2001:db8::7]:7 -> [2001:db8::8]:8".into(),
        ),
    ];
    for (hdr, want) in cases {
        let mut c = connect(b.addr);
        let mut msg = hdr.clone();
        msg.extend_from_slice(b"payload");
        c.write_all(&msg).unwrap();
        assert_eq!(read_line(&mut c).unwrap(), want);
        assert_eq!(read_n(&mut c, 7).unwrap(), b"payload");
    }
    // The parser rejects what it must.
    assert!(parse_v1(b"PROXY TCP4 999.1.1.1 1.2.3.4 1 2").is_err());
    assert!(parse_v1(b"PROXY TCP4 1.1.1.1 1.2.3.4 1 65536").is_err());
    assert!(parse_v1(b"PROXY TCP6 1.1.1.1 1.2.3.4 1 2").is_err());
    assert!(parse_v2(0x11, 0x11, &[0; 12]).is_err());
    assert!(parse_v2(0x21, 0x11, &[0; 14]).is_err()); // truncated TLV
    let h = parse_v2(
        0x21,
        0x11,
        &proxy_v2(
            "1.2.3.4:5".parse().unwrap(),
            "6.7.8.9:10".parse().unwrap(),
            &[(0xEE, b"xyz")],
        )[16..],
    )
    .unwrap();
    assert_eq!(h.tlvs, vec![(0xEE, b"xyz".to_vec())]);
}

#[test]
fn half_close_backends() {
    let b = Backend::respond_after_eof("r", 3);
    let mut c = connect(b.addr);
    c.write_all(b"12345").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let got = read_to_eof(&mut c, Duration::from_secs(5)).unwrap();
    assert_eq!(got, b"chunk 0\nchunk 1\nchunk 2\n");
    let rec = b.wait_records(1, Duration::from_secs(5));
    assert_eq!(rec[0].1, format!("eof 5 {:016x}", fnv1a64(b"12345")));

    let b = Backend::fin_first("f", "bye\n");
    let mut c = connect(b.addr);
    let got = read_to_eof(&mut c, Duration::from_secs(5)).unwrap();
    assert_eq!(got, b"bye\n");
    c.write_all(b"more data").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let rec = b.wait_records(1, Duration::from_secs(5));
    assert_eq!(rec[0].1, format!("eof 9 {:016x}", fnv1a64(b"more data")));
}

#[test]
fn black_hole_is_silent_and_unaccepting_hangs_and_refused_refuses() {
    let b = Backend::black_hole("bh");
    let mut c = connect(b.addr);
    c.write_all(b"anything").unwrap();
    assert_open_and_silent(&mut c, Duration::from_millis(200), "black hole");
    assert!(b.wait_accepted(1, Duration::from_secs(5)));

    let u = Unaccepting::new();
    let t0 = Instant::now();
    let r = TcpStream::connect_timeout(&u.addr, Duration::from_millis(300));
    assert!(r.is_err(), "connect to the unaccepting backend completed");
    assert!(t0.elapsed() >= Duration::from_millis(250));

    let a = refused_addr();
    let e = TcpStream::connect_timeout(&a, Duration::from_secs(2)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn expect_closed_sees_eof_and_reset() {
    let b = Backend::spawn("closer", |s, _| {
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    });
    let mut c = connect(b.addr);
    let closed = expect_closed(&mut c, Duration::from_secs(5));
    assert!(closed.after >= Duration::from_millis(50));

    let b = Backend::spawn("resetter", |s, _| {
        // Unread data at close time turns the close into a reset.
        std::thread::sleep(Duration::from_millis(100));
        drop(s);
    });
    let mut c = connect(b.addr);
    c.write_all(b"unread").unwrap();
    let closed = expect_closed(&mut c, Duration::from_secs(5));
    assert!(!closed.eof || closed.data.is_empty());
}

#[test]
#[should_panic(expected = "still open")]
fn expect_closed_fails_on_open_connection() {
    let b = Backend::black_hole("bh");
    let mut c = connect(b.addr);
    expect_closed(&mut c, Duration::from_millis(200));
}

#[test]
fn stop_line_parser() {
    let log = "[2026-01-01T00:00:00Z INFO  ringproxy::shard] shard 0 stopped: accepted=5 handshake_timeouts=1 handshake_errors=2 no_server=3 queue_timeouts=4 connect_errors=6\n\
               [2026-01-01T00:00:00Z INFO  ringproxy::shard] shard 1 stopped: accepted=7 handshake_timeouts=0 handshake_errors=0 no_server=0 queue_timeouts=0 connect_errors=0\n\
               [2026-01-01T00:00:00Z INFO  ringproxy] ringproxy ready: 2 shards\n";
    let s = parse_shard_stats(log);
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0],
        ShardStats {
            shard: 0,
            accepted: 5,
            handshake_timeouts: 1,
            handshake_errors: 2,
            no_server: 3,
            queue_timeouts: 4,
            connect_errors: 6
        }
    );
    assert_eq!(s[1].accepted, 7);
    assert_eq!(parse_ready(log), Some(2));
}

#[test]
fn free_ports_are_distinct_and_free() {
    let a = free_port();
    let b = free_port();
    assert_ne!(a, b);
    let _l = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], a))).unwrap();
}

#[test]
fn concurrent_backend_connections_are_counted() {
    let e = Backend::echo("e");
    let mut cs: Vec<TcpStream> = (0..50).map(|_| connect(e.addr)).collect();
    for (i, c) in cs.iter_mut().enumerate() {
        roundtrip(c, format!("m{i}").as_bytes());
    }
    assert_eq!(e.max_active(), 50);
    drop(cs);
    assert!(e.wait_idle(Duration::from_secs(5)));
}
