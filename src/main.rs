//! `ringproxy`: command line, startup, then the control thread.
//!
//! Startup order matters: parse and validate the configuration, open every
//! listening socket (so a bind error stops us with the bind's file:line
//! before anything runs), daemonize if asked (before any thread exists),
//! block the control signals, start one shard per core, wait until every
//! shard has its ring and listeners armed, then hand the main thread to
//! `Control`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use argh::FromArgs;
use nix::sys::signal::Signal;

use ringproxy::config;
use ringproxy::control::reload::Reloader;
use ringproxy::control::{self, Control};
use ringproxy::listener;
use ringproxy::mesh::Mesh;
use ringproxy::runtime::{Current, Runtime};
use ringproxy::shard::{Shard, ShardStart, sys};

/// ringproxy: a TCP and HTTP/1.1 load balancer on io_uring shards, with
/// HAProxy's configuration language.
#[derive(FromArgs)]
struct Args {
    /// configuration file (repeatable, read in order; a directory reads its
    /// *.cfg files)
    #[argh(option, short = 'f')]
    file: Vec<PathBuf>,
    /// check the configuration and exit (0 if valid)
    #[argh(switch, short = 'c')]
    check: bool,
    /// debug mode: stay in the foreground and log at debug level
    #[argh(switch, short = 'd')]
    debug: bool,
    /// start as a daemon (in the background)
    #[argh(switch, short = 'D')]
    daemon: bool,
    /// write the process id to this file
    #[argh(option, short = 'p')]
    pidfile: Option<PathBuf>,
    /// quiet: only warnings and errors are logged
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// print the version and exit (-vv: with build details)
    #[argh(switch, short = 'v')]
    version: bool,
    /// print the version with build details and exit
    #[argh(switch)]
    build_info: bool,
    /// take the listening sockets of the process whose runtime API (with
    /// `expose-fd listeners`) is at this UNIX socket (binary upgrade)
    #[argh(option, short = 'x')]
    xfer: Option<PathBuf>,
    /// once ready, stop these processes gracefully (SIGUSR1); HAProxy's
    /// `-sf PID...`
    #[argh(option)]
    sf: Vec<i32>,
    /// once ready, stop these processes at once (SIGTERM); HAProxy's
    /// `-st PID...`
    #[argh(option)]
    st: Vec<i32>,
}

/// HAProxy's spellings argh cannot parse: `-vv`, and `-sf`/`-st` followed
/// by any number of pids.
fn haproxy_argv(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pids_for: Option<&'static str> = None;
    for a in args {
        if let Some(flag) = pids_for {
            if a.parse::<i32>().is_ok() {
                out.push(flag.to_string());
                out.push(a);
                continue;
            }
            pids_for = None;
        }
        match a.as_str() {
            "-vv" => out.push("--build-info".into()),
            "-sf" => pids_for = Some("--sf"),
            "-st" => pids_for = Some("--st"),
            _ => out.push(a),
        }
    }
    out
}

