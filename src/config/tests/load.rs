//! `load()`: files, directories and unreadable paths.

use std::path::{Path, PathBuf};

use crate::config::{load, system_resolve};

/// A fresh scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ringproxy-config-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn directory_reads_cfg_files_in_lexical_order() {
    let dir = Scratch::new("dir");
    dir.write(
        "10-backend.cfg",
        "backend be\n    server s 127.0.0.1:8080\n",
    );
    dir.write(
        "02-front.cfg",
        "defaults\n    timeout client 1s\nfrontend fe\n    bind :80\n    default_backend be\n",
    );
    dir.write("README", "this is not a config");
    dir.write(".hidden.cfg", "garbage");
    dir.write("x.cfg.bak", "garbage");
    std::fs::create_dir(dir.0.join("sub.cfg")).expect("subdir");
    let loaded = load(std::slice::from_ref(&dir.0)).unwrap_or_else(|e| panic!("{e:?}"));
    let cfg = loaded.config;
    assert_eq!(
        cfg.frontends[0].loc.file.as_ref(),
        shown(&dir.0.join("02-front.cfg"))
    );
    assert_eq!(
        cfg.backends[0].loc.file.as_ref(),
        shown(&dir.0.join("10-backend.cfg"))
    );
    assert_eq!(cfg.frontends[0].default_backend, Some(0));
}

#[test]
fn files_in_order_and_every_error() {
    let dir = Scratch::new("files");
    let a = dir.write(
        "a.cfg",
        "frontend fe\n    bind :80\n    default_backend be\n",
    );
    let b = dir.write("b.cfg", "backend be\n    server s 127.0.0.1\n");
    let missing = dir.0.join("missing.cfg");
    let errs = load(&[a, missing.clone(), b.clone()]).expect_err("must fail");
    let shown_errs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(shown_errs.len(), 2, "{shown_errs:?}");
    assert!(shown_errs[0].starts_with(&format!(
        "could not open configuration file '{}'",
        shown(&missing)
    )));
    assert!(errs[0].loc.is_none());
    assert!(shown_errs[1].starts_with(&format!("{}:2: server s: port is required", shown(&b))));
}

#[test]
fn system_resolver_takes_literals() {
    assert_eq!(
        system_resolve("127.0.0.1", 80),
        Ok("127.0.0.1:80".parse().unwrap())
    );
    assert_eq!(system_resolve("::1", 81), Ok("[::1]:81".parse().unwrap()));
}
