//! Running commands: the read-only ones here from `Runtime`, the others as
//! `Job`s for the executor thread (which owns the `Shards`), whose results
//! come back to `finish` for the reply. Replies are HAProxy's texts, with
//! or without the trailing newline exactly as HAProxy prints them (the
//! prompt's `\n` follows either way).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::command::{self, Command, Parsed, SetServer, SrvRef, WaitCond, strtol};
use super::conv::Conversation;
use super::format;
use super::ops::{NotRemovable, ServerId, SessionRow, Shards};
use super::view::{self, Missing, Proxy};
use crate::backend::Admin;
use crate::config;
use crate::runtime::{Current, Runtime};

/// HAProxy's refusal below a command's level.
pub const PERMISSION_DENIED: &str = "Permission denied\n";

/// An action for the executor thread.
#[derive(Debug, Clone)]
pub enum Job {
    AddServer(usize, config::Server),
    DelServer(ServerId),
    SetAdmin(ServerId, Admin),
    SetWeight(ServerId, u32),
    SetMaxconn(ServerId, u32),
    SetHealth(ServerId, bool),
    /// `show sess`, optionally one stream.
    Sessions(Option<u64>),
    ShutdownSession(u64),
    ShutdownServerSessions(ServerId),
    Removable(ServerId),
}

/// What a `Job` gave.
#[derive(Debug, Clone)]
pub enum JobResult {
    Unit(Result<(), String>),
    /// The streams, and the one `show sess` asked for, if any.
    Sessions(Option<u64>, Result<Vec<SessionRow>, String>),
    Shut(Result<bool, String>),
    Removable(Result<(), NotRemovable>),
}

/// Runs a job (on the executor thread).
pub fn perform(shards: &mut dyn Shards, job: &Job) -> JobResult {
    match job {
        Job::AddServer(b, s) => JobResult::Unit(shards.add_server(*b, s.clone())),
        Job::DelServer(id) => JobResult::Unit(shards.del_server(id)),
        Job::SetAdmin(id, a) => JobResult::Unit(shards.set_admin(id, *a)),
        Job::SetWeight(id, w) => JobResult::Unit(shards.set_weight(id, *w)),
        Job::SetMaxconn(id, m) => JobResult::Unit(shards.set_maxconn(id, *m)),
        Job::SetHealth(id, on) => JobResult::Unit(shards.set_health(id, *on)),
        Job::Sessions(target) => JobResult::Sessions(*target, shards.sessions()),
        Job::ShutdownSession(id) => JobResult::Shut(shards.shutdown_session(*id)),
        Job::ShutdownServerSessions(id) => JobResult::Unit(shards.shutdown_server_sessions(id)),
        Job::Removable(id) => JobResult::Removable(shards.removable(id)),
    }
}

/// A `wait` in progress.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub start: Instant,
    pub deadline: Instant,
    pub cond: WaitCond,
    /// When to evaluate the condition next.
    pub next_check: Instant,
}

impl Waiting {
    /// HAProxy's pacing: the next check after half the time elapsed so
    /// far, at most a tenth of the whole delay, never past the deadline.
    pub fn schedule(&mut self, now: Instant) {
        let total = self.deadline.saturating_duration_since(self.start);
        let elapsed = now.saturating_duration_since(self.start);
        let left = self.deadline.saturating_duration_since(now);
        let wait = (elapsed / 2 + Duration::from_millis(1))
            .min(total / 10)
            .min(left)
            .max(Duration::from_millis(1));
        self.next_check = now + wait;
    }
}

/// What running a command gives.
#[derive(Debug)]
pub enum Outcome {
    /// Print this, then the prompt.
    Text(String),
    /// Run this on the executor, then `finish` it.
    Job(Job),
    /// Start waiting.
    Wait(Waiting),
    /// Close without printing anything.
    Quit,
    /// Send the listening sockets on the client's socket, then close it.
    GetSocks,
}

