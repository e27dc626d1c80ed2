//! Renumbering a reloaded configuration onto the running one's slots.

use super::ok;
use crate::config::ListenOn;
use crate::config::reload::{Slots, proxy_changes, renumber, restart_only};

const A: &str = "
frontend web
    bind 127.0.0.1:8001
    bind 127.0.0.1:8002
    use_backend extra if { path_beg /x }
    default_backend app
backend app
    server s1 10.0.0.1:80
backend extra
    server e1 10.0.0.2:80
";

// `extra` removed, `new` added before `app` (so parsed indices shift),
// bind 8002 replaced by 8003, frontend `admin` added.
const B: &str = "
frontend admin
    bind 127.0.0.1:9000
    default_backend new
frontend web
    bind 127.0.0.1:8001
    bind 127.0.0.1:8003
    default_backend app
backend new
    server n1 10.0.0.3:80
backend app
    server s1 10.0.0.1:80
";

#[test]
fn names_keep_their_slots_and_removed_ones_retire() {
    let a = ok(A).config;
    let mut slots = Slots::of(&a);
    let b = renumber(ok(B).config, &a, &mut slots);
    let names: Vec<&str> = b.backends.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(names, ["app", "extra", "new"]);
    let retired: Vec<bool> = b.backends.iter().map(|x| x.retired).collect();
    assert_eq!(retired, [false, true, false]);
    let fe: Vec<&str> = b.frontends.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(fe, ["web", "admin"]);
    // Indices inside frontends are slots.
    assert_eq!(b.frontends[0].default_backend, Some(0));
    assert_eq!(b.frontends[1].default_backend, Some(2));
    // The retired backend keeps its last configuration.
    assert_eq!(b.backends[1].servers[0].name, "e1");

    // Back to A: `extra` takes slot 1 again, `new` and `admin` retire.
    let a2 = renumber(ok(A).config, &b, &mut slots);
    let live: Vec<(&str, bool)> = a2
        .backends
        .iter()
        .map(|x| (x.name.as_str(), x.retired))
        .collect();
    assert_eq!(live, [("app", false), ("extra", false), ("new", true)]);
    assert_eq!(a2.frontends[0].use_backends[0].backend, 1);
    assert!(a2.frontends[1].retired);
    assert!(
        a2.frontends[1].binds.is_empty(),
        "a retired frontend has no bind"
    );
    assert_eq!(slots.backends.len(), 3, "no slot is ever given twice");
}

#[test]
fn changes_name_what_a_reload_adds_and_removes() {
    let a = ok(A).config;
    let mut slots = Slots::of(&a);
    let b = renumber(ok(B).config, &a, &mut slots);
    let c = proxy_changes(&a, &b);
    assert_eq!(c.frontends_added, ["admin"]);
    assert!(c.frontends_removed.is_empty());
    assert_eq!(c.backends_added, ["new"]);
    assert_eq!(c.backends_removed, ["extra"]);
    let port = |on: &ListenOn| match on {
        ListenOn::Addr(a) => a.port(),
        ListenOn::Fd(_) => 0,
    };
    let added: Vec<(&str, u16)> = c
        .binds_added
        .iter()
        .map(|(f, on)| (f.as_str(), port(on)))
        .collect();
    assert_eq!(added, [("web", 8003), ("admin", 9000)]);
    let removed: Vec<(&str, u16)> = c
        .binds_removed
        .iter()
        .map(|(f, on)| (f.as_str(), port(on)))
        .collect();
    assert_eq!(removed, [("web", 8002)]);
    // The same configuration again changes nothing.
    let same = renumber(ok(B).config, &b, &mut slots);
    assert_eq!(proxy_changes(&b, &same), Default::default());
}

#[test]
fn restart_only_settings_are_named() {
    let a = ok("global\n    nbthread 2\n").config;
    let b = ok("global\n    nbthread 4\n    tune.bufsize 32768\n").config;
    assert_eq!(
        restart_only(&a.global, &b.global),
        ["nbthread", "tune.bufsize"]
    );
    assert!(restart_only(&a.global, &a.global).is_empty());
}
