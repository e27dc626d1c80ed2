//! What a shard does for the control plane: its half of the server
//! lifecycle (add, maintenance, the deletion protocol, shutdowns) and the
//! listing of its streams. Each handler runs when the shard drains its
//! inbox, between two batches of completions, so it never races the data
//! path it inspects.

use std::sync::Arc;
use std::sync::mpsc::Sender;

use crate::backend::{Admin, ServerId, ServerRefs, ServerShared};
use crate::connection::Owner;
use crate::mesh::{StreamInfo, stream_id};
use crate::shard::Shard;
use crate::shard::token::Key;
use crate::stream::{Cause, Phase, StreamState, Termination};

impl Shard {
    /// `ServerAdd`: the server occupies its slot here. Messages arrive in
    /// order, so the `ServerDel` that freed the slot came first.
    pub(super) fn admin_server_add(&mut self, backend: usize, srv: Arc<ServerShared>) {
        if let Some(lb) = self.table.backends.get_mut(backend) {
            lb.add_server(srv);
        }
    }

    /// Closes the idle connections to server `id` of `backend` on this
    /// shard: the pooled ones and the idle session-owned private ones,
    /// which leave their session's and the server's lists at once (their
    /// sessions simply open a new connection next time). Connections in use
    /// are left alone.
    pub(super) fn admin_purge_idle(&mut self, backend: usize, id: ServerId) {
        let Some(ls) = self.table.slot_mut(backend, id) else {
            return;
        };
        let mut closing = Vec::new();
        ls.pool.drain_all(&mut closing);
        let conns = &self.conns;
        let mut idle_private = Vec::new();
        ls.sess_conns.retain(|sc| {
            let idle = conns
                .get(sc.conn)
                .is_some_and(|c| matches!(c.owner, Owner::Private(_)));
            if idle {
                idle_private.push(*sc);
            }
            !idle
        });
        for sc in idle_private {
            if let Some(s) = self.sessions.get_mut(sc.session) {
                s.priv_conns.retain(|pc| pc.conn != sc.conn);
            }
            if let Some(c) = self.conns.get_mut(sc.conn) {
                c.private_to = None;
            }
            closing.push(sc.conn);
        }
        for ck in closing {
            // Out of every list already: its release updates nothing.
            if let Some(c) = self.conns.get_mut(ck) {
                c.owner = Owner::Orphan;
            }
            self.close_conn(ck);
        }
    }

    /// `ServerMaint`: purges the idle connections, and with `option
    /// redispatch` sends the streams waiting for this server to the
    /// backend's queue.
    pub(super) fn admin_server_maint(&mut self, backend: usize, id: ServerId) {
        self.admin_purge_idle(backend, id);
        if self.table.slot(backend, id).is_some() {
            self.redistribute_server_queue(backend, id.slot as usize);
        }
    }

    /// `ServerQuery`: purges, then reports what still refers to the server
    /// here. A server no longer in this shard's table (already deleted, or
    /// a newer generation in its slot) refers to nothing.
    pub(super) fn admin_server_query(
        &mut self,
        backend: usize,
        id: ServerId,
        reply: Sender<ServerRefs>,
    ) {
        self.admin_purge_idle(backend, id);
        let refs = self
            .table
            .slot(backend, id)
            .map_or_else(ServerRefs::default, |ls| ls.refs());
        let _ = reply.send(refs);
    }

    /// `ServerDel`: frees the slot. Only sent once every shard reported
    /// nothing referring to the server, while it stayed in maintenance (so
    /// nothing could take a new reference since).
    pub(super) fn admin_server_del(&mut self, backend: usize, id: ServerId) {
        let refs = self.table.slot(backend, id).map(|ls| ls.refs());
        if let Some(r) = refs
            && !r.is_empty()
        {
            // The protocol guarantees this cannot happen; if it ever did,
            // keeping the slot is the safe choice.
            log::error!(
                "shard {}: server slot {} deleted while referenced ({r:?}); kept",
                self.id,
                id.slot
            );
            return;
        }
        if let Some(lb) = self.table.backends.get_mut(backend) {
            lb.remove_server(id);
        }
    }

    /// `ServerShutdown`: ends every stream of this shard using the server or
    /// waiting in its queue.
    pub(super) fn admin_server_shutdown(&mut self, backend: usize, id: ServerId) {
        let victims: Vec<Key> = self
            .streams
            .keys()
            .filter(|&k| {
                self.streams.get(k).is_some_and(|st| {
                    let using = st.server_ref.as_ref().is_some_and(|s| s.id == id);
                    let waiting = st.wait_server == Some(id.slot);
                    st.backend == Some(backend) && (using || waiting)
                })
            })
            .collect();
        for sk in victims {
            self.stream_terminate(sk, Termination::new(Cause::Killed, Phase::Data));
        }
    }

    /// `ShowSess`: describes every live stream of this shard.
    pub(super) fn admin_show_sess(&mut self, reply: Sender<Vec<StreamInfo>>) {
        let keys: Vec<Key> = self.streams.keys().collect();
        let mut out = Vec::with_capacity(keys.len());
        for sk in keys {
            let Some(session) = self.streams.get(sk).map(|st| st.session) else {
                continue;
            };
            let src = self.session_addrs(session).src;
            let Some(st) = self.streams.get(sk) else {
                continue;
            };
            out.push(StreamInfo {
                id: stream_id(self.id, sk),
                shard: self.id,
                frontend: st.frontend,
                backend: st.backend,
                server: st.server_ref.as_ref().map(|s| s.name.clone()),
                src,
                age_ms: self.now.saturating_sub(st.times.start),
            });
        }
        let _ = reply.send(out);
    }

    /// `ShutdownStream`: ends stream `key` if it is still alive here.
    pub(super) fn admin_shutdown_stream(&mut self, key: Key, reply: Sender<bool>) {
        let alive = self
            .streams
            .get(key)
            .is_some_and(|st| st.state != StreamState::Closing);
        if alive {
            self.stream_terminate(key, Termination::new(Cause::Killed, Phase::Data));
        }
        let _ = reply.send(alive);
    }

    /// Whether a server connection that finished a transaction may be kept
    /// idle (pooled or private): not when its server left the table or
    /// entered maintenance, whose idle connections must not linger.
    pub(crate) fn server_keeps_idle(&self, b: usize, i: usize) -> bool {
        self.table.backends[b]
            .server(i)
            .is_some_and(|s| s.admin() != Admin::Maint)
    }
}