/// The API's state for running commands.
pub struct Exec {
    pub rt: Arc<Runtime>,
    pub proxies: Vec<Proxy>,
    /// Where a reload publishes its snapshot: each command line runs on
    /// the latest (None: the one given, for tests).
    current: Option<Arc<Current>>,
}

fn text(s: impl Into<String>) -> Outcome {
    Outcome::Text(s.into())
}

/// HAProxy's `server_parse_weight_change_request`: `N` (0..=256) or `N%`
/// of the initial weight; a static algorithm only takes 0 or the initial.
pub fn parse_weight(s: &str, iweight: u32, dynamic: bool) -> Result<u32, String> {
    if s.is_empty() {
        return Err("Require <weight> or <weight%>.\n".to_string());
    }
    let Some((w, rest)) = strtol(s) else {
        return Err("Empty weight string empty or preceded by garbage".to_string());
    };
    let w = if rest == "%" {
        if w < 0 {
            return Err("Relative weight must be positive.\n".to_string());
        }
        (i64::from(iweight) * w.min(25600) / 100).min(256)
    } else if !(0..=256).contains(&w) {
        return Err("Absolute weight can only be between 0 and 256 inclusive.\n".to_string());
    } else if !rest.is_empty() {
        return Err("Trailing garbage in weight string".to_string());
    } else {
        w
    };
    let w = u32::try_from(w).unwrap_or(0);
    if w != 0 && w != iweight && !dynamic {
        return Err(
            "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n"
                .to_string(),
        );
    }
    Ok(w)
}

/// HAProxy's `server_parse_maxconn_change_request` (a negative value means
/// no limit here, where HAProxy would store it as is).
pub fn parse_maxconn(s: &str) -> Result<u32, String> {
    if s.is_empty() {
        return Err("Require <maxconn>.\n".to_string());
    }
    match strtol(s) {
        None => Err("maxconn string empty or preceded by garbage".to_string()),
        Some((_, rest)) if !rest.is_empty() => {
            Err("Trailing garbage in maxconn string".to_string())
        }
        Some((n, _)) => Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
    }
}

/// Characters a word of `add server` may hold: it is handed to the
/// configuration parser, whose quoting, `$` and `#` must not apply.
fn plain_word(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/[]%@,+".contains(c))
}

/// Parses `add server` arguments with the configuration's own server line
/// parser (HAProxy's `add server` takes server keywords): a one-server
/// backend in the backend's mode, addresses as IP literals only (no
/// resolver is called from the API thread). Default-server settings do not
/// apply (as with HAProxy 2.6's dynamic servers).
pub fn parse_added_server(
    name: &str,
    args: &[String],
    http: bool,
) -> Result<config::Server, String> {
    if args.is_empty() {
        return Err("'server' expects <name> and <addr>[:<port>] as arguments.".to_string());
    }
    if let Some(bad) = std::iter::once(name)
        .chain(args.iter().map(String::as_str))
        .find(|w| !plain_word(w))
    {
        return Err(format!("invalid character in argument '{bad}'."));
    }
    let mode = if http { "http" } else { "tcp" };
    let text = format!(
        "backend api-add-server\n    mode {mode}\n    server {name} {}\n",
        args.join(" ")
    );
    let no_env = |_: &str| None;
    let no_names = |host: &str, _: u16| -> Result<std::net::SocketAddr, String> {
        Err(format!(
            "host names are not supported by 'add server' ('{host}'): use an IP address"
        ))
    };
    match config::parse(&[("cli", &text)], &no_env, &no_names) {
        Ok(loaded) => loaded
            .config
            .backends
            .into_iter()
            .next()
            .and_then(|b| b.servers.into_iter().next())
            .ok_or_else(|| "'server' expects <name> and <addr>[:<port>] as arguments.".to_string()),
        Err(errors) => {
            let e = errors.into_iter().next().map(|e| e.msg).unwrap_or_default();
            let e = e.strip_prefix(&format!("server {name}: ")).unwrap_or(&e);
            // HAProxy's wording for the most common mistake.
            if let Some(kw) = e
                .strip_prefix("unknown keyword '")
                .and_then(|r| r.split('\'').next())
            {
                return Err(format!("unknown keyword '{kw}'."));
            }
            Err(format!("{e}."))
        }
    }
}

