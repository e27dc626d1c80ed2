//! `ringload`: the load generator bundled with ringproxy, used by the bench
//! scripts to compare ringproxy with HAProxy and nginx.
//!
//! ```text
//! ringload http --url http://HOST:PORT/PATH [-c CONNS=50] [-t THREADS=1]
//!               [-d DURATION=10s | -n REQUESTS] [--pipeline N=1] [--close]
//!               [--rate R_PER_S] [--timeout 5s] [--warmup 0s]
//!               [--header "Name: value"]... [--json FILE] [--cpu 0,1] [--quiet]
//! ringload tcp  --addr HOST:PORT [-c CONNS=1] [-t THREADS=1] [-d DURATION=10s]
//!               [--direction up|down|both] [--chunk 65536] [--timeout 5s]
//!               [--json FILE] [--cpu LIST] [--quiet]
//! ringload bulk-server --listen HOST:PORT [-t THREADS=1] [--cpu LIST]
//! ringload idle --url http://HOST:PORT/PATH -c 10000 [--hold 10s]
//!               [--ready-file FILE] [--json FILE] [--concurrency 500]
//!               [--timeout 5s] [--quiet]
//! ```
//!
//! Output: a table on stdout (unless `--quiet`) and, with `--json FILE`, one
//! JSON object (keys in `report::json`). Exit code: 0 when the run completed
//! (even with counted errors), 1 for usage errors or when not a single
//! connection could be made, 2 for an internal failure. SIGINT/SIGTERM end a
//! run early, and it is still reported.
//!
//! What the figures mean:
//! - `requests`: complete responses received while measuring, whatever
//!   their status (as wrk counts them); those outside 200..=399 are also
//!   counted as `status` errors. With `-n`, exactly that many.
//! - `duration_s`: the measured time (after `--warmup`); with `-n`, until
//!   the last response. Rates are per second of it; MB are 10^6 bytes.
//! - Latency (microseconds in JSON): closed loop, from the moment the request
//!   was sent; `--rate`, from its intended send time (coordinated omission
//!   corrected, as wrk2); `--close`, from the start of the connect.
//! - Errors: `connect` (refused or failed; retried after 10 ms), `read`
//!   (error, reset, EOF inside a response or before the response to a sent
//!   request, unparsable response), `write`, `timeout` (a busy connection
//!   with no progress for `--timeout`), `status`. A connection with an error
//!   is closed and reopened. A server closing a keep-alive connection
//!   between responses, or after `Connection: close`, is not an error.
//! - A run in which no connection was ever established within
//!   max(--timeout, 1s) gives up early.
//!
//! Modules: `engine` (http load), `tcp` (bulk client and server), `idle`
//! (many silent connections), `http` (URL, request, response parser),
//! `report` (stats, table, JSON), `sys` (syscalls), `util` (parsers, CPU
//! pinning, signals).

mod engine;
mod http;
mod idle;
mod report;
mod sys;
mod tcp;
mod util;

use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;

use report::{RunInfo, Stats};
use util::{parse_cpu_list, parse_duration};

