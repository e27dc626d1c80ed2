//! Table keys: `type ip|ipv6|integer|string [len N]`, encoded as bytes so
//! that a lookup borrows the caller's bytes and allocates nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// HAProxy's default `len` of a string key.
pub const DEFAULT_STRING_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ip,
    Ipv6,
    Integer,
    /// Keys longer than `len` bytes are truncated to it.
    String {
        len: usize,
    },
}

impl KeyType {
    /// The keyword of `type` (and of `show table`'s header).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String { .. } => "string",
        }
    }
}

/// A key encoded for `KeyType`: 4 bytes (IPv4), 16 (IPv6), 4 big-endian
/// (integer, HAProxy's 32 bits) or the string's bytes. Inline (at most
/// [`MAX_KEY_LEN`] bytes), so building one for a lookup never allocates.
#[derive(Clone, Copy)]
pub struct KeyBuf {
    len: u8,
    buf: [u8; MAX_KEY_LEN],
}

/// The longest string key (`len` above it is refused by the parser).
pub const MAX_KEY_LEN: usize = 128;

impl std::fmt::Debug for KeyBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyBuf({:?})", self.bytes())
    }
}

impl KeyBuf {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// A key already encoded (an entry's key, to look it up in another
    /// table of the same type).
    pub fn from_raw(b: &[u8]) -> KeyBuf {
        KeyBuf::from_bytes(b)
    }

    fn from_bytes(b: &[u8]) -> KeyBuf {
        let n = b.len().min(MAX_KEY_LEN);
        let mut buf = [0; MAX_KEY_LEN];
        buf[..n].copy_from_slice(&b[..n]);
        KeyBuf { len: n as u8, buf }
    }
}

/// How long a key the map holds in its own bucket may be: every `ip`,
/// `ipv6` and `integer` key, and short strings.
const INLINE_KEY_LEN: usize = 16;

/// A key as a table's map stores it: inline up to [`INLINE_KEY_LEN`] bytes,
/// so that a lookup compares the bytes already in the bucket it probes
/// instead of following a pointer to another (cold) allocation: with many
/// client addresses, that is one cache miss fewer per connection. Hashes
/// and compares as the `[u8]` it holds, so lookups borrow a `&[u8]`.
#[derive(Clone)]
pub(super) enum MapKey {
    Inline { len: u8, buf: [u8; INLINE_KEY_LEN] },
    Heap(Box<[u8]>),
}

impl MapKey {
    pub(super) fn new(b: &[u8]) -> MapKey {
        if b.len() <= INLINE_KEY_LEN {
            let mut buf = [0; INLINE_KEY_LEN];
            buf[..b.len()].copy_from_slice(b);
            MapKey::Inline {
                len: b.len() as u8,
                buf,
            }
        } else {
            MapKey::Heap(b.into())
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            MapKey::Inline { len, buf } => &buf[..usize::from(*len)],
            MapKey::Heap(b) => b,
        }
    }
}

impl std::borrow::Borrow<[u8]> for MapKey {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

impl std::hash::Hash for MapKey {
    /// Exactly `[u8]`'s hash, as `Borrow` requires.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl PartialEq for MapKey {
    fn eq(&self, other: &MapKey) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for MapKey {}

impl KeyType {
    /// The key of an address; None when it does not fit (an IPv6 address
    /// that is not IPv4-mapped, for an `ip` table).
    pub fn key_of_ip(self, ip: IpAddr) -> Option<KeyBuf> {
        match (self, ip) {
            (KeyType::Ip, IpAddr::V4(a)) => Some(KeyBuf::from_bytes(&a.octets())),
            (KeyType::Ip, IpAddr::V6(a)) => {
                a.to_ipv4_mapped().map(|a| KeyBuf::from_bytes(&a.octets()))
            }
            (KeyType::Ipv6, IpAddr::V4(a)) => {
                Some(KeyBuf::from_bytes(&a.to_ipv6_mapped().octets()))
            }
            (KeyType::Ipv6, IpAddr::V6(a)) => Some(KeyBuf::from_bytes(&a.octets())),
            (KeyType::Integer, _) => None,
            (KeyType::String { len }, ip) => self.truncated(ip.to_string().as_bytes(), len),
        }
    }

