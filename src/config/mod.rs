//! Configuration language (HAProxy's) -> typed, validated model.
//!
//! `load` reads the files (the only I/O of this module besides name
//! resolution and the files the configuration names: `errorfile`, `return
//! file`, `acl -f`) and hands their text to `parse_with_files`, which does
//! no I/O of its own (`parse` is the same without file access): `lexer`
//! splits each line into words, `parser` tracks sections and dispatches
//! keywords to `global`, `proxy` and `server` (values through `addr`, `time`
//! and `args`), and `build` resolves names and runs the checks that need the
//! whole configuration. Every error is collected, none stops parsing.

pub mod model;
pub mod reload;

mod addr;
mod args;
mod build;
mod check;
mod global;
mod lexer;
mod parser;
mod proxy;
mod server;
mod services;
pub mod stick;
pub mod time;

#[cfg(test)]
mod tests;

pub use model::*;
pub use services::{DEFAULT_STATS_REALM, DEFAULT_STATS_URI, Services, StatsCfg};

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// One problem found in the configuration. Display: "FILE:LINE: message" (or
/// just "message" when loc is None).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub loc: Option<Loc>,
    pub msg: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.loc {
            Some(loc) => write!(f, "{loc}: {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A valid configuration and the warnings found while reading it.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigError>,
}

/// Reads every file in order (as HAProxy does with several -f; a directory
/// path reads its *.cfg files in lexical order), expands environment
/// variables from the process environment, resolves server hostnames (std
/// ToSocketAddrs, first IPv4 else first result) and validates. Err holds
/// EVERY error found, not only the first.
///
/// Unreadable files are reported (without a location) and the readable ones
/// are still parsed, so one run shows every problem. Bytes that are not
/// UTF-8 are replaced (U+FFFD); in comments they are harmless, elsewhere they
/// fail the usual checks.
pub fn load(paths: &[PathBuf]) -> Result<Loaded, Vec<ConfigError>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        read_path(path, &mut files, &mut errors);
    }
    let sources: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let env = |name: &str| std::env::var(name).ok();
    match parse_with_files(&sources, &env, &system_resolve, &system_read) {
        Ok(loaded) if errors.is_empty() => Ok(loaded),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

/// Reads a file named by the configuration (`errorfile`, `return file`,
/// `acl -f`); the error says why it could not.
pub type ReadFile<'a> = dyn Fn(&str) -> Result<Vec<u8>, String> + 'a;

/// Pure variant used by tests (and fuzzing): sources are (file name, text);
/// env looks up a variable; resolve turns a host+port into an address (load
/// passes a real resolver; tests pass a fake). Files named by the
/// configuration cannot be read (see `parse_with_files`).
///
/// Never panics, whatever the input.
pub fn parse(
    sources: &[(&str, &str)],
    env: &dyn Fn(&str) -> Option<String>,
    resolve: &dyn Fn(&str, u16) -> Result<SocketAddr, String>,
) -> Result<Loaded, Vec<ConfigError>> {
    let no_files =
        |_: &str| -> Result<Vec<u8>, String> { Err("file access is not available".to_string()) };
    parse_with_files(sources, env, resolve, &no_files)
}

/// `parse` with a reader for the files the configuration names; `load`
/// passes one that reads regular files from the file system.
pub fn parse_with_files(
    sources: &[(&str, &str)],
    env: &dyn Fn(&str) -> Option<String>,
    resolve: &dyn Fn(&str, u16) -> Result<SocketAddr, String>,
    read: &ReadFile<'_>,
) -> Result<Loaded, Vec<ConfigError>> {
    let mut parser = parser::Parser::new(env, resolve, read);
    for (name, text) in sources {
        parser.file(name, text);
    }
    parser.finish()
}

/// The reader of `load`: regular files only (a FIFO or a device such as
/// `/dev/zero` would block or never end).
fn system_read(path: &str) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// Appends `(name, text)` for `path`, or for each `*.cfg` regular file of
/// the directory `path` in lexical (byte) order, as HAProxy does.
fn read_path(path: &Path, files: &mut Vec<(String, String)>, errors: &mut Vec<ConfigError>) {
    let fail = |errors: &mut Vec<ConfigError>, p: &Path, e: std::io::Error| {
        errors.push(ConfigError {
            loc: None,
            msg: format!("could not open configuration file '{}': {e}", p.display()),
        });
    };
    if !path.is_dir() {
        match std::fs::read(path) {
            Ok(bytes) => files.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            )),
            Err(e) => fail(errors, path, e),
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return fail(errors, path, e),
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_cfg_name(p) && p.is_file())
        .collect();
    names.sort();
    for file in names {
        read_path(&file, files, errors);
    }
}

/// HAProxy's directory rule: names ending in `.cfg`, hidden files skipped
/// (editor and backup files).
fn is_cfg_name(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.len() > 4 && name.ends_with(".cfg") && !name.starts_with('.')
}

/// The resolver of `load`: the system's (getaddrinfo through std); the first
/// IPv4 result, else the first result.
fn system_resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "no address found".to_string())
}
