//! A shard's half of a reload, in two stages so that every shard switches
//! or none does: `ReloadPrepare` keeps the new snapshot and the listeners
//! of the binds it adds (opened by the control plane, which is where a bind
//! can fail), `ReloadCommit` switches, `ReloadAbort` drops what was
//! prepared.
//!
//! Switching changes what *new* sessions and streams see. Streams in
//! progress keep the snapshot they started with (`Stream::rt`); a
//! keep-alive session takes the new one at its next request, unless its
//! frontend is gone (then its current answer is its last, with
//! `Connection: close`). Every slot of an older snapshot exists in the new
//! one, so indices held anywhere stay valid. Removed listeners stop
//! accepting; what they accepted goes on.

use std::sync::Arc;
use std::sync::mpsc::Sender;

use super::{Shard, sys};
use crate::listener::ShardListener;
use crate::mesh::ReloadCommit;
use crate::runtime::Runtime;

/// What `ReloadPrepare` keeps until the commit.
pub(super) struct Prepared {
    rt: Arc<Runtime>,
    listeners: Vec<ShardListener>,
}

impl Prepared {
    /// Closes the listeners that were never armed.
    fn discard(self) {
        for l in self.listeners {
            sys::close(l.fd);
        }
    }
}

impl Shard {
    /// Stage 1. A shard that is stopping cannot take a new configuration.
    pub(super) fn reload_prepare(
        &mut self,
        rt: Arc<Runtime>,
        listeners: Vec<ShardListener>,
        reply: Sender<Result<(), String>>,
    ) {
        if let Some(old) = self.prepared.take() {
            old.discard();
        }
        let p = Prepared { rt, listeners };
        if self.stopping || self.soft_stopping {
            p.discard();
            let _ = reply.send(Err(format!("shard {} is stopping", self.id)));
            return;
        }
        self.prepared = Some(p);
        let _ = reply.send(Ok(()));
    }

    pub(super) fn reload_abort(&mut self) {
        if let Some(p) = self.prepared.take() {
            p.discard();
        }
    }

    /// Stage 2: the prepared snapshot becomes the latest; server slots,
    /// algorithms, log targets and listeners follow it.
    pub(super) fn reload_commit(&mut self, c: ReloadCommit) {
        let ReloadCommit {
            adds,
            keep,
            close,
            reply,
        } = c;
        let Some(p) = self.prepared.take() else {
            log::error!("shard {}: reload commit without a prepared reload", self.id);
            let _ = reply.send(());
            return;
        };
        let old = std::mem::replace(&mut self.rt, std::rc::Rc::new(p.rt));
        self.table.reload(&self.rt, self.id);
        for (b, srv) in adds {
            self.admin_server_add(b, srv);
        }
        self.logs.reload(&old.config, &self.rt.config, self.id);
        for u in keep {
            if let Some(l) = self.listeners.get_mut(u.index) {
                l.accept_proxy = u.accept_proxy;
                l.name = u.name;
            }
        }
        for i in close {
            if i < self.listeners.len() {
                self.retire_listener(i);
            }
        }
        let first = self.listeners.len();
        self.listeners.extend(p.listeners);
        for i in first..self.listeners.len() {
            self.resume_listener(i);
        }
        log::debug!(
            "shard {}: configuration generation {} applied",
            self.id,
            self.rt.generation
        );
        let _ = reply.send(());
    }
}
