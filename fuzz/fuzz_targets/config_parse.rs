//! Fuzzes the configuration loader: any UTF-8 text must be accepted or
//! rejected with errors, never panic, and whatever is accepted must honour
//! the model's contract (every frontend has a bind and a usable backend).
//!
//! A form feed (U+000C) in the input splits it into two files, so the
//! multi-file rules (per-file sections, shared defaults) are fuzzed too.
//! Run from the repository root: `cargo +nightly fuzz run config_parse`.

#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use ringproxy::config;

/// A deterministic environment: a few set variables, one of them empty.
fn env(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("8080".to_string()),
        "HOST" => Some("10.0.0.1".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// A deterministic resolver: no I/O, some names fail, some are IPv6.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    match host.len() % 3 {
        0 => Err(format!("cannot resolve {host}")),
        1 => Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        _ => Ok(SocketAddr::from((Ipv6Addr::LOCALHOST, port))),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let files: Vec<(&str, &str)> = match text.split_once('\u{c}') {
        Some((a, b)) => vec![("a.cfg", a), ("b.cfg", b)],
        None => vec![("fuzz.cfg", text)],
    };
    let Ok(loaded) = config::parse(&files, &env, &resolve) else {
        return;
    };
    let cfg = loaded.config;
    for fe in &cfg.frontends {
        assert!(!fe.binds.is_empty());
        assert!(fe.target_backend().is_some_and(|b| b < cfg.backends.len()));
        assert!(
            fe.use_backends
                .iter()
                .all(|u| u.backend < cfg.backends.len())
        );
    }
});