/// ringload: HTTP/1.1 and TCP load generator (epoll, one event loop per thread).
#[derive(FromArgs)]
struct Cli {
    #[argh(subcommand)]
    cmd: Cmd,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Cmd {
    Http(HttpArgs),
    Tcp(TcpArgs),
    BulkServer(BulkServerArgs),
    Idle(IdleArgs),
}

/// HTTP/1.1 load: closed loop (as fast as possible) or fixed rate (--rate).
#[derive(FromArgs)]
#[argh(subcommand, name = "http")]
struct HttpArgs {
    /// target, http://HOST[:PORT]/PATH
    #[argh(option)]
    url: String,
    /// connections (default 50)
    #[argh(option, short = 'c', default = "50")]
    connections: usize,
    /// worker threads, each with its own event loop (default 1)
    #[argh(option, short = 't', default = "1")]
    threads: usize,
    /// run time, e.g. 500ms, 5s, 1m (default 10s unless -n is given)
    #[argh(option, short = 'd', from_str_fn(parse_duration))]
    duration: Option<Duration>,
    /// total requests across all connections (stops at whichever of -d and
    /// -n comes first)
    #[argh(option, short = 'n')]
    requests: Option<u64>,
    /// requests outstanding per connection (default 1)
    #[argh(option, default = "1")]
    pipeline: usize,
    /// one connection per request (sends Connection: close)
    #[argh(switch)]
    close: bool,
    /// fixed total rate in requests/s (open loop, latency from the intended
    /// send time)
    #[argh(option)]
    rate: Option<f64>,
    /// a busy connection with no progress for this long is an error
    /// (default 5s)
    #[argh(
        option,
        from_str_fn(parse_duration),
        default = "Duration::from_secs(5)"
    )]
    timeout: Duration,
    /// run this long first without recording (default 0s)
    #[argh(option, from_str_fn(parse_duration), default = "Duration::ZERO")]
    warmup: Duration,
    /// extra request header "Name: value" (repeatable)
    #[argh(option)]
    header: Vec<String>,
    /// write the JSON report to this file
    #[argh(option)]
    json: Option<String>,
    /// CPUs to pin worker threads to, e.g. 0,1 or 2-3 (thread i on the
    /// i-th, cycling)
    #[argh(option, from_str_fn(parse_cpu_list))]
    cpu: Option<Vec<usize>>,
    /// no table on stdout
    #[argh(switch)]
    quiet: bool,
}

/// Raw TCP bulk transfer against `ringload bulk-server`: MB/s each way.
#[derive(FromArgs)]
#[argh(subcommand, name = "tcp")]
struct TcpArgs {
    /// target HOST:PORT
    #[argh(option)]
    addr: String,
    /// connections (default 1)
    #[argh(option, short = 'c', default = "1")]
    connections: usize,
    /// worker threads (default 1)
    #[argh(option, short = 't', default = "1")]
    threads: usize,
    /// run time (default 10s)
    #[argh(
        option,
        short = 'd',
        from_str_fn(parse_duration),
        default = "Duration::from_secs(10)"
    )]
    duration: Duration,
    /// up (client writes), down (client reads) or both (default both)
    #[argh(option, default = "String::from(\"both\")")]
    direction: String,
    /// bytes per read and per write (default 65536)
    #[argh(option, default = "65536")]
    chunk: usize,
    /// a connection with no progress for this long is an error (default 5s)
    #[argh(
        option,
        from_str_fn(parse_duration),
        default = "Duration::from_secs(5)"
    )]
    timeout: Duration,
    /// write the JSON report to this file
    #[argh(option)]
    json: Option<String>,
    /// CPUs to pin worker threads to
    #[argh(option, from_str_fn(parse_cpu_list))]
    cpu: Option<Vec<usize>>,
    /// no table on stdout
    #[argh(switch)]
    quiet: bool,
}

/// Peer for `tcp`: per connection, discards everything it reads and writes
/// an endless stream. Prints "listening on ADDR", runs until killed.
#[derive(FromArgs)]
#[argh(subcommand, name = "bulk-server")]
struct BulkServerArgs {
    /// address to listen on, HOST:PORT (port 0 picks one)
    #[argh(option)]
    listen: String,
    /// worker threads, each with its own SO_REUSEPORT listener (default 1)
    #[argh(option, short = 't', default = "1")]
    threads: usize,
    /// bytes per read and per write (default 262144)
    #[argh(option, default = "262144")]
    chunk: usize,
    /// CPUs to pin worker threads to
    #[argh(option, from_str_fn(parse_cpu_list))]
    cpu: Option<Vec<usize>>,
}

/// Opens N keep-alive connections, one request each, then holds them open
/// and silent (for measuring a proxy's memory per connection).
#[derive(FromArgs)]
#[argh(subcommand, name = "idle")]
struct IdleArgs {
    /// target, http://HOST[:PORT]/PATH
    #[argh(option)]
    url: String,
    /// connections to open
    #[argh(option, short = 'c')]
    connections: usize,
    /// how long to hold them once all are open (default 10s)
    #[argh(
        option,
        from_str_fn(parse_duration),
        default = "Duration::from_secs(10)"
    )]
    hold: Duration,
    /// file written with the number of connections established, once all
    /// are open
    #[argh(option)]
    ready_file: Option<String>,
    /// connects in progress at once (default 500)
    #[argh(option, default = "500")]
    concurrency: usize,
    /// a connection attempt with no progress for this long fails (default 5s)
    #[argh(
        option,
        from_str_fn(parse_duration),
        default = "Duration::from_secs(5)"
    )]
    timeout: Duration,
    /// extra request header "Name: value" (repeatable)
    #[argh(option)]
    header: Vec<String>,
    /// write the JSON report to this file
    #[argh(option)]
    json: Option<String>,
    /// CPU to pin to
    #[argh(option, from_str_fn(parse_cpu_list))]
    cpu: Option<Vec<usize>>,
    /// no table on stdout
    #[argh(switch)]
    quiet: bool,
}

