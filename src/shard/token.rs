//! `user_data` of ring operations and keys of timer entries: one `u64` that
//! names what the completion is about, so a completion is routed without any
//! lookup table.
//!
//! Layout: `[op: 8][generation: 24][slot: 32]`. The generation makes a late
//! completion or timer for a freed slot harmless: the slab entry that reuses
//! the slot carries another generation, and the mismatch is detected before
//! anything is touched.

/// What an operation was, i.e. how to interpret its completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Multishot accept; slot = shard listener index.
    Accept = 1,
    /// Receive on a connection; slot = connection.
    Recv = 2,
    /// Send on a connection; slot = connection.
    Send = 3,
    /// Connect of a server connection.
    Connect = 4,
    /// shutdown(SHUT_WR) passing a FIN on.
    Shutdown = 5,
    /// Close of a connection's fd; its completion frees the slot.
    Close = 6,
    /// Cancellation of every operation on a connection's fd.
    Cancel = 7,
    /// Cross-shard wakeup posted by MSG_RING: the inbox has messages.
    Inbox = 8,
    /// Failed MSG_RING we sent (success completions are skipped).
    MsgRing = 9,
    /// Cancellation of a listener's multishot accept.
    AcceptCancel = 10,
    /// Close of a listener fd.
    ListenerClose = 11,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::Accept,
            2 => Op::Recv,
            3 => Op::Send,
            4 => Op::Connect,
            5 => Op::Shutdown,
            6 => Op::Close,
            7 => Op::Cancel,
            8 => Op::Inbox,
            9 => Op::MsgRing,
            10 => Op::AcceptCancel,
            11 => Op::ListenerClose,
            _ => return None,
        })
    }
}

const GEN_MASK: u32 = 0x00ff_ffff;

/// A slab key with the generation it was allocated under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub slot: u32,
    pub generation: u32,
}

impl Key {
    pub fn new(slot: usize, generation: u32) -> Key {
        Key {
            slot: slot as u32,
            generation: generation & GEN_MASK,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub op: Op,
    pub key: Key,
}

impl Token {
    pub fn new(op: Op, key: Key) -> Token {
        Token { op, key }
    }

    pub fn encode(self) -> u64 {
        ((self.op as u64) << 56)
            | (((self.key.generation & GEN_MASK) as u64) << 32)
            | self.key.slot as u64
    }

    /// None for user_data this module did not produce.
    pub fn decode(v: u64) -> Option<Token> {
        let op = Op::from_u8((v >> 56) as u8)?;
        Some(Token {
            op,
            key: Key {
                slot: v as u32,
                generation: ((v >> 32) as u32) & GEN_MASK,
            },
        })
    }
}

/// A slab whose entries carry a generation, so a `Key` held by a completion,
/// a timer or a queue can be checked before use.
pub struct GenSlab<T> {
    slab: slab::Slab<(u32, T)>,
    next_gen: u32,
}

impl<T> GenSlab<T> {
    pub fn with_capacity(n: usize) -> Self {
        GenSlab {
            slab: slab::Slab::with_capacity(n),
            next_gen: 1,
        }
    }

    pub fn insert(&mut self, value: T) -> Key {
        let generation = self.next_gen & GEN_MASK;
        self.next_gen = self.next_gen.wrapping_add(1);
        let slot = self.slab.insert((generation, value));
        Key::new(slot, generation)
    }

    pub fn get(&self, key: Key) -> Option<&T> {
        match self.slab.get(key.slot as usize) {
            Some((g, v)) if *g == key.generation => Some(v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.slab.get_mut(key.slot as usize) {
            Some((g, v)) if *g == key.generation => Some(v),
            _ => None,
        }
    }

    pub fn remove(&mut self, key: Key) -> Option<T> {
        self.get(key)?;
        Some(self.slab.remove(key.slot as usize).1)
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.slab.iter().map(|(slot, (g, _))| Key::new(slot, *g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip() {
        for op in [Op::Accept, Op::Recv, Op::Send, Op::Close, Op::ListenerClose] {
            for (slot, generation) in [(0u32, 0u32), (1, 1), (u32::MAX, GEN_MASK), (77, 12345)] {
                let t = Token::new(op, Key { slot, generation });
                assert_eq!(Token::decode(t.encode()), Some(t));
            }
        }
        assert_eq!(Token::decode(0), None);
        assert_eq!(Token::decode(0xff << 56), None);
    }

    #[test]
    fn stale_key_is_rejected() {
        let mut s = GenSlab::with_capacity(1);
        let a = s.insert("a");
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b");
        assert_eq!(a.slot, b.slot);
        assert!(s.get(a).is_none());
        assert!(s.remove(a).is_none());
        assert_eq!(s.get(b), Some(&"b"));
    }
}