impl Exec {
    pub fn new(rt: Arc<Runtime>) -> Exec {
        let proxies = view::proxies(&rt.config);
        Exec {
            rt,
            proxies,
            current: None,
        }
    }

    /// An executor that follows the snapshots reloads publish.
    pub fn following(current: Arc<Current>) -> Exec {
        let mut exec = Exec::new(current.get());
        exec.current = Some(current);
        exec
    }

    /// Takes the latest snapshot if a reload published one.
    fn refresh(&mut self) {
        let Some(cur) = &self.current else {
            return;
        };
        let rt = cur.get();
        if rt.generation != self.rt.generation {
            self.proxies = view::proxies(&rt.config);
            self.rt = rt;
        }
    }

    /// Runs one command line for a client.
    pub fn run_line(&mut self, line: &[u8], conv: &mut Conversation) -> Outcome {
        self.refresh();
        let words = command::words(line);
        match command::parse(&words) {
            Parsed::Unknown(w) => text(command::usage(&w)),
            Parsed::Known { level, .. } if conv.level < level => text(PERMISSION_DENIED),
            Parsed::Known { cmd: Err(msg), .. } => text(msg),
            Parsed::Known { cmd: Ok(cmd), .. } => self.run(cmd, conv),
        }
    }

    /// Resolves a server the way `cli_find_server` does (one message for a
    /// missing backend or server).
    fn server(&self, r: &SrvRef) -> Result<ServerId, String> {
        view::find_server(&self.rt, &r.backend, &r.server).map_err(|_| "No such server.\n".into())
    }

    /// Runs a parsed command the client's level allows.
    pub fn run(&mut self, cmd: Command, conv: &mut Conversation) -> Outcome {
        let resolved = |r: Result<ServerId, String>, f: &dyn Fn(ServerId) -> Outcome| match r {
            Ok(id) => f(id),
            Err(msg) => text(msg),
        };
        match cmd {
            Command::Help(w) => {
                let mut args = vec!["help".to_string()];
                args.extend(w);
                text(command::usage(&args))
            }
            Command::Prompt(mode) => {
                conv.set_prompt(mode);
                text("")
            }
            Command::Quit => Outcome::Quit,
            // HAProxy's answer without `expose-fd listeners`.
            Command::GetSocks if !conv.expose_fd => text("Permission denied\n"),
            Command::GetSocks => Outcome::GetSocks,
            Command::ShowInfo => text(format::info(&view::info(&self.rt))),
            Command::ShowStat(q) => self.show_stat(&q),
            Command::ShowServersState(be) => self.servers_state(be.as_deref()),
            Command::ShowBackend => {
                let mut s = String::from("# name\n");
                for p in self.proxies.iter().filter(|p| p.be.is_some()) {
                    s.push_str(&p.name);
                    s.push('\n');
                }
                text(s)
            }
            Command::ShowSess(target) => Outcome::Job(Job::Sessions(target)),
            Command::ShowVersion => text(format!("{}\n", env!("CARGO_PKG_VERSION"))),
            Command::Table(action, args) => text(super::table::run(
                &self.rt,
                action,
                &args,
                conv.level,
                crate::shard::timer::now_ms(),
            )),
            Command::ShowCliLevel => text(format!("{}\n", conv.level.name())),
            Command::SetLevel(l) => {
                conv.level = l;
                text("")
            }
            Command::AddServer {
                backend,
                server,
                args,
            } => self.add_server(&backend, &server, &args),
            Command::DelServer(r) => match view::find_server(&self.rt, &r.backend, &r.server) {
                Ok(id) => Outcome::Job(Job::DelServer(id)),
                Err(Missing::Backend) => text("No such backend."),
                Err(Missing::Server) => text("No such server."),
            },
            Command::SetServer(r, action) => {
                let id = match self.server(&r) {
                    Ok(id) => id,
                    Err(msg) => return text(msg),
                };
                match action {
                    Err(msg) => text(msg),
                    Ok(SetServer::State(a)) => Outcome::Job(Job::SetAdmin(id, a)),
                    Ok(SetServer::Weight(w)) => self.set_weight(id, &w),
                }
            }
            Command::SetAdmin(r, a) => {
                resolved(self.server(&r), &|id| Outcome::Job(Job::SetAdmin(id, a)))
            }
            Command::SetWeight(r, w) => match self.server(&r) {
                Ok(id) => self.set_weight(id, &w),
                Err(msg) => text(msg),
            },
            Command::GetWeight(r) => match view::find_server(&self.rt, &r.backend, &r.server) {
                Ok(id) => {
                    let uw = id.server.weight.load(std::sync::atomic::Ordering::Relaxed);
                    text(format!(
                        "{uw} (initial {})\n",
                        id.server.initial_weight.load(Ordering::Relaxed)
                    ))
                }
                Err(Missing::Backend) => text("No such backend.\n"),
                Err(Missing::Server) => text("No such server.\n"),
            },
            Command::SetMaxconn(r, v) => match self.server(&r) {
                Ok(id) => match parse_maxconn(&v) {
                    Ok(n) => Outcome::Job(Job::SetMaxconn(id, n)),
                    Err(msg) => text(msg),
                },
                Err(msg) => text(msg),
            },
            Command::SetHealth(r, on) => {
                resolved(self.server(&r), &|id| Outcome::Job(Job::SetHealth(id, on)))
            }
            Command::ShutdownServerSessions(r) => resolved(self.server(&r), &|id| {
                Outcome::Job(Job::ShutdownServerSessions(id))
            }),
            Command::ShutdownSession(id) => Outcome::Job(Job::ShutdownSession(id)),
            Command::Wait { delay, cond } => {
                let now = Instant::now();
                Outcome::Wait(Waiting {
                    start: now,
                    deadline: now + delay,
                    cond,
                    next_check: now,
                })
            }
        }
    }