/// Why a command did not complete.
enum Failure {
    /// Bad arguments: exit 1.
    Usage(String),
    /// Something broke: exit 2.
    Internal(String),
}

/// A completed run: its report, and whether any connection was made.
struct Done {
    info: RunInfo,
    stats: Stats,
    connected: bool,
    json: Option<String>,
    quiet: bool,
}

fn main() -> ExitCode {
    env_logger::init();
    let cli: Cli = argh::from_env();
    let result = match cli.cmd {
        Cmd::Http(a) => http_cmd(a),
        Cmd::Tcp(a) => tcp_cmd(a),
        Cmd::Idle(a) => idle_cmd(a),
        Cmd::BulkServer(a) => {
            return match bulk_server_cmd(a) {
                Ok(()) => ExitCode::SUCCESS,
                Err(f) => fail_exit(f),
            };
        }
    };
    match result {
        Ok(done) => finish(done),
        Err(f) => fail_exit(f),
    }
}

fn fail_exit(f: Failure) -> ExitCode {
    match f {
        Failure::Usage(m) => {
            eprintln!("ringload: {m}");
            ExitCode::from(1)
        }
        Failure::Internal(m) => {
            eprintln!("ringload: internal error: {m}");
            ExitCode::from(2)
        }
    }
}

/// Prints and writes the report; the exit code of a completed run.
fn finish(done: Done) -> ExitCode {
    if !done.quiet {
        print!("{}", report::table(&done.info, &done.stats));
    }
    if let Some(path) = &done.json
        && let Err(e) = std::fs::write(path, report::json(&done.info, &done.stats))
    {
        eprintln!("ringload: writing {path}: {e}");
        return ExitCode::from(2);
    }
    if done.connected {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "ringload: no connection could be made to {}",
            done.info.target
        );
        ExitCode::from(1)
    }
}

fn http_cmd(a: HttpArgs) -> Result<Done, Failure> {
    let usage = Failure::Usage;
    let url = http::parse_url(&a.url).map_err(usage)?;
    if a.connections == 0 || a.threads == 0 {
        return Err(usage("-c and -t must be at least 1".into()));
    }
    if a.pipeline == 0 || a.pipeline > 1024 {
        return Err(usage("--pipeline must be between 1 and 1024".into()));
    }
    if a.close && a.pipeline > 1 {
        return Err(usage(
            "--pipeline does not apply to --close (one request per connection)".into(),
        ));
    }
    if let Some(r) = a.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err(usage(
            "--rate must be a positive number of requests per second".into(),
        ));
    }
    if a.requests == Some(0) {
        return Err(usage("-n must be at least 1".into()));
    }
    if a.timeout.is_zero() {
        return Err(usage("--timeout must be positive".into()));
    }
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(usage("-d must be positive".into()));
    }
    let duration = match (a.duration, a.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let request = http::build_request(&url, &a.header, a.close).map_err(usage)?;
    let addr = http::resolve(&url.host, url.port).map_err(usage)?;
    let threads = a.threads.min(a.connections);
    util::raise_nofile(a.connections as u64 + 64);
    util::install_stop_handler();
    let plan = engine::HttpPlan {
        addr,
        request,
        connections: a.connections,
        threads,
        duration,
        requests: a.requests,
        pipeline: a.pipeline,
        close: a.close,
        rate: a.rate,
        timeout: a.timeout,
        warmup: a.warmup,
        cpus: a.cpu.unwrap_or_default(),
    };
    let out = engine::run(&plan).map_err(Failure::Internal)?;
    Ok(Done {
        info: RunInfo {
            mode: "http",
            target: a.url,
            connections: a.connections,
            threads,
            pipeline: a.pipeline,
            keepalive: !a.close,
            rate: a.rate,
            direction: None,
        },
        stats: out.stats,
        connected: out.ever_connected,
        json: a.json,
        quiet: a.quiet,
    })
}

