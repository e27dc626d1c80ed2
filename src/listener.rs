//! Listeners: one SO_REUSEPORT socket per bind per shard, opened by the main
//! thread (so that a bind error stops startup with the bind's file:line), then
//! driven by the shard with a multishot accept.
//!
//! `maxconn` (global and per frontend): a connection accepted while a limit
//! is reached waits in the shard's `pending_accepts` and the shard stops
//! arming accepts until a slot frees; the shard that frees it wakes the
//! paused ones through the mesh. Nothing is refused.

use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};

use crate::config::{Bind, Config, Frontend, ListenOn};
use crate::mesh::Msg;
use crate::shard::ring::Completion;
use crate::shard::token::{Key, Op, Token};
use crate::shard::{Shard, sys};
use crate::xfer::Received;
use std::net::SocketAddr;

/// Backlog of each listening socket (the kernel caps it at somaxconn).
const BACKLOG: i32 = 4096;

#[derive(Debug)]
pub struct ShardListener {
    pub fd: RawFd,
    pub frontend: usize,
    pub accept_proxy: bool,
    pub name: String,
    /// The local address of every connection it accepts, when the bind
    /// names one (a specific address and port): then `dst` costs no
    /// `getsockname`. None for wildcard and inherited (`fd@`) binds.
    pub local: Option<SocketAddr>,
    /// A multishot accept is in the kernel.
    armed: bool,
    /// Its cancellation was requested.
    cancelling: bool,
    /// We want it armed (false while paused or stopping).
    want: bool,
    /// Stop requested: close the fd once the accept is no longer armed.
    closing: bool,
    closed: bool,
}

