//! Reloads (SIGHUP, SIGUSR2): the control plane's half.
//!
//! 1. Read and validate every `-f` file. Any error: log each with its
//!    file:line, count a failed reload, change nothing.
//! 2. Renumber the new configuration onto the running one's slots
//!    (`config::reload`), open the listeners of the binds it adds (a bind
//!    that fails refuses the reload, nothing changed yet) and build the
//!    next snapshot (`Runtime::reloaded`).
//! 3. Prepare on every shard; if one cannot, abort everywhere.
//! 4. Apply server changes to the registries (a server of a kept backend
//!    whose identity is unchanged keeps its state, counters, health and
//!    connections; removed ones enter maintenance and *drain*; new ones get
//!    slots), then commit on every shard and publish the snapshot to the
//!    runtime API and the checker.
//! 5. Drained servers are deleted through the cross-shard deletion
//!    protocol once no shard refers to them (`Reloader::drain`, polled by
//!    the control loop): waiting, never failing.
//!
//! Reloads are serialised with the runtime API's commands by the
//! coordinator's lock.

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crate::backend::{Admin, ServerShared};
use crate::check::CheckerLink;
use crate::config::reload::{
    ProxyChanges, Slots, proxy_changes, renumber, restart_only, same_bind,
};
use crate::config::{self, Bind, Config, Frontend};
use crate::listener::{self, Exported};
use crate::mesh::coord::{CoordError, Coordinator};
use crate::mesh::{ListenerUpdate, Msg, ReloadCommit};
use crate::runtime::{Current, Runtime};

/// A bind with listeners open on every shard, at the same index.
#[derive(Debug, Clone)]
struct OpenBind {
    frontend: usize,
    bind: Bind,
    /// False once a reload closed it (the index stays taken).
    open: bool,
}

/// A server a reload removed, in maintenance until nothing refers to it.
struct Draining {
    backend: usize,
    srv: Arc<ServerShared>,
}

pub struct Reloader {
    files: Vec<PathBuf>,
    current: Arc<Current>,
    coord: Arc<Mutex<Coordinator>>,
    checker: CheckerLink,
    slots: Slots,
    /// Every listener index ever given, in order.
    binds: Vec<OpenBind>,
    draining: Vec<Draining>,
    /// The sockets `_getsocks` hands over, by bind index.
    exported: Arc<Exported>,
}

/// What a reload does to the listeners.
struct BindPlan<'a> {
    /// Kept binds (their listener index) with their new settings.
    keep: Vec<ListenerUpdate>,
    /// Indices of the listeners of removed binds.
    close: Vec<usize>,
    /// Binds to open: (frontend slot, frontend, bind).
    to_open: Vec<(usize, &'a Frontend, &'a Bind)>,
}

/// Stage 1: every shard keeps snapshot `rt` and its new listeners
/// (`opened[shard]`), or, if one cannot (or has exited), every shard drops
/// what it prepared.
fn prepare(
    coord: &mut Coordinator,
    rt: &Arc<Runtime>,
    opened: &mut [Vec<listener::ShardListener>],
    shards: usize,
) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut reached = 0;
    for (i, ls) in opened.iter_mut().enumerate() {
        let msg = Msg::ReloadPrepare {
            rt: rt.clone(),
            listeners: std::mem::take(ls),
            reply: tx.clone(),
        };
        if coord.post(i, msg) {
            reached += 1;
        }
    }
    drop(tx);
    let mut why = (reached < shards).then(|| "a shard has exited".to_string());
    for _ in 0..reached {
        match rx.recv_timeout(std::time::Duration::from_secs(2)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => why = Some(e),
            Err(_) => {
                why = Some(CoordError::ShardsSilent.to_string());
                break;
            }
        }
    }
    match why {
        None => Ok(()),
        Some(why) => {
            for i in 0..shards {
                coord.post(i, Msg::ReloadAbort);
            }
            Err(why)
        }
    }
}

/// What the servers of one reload change.
#[derive(Default)]
struct ServerChanges {
    /// For the log line: `backend/server` names.
    added: Vec<String>,
    removed: Vec<String>,
    /// Kept servers whose settings changed, with what changed.
    changed: Vec<(String, String)>,
    /// Servers added to kept backends (shards learn of them at the commit).
    adds: Vec<(usize, Arc<ServerShared>)>,
    /// Servers removed, now draining.
    draining: Vec<Draining>,
}

