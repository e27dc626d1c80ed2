//! Server connections kept open between HTTP transactions, per shard and per
//! server, with HAProxy's `http-reuse` rules.
//!
//! Two kinds of idle connections exist (seed 000):
//! - **pooled** ones, in `ServerPool::idle`, which any session may take as
//!   `http-reuse` allows;
//! - **session-owned private** ones (`http-reuse never`), which stay in their
//!   session's list and are never pooled. The server's `sess_conns` list
//!   records each of them (session, connection) so that the server cannot be
//!   deleted while a session still holds one. Both lists must stay exact: an
//!   entry is added when a session takes ownership and removed when the
//!   connection is released, whatever the reason.

use crate::shard::token::Key;

/// `http-reuse`, HAProxy's meaning: `never` keeps connections private to
/// their session; `safe` (default) gives a session's first request a
/// connection of its own and lets later ones use any idle connection;
/// `aggressive` lets the first request use a connection proven reusable
/// (it served more than one request); `always` lets any request use any.
pub use crate::config::HttpReuse as Reuse;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleConn {
    pub conn: Key,
    /// When it became idle (shard ms), for `pool-purge-delay`.
    pub since: u64,
    /// It has served more than one request.
    pub proven: bool,
}

/// Idle pooled connections of one server on one shard, newest last.
#[derive(Debug, Default)]
pub struct ServerPool {
    idle: Vec<IdleConn>,
}

impl ServerPool {
    pub fn len(&self) -> usize {
        self.idle.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idle.is_empty()
    }

    /// Takes the idle connection `reuse` allows for this request, newest
    /// first (the warmest one, and the oldest ones get purged).
    pub fn take(&mut self, reuse: Reuse, first_request: bool) -> Option<Key> {
        let pos = match (reuse, first_request) {
            (Reuse::Never, _) | (Reuse::Safe, true) => return None,
            (Reuse::Aggressive, true) => self.idle.iter().rposition(|c| c.proven)?,
            _ => self.idle.len().checked_sub(1)?,
        };
        Some(self.idle.remove(pos).conn)
    }

    /// Pools a connection unless the pool is at `max` (`pool-max-conn`,
    /// None: unlimited); when full the caller closes it.
    pub fn put(&mut self, c: IdleConn, max: Option<usize>) -> bool {
        if max.is_some_and(|m| self.idle.len() >= m) {
            return false;
        }
        self.idle.push(c);
        true
    }

    /// Forgets a connection that closed or is being closed while idle.
    pub fn remove(&mut self, conn: Key) -> bool {
        match self.idle.iter().position(|c| c.conn == conn) {
            Some(pos) => {
                self.idle.remove(pos);
                true
            }
            None => false,
        }
    }

    /// Moves out every connection idle since before `before` (oldest first).
    pub fn expire(&mut self, before: u64, out: &mut Vec<Key>) {
        let n = self.idle.iter().take_while(|c| c.since < before).count();
        out.extend(self.idle.drain(..n).map(|c| c.conn));
    }

    /// Moves out every idle connection (server entering maintenance).
    pub fn drain_all(&mut self, out: &mut Vec<Key>) {
        out.extend(self.idle.drain(..).map(|c| c.conn));
    }
}

/// One entry of a server's list of session-owned private connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessConn {
    pub session: Key,
    pub conn: Key,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: usize) -> Key {
        Key::new(i, 1)
    }

    fn idle(i: usize, since: u64, proven: bool) -> IdleConn {
        IdleConn {
            conn: k(i),
            since,
            proven,
        }
    }

    #[test]
    fn reuse_rules() {
        let mut p = ServerPool::default();
        assert!(p.put(idle(1, 10, true), None));
        assert!(p.put(idle(2, 20, false), None));
        assert_eq!(p.take(Reuse::Never, false), None);
        assert_eq!(
            p.take(Reuse::Safe, true),
            None,
            "first request: own connection"
        );
        assert_eq!(
            p.take(Reuse::Aggressive, true),
            Some(k(1)),
            "only proven ones"
        );
        assert_eq!(p.take(Reuse::Aggressive, true), None);
        assert_eq!(p.take(Reuse::Safe, false), Some(k(2)));
        assert!(p.is_empty());
        assert!(p.put(idle(3, 30, false), None));
        assert_eq!(p.take(Reuse::Always, true), Some(k(3)));
    }

    #[test]
    fn newest_first_and_capped() {
        let mut p = ServerPool::default();
        assert!(p.put(idle(1, 10, false), Some(2)));
        assert!(p.put(idle(2, 20, false), Some(2)));
        assert!(!p.put(idle(3, 30, false), Some(2)), "pool-max-conn reached");
        assert_eq!(p.take(Reuse::Always, false), Some(k(2)));
    }

    #[test]
    fn expire_and_remove() {
        let mut p = ServerPool::default();
        for i in 0..4 {
            p.put(idle(i, i as u64 * 10, false), None);
        }
        assert!(p.remove(k(1)));
        assert!(!p.remove(k(1)));
        let mut out = Vec::new();
        p.expire(25, &mut out);
        assert_eq!(out, vec![k(0), k(2)]);
        assert_eq!(p.len(), 1);
        out.clear();
        p.drain_all(&mut out);
        assert_eq!(out, vec![k(3)]);
    }
}