impl ShardListener {
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// Opens every bind once per shard. On error, closes what was opened and
/// names the bind.
/// `received`: sockets handed over by the previous process (`-x`); a bind
/// takes those on its address, one per shard, before opening new ones.
pub fn open_all(
    config: &Config,
    shards: usize,
    received: &mut Vec<Received>,
) -> Result<Vec<Vec<ShardListener>>, String> {
    let binds: Vec<(usize, &Frontend, &Bind)> = config
        .frontends
        .iter()
        .enumerate()
        .flat_map(|(fi, fe)| fe.binds.iter().map(move |b| (fi, fe, b)))
        .collect();
    open_binds(&binds, shards, received)
}

/// Opens each of `binds` (frontend slot, frontend, bind) once per shard, in
/// order (so a listener has the same index on every shard). On error,
/// closes what was opened and names the bind.
pub fn open_binds(
    binds: &[(usize, &Frontend, &Bind)],
    shards: usize,
    received: &mut Vec<Received>,
) -> Result<Vec<Vec<ShardListener>>, String> {
    let mut out: Vec<Vec<ShardListener>> = (0..shards).map(|_| Vec::new()).collect();
    for &(fi, fe, b) in binds {
        for (shard, per_shard) in out.iter_mut().enumerate() {
            let opened = match b.on {
                ListenOn::Addr(addr) => match take_received(received, addr, b.v6only) {
                    Some(fd) => Ok(fd),
                    None => sys::reuseport_listener(addr, b.v6only, BACKLOG),
                },
                // One inherited socket, shared by every shard (each arms
                // its own multishot accept on its own duplicate).
                ListenOn::Fd(fd) if shard == 0 => sys::inherited_listener(fd),
                ListenOn::Fd(fd) => sys::dup_cloexec(fd),
            };
            match opened {
                Ok(fd) => per_shard.push(ShardListener {
                    fd,
                    frontend: fi,
                    accept_proxy: b.accept_proxy,
                    name: b.name.clone(),
                    local: match b.on {
                        ListenOn::Addr(a) if !a.ip().is_unspecified() && a.port() != 0 => Some(a),
                        _ => None,
                    },
                    armed: false,
                    cancelling: false,
                    want: false,
                    closing: false,
                    closed: false,
                }),
                Err(e) => {
                    for l in out.iter().flatten() {
                        sys::close(l.fd);
                    }
                    return Err(format!(
                        "{}: frontend '{}': cannot bind socket ({e}) [{}]",
                        b.loc, fe.name, b.on
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// A socket the previous process listened on `addr` with, if one is left.
fn take_received(received: &mut Vec<Received>, addr: SocketAddr, v6only: bool) -> Option<RawFd> {
    let i = received
        .iter()
        .position(|r| r.addr == addr && (!addr.is_ipv6() || r.v6only == v6only))?;
    Some(received.swap_remove(i).fd.into_raw_fd())
}

/// Duplicates of the listening sockets, by bind (the index every shard
/// gives its listener), that `_getsocks` hands to a successor
/// (`expose-fd listeners`). Owned here so they stay valid whatever the
/// shards do; emptied before a graceful stop, so that nothing keeps a
/// socket listening once the shards close theirs.
#[derive(Default)]
pub struct Exported(std::sync::Mutex<Vec<(usize, OwnedFd)>>);

impl Exported {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, OwnedFd)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds the sockets of bind `index` (one per shard).
    pub fn add(&self, index: usize, per_shard: impl Iterator<Item = RawFd>) {
        let mut v = self.lock();
        for fd in per_shard {
            match sys::dup_owned(fd) {
                Ok(d) => v.push((index, d)),
                Err(e) => log::warn!("cannot keep listener {index} for _getsocks: {e}"),
            }
        }
    }

    /// Forgets the sockets of bind `index` (a reload removed it).
    pub fn remove(&self, index: usize) {
        self.lock().retain(|(i, _)| *i != index);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Runs `f` on the raw fds, which stay open meanwhile.
    pub fn with<T>(&self, f: impl FnOnce(&[RawFd]) -> T) -> T {
        let v = self.lock();
        let fds: Vec<RawFd> = v.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        f(&fds)
    }
}

/// Which limit refused a new connection.
enum Refused {
    Global,
    Frontend,
}

impl Shard {
    /// Arms the listener's accept unless it already is or must not be.
    pub fn resume_listener(&mut self, i: usize) {
        let l = &mut self.listeners[i];
        if l.closing || l.closed {
            return;
        }
        l.want = true;
        if l.armed {
            return;
        }
        l.armed = true;
        let fd = l.fd;
        let tok = Token::new(Op::Accept, Key::new(i, 0)).encode();
        self.push_op(|r| r.accept_multi(fd, tok));
    }

    /// Cancels every armed accept and arms it again at once (the new one
    /// first accepts what is queued). A process that took its listening
    /// sockets from a predecessor does this while the predecessor stops:
    /// io_uring waits for connections with EPOLLEXCLUSIVE, so a wake-up
    /// given to the predecessor's accept just before it cancelled it is
    /// lost, and a connection would wait in the queue for the next one.
    pub fn kick_listeners(&mut self) {
        for i in 0..self.listeners.len() {
            let l = &mut self.listeners[i];
            if l.armed && l.want && !l.closing && !l.cancelling {
                l.cancelling = true;
                let fd = l.fd;
                let tok = Token::new(Op::AcceptCancel, Key::new(i, 0)).encode();
                self.push_op(|r| r.cancel_fd(fd, tok));
            }
        }
    }

    fn pause_listener(&mut self, i: usize) {
        let l = &mut self.listeners[i];
        l.want = false;
        if l.armed && !l.cancelling {
            l.cancelling = true;
            let fd = l.fd;
            let tok = Token::new(Op::AcceptCancel, Key::new(i, 0)).encode();
            self.push_op(|r| r.cancel_fd(fd, tok));
        }
    }

    /// Stops accepting for good; the fd is closed once no accept is armed.
    /// Stops listener `i` for good at once (a bind a reload removed: no
    /// other process shares it), then closes it.
    pub fn retire_listener(&mut self, i: usize) {
        if !self.listeners[i].closed {
            sys::shutdown_listener(self.listeners[i].fd);
        }
        self.close_listener(i);
    }

    pub fn close_listener(&mut self, i: usize) {
        if self.listeners[i].closed {
            return;
        }
        self.listeners[i].closing = true;
        self.pause_listener(i);
        self.finish_close_listener(i);
    }

    fn finish_close_listener(&mut self, i: usize) {
        let l = &mut self.listeners[i];
        if l.closing && !l.armed && !l.closed {
            l.closed = true;
            sys::close(l.fd);
        }
    }

    pub fn on_accept(&mut self, i: usize, c: Completion) {
        if i >= self.listeners.len() {
            return;
        }
        if !c.more() {
            let l = &mut self.listeners[i];
            l.armed = false;
            l.cancelling = false;
        }
        if c.result >= 0 {
            self.on_new_fd(i, c.result);
        } else if c.result != -libc::ECANCELED && !self.listeners[i].closing {
            let err = std::io::Error::from_raw_os_error(-c.result);
            log::warn!(
                "shard {}: accept on '{}' failed: {err}",
                self.id,
                self.listeners[i].name
            );
            if matches!(
                -c.result,
                libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS
            ) {
                // Out of resources: wait for a connection to end instead of
                // spinning on the error.
                self.listeners[i].want = false;
                self.rt.global.mark_paused(self.id);
            }
        }
        let l = &self.listeners[i];
        if !l.armed {
            if l.closing {
                self.finish_close_listener(i);
            } else if l.want {
                self.resume_listener(i);
            }
        }
    }

    fn on_new_fd(&mut self, li: usize, fd: RawFd) {
        self.counters.accepted += 1;
        // A connection accepted while its listener closes (a graceful stop,
        // a reload removing the bind) is served like any other: its client
        // already completed its handshake. Only a fast stop drops it.
        if self.stopping {
            sys::close(fd);
            return;
        }
        if !self.pending_accepts.is_empty() {
            self.pending_accepts.push_back((li, fd));
            return;
        }
        match self.admit(self.listeners[li].frontend) {
            Ok(()) => self.start_session(li, fd),
            Err(refused) => {
                self.pending_accepts.push_back((li, fd));
                self.pause_for(refused, self.listeners[li].frontend);
            }
        }
    }

    /// Takes a global and a frontend connection slot. When one is refused,
    /// this shard is marked paused on that limit and admission is tried once
    /// more, so a slot freed in between is not missed.
    fn admit(&mut self, fe: usize) -> Result<(), Refused> {
        for attempt in 0..2 {
            if !self.rt.global.try_acquire() {
                if attempt == 0 {
                    self.rt.global.mark_paused(self.id);
                    continue;
                }
                return Err(Refused::Global);
            }
            if !self.rt.frontends[fe].limit.try_acquire() {
                let mask = self.rt.global.release();
                self.notify_resume(mask);
                if attempt == 0 {
                    self.rt.frontends[fe].limit.mark_paused(self.id);
                    continue;
                }
                return Err(Refused::Frontend);
            }
            return Ok(());
        }
        Err(Refused::Global)
    }

    fn pause_for(&mut self, refused: Refused, fe: usize) {
        for i in 0..self.listeners.len() {
            let hit = match refused {
                Refused::Global => true,
                Refused::Frontend => self.listeners[i].frontend == fe,
            };
            if hit {
                self.pause_listener(i);
            }
        }
    }

    /// Gives back the slots of a session of frontend `fe` and wakes the
    /// shards that paused on them.
    pub fn release_slots(&mut self, fe: usize) {
        let mut mask = self.rt.frontends[fe].limit.release();
        mask |= self.rt.global.release();
        self.notify_resume(mask);
    }

    fn notify_resume(&mut self, mask: u64) {
        if mask != 0 {
            self.post_mask(mask, || Msg::ResumeAccept);
        }
    }

    /// A slot may have freed: serve waiting accepted connections first, then
    /// re-arm paused listeners.
    pub fn resume_accepting(&mut self) {
        if self.stopping {
            return;
        }
        while let Some(&(li, fd)) = self.pending_accepts.front() {
            match self.admit(self.listeners[li].frontend) {
                Ok(()) => {
                    self.pending_accepts.pop_front();
                    self.start_session(li, fd);
                }
                Err(_) => return,
            }
        }
        for i in 0..self.listeners.len() {
            self.resume_listener(i);
        }
    }
}
