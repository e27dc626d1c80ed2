//! Whole-configuration tests: text in, model (or located errors) out.
//! Unit tests of the lexer, durations, arguments and addresses live next to
//! their code.

mod checks;
mod errors;
mod garbage;
mod http;
mod load;
mod model;
mod reload;
mod sections;
mod services;
mod stats_socket;

use std::net::SocketAddr;
use std::time::Duration;

use super::{ConfigError, Loaded, parse_with_files};

/// The fake environment every test sees.
fn env(name: &str) -> Option<String> {
    let v = match name {
        "FE_PORT" => "8080",
        "BE_HOST" => "10.0.0.9",
        "EMPTY" => "",
        "TIMEOUT" => "7s",
        _ => return None,
    };
    Some(v.to_string())
}

/// The fake resolver every test sees: two names, the rest fail.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    match host {
        "app.local" => Ok(SocketAddr::from(([10, 1, 0, 1], port))),
        "app6.local" => Ok(SocketAddr::new("fd00::1".parse().map_err(|_| "bad")?, port)),
        _ => Err("Name or service not known".to_string()),
    }
}

/// The fake file system every test sees (`errorfile`, `return file`,
/// `acl -f`).
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let big = || {
        let mut v = b"HTTP/1.1 503 Service Unavailable\r\n\r\n".to_vec();
        v.resize(2000, b'a');
        v
    };
    let text: &[u8] = match path {
        "/e/503.http" => b"HTTP/1.1 503 Service Unavailable\ncontent-length: 4\n\ndown",
        "/e/ok.http" => b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>later</html>",
        "/e/cl-mismatch.http" => b"HTTP/1.1 503 X\r\ncontent-length: 10\r\n\r\nabc",
        "/e/chunked.http" => b"HTTP/1.1 503 X\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        "/e/100.http" => b"HTTP/1.1 100 Continue\r\n\r\n",
        "/e/204-body.http" => b"HTTP/1.1 204 No Content\r\n\r\nxx",
        "/e/cl0-body.http" => b"HTTP/1.1 503 X\r\ncontent-length: 0\r\n\r\nxx",
        "/e/garbage" => b"this is not http\r\n\r\n",
        "/e/partial.http" => b"HTTP/1.1 503 X\r\ncontent-length: 0\r\n",
        "/e/big.http" | "/r/big.txt" => return Ok(big()),
        "/p/bad.lst" => b"/ok\n10.0.0.0/8\n",
        "/p/nets.lst" => b"# private\n10.0.0.0/8\n  192.168.0.0/16\n",
        "/r/body.txt" => b"hello\n",
        _ => return Err("No such file or directory".to_string()),
    };
    Ok(text.to_vec())
}

fn parse_files(files: &[(&str, &str)]) -> Result<Loaded, Vec<ConfigError>> {
    parse_with_files(files, &env, &resolve, &read_file)
}

fn show(errors: &[ConfigError]) -> String {
    errors.iter().map(|e| format!("\n  {e}")).collect()
}

/// Parses one file named `t.cfg` that must be valid.
fn ok(text: &str) -> Loaded {
    parse_files(&[("t.cfg", text)]).unwrap_or_else(|e| panic!("unexpected errors:{}", show(&e)))
}

/// Parses one file named `t.cfg` that must be rejected.
fn errors(text: &str) -> Vec<ConfigError> {
    match parse_files(&[("t.cfg", text)]) {
        Ok(l) => panic!("config accepted, expected errors:\n{text}\n{:#?}", l.config),
        Err(e) => e,
    }
}

/// Asserts that some error displays as `AT: ...MSG...`.
fn assert_has(errors: &[ConfigError], at: &str, msg: &str) {
    let hit = errors.iter().any(|e| {
        let shown = e.to_string();
        shown.starts_with(&format!("{at}: ")) && shown.contains(msg)
    });
    assert!(hit, "no error '{at}: ...{msg}...' among:{}", show(errors));
}

/// Asserts that some warning displays as `AT: ...MSG...`.
fn assert_warns(loaded: &Loaded, at: &str, msg: &str) {
    assert_has(&loaded.warnings, at, msg);
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| panic!("bad test address {s}"))
}

fn secs(n: u64) -> Option<Duration> {
    Some(Duration::from_secs(n))
}

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

/// Timeouts that silence the "missing timeouts" warning.
const TIMEOUTS: &str = "    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n";