fn main() -> ExitCode {
    let argv = haproxy_argv(std::env::args());
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let args = match Args::from_args(&[strs[0]], &strs[1..]) {
        Ok(a) => a,
        Err(early) => {
            if early.status.is_ok() {
                println!("{}", early.output);
                return ExitCode::SUCCESS;
            }
            eprintln!("{}", early.output);
            return ExitCode::from(1);
        }
    };
    if args.version || args.build_info {
        print_version(args.build_info);
        return ExitCode::SUCCESS;
    }
    let level = if args.debug {
        "debug"
    } else if args.quiet {
        "warn"
    } else {
        "info"
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    ExitCode::from(run(args) as u8)
}

fn print_version(details: bool) {
    println!("ringproxy version {}", env!("CARGO_PKG_VERSION"));
    if details {
        println!(
            "Build options: io_uring shards (SINGLE_ISSUER, DEFER_TASKRUN when available), provided buffer rings, multishot accept, MSG_RING wakeups"
        );
        println!("Running on: {}", kernel_release());
    }
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| {
            format!(
                "{} {}",
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy()
            )
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn run(args: Args) -> i32 {
    if args.file.is_empty() {
        eprintln!("No configuration file: use -f FILE (see --help).");
        return 1;
    }
    let loaded = match config::load(&args.file) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("Fatal errors found in configuration.");
            return 1;
        }
    };
    for w in &loaded.warnings {
        log::warn!("{w}");
    }
    if args.check {
        println!("Configuration file is valid");
        return 0;
    }
    let cfg = loaded.config;

    let cpus = sys::allowed_cpus();
    let nshards = cfg
        .global
        .nbthread
        .unwrap_or(cpus.len().max(1))
        .clamp(1, 64);
    let nofile = sys::raise_nofile();
    // HAProxy derives the default maxconn from the fd limit; each session
    // needs two fds, and we keep some for listeners and logs.
    let maxconn = cfg
        .global
        .maxconn
        .unwrap_or_else(|| (nofile.saturating_sub(64) / 2).clamp(1, u32::MAX as u64) as u32);

    // Binary upgrade: the old process's sockets first, so that no SYN
    // finds a socket nobody accepts on. Without them (no -x, or it
    // failed), new SO_REUSEPORT sockets join the old ones.
    let mut received = match &args.xfer {
        None => Vec::new(),
        Some(path) => match ringproxy::xfer::get_sockets(path) {
            Ok(v) => {
                log::info!(
                    "{} listening sockets received from {}",
                    v.len(),
                    path.display()
                );
                v
            }
            Err(e) => {
                log::warn!(
                    "cannot get the listening sockets from {}: {e}; binding new ones",
                    path.display()
                );
                Vec::new()
            }
        },
    };
    let mut listeners = match listener::open_all(&cfg, nshards, &mut received) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    // What no bind of ours took is closed (the old process still has it).
    drop(received);
    let exported = Arc::new(listener::Exported::default());
    let nbinds = listeners.first().map_or(0, Vec::len);
    for k in 0..nbinds {
        exported.add(k, listeners.iter().map(|per_shard| per_shard[k].fd));
    }
    // Runtime API sockets: bound now so that a bind error stops startup with
    // the line's file:line; served by the API thread started below.
    // A process taking over may replace the old one's live API socket.
    let upgrading = args.xfer.is_some() || !args.sf.is_empty() || !args.st.is_empty();
    let api_sockets = match ringproxy::api::bind_all(&cfg.global, upgrading) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };

    if args.daemon || cfg.global.daemon {
        // No thread exists yet, so fork is safe here.
        if let Err(e) = nix::unistd::daemon(true, false) {
            eprintln!("cannot daemonize: {e}");
            return 1;
        }
    }
    let pidfile = args
        .pidfile
        .clone()
        .or(cfg.global.pidfile.clone().map(PathBuf::from));
    if let Some(p) = &pidfile
        && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
    {
        log::error!("cannot write pidfile {}: {e}", p.display());
        return 1;
    }
    if let Err(e) = control::block_signals() {
        log::error!("cannot block signals: {e}");
        return 1;
    }

    // Reads the time zone once, before any shard formats a log date.
    ringproxy::accesslog::clock::init();
    let rt = Arc::new(Runtime::new(cfg, nshards, maxconn));
    let current = Arc::new(Current::new(rt.clone()));
    let (mesh, inboxes) = Mesh::new(nshards);
    let mesh = Arc::new(mesh);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let mut handles = Vec::with_capacity(nshards);
    for (id, inbox) in inboxes.into_iter().enumerate() {
        let start = ShardStart {
            id,
            cpu: (nshards <= cpus.len()).then(|| cpus[id]),
            rt: rt.clone(),
            mesh: mesh.clone(),
            inbox,
            listeners: std::mem::take(&mut listeners[id]),
        };
        let tx = ready_tx.clone();
        let h = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || Shard::run(start, tx));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                log::error!("cannot start shard {id}: {e}");
                return 1;
            }
        }
    }
    drop(ready_tx);
    let mut control = match Control::new(current.clone(), mesh.clone(), handles) {
        Ok(c) => c,
        Err(e) => {
            log::error!("cannot create the control ring: {e}");
            return 1;
        }
    };
    let mut failed = false;
    for _ in 0..nshards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                log::error!("{e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    if failed {
        log::error!(
            "startup failed (is io_uring allowed? Docker's default seccomp profile blocks it)"
        );
        return control.abort();
    }
    let coord = match ringproxy::mesh::coord::Coordinator::new(current.clone(), mesh.clone()) {
        Ok(c) => Arc::new(std::sync::Mutex::new(c)),
        Err(e) => {
            log::error!("cannot create the coordinator's ring: {e}");
            return control.abort();
        }
    };
    let shards_api = Box::new(ringproxy::control::shards::ShardOps::new(
        coord.clone(),
        control.checker.link(),
    ));
    control.set_reloader(Reloader::new(
        args.file.clone(),
        current.clone(),
        coord,
        control.checker.link(),
        exported.clone(),
    ));
    let api = match ringproxy::api::start(api_sockets, current.clone(), shards_api, exported) {
        Ok(a) => a,
        Err(e) => {
            log::error!("cannot start the runtime API thread: {e}");
            return control.abort();
        }
    };
    log::info!(
        "ringproxy ready: {nshards} shards, maxconn {maxconn}, {} frontends, {} backends",
        rt.config.frontends.len(),
        rt.config.backends.len()
    );
    for (pids, sig) in [(&args.sf, Signal::SIGUSR1), (&args.st, Signal::SIGTERM)] {
        for &pid in pids {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                Ok(()) => log::info!("sent {sig} to the old process {pid}"),
                Err(e) => log::warn!("cannot signal the old process {pid}: {e}"),
            }
        }
    }
    control.set_predecessors(args.sf.iter().chain(&args.st).copied().collect());
    let code = control.run();
    api.stop();
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    code
}
