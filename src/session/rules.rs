//! `tcp-request connection` and `tcp-request session` rules: the session's
//! own stick counters, and the first places a client can be refused.

use super::Session;
use crate::http::{RequestView, TcpPhase, TcpVerdict, Tracking, apply_tcp_rules};
use crate::shard::Shard;
use crate::shard::token::Key;
use crate::stats::Counters;

impl Shard {
    /// Runs the frontend's `tcp-request connection` (on accept, embryonic)
    /// or `session` (handshake done) rules of session `sk`. Entries they
    /// track are the session's: counted once in `conn_cur` for the life of
    /// the connection, whatever streams it runs. Returns false when a rule
    /// rejected it: the connection is then being closed, silently (as
    /// HAProxy does), and counted in the frontend's `dcon` / `dses`.
    pub(super) fn session_tcp_rules(&mut self, sk: Key, phase: TcpPhase) -> bool {
        let addrs = self.session_addrs(sk);
        let now = self.now;
        let Some(s) = self.sessions.get_mut(sk) else {
            return false;
        };
        let rt = s.rt.clone();
        let fe = &rt.config.frontends[s.frontend];
        let rules = match phase {
            TcpPhase::Connection => &fe.tcp_req_conn,
            _ => &fe.tcp_req_sess,
        };
        let mut own = s.stk.take().map(|b| *b).unwrap_or_default();
        let view = RequestView::l4(addrs.src, addrs.dst);
        let verdict = apply_tcp_rules(
            rules,
            &view,
            &mut Tracking {
                sess: None,
                own: &mut own,
                tables: &rt.tables,
                now,
                http_request: false,
            },
        );
        keep_trackers(s, own);
        if verdict == TcpVerdict::Accept {
            return true;
        }
        let c = &rt.frontends[s.frontend].counters;
        Counters::inc(match phase {
            TcpPhase::Connection => &c.denied_conn,
            _ => &c.denied_sess,
        });
        log::debug!(
            "shard {}: session rejected by tcp-request {phase:?} rules",
            self.id
        );
        self.session_kill(sk);
        false
    }
}

/// Stores what the rules tracked (allocating only when they tracked
/// something).
fn keep_trackers(s: &mut Session, own: crate::stick::Trackers) {
    s.stk = (!own.is_empty()).then(|| Box::new(own));
}
