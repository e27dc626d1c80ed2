//! What a reload changes, computed without I/O.
//!
//! Frontends and backends are matched by name. Each name keeps one *slot*
//! (its index in `Config::frontends` / `Config::backends`) for the life of
//! the process, so an index held by a session, a stream, a listener or a
//! shard's server table means the same proxy in every snapshot. A proxy a
//! reload removes stays at its slot, `retired`: its configuration is the
//! last one it had, a retired frontend has no bind, and no frontend routes
//! to a retired backend. The same name coming back later takes its slot
//! again.

use super::{Backend, Bind, Config, Frontend, Global, ListenOn};

/// Which name owns each slot (append-only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots {
    pub frontends: Vec<String>,
    pub backends: Vec<String>,
}

impl Slots {
    /// The slots of the configuration the process started with (its
    /// indices as parsed).
    pub fn of(config: &Config) -> Slots {
        Slots {
            frontends: config.frontends.iter().map(|f| f.name.clone()).collect(),
            backends: config.backends.iter().map(|b| b.name.clone()).collect(),
        }
    }
}

/// Slot of `name`, given one if it has none yet.
fn slot_of(names: &mut Vec<String>, name: &str) -> usize {
    match names.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            names.push(name.to_string());
            names.len() - 1
        }
    }
}

/// Places each item of `new` at its slot; a slot `new` does not fill keeps
/// `prev`'s item, passed through `retire`. Returns the items by slot and
/// the slot of each item of `new`.
fn by_slot<T>(
    new: Vec<T>,
    prev: &[T],
    names: &mut Vec<String>,
    name: impl Fn(&T) -> &str,
    retire: impl Fn(&T) -> T,
) -> (Vec<T>, Vec<usize>) {
    let slots: Vec<usize> = new.iter().map(|x| slot_of(names, name(x))).collect();
    let mut placed: Vec<Option<T>> = (0..names.len()).map(|_| None).collect();
    for (x, &s) in new.into_iter().zip(&slots) {
        placed[s] = Some(x);
    }
    let out = placed
        .into_iter()
        .enumerate()
        // A slot is either filled by `new` or existed before (slots are
        // only created for names of `new`), so `prev` has it.
        .map(|(i, x)| x.unwrap_or_else(|| retire(&prev[i])))
        .collect();
    (out, slots)
}

/// Renumbers `new` (as parsed) so that every frontend and backend sits at
/// its slot, `prev` (the running configuration, already renumbered)
/// filling the slots of the removed ones. Backend indices inside frontends
/// are rewritten to slots.
pub fn renumber(new: Config, prev: &Config, slots: &mut Slots) -> Config {
    let Config {
        global,
        frontends,
        backends,
        tables,
    } = new;
    let (backends, be_slot) = by_slot(
        backends,
        &prev.backends,
        &mut slots.backends,
        |b| &b.name,
        |b| Backend {
            retired: true,
            ..b.clone()
        },
    );
    let frontends: Vec<Frontend> = frontends
        .into_iter()
        .map(|mut f| {
            f.default_backend = f.default_backend.map(|b| be_slot[b]);
            f.own_backend = f.own_backend.map(|b| be_slot[b]);
            for u in &mut f.use_backends {
                u.backend = be_slot[u.backend];
            }
            f
        })
        .collect();
    let (frontends, _) = by_slot(
        frontends,
        &prev.frontends,
        &mut slots.frontends,
        |f| &f.name,
        |f| Frontend {
            retired: true,
            binds: Vec::new(),
            ..f.clone()
        },
    );
    // Tables are not slots: each snapshot's rules index its own list (a
    // tracked entry holds its table itself, whatever the numbering).
    Config {
        global,
        frontends,
        backends,
        tables,
    }
}

/// A bind's identity across reloads: the same frontend slot listening on
/// the same address (or inherited fd) keeps its sockets.
pub fn same_bind(a: &Bind, b: &Bind) -> bool {
    a.on == b.on && a.v6only == b.v6only
}

/// What a reload changes in the proxies and binds (servers are compared
/// with the running registry by the control plane, not here).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProxyChanges {
    pub frontends_added: Vec<String>,
    pub frontends_removed: Vec<String>,
    pub backends_added: Vec<String>,
    pub backends_removed: Vec<String>,
    /// (frontend, address) of each bind opened.
    pub binds_added: Vec<(String, ListenOn)>,
    /// (frontend, address) of each bind closed.
    pub binds_removed: Vec<(String, ListenOn)>,
}

/// Compares two renumbered configurations slot by slot.
pub fn proxy_changes(prev: &Config, next: &Config) -> ProxyChanges {
    let mut c = ProxyChanges::default();
    let live = |retired: bool| !retired;
    for (i, f) in next.frontends.iter().enumerate() {
        let before = prev.frontends.get(i).filter(|p| live(p.retired));
        match (before, live(f.retired)) {
            (None, true) => c.frontends_added.push(f.name.clone()),
            (Some(p), false) => c.frontends_removed.push(p.name.clone()),
            _ => {}
        }
        let old_binds: &[Bind] = before.map_or(&[], |p| &p.binds);
        for b in &f.binds {
            if !old_binds.iter().any(|o| same_bind(o, b)) {
                c.binds_added.push((f.name.clone(), b.on));
            }
        }
        for o in old_binds {
            if !f.binds.iter().any(|b| same_bind(o, b)) {
                c.binds_removed.push((f.name.clone(), o.on));
            }
        }
    }
    for (i, b) in next.backends.iter().enumerate() {
        let before = prev.backends.get(i).filter(|p| live(p.retired));
        match (before, live(b.retired)) {
            (None, true) => c.backends_added.push(b.name.clone()),
            (Some(p), false) => c.backends_removed.push(p.name.clone()),
            _ => {}
        }
    }
    c
}

/// The global settings a reload cannot change (they size the shards or
/// were applied once at startup), named as in the configuration.
pub fn restart_only(prev: &Global, next: &Global) -> Vec<&'static str> {
    let (p, n) = (prev, next);
    [
        ("nbthread", p.nbthread != n.nbthread),
        ("maxconn", p.maxconn != n.maxconn),
        ("tune.bufsize", p.bufsize != n.bufsize),
        ("tune.ring.buffers", p.ring_buffers != n.ring_buffers),
        ("tune.ring.entries", p.ring_entries != n.ring_entries),
        ("stats socket", p.stats_sockets != n.stats_sockets),
        ("stats timeout", p.stats_timeout != n.stats_timeout),
        ("stats maxconn", p.stats_maxconn != n.stats_maxconn),
        ("daemon", p.daemon != n.daemon),
        ("pidfile", p.pidfile != n.pidfile),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}
