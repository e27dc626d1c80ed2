//! PROXY protocol: v1/v2 received on `accept-proxy` binds (IPv4, IPv6, TLVs,
//! payload in the same packet), malformed and incomplete
//! headers, and `send-proxy` / `send-proxy-v2` towards servers, checked by
//! an independent parser in the test harness.

mod common;

use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

fn fe_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two accept-proxy frontends, one to a send-proxy (v1) server and one to a
/// send-proxy-v2 server, both PROXY-capturing echo backends.
struct Setup {
    proxy: Proxy,
    fe_v1: SocketAddr,
    fe_v2: SocketAddr,
    be_v1: Backend,
    be_v2: Backend,
}

fn setup(accept_proxy: bool, timeouts: &str) -> Setup {
    let be_v1 = Backend::proxy_capture("cap_v1");
    let be_v2 = Backend::proxy_capture("cap_v2");
    let (p1, p2) = (free_port(), free_port());
    let ap = if accept_proxy { " accept-proxy" } else { "" };
    let cfg = format!(
        "global\n    nbthread 1\n\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    timeout server 10s\n{timeouts}\n\
         frontend fe1\n    bind 127.0.0.1:{p1}{ap}\n    default_backend be1\n\n\
         frontend fe2\n    bind 127.0.0.1:{p2}{ap}\n    default_backend be2\n\n\
         backend be1\n    server c1 {} send-proxy\n\n\
         backend be2\n    server c2 {} send-proxy-v2\n",
        be_v1.addr, be_v2.addr
    );
    Setup {
        proxy: Proxy::start(&cfg),
        fe_v1: fe_addr(p1),
        fe_v2: fe_addr(p2),
        be_v1,
        be_v2,
    }
}

/// Sends `header ++ payload` in one write and returns (header line seen by
/// the server, echoed payload).
fn through(fe: SocketAddr, header: &[u8], payload: &[u8]) -> (String, Vec<u8>) {
    let mut c = connect(fe);
    let mut msg = header.to_vec();
    msg.extend_from_slice(payload);
    c.write_all(&msg).unwrap();
    let line = read_line(&mut c).unwrap_or_else(|e| panic!("no header report from server: {e}"));
    let echoed = read_n(&mut c, payload.len()).unwrap_or_else(|e| panic!("payload lost: {e}"));
    (line, echoed)
}

/// The advertised addresses of v1 and v2 headers (IPv4, IPv6, v2 with
/// TLVs) reach send-proxy and send-proxy-v2 servers exactly, and payload
/// sent in the same packet as the header is forwarded intact.
#[test]
fn advertised_addresses_reach_send_proxy_servers_exactly() {
    let s = setup(true, "");
    let tlvs: &[(u8, &[u8])] = &[
        (0x01, b"h2"),          // PP2_TYPE_ALPN
        (0x02, b"example.com"), // PP2_TYPE_AUTHORITY
        (0x04, &[0u8; 7]),      // PP2_TYPE_NOOP
        (0xE0, b"custom"),      // PP2_TYPE_MIN_CUSTOM
    ];
    let cases: Vec<(&str, Vec<u8>, SocketAddr, SocketAddr)> = vec![
        (
            "v1 TCP4",
            proxy_v1(sa("192.0.2.1:56324"), sa("198.51.100.2:443")),
            sa("192.0.2.1:56324"),
            sa("198.51.100.2:443"),
        ),
        (
            "v1 TCP6",
            proxy_v1(sa("[2001:db8::1]:1234"), sa("[2001:db8:ffff::2]:80")),
            sa("[2001:db8::1]:1234"),
            sa("[2001:db8:ffff::2]:80"),
        ),
        (
            "v2 TCP4 + TLVs",
            proxy_v2(sa("203.0.113.9:65535"), sa("10.0.0.1:1"), tlvs),
            sa("203.0.113.9:65535"),
            sa("10.0.0.1:1"),
        ),
        (
            "v2 TCP6 + TLVs",
            proxy_v2(
                sa("[fe80::1:2:3:4]:40000"),
                sa("[2001:db8::cafe]:8443"),
                tlvs,
            ),
            sa("[fe80::1:2:3:4]:40000"),
            sa("[2001:db8::cafe]:8443"),
        ),
        (
            "v2 TCP4 no TLV",
            proxy_v2(sa("1.2.3.4:5"), sa("6.7.8.9:10"), &[]),
            sa("1.2.3.4:5"),
            sa("6.7.8.9:10"),
        ),
    ];
    let small = b"hello after header".to_vec();
    let big = pattern(99, 60_000);
    for (what, hdr, src, dst) in &cases {
        for payload in [&small, &big] {
            let (line, echoed) = through(s.fe_v1, hdr, payload);
            assert_eq!(line, describe_v1(*src, *dst), "{what} -> send-proxy");
            assert!(
                echoed == *payload,
                "{what} -> send-proxy: payload corrupted"
            );
            let (line, echoed) = through(s.fe_v2, hdr, payload);
            assert_eq!(line, describe_v2(*src, *dst), "{what} -> send-proxy-v2");
            assert!(
                echoed == *payload,
                "{what} -> send-proxy-v2: payload corrupted"
            );
        }
    }
    assert_eq!(s.be_v1.accepted(), 2 * cases.len());
    assert_eq!(s.be_v2.accepted(), 2 * cases.len());
    let st = s.proxy.stop();
    st.assert_clean();
    let t = st.total();
    assert_eq!((t.handshake_errors, t.handshake_timeouts), (0, 0), "{t:?}");
}