fn resolve_addr(s: &str) -> Result<std::net::SocketAddr, Failure> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| Failure::Usage(format!("{s}: {e} (expected HOST:PORT)")))?
        .next()
        .ok_or_else(|| Failure::Usage(format!("{s}: no address")))
}

fn tcp_cmd(a: TcpArgs) -> Result<Done, Failure> {
    let addr = resolve_addr(&a.addr)?;
    let direction = match a.direction.as_str() {
        "up" => tcp::Direction::Up,
        "down" => tcp::Direction::Down,
        "both" => tcp::Direction::Both,
        d => {
            return Err(Failure::Usage(format!(
                "--direction {d:?}: expected up, down or both"
            )));
        }
    };
    if a.connections == 0 || a.threads == 0 {
        return Err(Failure::Usage("-c and -t must be at least 1".into()));
    }
    if !(512..=64 << 20).contains(&a.chunk) {
        return Err(Failure::Usage(
            "--chunk must be between 512 and 64 MiB".into(),
        ));
    }
    if a.timeout.is_zero() {
        return Err(Failure::Usage("--timeout must be positive".into()));
    }
    if a.duration.is_zero() {
        return Err(Failure::Usage("-d must be positive".into()));
    }
    let threads = a.threads.min(a.connections);
    util::raise_nofile(a.connections as u64 + 64);
    util::install_stop_handler();
    let plan = tcp::TcpPlan {
        addr,
        connections: a.connections,
        threads,
        duration: a.duration,
        direction,
        chunk: a.chunk,
        timeout: a.timeout,
        cpus: a.cpu.unwrap_or_default(),
    };
    let out = tcp::run_client(&plan).map_err(Failure::Internal)?;
    Ok(Done {
        info: RunInfo {
            mode: "tcp",
            target: a.addr,
            connections: a.connections,
            threads,
            pipeline: 1,
            keepalive: true,
            rate: None,
            direction: Some(direction.name()),
        },
        stats: out.stats,
        connected: out.ever_connected,
        json: a.json,
        quiet: a.quiet,
    })
}

fn bulk_server_cmd(a: BulkServerArgs) -> Result<(), Failure> {
    let addr = resolve_addr(&a.listen)?;
    if a.threads == 0 {
        return Err(Failure::Usage("-t must be at least 1".into()));
    }
    if !(512..=64 << 20).contains(&a.chunk) {
        return Err(Failure::Usage(
            "--chunk must be between 512 and 64 MiB".into(),
        ));
    }
    util::raise_nofile(1024);
    tcp::run_server(addr, a.threads, a.chunk, &a.cpu.unwrap_or_default()).map_err(Failure::Internal)
}

fn idle_cmd(a: IdleArgs) -> Result<Done, Failure> {
    let usage = Failure::Usage;
    let url = http::parse_url(&a.url).map_err(usage)?;
    if a.connections == 0 || a.concurrency == 0 {
        return Err(usage("-c and --concurrency must be at least 1".into()));
    }
    if a.timeout.is_zero() {
        return Err(usage("--timeout must be positive".into()));
    }
    let request = http::build_request(&url, &a.header, false).map_err(usage)?;
    let addr = http::resolve(&url.host, url.port).map_err(usage)?;
    util::raise_nofile(a.connections as u64 + 64);
    util::install_stop_handler();
    util::pin_thread(&a.cpu.unwrap_or_default(), 0).map_err(Failure::Internal)?;
    let plan = idle::IdlePlan {
        addr,
        request,
        connections: a.connections,
        concurrency: a.concurrency,
        hold: a.hold,
        timeout: a.timeout,
        ready_file: a.ready_file,
    };
    let stats = idle::run(&plan).map_err(Failure::Internal)?;
    Ok(Done {
        info: RunInfo {
            mode: "idle",
            target: a.url,
            connections: a.connections,
            threads: 1,
            pipeline: 1,
            keepalive: true,
            rate: None,
            direction: None,
        },
        connected: stats.established > 0,
        stats,
        json: a.json,
        quiet: a.quiet,
    })
}