/// Whether a running server can stay what configuration line `new` asks
/// for: same address and connection settings. Weight, maxconn and
/// `disabled` are applied in place; anything else makes a new server.
fn same_server(old: &config::Server, new: &config::Server) -> bool {
    old.addr == new.addr
        && old.send_proxy == new.send_proxy
        && old.backup == new.backup
        && old.check == new.check
        && old.pool_max_conn == new.pool_max_conn
        && old.pool_purge_delay == new.pool_purge_delay
}

impl Reloader {
    pub fn new(
        files: Vec<PathBuf>,
        current: Arc<Current>,
        coord: Arc<Mutex<Coordinator>>,
        checker: CheckerLink,
        exported: Arc<Exported>,
    ) -> Reloader {
        let rt = current.get();
        let binds = rt
            .config
            .frontends
            .iter()
            .enumerate()
            .flat_map(|(fi, fe)| {
                fe.binds.iter().map(move |b| OpenBind {
                    frontend: fi,
                    bind: b.clone(),
                    open: true,
                })
            })
            .collect();
        Reloader {
            files,
            slots: Slots::of(&rt.config),
            current,
            coord,
            checker,
            binds,
            draining: Vec::new(),
            exported,
        }
    }

    /// A graceful stop: the sockets kept for `_getsocks` are let go, so
    /// that the listeners close for real when the shards close theirs.
    pub fn stop_exporting(&self) {
        self.exported.clear();
    }

    /// Servers still draining after a reload.
    pub fn draining(&self) -> usize {
        self.draining.len()
    }