/// Malformed headers close only their own connection (promptly, not at a
/// deadline: client timeout is 10 s); a concurrent good connection keeps
/// working; nothing malformed reaches the server.
#[test]
fn malformed_headers_close_only_their_connection() {
    let be = Backend::echo("echo");
    let port = free_port();
    let cfg = tcp_config(
        1,
        &format!(
            "frontend fe\n    bind 127.0.0.1:{port} accept-proxy\n    default_backend be\n\nbackend be\n    server e {}\n",
            be.addr
        ),
    );
    let p = Proxy::start(&cfg);
    let mut good = connect(fe_addr(port));
    let mut hdr = proxy_v1(sa("192.0.2.1:1000"), sa("192.0.2.2:2000"));
    hdr.extend_from_slice(b"good");
    good.write_all(&hdr).unwrap();
    assert_eq!(read_n(&mut good, 4).unwrap(), b"good");

    let mut bad_v2_version = V2_SIG.to_vec();
    bad_v2_version.extend_from_slice(&[0x11, 0x11, 0x00, 0x0C]); // version 1
    bad_v2_version.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1, 0, 1, 0, 2]);
    let mut too_long = b"PROXY TCP4 ".to_vec();
    too_long.extend(std::iter::repeat_n(b'1', 200));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"GET / HTTP/1.0\r\nHost: x\r\n\r\n".to_vec()),
        (
            "bad v1 address",
            b"PROXY TCP4 999.1.1.1 192.0.2.2 1000 2000\r\n".to_vec(),
        ),
        (
            "v1 address not an address",
            b"PROXY TCP4 localhost 192.0.2.2 1000 2000\r\n".to_vec(),
        ),
        (
            "v1 TCP4 with IPv6 address",
            b"PROXY TCP4 2001:db8::1 192.0.2.2 1000 2000\r\n".to_vec(),
        ),
        (
            "bad v1 port",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 99999 2000\r\n".to_vec(),
        ),
        ("v2 bad version", bad_v2_version),
        ("v1 without CRLF within 107 bytes", too_long),
    ];
    for (what, bytes) in &bad {
        let mut c = connect(fe_addr(port));
        let t0 = Instant::now();
        c.write_all(bytes).unwrap();
        c.write_all(b"payload").unwrap_or(());
        let closed = expect_closed_since(&mut c, t0, CLOSE_BOUND);
        assert!(closed.data.is_empty(), "{what}: got {:?}", closed.data);
        roundtrip(&mut good, what.as_bytes());
    }
    assert_eq!(
        be.accepted(),
        1,
        "a malformed connection reached the server"
    );
    drop(good);
    let st = p.stop();
    st.assert_clean();
    let t = st.total();
    assert!(
        t.handshake_errors >= bad.len() as u64,
        "handshake_errors {} < {} malformed headers: {t:?}",
        t.handshake_errors,
        bad.len()
    );
    assert_eq!(t.handshake_timeouts, 0, "{t:?}");
    assert!(
        st.log.contains("embryonic session killed"),
        "no `embryonic session killed` line"
    );
}