    fn set_weight(&self, id: ServerId, w: &str) -> Outcome {
        let iweight = id.server.initial_weight.load(Ordering::Relaxed);
        let dynamic = self.rt.config.backends[id.backend].balance.is_dynamic();
        match parse_weight(w, iweight, dynamic) {
            Ok(w) => Outcome::Job(Job::SetWeight(id, w)),
            Err(msg) => text(msg),
        }
    }

    fn add_server(&self, backend: &str, server: &str, args: &[String]) -> Outcome {
        let Some(b) = view::find_backend(&self.rt, backend) else {
            return text("No such backend.");
        };
        let be = &self.rt.config.backends[b];
        if !be.balance.is_dynamic() {
            return text("Backend must use a dynamic load balancing to support dynamic servers.");
        }
        let http = be.mode == config::Mode::Http;
        // A name already taken is refused by `Shards::add_server`, under
        // the lock that makes the check and the insertion one step.
        match parse_added_server(server, args, http) {
            Ok(cfg) => Outcome::Job(Job::AddServer(b, cfg)),
            Err(e) => text(e),
        }
    }

    /// The reply for a job's result.
    pub fn finish(&self, job: &Job, res: JobResult) -> String {
        let with_nl = |r: Result<(), String>| match r {
            Ok(()) => String::new(),
            Err(e) => format!("{e}\n"),
        };
        match (job, res) {
            (Job::AddServer(..), JobResult::Unit(r)) => match r {
                Ok(()) => "New server registered.\n".to_string(),
                Err(e) => e,
            },
            (Job::DelServer(_), JobResult::Unit(r)) => match r {
                Ok(()) => "Server deleted.".to_string(),
                Err(e) => e,
            },
            (_, JobResult::Unit(r)) => with_nl(r),
            (_, JobResult::Sessions(target, r)) => match r {
                Ok(rows) => self.sessions(&rows, target),
                Err(e) => format!("{e}\n"),
            },
            (_, JobResult::Shut(r)) => match r {
                Ok(true) => String::new(),
                Ok(false) => "No such session (use 'show sess').\n".to_string(),
                Err(e) => format!("{e}\n"),
            },
            // A `wait`'s question: the API thread hands its answer to
            // `wait_answer`, never here.
            (_, JobResult::Removable(_)) => String::new(),
        }
    }