    /// Kept binds keep their listener index (the same on every shard);
    /// added ones are opened before anything changes (where a bind can
    /// fail); removed ones close at the commit.
    fn plan_binds<'a>(&self, new: &'a Config) -> BindPlan<'a> {
        let mut keep = Vec::new();
        let mut matched = vec![false; self.binds.len()];
        let mut to_open = Vec::new();
        for (fi, fe) in new.frontends.iter().enumerate() {
            for b in &fe.binds {
                let found = self.binds.iter().enumerate().position(|(i, o)| {
                    o.open && !matched[i] && o.frontend == fi && same_bind(&o.bind, b)
                });
                match found {
                    Some(i) => {
                        matched[i] = true;
                        keep.push(ListenerUpdate {
                            index: i,
                            accept_proxy: b.accept_proxy,
                            name: b.name.clone(),
                        });
                    }
                    None => to_open.push((fi, fe, b)),
                }
            }
        }
        let close = (0..self.binds.len())
            .filter(|&i| self.binds[i].open && !matched[i])
            .collect();
        BindPlan {
            keep,
            close,
            to_open,
        }
    }

    /// Re-reads the files and applies them, or logs why not.
    pub fn reload(&mut self) {
        let cur = self.current.get();
        let n = cur.reloads.applied.load(Ordering::Relaxed) + 1;
        match self.try_reload(&cur, n) {
            Ok(()) => {}
            Err(why) => {
                cur.reloads.failed.fetch_add(1, Ordering::Relaxed);
                log::error!("reload refused ({why}): keeping the running configuration");
            }
        }
    }

    fn try_reload(&mut self, cur: &Arc<Runtime>, n: u64) -> Result<(), String> {
        let loaded = match config::load(&self.files) {
            Ok(l) => l,
            Err(errors) => {
                for e in &errors {
                    log::error!("{e}");
                }
                let n = errors.len();
                let s = if n == 1 { "" } else { "s" };
                return Err(format!("{n} error{s} in the configuration"));
            }
        };
        for w in &loaded.warnings {
            log::warn!("{w}");
        }
        let mut new = loaded.config;
        let fixed = restart_only(&cur.config.global, &new.global);
        if !fixed.is_empty() {
            log::warn!(
                "reload: {} cannot change without a restart; the running values stay",
                fixed.join(", ")
            );
            keep_restart_only(&mut new, &cur.config);
        }
        let mut slots = self.slots.clone();
        let new = renumber(new, &cur.config, &mut slots);
        let proxies = proxy_changes(&cur.config, &new);

        let plan = self.plan_binds(&new);
        let mut opened = listener::open_binds(&plan.to_open, cur.shards, &mut Vec::new())?;
        // Per new bind, its fd on each shard (for `_getsocks`), read before
        // the listeners go to the shards.
        let exported_fds: Vec<Vec<RawFd>> = (0..plan.to_open.len())
            .map(|k| opened.iter().map(|per_shard| per_shard[k].fd).collect())
            .collect();
        let new_binds: Vec<OpenBind> = plan
            .to_open
            .iter()
            .map(|&(fi, _, b)| OpenBind {
                frontend: fi,
                bind: b.clone(),
                open: true,
            })
            .collect();
        let BindPlan { keep, close, .. } = plan;

        let rt = Arc::new(cur.reloaded(new));
        let mut coord = self.coord.lock().unwrap_or_else(|p| p.into_inner());
        prepare(&mut coord, &rt, &mut opened, cur.shards)?;

        // Stage 2: servers, then the commit.
        let mut servers = apply_servers(&mut coord, cur, &rt);
        let adds = std::mem::take(&mut servers.adds);
        let removed = std::mem::take(&mut servers.draining);
        let keep_ref = &keep;
        let close_ref = &close;
        let adds_ref = &adds;
        coord
            .gather(|reply| {
                Msg::ReloadCommit(Box::new(ReloadCommit {
                    adds: adds_ref.clone(),
                    keep: keep_ref.clone(),
                    close: close_ref.clone(),
                    reply,
                }))
            })
            .map_err(|e| e.to_string())?;
        drop(coord);

        // Published: the API and the checker follow.
        self.current.set(rt.clone());
        self.checker.reload(rt.clone());
        for (b, srv) in &adds {
            self.checker.add(*b, srv.clone(), srv.cfg.check, true);
        }
        for b in cur.backends.len()..rt.backends.len() {
            for (_, srv) in rt.backends[b].servers_snapshot() {
                self.checker.add(b, srv.clone(), srv.cfg.check, true);
            }
        }
        for d in &removed {
            self.checker.remove(&d.srv);
        }
        self.draining.extend(removed);
        for &i in &close {
            self.binds[i].open = false;
            self.exported.remove(i);
        }
        for (k, b) in new_binds.into_iter().enumerate() {
            let index = self.binds.len();
            self.exported.add(index, exported_fds[k].iter().copied());
            self.binds.push(b);
        }
        self.slots = slots;
        rt.reloads.applied.store(n, Ordering::Relaxed);
        log::info!("reload {n} applied: {}", describe(&proxies, &servers));
        // Whatever drained already goes at once.
        self.drain();
        Ok(())
    }

    /// Deletes the drained servers nothing refers to any more.
    pub fn drain(&mut self) {
        if self.draining.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.draining);
        let mut coord = self.coord.lock().unwrap_or_else(|p| p.into_inner());
        for d in pending {
            match coord.del_server(d.backend, &d.srv) {
                Ok(()) => {}
                Err(CoordError::StillReferenced(_)) | Err(CoordError::ShardsSilent) => {
                    self.draining.push(d)
                }
                Err(e) => {
                    log::warn!("reload: draining server '{}': {e}", d.srv.name);
                }
            }
        }
    }
}