    /// The key of an integer (HAProxy's integer keys are 32 bits).
    pub fn key_of_int(self, v: i64) -> Option<KeyBuf> {
        match self {
            KeyType::Integer => Some(KeyBuf::from_bytes(&(v as u32).to_be_bytes())),
            KeyType::String { len } => self.truncated(v.to_string().as_bytes(), len),
            KeyType::Ip | KeyType::Ipv6 => None,
        }
    }

    /// The key of a string sample: an address for address tables, a
    /// decimal number for integer ones, truncated to `len` for strings.
    pub fn key_of_str(self, s: &[u8]) -> Option<KeyBuf> {
        match self {
            KeyType::String { len } => self.truncated(s, len),
            KeyType::Ip | KeyType::Ipv6 => {
                let ip: IpAddr = std::str::from_utf8(s).ok()?.trim().parse().ok()?;
                self.key_of_ip(ip)
            }
            KeyType::Integer => {
                let v: i64 = std::str::from_utf8(s).ok()?.trim().parse().ok()?;
                self.key_of_int(v)
            }
        }
    }

    fn truncated(self, s: &[u8], len: usize) -> Option<KeyBuf> {
        // A key holds no NUL (HAProxy's string keys are C strings).
        let s = s.split(|b| *b == 0).next().unwrap_or_default();
        Some(KeyBuf::from_bytes(&s[..s.len().min(len).min(MAX_KEY_LEN)]))
    }

    /// Parses a key typed on the runtime API (`key KEY`).
    pub fn parse(self, text: &str) -> Option<KeyBuf> {
        self.key_of_str(text.as_bytes())
    }

    /// Formats an encoded key as `show table` does.
    pub fn display(self, key: &[u8]) -> String {
        match (self, key.len()) {
            (KeyType::Ip, 4) => Ipv4Addr::new(key[0], key[1], key[2], key[3]).to_string(),
            (KeyType::Ipv6, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(key);
                Ipv6Addr::from(o).to_string()
            }
            (KeyType::Integer, 4) => {
                u32::from_be_bytes([key[0], key[1], key[2], key[3]]).to_string()
            }
            _ => String::from_utf8_lossy(key).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_each_type() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let k = KeyType::Ip.key_of_ip(v4).unwrap();
        assert_eq!(k.bytes(), &[10, 0, 0, 1]);
        assert_eq!(KeyType::Ip.key_of_ip(mapped).unwrap().bytes(), k.bytes());
        assert!(KeyType::Ip.key_of_ip(v6).is_none());
        assert_eq!(KeyType::Ip.display(k.bytes()), "10.0.0.1");
        let k6 = KeyType::Ipv6.key_of_ip(v4).unwrap();
        assert_eq!(KeyType::Ipv6.display(k6.bytes()), "::ffff:10.0.0.1");
        let ki = KeyType::Integer.key_of_int(-1).unwrap();
        assert_eq!(KeyType::Integer.display(ki.bytes()), "4294967295");
        assert_eq!(
            KeyType::Integer.parse("42").unwrap().bytes(),
            &[0, 0, 0, 42]
        );
        let s = KeyType::String { len: 4 };
        assert_eq!(s.key_of_str(b"abcdef").unwrap().bytes(), b"abcd");
        assert_eq!(s.key_of_str(b"a\0b").unwrap().bytes(), b"a");
        assert!(KeyType::Ip.parse("not-an-ip").is_none());
        assert_eq!(
            KeyType::Ip.parse("127.0.0.1").unwrap().bytes(),
            &[127, 0, 0, 1]
        );
    }

    #[test]
    fn map_keys_hash_and_compare_as_their_bytes() {
        use std::collections::HashMap;
        let long = [7u8; 40];
        let mut m: HashMap<MapKey, u32> = HashMap::new();
        m.insert(MapKey::new(&[10, 0, 0, 1]), 1);
        m.insert(MapKey::new(&long), 2);
        m.insert(MapKey::new(b""), 3);
        assert!(matches!(
            MapKey::new(&[1; 16]),
            MapKey::Inline { len: 16, .. }
        ));
        assert!(matches!(MapKey::new(&[1; 17]), MapKey::Heap(_)));
        assert_eq!(m.get(&[10u8, 0, 0, 1][..]), Some(&1));
        assert_eq!(m.get(&long[..]), Some(&2));
        assert_eq!(m.get(&b""[..]), Some(&3));
        assert_eq!(m.get(&[10u8, 0, 0, 2][..]), None);
        assert_eq!(m.get(&[10u8, 0, 0, 1, 0][..]), None);
    }
}