    fn sessions(&self, rows: &[SessionRow], target: Option<u64>) -> String {
        let cfg = &self.rt.config;
        let line = |r: &SessionRow| {
            let fe = cfg
                .frontends
                .get(r.frontend)
                .map_or("?", |f| f.name.as_str());
            let be = r
                .backend
                .and_then(|b| cfg.backends.get(b))
                .map(|b| b.name.as_str());
            format::sess_line(r, fe, be)
        };
        match target {
            None => rows.iter().map(line).collect(),
            Some(id) => rows
                .iter()
                .find(|r| r.id == id)
                .map_or_else(|| "Session not found.\n".to_string(), line),
        }
    }

    /// `show stat` with HAProxy's filters.
    fn show_stat(&self, q: &command::StatQuery) -> Outcome {
        let mut iid = -1;
        let (mut ty, mut sid) = (-1i64, -1i64);
        if let Some((px, t, s)) = &q.bound {
            iid = match self.proxies.iter().find(|p| p.name == *px) {
                Some(p) => i64::from(p.iid),
                None => command::atoi(px),
            };
            if iid == 0 {
                return text("No such proxy.\n");
            }
            (ty, sid) = (*t, *s);
        }
        text(view::stat_csv(
            &self.rt,
            &self.proxies,
            &view::StatFilter {
                iid,
                types: ty,
                sid,
                hide_maint: q.hide_maint,
                hide_down: q.hide_down,
            },
        ))
    }

    fn servers_state(&self, backend: Option<&str>) -> Outcome {
        let only = match backend {
            Some(name) => match view::find_backend(&self.rt, name) {
                Some(b) => Some(b),
                None => return text("Can't find backend.\n"),
            },
            None => None,
        };
        let mut out = String::from(format::SERVERS_STATE_HEADER);
        for p in &self.proxies {
            let Some(b) = p.be.filter(|b| only.is_none_or(|o| o == *b)) else {
                continue;
            };
            for (_, server) in self.rt.backends[b].servers_snapshot() {
                let id = ServerId { backend: b, server };
                let s = view::srv_state(&self.rt, p, &id);
                out.push_str(&format::servers_state_row(&s));
            }
        }
        text(out)
    }

    /// The next step of a `wait`: its final reply, more sleep, or a
    /// question for the executor.
    pub fn wait_step(&self, w: &Waiting, now: Instant) -> WaitStep {
        match &w.cond {
            WaitCond::None if now >= w.deadline => WaitStep::Done("Done.\n".to_string()),
            WaitCond::None => WaitStep::Sleep,
            WaitCond::SrvRemovable(r) => match view::find_server(&self.rt, &r.backend, &r.server) {
                Ok(id) => WaitStep::Ask(Job::Removable(id)),
                Err(Missing::Backend) => WaitStep::Done("No such backend.".to_string()),
                Err(Missing::Server) => WaitStep::Done("No such server.".to_string()),
            },
        }
    }
}

/// What a `wait` does next.
#[derive(Debug)]
pub enum WaitStep {
    /// Finished: print this.
    Done(String),
    /// Nothing to check before the deadline.
    Sleep,
    /// Ask the executor whether the server is removable.
    Ask(Job),
}

/// Folds the executor's answer into a `wait srv-removable`: its final reply
/// (`Done.`, the failure, `Wait delay expired.`), or `None` to check again
/// later (rescheduled).
pub fn wait_answer(w: &mut Waiting, res: Result<(), NotRemovable>, now: Instant) -> Option<String> {
    match res {
        Ok(()) => Some("Done.\n".to_string()),
        Err(NotRemovable::Never(msg)) => Some(msg),
        Err(NotRemovable::Yet(_)) if now >= w.deadline => Some("Wait delay expired.\n".to_string()),
        Err(NotRemovable::Yet(_)) => {
            w.schedule(now);
            None
        }
    }
}
