//! HAProxy's words for health-check transitions (`srv_append_status` and
//! `set_backend_down`), as pure functions. Where ringproxy lacks a figure
//! HAProxy prints (per-server queues do not exist here: queues are per
//! backend and per shard), it prints 0, which is what it has.

use super::state::CheckResult;

/// Usable servers of a backend after a transition (HAProxy's `srv_act` and
/// `srv_bck`: ready, up, with a non-zero weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub active: usize,
    pub backup: usize,
}

impl Counts {
    fn running_on_backup(self) -> &'static str {
        if self.backup > 0 && self.active == 0 {
            " Running on backup."
        } else {
            ""
        }
    }
}

fn who(backend: &str, server: &str, backup: bool) -> String {
    format!(
        "{}Server {backend}/{server}",
        if backup { "Backup " } else { "" }
    )
}

/// `, reason: ..., code: N, info: "...", check duration: Nms`.
fn status(r: &CheckResult) -> String {
    let mut out = format!(", reason: {}", r.status.description());
    if r.status.shows_code()
        && let Some(code) = r.code
    {
        out.push_str(&format!(", code: {code}"));
    }
    if !r.desc.is_empty() {
        out.push_str(", info: \"");
        ascii_encode(&mut out, &r.desc);
        out.push('"');
    }
    out.push_str(&format!(", check duration: {}ms", r.duration.as_millis()));
    out
}

/// HAProxy's `chunk_asciiencode` with `"` as the quote: non-printable
/// bytes, `<`, `>` and `"` become `<HH>`.
fn ascii_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && !matches!(b, b'<' | b'>' | b'"') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("<{b:02X}>"));
        }
    }
}

/// `Server be/s1 is DOWN, reason: ..., check duration: 0ms. 1 active and 0
/// backup servers left. 0 sessions active, 0 requeued, 0 remaining in
/// queue.` `sessions`: the server's connections in use.
pub fn down_message(
    backend: &str,
    server: &str,
    backup: bool,
    r: &CheckResult,
    after: Counts,
    sessions: u32,
) -> String {
    format!(
        "{} is DOWN{}. {} active and {} backup servers left.{} {sessions} sessions active, 0 \
         requeued, 0 remaining in queue.",
        who(backend, server, backup),
        status(r),
        after.active,
        after.backup,
        after.running_on_backup()
    )
}

/// `Server be/s1 is UP, reason: Layer7 check passed, code: 200, check
/// duration: 1ms. 2 active and 0 backup servers online. 0 sessions
/// requeued, 0 total in queue.`
pub fn up_message(
    backend: &str,
    server: &str,
    backup: bool,
    r: &CheckResult,
    after: Counts,
) -> String {
    format!(
        "{} is UP{}. {} active and {} backup servers online.{} 0 sessions requeued, 0 total in \
         queue.",
        who(backend, server, backup),
        status(r),
        after.active,
        after.backup,
        after.running_on_backup()
    )
}

/// HAProxy's alert (`ha_alert` form, as printed on stderr) when the last
/// usable server of a backend goes down.
pub fn no_server_message(backend: &str) -> String {
    format!("backend '{backend}' has no server available!")
}
