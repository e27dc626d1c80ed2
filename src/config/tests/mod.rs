//! Whole-configuration tests: text in, model (or located errors) out.
//! Unit tests of the lexer, durations, arguments and addresses live next to
//! their code.

mod errors;
mod garbage;
mod load;
mod model;
mod sections;

use std::net::SocketAddr;
use std::time::Duration;

use super::{ConfigError, Loaded, parse};

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

fn parse_files(files: &[(&str, &str)]) -> Result<Loaded, Vec<ConfigError>> {
    parse(files, &env, &resolve)
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
