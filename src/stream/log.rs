//! The access log line of a stream (`option tcplog`) or of an HTTP
//! transaction (`option httplog`), emitted when it ends, through the
//! shard's own non-blocking sender of its frontend.

use std::sync::atomic::Ordering;

use super::Termination;
use crate::accesslog::{self, Level, LogRecord, LogSender};
use crate::config::{Config, LogStyle};
use crate::shard::Shard;
use crate::shard::token::Key;

/// Timestamps of a stream (shard ms; 0: not reached).
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamTimes {
    pub start: u64,
    pub queue_start: u64,
    pub queue_end: u64,
    pub connect_start: u64,
    pub connected: u64,
}

/// One sender per frontend that logs (None: it does not), per shard.
pub struct ShardLogs {
    senders: Vec<Option<LogSender>>,
    line: Vec<u8>,
}

/// Opens the log targets of frontend `fe` for one shard. A target that
/// cannot be opened is reported and left out; logging never stops the
/// proxy.
fn sender(fe: &crate::config::Frontend, shard: usize) -> Option<LogSender> {
    if fe.log_format.is_none() || fe.logs.is_empty() {
        return None;
    }
    let targets: Vec<_> = fe
        .logs
        .iter()
        .filter_map(|spec| {
            let words: Vec<&str> = spec.words.iter().map(String::as_str).collect();
            match accesslog::parse_log_target(&words) {
                Ok(t) => Some(t),
                Err(e) => {
                    log::warn!("{}: log target ignored: {e}", spec.loc);
                    None
                }
            }
        })
        .collect();
    match LogSender::new(&targets, "ringproxy", std::process::id()) {
        Ok(s) => Some(s),
        Err(e) => {
            log::warn!(
                "shard {shard}: frontend '{}': cannot open its log targets: {e}",
                fe.name
            );
            None
        }
    }
}

impl ShardLogs {
    /// Opens this shard's log sockets. A target that cannot be opened is
    /// reported and left out; logging never stops the proxy.
    pub fn new(cfg: &Config, shard: usize) -> ShardLogs {
        ShardLogs {
            senders: cfg.frontends.iter().map(|fe| sender(fe, shard)).collect(),
            line: Vec::with_capacity(1024),
        }
    }

    /// Follows a reload from `old` to `new` (slot by slot): a frontend whose
    /// log settings did not change keeps its sender (and what it still has
    /// to send); the others get new ones.
    pub fn reload(&mut self, old: &Config, new: &Config, shard: usize) {
        for (i, fe) in new.frontends.iter().enumerate() {
            let same = old
                .frontends
                .get(i)
                .is_some_and(|o| o.logs == fe.logs && o.log_format == fe.log_format);
            if i >= self.senders.len() {
                self.senders.push(sender(fe, shard));
            } else if !same {
                self.senders[i] = sender(fe, shard);
            }
        }
    }

    pub fn enabled(&self, fe: usize) -> bool {
        self.senders.get(fe).is_some_and(|s| s.is_some())
    }
}

fn ms_between(from: u64, to: u64) -> i64 {
    if from == 0 || to == 0 || to < from {
        -1
    } else {
        (to - from) as i64
    }
}

impl Shard {
    /// Logs the stream's end (TCP) or its transaction (HTTP), if its
    /// frontend logs. `dontlognull` skips streams that carried nothing from
    /// the client.
    pub(crate) fn stream_log(&mut self, sk: Key, term: Termination) {
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        if !self.logs.enabled(st.frontend) || st.http.as_ref().is_some_and(|t| t.nolog) {
            return;
        }
        let session = st.session;
        let addrs = self.session_addrs(session);
        let Some(st) = self.streams.get(sk) else {
            return;
        };
        let fe_cfg = &st.rt.config.frontends[st.frontend];
        let http = fe_cfg.log_format != Some(LogStyle::Tcp) && st.http.is_some();
        let nothing = st.c2s.bytes == 0 && st.http.as_ref().is_none_or(|t| t.meta.is_none());
        if fe_cfg.dontlognull && nothing {
            return;
        }
        let Some(s) = self.sessions.get(session) else {
            return;
        };
        let now = self.now;
        let rt = &st.rt;
        let be_name = st.backend.map_or(fe_cfg.name.as_str(), |b| {
            rt.config.backends[b].name.as_str()
        });
        let log_server = st
            .server_ref
            .as_ref()
            .or_else(|| st.http.as_ref().and_then(|t| t.log_server.as_ref()));
        let server = log_server.map(|s| s.name.as_str());
        // The stream's own connection slot is given back before HAProxy
        // writes its line: not counted in beconn / srv_conn.
        let own = u32::from(st.server_ref.is_some());
        let client = addrs
            .src
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut rec = LogRecord::new(client, s.accept_ms, &fe_cfg.name, be_name);
        rec.server = server;
        let t = &st.times;
        // -1: the stream never got as far as the queue (answered or
        // refused before choosing a server).
        rec.t_queue = if !st.be_counted {
            -1
        } else if t.queue_start == 0 {
            0
        } else {
            ms_between(t.queue_start, t.queue_end)
        };
        rec.t_connect = ms_between(t.connect_start, t.connected);
        rec.term = term.code();
        rec.actconn = rt.global.cur.load(Ordering::Relaxed);
        rec.feconn = rt.frontends[st.frontend].limit.cur.load(Ordering::Relaxed);
        if let Some(b) = st.backend {
            let shared = &rt.backends[b];
            rec.beconn = self.table.backends[b]
                .servers
                .iter()
                .filter_map(|l| l.srv.as_ref())
                .map(|s| s.cur_conns.load(Ordering::Relaxed))
                .sum::<u32>()
                .saturating_sub(own);
            rec.backend_queue = shared.queued.load(Ordering::Relaxed);
            let cfg = &rt.config.backends[b];
            rec.retries = cfg.retries.saturating_sub(st.retries_left);
        }
        if let Some(srv) = st.server_ref.as_ref() {
            rec.srv_conn = srv.cur_conns.load(Ordering::Relaxed).saturating_sub(own);
        }
        let req_line;
        match (&st.http, http) {
            (Some(txn), true) => {
                let tt = &txn.times;
                rec.t_idle = ms_between(s.accepted_at.max(s.last_txn_end), tt.start).max(0);
                rec.t_request = ms_between(tt.start, tt.req_head);
                // No server response when the proxy answered itself.
                rec.t_response = if txn.internal {
                    -1
                } else {
                    ms_between(t.connected.max(tt.req_head), tt.rsp_head)
                };
                rec.t_active = ms_between(tt.start, now);
                rec.status = (txn.status != 0).then_some(txn.status);
                rec.bytes_read = st.s2c.bytes;
                req_line = txn.req_line.as_deref();
                rec.request_line = req_line;
            }
            _ => {
                rec.t_total = ms_between(s.accepted_at, now).max(0);
                rec.bytes_read = st.s2c.bytes;
            }
        }
        let fe = st.frontend;
        let Some(Some(sender)) = self.logs.senders.get_mut(fe) else {
            return;
        };
        let line = &mut self.logs.line;
        line.clear();
        if http {
            accesslog::format_httplog(&rec, line);
        } else {
            accesslog::format_tcplog(&rec, line);
        }
        sender.send(Level::Info, line);
    }
}
