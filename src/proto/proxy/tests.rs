//! Tests of the PROXY protocol codec: table-driven cases, every prefix of
//! valid headers, round trips and garbage.
use super::*;
use std::collections::HashMap;

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn addrs(src: &str, dst: &str) -> Addrs {
    Addrs {
        src: sock(src),
        dst: sock(dst),
    }
}

fn complete(version: Version, addrs: Option<Addrs>, consumed: usize) -> Decoded {
    Decoded::Complete {
        header: Header { version, addrs },
        consumed,
    }
}

/// A v2 header with the given version/command byte, family byte and body.
fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(ver_cmd);
    h.push(fam);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

fn inet_block() -> Vec<u8> {
    let mut b = vec![192, 168, 0, 1, 10, 0, 0, 2];
    b.extend_from_slice(&56324u16.to_be_bytes());
    b.extend_from_slice(&443u16.to_be_bytes());
    b
}

fn inet6_block() -> Vec<u8> {
    let mut b = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
    b.extend_from_slice(&"::ffff:10.0.0.2".parse::<Ipv6Addr>().unwrap().octets());
    b.extend_from_slice(&1234u16.to_be_bytes());
    b.extend_from_slice(&80u16.to_be_bytes());
    b
}

fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    t.extend_from_slice(value);
    t
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const MAX_V6: &str = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