/// An incomplete header followed by silence never reaches a server and
/// its connection is closed (the PROXY protocol spec lets a receiver either
/// wait for the rest until the handshake deadline, `timeout client-hs`, or
/// drop partial headers at once; both are accepted), while other
/// connections carry on.
#[test]
fn incomplete_header_is_closed_and_others_carry_on() {
    let s = setup(true, "    timeout client-hs 300ms\n");
    let v2 = proxy_v2(sa("1.1.1.1:1"), sa("2.2.2.2:2"), &[]);
    let v1 = proxy_v1(sa("1.1.1.1:1"), sa("2.2.2.2:2"));
    let mut stuck: Vec<TcpStream> = Vec::new();
    for partial in [&v2[..10], &v2[..20], &v1[..12]] {
        let mut c = connect(s.fe_v2);
        c.write_all(partial).unwrap();
        stuck.push(c);
    }
    let t0 = Instant::now();
    // A good client completes its handshake meanwhile.
    let (line, _) = through(s.fe_v2, &v1, b"x");
    assert_eq!(line, describe_v2(sa("1.1.1.1:1"), sa("2.2.2.2:2")));
    for (i, c) in stuck.iter_mut().enumerate() {
        let closed = expect_closed_since(c, t0, CLOSE_BOUND);
        assert!(closed.data.is_empty(), "partial #{i} got data");
    }
    let (line, _) = through(s.fe_v1, &v1, b"y");
    assert_eq!(line, describe_v1(sa("1.1.1.1:1"), sa("2.2.2.2:2")));
    assert_eq!(s.be_v2.accepted(), 1, "a partial header reached the server");
    let st = s.proxy.stop();
    st.assert_clean();
    let t = st.total();
    assert!(t.handshake_timeouts + t.handshake_errors >= 3, "{t:?}");
}

/// Without accept-proxy, send-proxy carries the real client address and the
/// address of the bind the client connected to.
#[test]
fn send_proxy_carries_real_client_and_bind_addresses() {
    let s = setup(false, "");
    for _ in 0..3 {
        let mut c = connect(s.fe_v1);
        let local = c.local_addr().unwrap();
        assert_eq!(read_line(&mut c).unwrap(), describe_v1(local, s.fe_v1));
        roundtrip(&mut c, b"payload v1");

        let mut c = connect(s.fe_v2);
        let local = c.local_addr().unwrap();
        assert_eq!(read_line(&mut c).unwrap(), describe_v2(local, s.fe_v2));
        roundtrip(&mut c, b"payload v2");
    }
    let recs = s.be_v2.records();
    assert!(
        recs.iter()
            .all(|(_, r)| r.starts_with("v2 PROXY TCP4 127.0.0.1:")),
        "{recs:?}"
    );
}

/// A wildcard bind has no address of its own to give: send-proxy carries
/// the address each client actually connected to (looked up per
/// connection), here two different loopback addresses on one listener.
#[test]
fn send_proxy_on_a_wildcard_bind_carries_the_address_connected_to() {
    let be = Backend::proxy_capture("cap_any");
    let p = free_port();
    let body = format!(
        "frontend fe\n    bind 0.0.0.0:{p}\n    default_backend be\n\nbackend be\n    server c1 {} send-proxy",
        be.addr
    );
    let proxy = Proxy::start(&mode_config("tcp", 1, "", &body));
    for dst in [sa(&format!("127.0.0.1:{p}")), sa(&format!("127.0.0.2:{p}"))] {
        let mut c = connect(dst);
        let local = c.local_addr().unwrap();
        assert_eq!(read_line(&mut c).unwrap(), describe_v1(local, dst));
        roundtrip(&mut c, b"payload");
    }
    assert_eq!(be.accepted(), 2);
    proxy.stop().assert_clean();
}

/// Without accept-proxy, a client that sends something looking like a PROXY
/// header is just payload: it is forwarded verbatim after the proxy's own
/// header.
#[test]
fn proxy_header_from_client_is_payload_without_accept_proxy() {
    let s = setup(false, "");
    let fake = proxy_v1(sa("6.6.6.6:6"), sa("7.7.7.7:7"));
    let mut c = connect(s.fe_v1);
    let local = c.local_addr().unwrap();
    c.write_all(&fake).unwrap();
    assert_eq!(read_line(&mut c).unwrap(), describe_v1(local, s.fe_v1));
    assert_eq!(read_n(&mut c, fake.len()).unwrap(), fake);
}