/// Applies the server changes of snapshot `rt` to the registries.
fn apply_servers(coord: &mut Coordinator, cur: &Runtime, rt: &Runtime) -> ServerChanges {
    let mut log = ServerChanges::default();
    for (b, cfg) in rt.config.backends.iter().enumerate() {
        let shared = &rt.backends[b];
        if b >= cur.backends.len() {
            // A new backend's registry was built from its configuration.
            for s in &cfg.servers {
                log.added.push(format!("{}/{}", cfg.name, s.name));
            }
            continue;
        }
        let prev = &cur.config.backends[b];
        let wanted: &[config::Server] = if cfg.retired { &[] } else { &cfg.servers };
        let mut kept = Vec::new();
        for (_, srv) in shared.servers_snapshot() {
            let line = wanted.iter().find(|s| s.name == srv.name);
            match line {
                Some(line) if same_server(&srv.cfg, line) => {
                    kept.push(line.name.clone());
                    // What the configuration changed applies; what it did
                    // not change keeps its run-time value.
                    let before = prev.servers.iter().find(|s| s.name == srv.name);
                    let what = apply_settings(coord, b, &srv, before, line);
                    if !what.is_empty() {
                        let name = format!("{}/{}", cfg.name, srv.name);
                        log.changed.push((name, what.join(", ")));
                    }
                }
                _ => {
                    shared.registry().set_draining(srv.id);
                    coord.set_admin(b, &srv, Admin::Maint);
                    log.removed.push(format!("{}/{}", cfg.name, srv.name));
                    log.draining.push(Draining {
                        backend: b,
                        srv: srv.clone(),
                    });
                }
            }
        }
        for line in wanted.iter().filter(|s| !kept.contains(&s.name)) {
            let srv = shared.registry().add(line);
            log.added.push(format!("{}/{}", cfg.name, line.name));
            log.adds.push((b, srv));
        }
    }
    log
}

/// Applies to a kept server the settings its configuration line changed
/// since the running configuration (`before`: None for a server that came
/// from `add server`, whose line is all new); returns them, for the log
/// (empty: nothing changed).
fn apply_settings(
    coord: &mut Coordinator,
    b: usize,
    srv: &Arc<ServerShared>,
    before: Option<&config::Server>,
    line: &config::Server,
) -> Vec<String> {
    let changed = |f: fn(&config::Server) -> Option<u32>| before.is_none_or(|o| f(o) != f(line));
    let mut what = Vec::new();
    if changed(|s| Some(s.weight)) {
        srv.weight.store(line.weight, Ordering::Relaxed);
        srv.initial_weight.store(line.weight, Ordering::Relaxed);
        what.push(format!("weight {}", line.weight));
    }
    if changed(|s| s.maxconn) {
        let max = line.maxconn.unwrap_or(0);
        srv.maxconn.store(max, Ordering::Relaxed);
        what.push(format!("maxconn {max}"));
    }
    if !what.is_empty() {
        coord.capacity_changed(b);
    }
    if before.is_none_or(|o| o.disabled != line.disabled) {
        let (admin, word) = if line.disabled {
            (Admin::Maint, "disabled")
        } else {
            (Admin::Ready, "enabled")
        };
        coord.set_admin(b, srv, admin);
        what.push(word.to_string());
    }
    what
}

/// Settings only a restart changes keep their running values.
fn keep_restart_only(new: &mut Config, cur: &Config) {
    let (g, o) = (&mut new.global, &cur.global);
    g.nbthread = o.nbthread;
    g.maxconn = o.maxconn;
    g.bufsize = o.bufsize;
    g.ring_buffers = o.ring_buffers;
    g.ring_entries = o.ring_entries;
    g.stats_sockets = o.stats_sockets.clone();
    g.stats_timeout = o.stats_timeout;
    g.stats_maxconn = o.stats_maxconn;
    g.daemon = o.daemon;
    g.pidfile = o.pidfile.clone();
}

/// The log line's list of changes.
fn describe(p: &ProxyChanges, s: &ServerChanges) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(p.frontends_added.iter().map(|n| format!("+frontend '{n}'")));
    parts.extend(
        p.frontends_removed
            .iter()
            .map(|n| format!("-frontend '{n}'")),
    );
    parts.extend(p.backends_added.iter().map(|n| format!("+backend '{n}'")));
    parts.extend(p.backends_removed.iter().map(|n| format!("-backend '{n}'")));
    parts.extend(s.added.iter().map(|n| format!("+server '{n}'")));
    parts.extend(
        s.removed
            .iter()
            .map(|n| format!("-server '{n}' (draining)")),
    );
    parts.extend(
        s.changed
            .iter()
            .map(|(n, w)| format!("~server '{n}' ({w})")),
    );
    parts.extend(
        p.binds_added
            .iter()
            .map(|(f, on)| format!("+bind '{f}' {on}")),
    );
    parts.extend(
        p.binds_removed
            .iter()
            .map(|(f, on)| format!("-bind '{f}' {on}")),
    );
    if parts.is_empty() {
        "no proxy, server or bind changed".to_string()
    } else {
        parts.join(", ")
    }
}