/// Valid headers followed by payload, with what they decode to.
fn valid_samples() -> Vec<(String, Vec<u8>, Decoded)> {
    let v4 = addrs("192.168.0.1:56324", "192.168.0.11:443");
    let v4b = addrs("192.168.0.1:56324", "10.0.0.2:443");
    let v6 = addrs("[2001:db8::1]:1234", "[::1]:80");
    let v6b = addrs("[2001:db8::1]:1234", "[::ffff:10.0.0.2]:80");
    let mapped = addrs("[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2");
    let edges = addrs("0.0.0.0:0", "255.255.255.255:65535");
    let max_v6 = addrs(&format!("[{MAX_V6}]:65535"), &format!("[{MAX_V6}]:65535"));
    let tlvs = cat(&[&tlv(0x01, b"h2"), &tlv(0x04, &[]), &tlv(0x05, &[7; 128])]);
    let unix_block = [b'/'; V2_UNIX_BLOCK];
    let big_tlv = tlv(
        0x04,
        &vec![0; MAX_V2_LEN - V2_HEADER_LEN - V2_INET_BLOCK - 3],
    );
    let line = |s: &str| s.as_bytes().to_vec();
    use Version::{V1, V2};
    #[rustfmt::skip]
    let mut samples: Vec<(&str, Vec<u8>, Version, Option<Addrs>)> = vec![
        ("v1 tcp4", line("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"), V1, Some(v4)),
        ("v1 tcp6", line("PROXY TCP6 2001:db8::1 ::1 1234 80\r\n"), V1, Some(v6)),
        ("v1 tcp6 dotted tail", line("PROXY TCP6 ::ffff:10.0.0.1 ::ffff:10.0.0.2 1 2\r\n"), V1, Some(mapped)),
        ("v1 tcp6 uppercase", line("PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:0:0:1 1234 80\r\n"), V1, Some(v6)),
        ("v1 port edges", line("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), V1, Some(edges)),
        ("v1 leading zeros", line("PROXY TCP4 192.168.0.1 192.168.0.11 56324 00443\r\n"), V1, Some(v4)),
        ("v1 unknown", line("PROXY UNKNOWN\r\n"), V1, None),
        ("v1 unknown text", b"PROXY UNKNOWN what\x01\x7f\xff\0  ever \r\n".to_vec(), V1, None),
        ("v1 unknown addrs", line("PROXY UNKNOWN ::1 ::2 1 2\r\n"), V1, None),
        ("v1 unknown max", line(&format!("PROXY UNKNOWN {MAX_V6} {MAX_V6} 65535 65535\r\n")), V1, None),
        ("v1 tcp6 max", line(&format!("PROXY TCP6 {MAX_V6} {MAX_V6} 65535 65535\r\n")), V1, Some(max_v6)),
        ("v2 tcp4", v2(0x21, 0x11, &inet_block()), V2, Some(v4b)),
        ("v2 udp4", v2(0x21, 0x12, &inet_block()), V2, Some(v4b)),
        ("v2 tcp6", v2(0x21, 0x21, &inet6_block()), V2, Some(v6b)),
        ("v2 udp6", v2(0x21, 0x22, &inet6_block()), V2, Some(v6b)),
        ("v2 tcp4 tlvs", v2(0x21, 0x11, &cat(&[&inet_block(), &tlvs])), V2, Some(v4b)),
        ("v2 tcp6 tlvs", v2(0x21, 0x21, &cat(&[&inet6_block(), &tlvs])), V2, Some(v6b)),
        ("v2 max length", v2(0x21, 0x11, &cat(&[&inet_block(), &big_tlv])), V2, Some(v4b)),
        ("v2 local", v2(0x20, 0x00, &[]), V2, None),
        ("v2 local with block", v2(0x20, 0x11, &inet_block()), V2, None),
        ("v2 local ignores family", v2(0x20, 0xff, &[1, 2]), V2, None),
        ("v2 unspec", v2(0x21, 0x00, &[]), V2, None),
        ("v2 unspec body unread", v2(0x21, 0x00, &[9; 7]), V2, None),
        ("v2 inet unspec transport", v2(0x21, 0x10, &[9; 5]), V2, None),
        ("v2 unspec family stream", v2(0x21, 0x01, &[9; 5]), V2, None),
        ("v2 unix stream", v2(0x21, 0x31, &unix_block), V2, None),
        ("v2 unix dgram tlvs", v2(0x21, 0x32, &cat(&[&unix_block, &tlvs])), V2, None),
    ];
    // Encoder output is valid input too.
    for a in [Some(v4), Some(v6), Some(max_v6), None] {
        let mut buf = [0u8; MAX_V1_LEN];
        let n = encode_v1(a.as_ref(), &mut buf);
        samples.push(("encoded v1", buf[..n].to_vec(), V1, a));
        let n = encode_v2(a.as_ref(), &mut buf);
        samples.push(("encoded v2", buf[..n].to_vec(), V2, a));
    }
    samples
        .into_iter()
        .map(|(name, mut bytes, version, addrs)| {
            let want = complete(version, addrs, bytes.len());
            bytes.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
            (name.to_string(), bytes, want)
        })
        .collect()
}

#[test]
fn valid_headers_decode_and_leave_payload() {
    for (name, bytes, want) in valid_samples() {
        assert_eq!(decode(&bytes), Ok(want), "{name}");
        let Decoded::Complete { consumed, .. } = want else {
            unreachable!()
        };
        assert!(consumed < bytes.len(), "{name}: payload must remain");
        // Exactly the header is enough, and payload does not matter.
        assert_eq!(decode(&bytes[..consumed]), Ok(want), "{name}");
    }
}

#[test]
fn every_prefix_of_a_valid_header_is_partial() {
    for (name, bytes, want) in valid_samples() {
        let Decoded::Complete { consumed, .. } = want else {
            unreachable!()
        };
        for k in 0..consumed {
            match decode(&bytes[..k]) {
                Ok(Decoded::Partial { need_at_least }) => {
                    assert!(need_at_least > k, "{name}[..{k}]: need {need_at_least}");
                    assert!(
                        need_at_least <= consumed,
                        "{name}[..{k}]: need {need_at_least} > header {consumed}"
                    );
                }
                other => panic!("{name}[..{k}]: {other:?}"),
            }
        }
    }
}

#[test]
fn partial_need_is_tight_where_known() {
    let cases: &[(&[u8], usize)] = &[
        (b"", 15),
        (b"P", 15),
        (b"PROXY ", 15),
        (b"PROXY T", 22),
        (b"PROXY TCP4", 32),
        (b"PROXY TCP4 ", 32),
        (b"PROXY TCP6 ", 22),
        (b"PROXY TCP4 1", 32),
        (b"PROXY TCP6 1:2:3:4:5:6:7", 35),
        (b"PROXY TCP6 :: ::ffff:1.", 34),
        (b"PROXY UNKNOWN", 15),
        (b"PROXY UNKNOWN junk", 20),
        (b"PROXY UNKNOWN junk\r", 20),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 32),
        (b"\r", 16),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00", 16),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 28),
        (b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x01\x00", 16 + 256),
    ];
    for &(input, need) in cases {
        assert_eq!(
            decode(input),
            Ok(Decoded::Partial {
                need_at_least: need
            }),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn each_error_has_a_concrete_input() {
    let long_unknown = format!("PROXY UNKNOWN {}", "x".repeat(100));
    let long_unknown_cr = format!("PROXY UNKNOWN {}\r\n", "x".repeat(92));
    let dotted = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    let long_tcp6 = format!("PROXY TCP6 {dotted} {dotted} 1 1\r\n");
    let long_tcp6_prefix = format!("PROXY TCP6 {dotted} {dotted}");
    let long_tcp6_bad_port = format!("PROXY TCP6 {dotted} {dotted} x");
    let bad_tlv_header = v2(0x21, 0x11, &cat(&[&inet_block(), &[0x01, 0x00]]));
    let bad_tlv_overrun = v2(
        0x21,
        0x11,
        &cat(&[&inet_block(), &[0x01, 0x00, 0x05, 1, 2]]),
    );
    let bad_tlv_after_good = v2(0x21, 0x21, &cat(&[&inet6_block(), &tlv(4, b"ok"), &[0x04]]));
    let mut too_long = V2_SIGNATURE.to_vec();
    too_long.extend_from_slice(&[0x21, 0x11, 0x10, 0x01]);
    let mut max_len = V2_SIGNATURE.to_vec();
    max_len.extend_from_slice(&[0x20, 0x00, 0xff, 0xff]);

    #[rustfmt::skip]
    let cases: Vec<(&[u8], Error)> = vec![
        (b"GET / HTTP/1.1\r\n", Error::BadSignature),
        (b"\x16\x03\x01", Error::BadSignature),
        (b"X", Error::BadSignature),
        (b"PROXX", Error::BadSignature),
        (b"PROXY\r\n", Error::BadSignature),
        (b"proxy TCP4", Error::BadSignature),
        (b"\r\n\r\n\0\r\nQUIX", Error::BadSignature),
        (b"\r\nGET", Error::BadSignature),
        (long_unknown.as_bytes(), Error::V1TooLong),
        (&long_unknown.as_bytes()[..106], Error::V1TooLong),
        (long_unknown_cr.as_bytes(), Error::V1TooLong),
        (long_tcp6.as_bytes(), Error::V1TooLong),
        (long_tcp6_prefix.as_bytes(), Error::V1TooLong),
        (long_tcp6_bad_port.as_bytes(), Error::V1TooLong),
        (b"PROXY TCP5", Error::V1BadProtocol),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", Error::V1BadProtocol),
        (b"PROXY tcp4", Error::V1BadProtocol),
        (b"PROXY TCP 1.2.3.4", Error::V1BadProtocol),
        (b"PROXY UNKNOWNX\r\n", Error::V1BadProtocol),
        (b"PROXY \r\n", Error::V1Malformed),
        (b"PROXY TCP4 ::1", Error::V1BadAddress),
        (b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", Error::V1BadAddress),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", Error::V1BadAddress),
        (b"PROXY TCP4 1.2.3.256", Error::V1BadAddress),
        (b"PROXY TCP4 01.2.3.4", Error::V1BadAddress),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", Error::V1BadAddress),
        (b"PROXY TCP4 1.2.3.4\t", Error::V1BadAddress),
        (b"PROXY TCP6 1:2:3:4:5:6:7:8:9", Error::V1BadAddress),
        (b"PROXY TCP6 1::2::3", Error::V1BadAddress),
        (b"PROXY TCP6 fe80::1%eth0", Error::V1BadAddress),
        (b"PROXY TCP6 12345::", Error::V1BadAddress),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 65536", Error::V1BadPort),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 1\r\n", Error::V1BadPort),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 1\r\n", Error::V1BadPort),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 000080", Error::V1BadPort),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x50\r\n", Error::V1BadPort),
        (b"PROXY TCP4  1.2.3.4", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4  5.6.7.8", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", Error::V1Malformed),
        (b"PROXY TCP4\r\n", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", Error::V1Malformed),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", Error::V1Malformed),
        (b"PROXY UNKNOWN\n", Error::V1Malformed),
        (b"PROXY UNKNOWN foo\rbar\r\n", Error::V1Malformed),
        (b"\r\n\r\n\0\r\nQUIT\n\x11", Error::V2BadVersion),
        (b"\r\n\r\n\0\r\nQUIT\n\x01", Error::V2BadVersion),
        (b"\r\n\r\n\0\r\nQUIT\n\x22", Error::V2BadCommand),
        (b"\r\n\r\n\0\r\nQUIT\n\x2f", Error::V2BadCommand),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x41", Error::V2BadFamily),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\xf1\x00\x00", Error::V2BadFamily),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x13", Error::V2BadTransport),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x1f\x00\x0c", Error::V2BadTransport),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0b", Error::V2LengthTooShort),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x0c", Error::V2LengthTooShort),
        (b"\r\n\r\n\0\r\nQUIT\n\x21\x31\x00\xd7", Error::V2LengthTooShort),
        (&too_long, Error::V2TooLong),
        (&max_len, Error::V2TooLong),
        (&bad_tlv_header, Error::V2BadTlv),
        (&bad_tlv_overrun, Error::V2BadTlv),
        (&bad_tlv_after_good, Error::V2BadTlv),
    ];
    for (input, want) in cases {
        assert_eq!(
            decode(input),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        // Errors are final: more bytes never turn them into anything else.
        let mut longer = input.to_vec();
        longer.extend_from_slice(&[b'1'; 200]);
        assert_eq!(
            decode(&longer),
            Err(want),
            "extended {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn v1_length_limit_is_exact() {
    // 107 bytes including CRLF is accepted, 108 is not, and a line that
    // cannot end in time is rejected as soon as that is certain.
    let fits = format!("PROXY UNKNOWN {}\r\n", "x".repeat(91));
    assert_eq!(fits.len(), MAX_V1_LEN);
    assert_eq!(
        decode(fits.as_bytes()),
        Ok(complete(Version::V1, None, MAX_V1_LEN))
    );
    assert_eq!(
        decode(&fits.as_bytes()[..105]),
        Ok(Decoded::Partial { need_at_least: 107 })
    );
    let one_more = format!("PROXY UNKNOWN {}", "x".repeat(92));
    assert_eq!(one_more.len(), 106);
    assert_eq!(decode(one_more.as_bytes()), Err(Error::V1TooLong));
    let cr_too_late = format!("{one_more}\r\n");
    assert_eq!(decode(cr_too_late.as_bytes()), Err(Error::V1TooLong));
    // 107 bytes without CRLF.
    let no_crlf = format!("PROXY UNKNOWN {}", "x".repeat(93));
    assert_eq!(no_crlf.len(), 107);
    assert_eq!(decode(no_crlf.as_bytes()), Err(Error::V1TooLong));
    // The spec's worst cases.
    let max_unknown = format!("PROXY UNKNOWN {MAX_V6} {MAX_V6} 65535 65535\r\n");
    assert_eq!(max_unknown.len(), 107);
    let max_tcp6 = format!("PROXY TCP6 {MAX_V6} {MAX_V6} 65535 65535\r\n");
    assert_eq!(max_tcp6.len(), 104);
    assert!(matches!(
        decode(max_tcp6.as_bytes()),
        Ok(Decoded::Complete { consumed: 104, .. })
    ));

    // TCP6 with dotted tails can outgrow the budget; the first byte that
    // makes a 107-byte line impossible is the one rejected.
    let dotted = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    let mut line = format!("PROXY TCP6 {dotted} {dotted} 1 1\r\n").into_bytes();
    let first_bad = (0..=line.len())
        .find(|&k| decode(&line[..k]).is_err())
        .unwrap();
    assert_eq!(decode(&line[..first_bad]), Err(Error::V1TooLong));
    // That is the destination's last byte: 11 + 45 + 1 + 45 = 102, which
    // leaves no room for " 0 0\r\n".
    assert_eq!(first_bad, 102);
    // Shortening the destination's dotted tail by 1 byte fits (107).
    line = format!("PROXY TCP6 {dotted} ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.25 1 1\r\n")
        .into_bytes();
    assert_eq!(line.len(), 107);
    assert!(matches!(
        decode(&line),
        Ok(Decoded::Complete { consumed: 107, .. })
    ));
}

#[test]
fn v2_length_limit_is_exact() {
    let mut h = V2_SIGNATURE.to_vec();
    h.extend_from_slice(&[0x20, 0x00]);
    let at_limit = [h.clone(), 4096u16.to_be_bytes().to_vec()].concat();
    assert_eq!(
        decode(&at_limit),
        Ok(Decoded::Partial {
            need_at_least: MAX_V2_LEN
        })
    );
    let over = [h, 4097u16.to_be_bytes().to_vec()].concat();
    assert_eq!(decode(&over), Err(Error::V2TooLong));
}

#[test]
fn round_trips_in_both_versions() {
    #[rustfmt::skip]
    let cases = [
        ("v4", Some(addrs("192.168.0.1:56324", "10.0.0.2:443")), None),
        ("v4 zero", Some(addrs("0.0.0.0:0", "255.255.255.255:65535")), None),
        ("v6", Some(addrs("[2001:db8::1]:1234", "[fe80::1:2]:80")), None),
        ("v6 max", Some(addrs(&format!("[{MAX_V6}]:65535"), &format!("[{MAX_V6}]:65535"))), None),
        ("v4 src v6 dst", Some(addrs("10.0.0.1:1", "[2001:db8::2]:2")), Some(addrs("[::ffff:10.0.0.1]:1", "[2001:db8::2]:2"))),
        ("v6 src v4 dst", Some(addrs("[2001:db8::1]:1", "10.0.0.2:2")), Some(addrs("[2001:db8::1]:1", "[::ffff:10.0.0.2]:2"))),
        ("none", None, None),
    ];
    for (name, input, mapped) in cases {
        let want = mapped.or(input);
        let mut buf = [0u8; MAX_V1_LEN];
        let n = encode_v1(input.as_ref(), &mut buf);
        assert_eq!(
            decode(&buf[..n]),
            Ok(complete(Version::V1, want, n)),
            "v1 {name}"
        );
        let mut buf = [0u8; V2_ENCODED_MAX];
        let n = encode_v2(input.as_ref(), &mut buf);
        assert_eq!(
            decode(&buf[..n]),
            Ok(complete(Version::V2, want, n)),
            "v2 {name}"
        );
    }
}

#[test]
fn encoders_write_the_spec_bytes() {
    let a = addrs("192.168.0.1:56324", "192.168.0.11:443");
    let mut buf = [0u8; 128];
    let n = encode_v1(Some(&a), &mut buf);
    assert_eq!(
        &buf[..n],
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    let n = encode_v1(None, &mut buf);
    assert_eq!(&buf[..n], b"PROXY UNKNOWN\r\n");
    let mixed = addrs("10.0.0.1:1", "[2001:db8::2]:2");
    let n = encode_v1(Some(&mixed), &mut buf);
    assert_eq!(&buf[..n], b"PROXY TCP6 ::ffff:a00:1 2001:db8::2 1 2\r\n");

    let n = encode_v2(Some(&a), &mut buf);
    let mut want = V2_SIGNATURE.to_vec();
    want.extend_from_slice(&[0x21, 0x11, 0, 12, 192, 168, 0, 1, 192, 168, 0, 11]);
    want.extend_from_slice(&[0xdc, 0x04, 0x01, 0xbb]);
    assert_eq!(&buf[..n], &want[..]);
    let n = encode_v2(None, &mut buf);
    assert_eq!(
        &buf[..n],
        &[V2_SIGNATURE.as_slice(), &[0x20, 0x00, 0, 0]].concat()[..]
    );
    let n = encode_v2(Some(&mixed), &mut buf);
    assert_eq!(n, V2_ENCODED_MAX);
    assert_eq!(&buf[12..16], &[0x21, 0x21, 0, 36]);
}

#[test]
#[should_panic(expected = "MAX_V1_LEN")]
fn encode_v1_rejects_a_small_buffer_even_for_unknown() {
    encode_v1(None, &mut [0u8; MAX_V1_LEN - 1]);
}

#[test]
#[should_panic(expected = "V2_ENCODED_MAX")]
fn encode_v2_rejects_a_small_buffer_even_for_local() {
    encode_v2(None, &mut [0u8; V2_ENCODED_MAX - 1]);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

#[test]
fn ipv6_text_matches_std_and_rfc5952() {
    let mut rng = XorShift(0x5eed_1234_abcd_9876);
    let mut buf = [0u8; MAX_V1_LEN];
    for _ in 0..20_000 {
        // Mostly zero groups, to exercise run selection.
        let groups: [u16; 8] = std::array::from_fn(|_| match rng.below(4) {
            0 => rng.next() as u16,
            1 => rng.pick(&[1, 0xf, 0x10, 0xff, 0x100, 0xfff, 0x1000, 0xffff]),
            _ => 0,
        });
        let ip = Ipv6Addr::from(groups);
        let mut w = Writer {
            out: &mut buf,
            len: 0,
        };
        w.put_ipv6(ip);
        let n = w.len;
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(text.parse::<Ipv6Addr>().unwrap(), ip, "{text}");
        assert!(!text.contains('.'), "{text}");
        if ip.to_ipv4_mapped().is_none() {
            assert_eq!(text, ip.to_string());
        }
    }
}

/// Brute force over small alphabets: a token prefix is accepted exactly
/// when some valid address starts with it, with the shortest completion.
#[test]
fn address_prefix_check_is_exact() {
    /// Calls `f` on every string over `alphabet` of length 0..=max.
    fn each_word(alphabet: &[u8], max: usize, f: &mut dyn FnMut(&[u8])) {
        let mut word = Vec::with_capacity(max);
        fn rec(alphabet: &[u8], max: usize, word: &mut Vec<u8>, f: &mut dyn FnMut(&[u8])) {
            f(word);
            if word.len() < max {
                for &c in alphabet {
                    word.push(c);
                    rec(alphabet, max, word, f);
                    word.pop();
                }
            }
        }
        rec(alphabet, max, &mut word, f);
    }
    // (family, alphabet, longest prefix checked, longest address
    // enumerated): completions are at most 6 bytes, so every prefix
    // checked has its shortest completion within the enumeration.
    for (v6, alphabet, max_prefix, max_total) in [
        (false, &b"0125."[..], 3, 9),
        (false, &b"01."[..], 4, 10),
        (true, &b"01:."[..], 4, 10),
    ] {
        let mut shortest: HashMap<Vec<u8>, usize> = HashMap::new();
        each_word(alphabet, max_total, &mut |w| {
            if parse_ip(w, v6).is_some() {
                for k in 0..=w.len() {
                    let e = shortest.entry(w[..k].to_vec()).or_insert(usize::MAX);
                    *e = (*e).min(w.len() - k);
                }
            }
        });
        each_word(alphabet, max_prefix, &mut |w| {
            assert_eq!(
                ip_min_completion(w, v6),
                shortest.get(w).copied(),
                "{:?} v6={v6}",
                String::from_utf8_lossy(w)
            );
        });
    }
}

/// Invariants every outcome must satisfy, plus stability under
/// appending: an error or a complete header on a prefix is the answer for
/// the whole buffer too.
fn check_invariants(buf: &[u8], cut: usize) {
    let whole = decode(buf);
    match whole {
        Ok(Decoded::Complete { consumed, header }) => {
            assert!(consumed <= buf.len() && consumed <= MAX_V2_LEN);
            assert_eq!(decode(&buf[..consumed]), whole, "{buf:?}");
            if let Some(a) = header.addrs {
                assert_eq!(a.src.is_ipv4(), a.dst.is_ipv4());
                let mut out = [0u8; MAX_V1_LEN];
                let n = encode_v1(Some(&a), &mut out);
                assert_eq!(decode(&out[..n]), Ok(complete(Version::V1, Some(a), n)));
                let n = encode_v2(Some(&a), &mut out);
                assert_eq!(decode(&out[..n]), Ok(complete(Version::V2, Some(a), n)));
            }
        }
        Ok(Decoded::Partial { need_at_least }) => {
            assert!(need_at_least > buf.len() && need_at_least <= MAX_V2_LEN);
        }
        Err(_) => {}
    }
    let cut = cut.min(buf.len());
    match decode(&buf[..cut]) {
        Ok(Decoded::Partial { need_at_least }) => {
            if let Ok(Decoded::Complete { consumed, .. }) = whole {
                assert!(need_at_least <= consumed, "{buf:?} cut {cut}");
            }
        }
        early => assert_eq!(early, whole, "{buf:?} cut at {cut}"),
    }
}

#[test]
fn garbage_never_panics_or_overreads() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let seeds: Vec<Vec<u8>> = valid_samples().into_iter().map(|(_, b, _)| b).collect();
    let v1_alphabet = b"PROXY TCP46UNKOWf:.0123456789abc\r\n \t";
    let mut buf = Vec::with_capacity(512);
    for i in 0..300_000 {
        buf.clear();
        let len = rng.below(160);
        match i % 5 {
            0 => buf.extend((0..len).map(|_| rng.next() as u8)),
            1 => {
                buf.extend_from_slice(V1_SIGNATURE);
                buf.extend((0..len).map(|_| rng.pick(v1_alphabet)));
            }
            2 => {
                buf.extend_from_slice(V2_SIGNATURE);
                let any = rng.next() as u8;
                buf.push(rng.pick(&[0x20, 0x21, 0x22, 0x11, any]));
                let any = rng.next() as u8;
                let fams = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, any];
                buf.push(rng.pick(&fams));
                buf.extend_from_slice(&(rng.below(300) as u16).to_be_bytes());
                for _ in 0..len * 2 {
                    let any = rng.next() as u8;
                    buf.push(rng.pick(&[0, 1, 3, 0xff, any]));
                }
            }
            _ => {
                // A valid header with a few bytes mutated, truncated or
                // with random bytes inserted.
                buf.extend_from_slice(&seeds[rng.below(seeds.len())]);
                for _ in 0..=rng.below(3) {
                    let at = rng.below(buf.len());
                    match rng.below(3) {
                        0 => buf[at] = rng.next() as u8,
                        1 => buf[at] = rng.pick(v1_alphabet),
                        _ => buf.insert(at, rng.pick(v1_alphabet)),
                    }
                }
                buf.truncate(rng.below(buf.len() + 1));
            }
        }
        let cut = rng.below(buf.len() + 1);
        check_invariants(&buf, cut);
    }
}

#[test]
fn error_messages_are_distinct() {
    let all = [
        Error::BadSignature,
        Error::V1TooLong,
        Error::V1BadProtocol,
        Error::V1BadAddress,
        Error::V1BadPort,
        Error::V1Malformed,
        Error::V2BadVersion,
        Error::V2BadCommand,
        Error::V2BadFamily,
        Error::V2BadTransport,
        Error::V2LengthTooShort,
        Error::V2TooLong,
        Error::V2BadTlv,
    ];
    let texts: std::collections::HashSet<String> = all.iter().map(Error::to_string).collect();
    assert_eq!(texts.len(), all.len());
    assert!(Error::V2TooLong.to_string().contains("4112"));
    let _: &dyn std::error::Error = &Error::BadSignature;
}
