//! Fuzzes the PROXY protocol decoder with arbitrary bytes, checking the
//! contract the listener relies on: no panic, `consumed` within the buffer,
//! `need_at_least` beyond it, outcomes stable under appending, and decoded
//! addresses that survive a re-encode in both versions.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringproxy::proto::proxy::{
    Addrs, Decoded, Error, Header, MAX_V1_LEN, MAX_V2_LEN, Version, decode, encode_v1, encode_v2,
};

fn complete(version: Version, addrs: Addrs, consumed: usize) -> Result<Decoded, Error> {
    Ok(Decoded::Complete {
        header: Header {
            version,
            addrs: Some(addrs),
        },
        consumed,
    })
}

fuzz_target!(|data: &[u8]| {
    let whole = decode(data);
    match whole {
        Ok(Decoded::Complete { header, consumed }) => {
            assert!(
                consumed <= data.len(),
                "consumed {consumed} > {}",
                data.len()
            );
            assert!(consumed <= MAX_V2_LEN);
            // The header alone decodes the same: payload never matters.
            assert_eq!(decode(&data[..consumed]), whole);
            if let Some(addrs) = header.addrs {
                let mut out = [0u8; MAX_V1_LEN];
                let n = encode_v1(Some(&addrs), &mut out);
                assert_eq!(decode(&out[..n]), complete(Version::V1, addrs, n));
                let n = encode_v2(Some(&addrs), &mut out);
                assert_eq!(decode(&out[..n]), complete(Version::V2, addrs, n));
            }
        }
        Ok(Decoded::Partial { need_at_least }) => {
            assert!(need_at_least > data.len() && need_at_least <= MAX_V2_LEN);
        }
        Err(_) => {}
    }
    // An error or a complete header on a prefix is final.
    let cut = data.last().map_or(0, |&b| usize::from(b)) % (data.len() + 1);
    match decode(&data[..cut]) {
        Ok(Decoded::Partial { .. }) => {}
        early => assert_eq!(early, whole, "prefix of {cut} bytes disagrees"),
    }
});
