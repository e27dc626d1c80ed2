//! The HTML stats page (`stats enable` / `stats uri`), in the spirit of
//! HAProxy's: a header with process information and the colour legend,
//! then one table per proxy (its frontend, each server, its backend) with
//! HAProxy's column groups. Self-contained: inline CSS, no script; the
//! refresh is the `Refresh` header the service adds.
//!
//! The figures are the `show stat` / `show info` ones, gathered by
//! `api::view` (nothing is computed twice), rates included (sessions per
//! second: `rate`, `rate_max`).

use std::fmt::Write as _;

use crate::api::format::{FeStat, SvStat, human_time};
use crate::api::view::{self, StatFilter};
use crate::backend::Admin;
use crate::check::CheckStatus;
use crate::runtime::Runtime;

/// What the page shows besides the data.
#[derive(Debug, Clone, Copy)]
pub struct PageOpts<'a> {
    /// `stats hide-version`.
    pub hide_version: bool,
    /// `stats refresh`, in seconds (shown in the header).
    pub refresh: Option<u64>,
    /// The stats URI, for the links to the CSV export.
    pub uri: &'a str,
    pub filter: StatFilter,
}

const CSS: &str = "body{font-family:arial,helvetica,sans-serif;font-size:12px;color:#000;background:#fff}\
h1{font-size:20px;margin:4px 0;color:#fff;background:#20408a;padding:4px 8px}\
h2{font-size:14px;margin:6px 0}h3{font-size:13px;margin:10px 0 4px}\
table{border-collapse:collapse;margin-bottom:12px}\
table.tbl td,table.tbl th{border:1px solid #999;padding:1px 4px;text-align:right;white-space:nowrap}\
table.tbl th{background:#ccc}table.tbl td.ac{text-align:center}table.tbl td.al{text-align:left}\
th.pxname{background:#b00040!important;color:#ffff40;text-align:left!important;font-size:13px}\
tr.titre th{background:#20408a;color:#fff}\
tr.frontend td{background:#f0f0f0}tr.backend td{background:#e8e8d0;font-weight:bold}\
.active_up td,td.active_up{background:#c0ffc0}.active_going_down td,td.active_going_down{background:#ffffa0}\
.active_going_up td,td.active_going_up{background:#ffd020}.active_down td,td.active_down{background:#ff9090}\
.active_draining td,td.active_draining{background:#20a0ff}.active_no_check td,td.active_no_check{background:#e0e0e0}\
.backup_up td,td.backup_up{background:#b0d0ff}.backup_going_down td,td.backup_going_down{background:#c060ff}\
.backup_going_up td,td.backup_going_up{background:#ff80ff}.backup_down td,td.backup_down{background:#ff9090}\
.backup_draining td,td.backup_draining{background:#cc9900}.backup_no_check td,td.backup_no_check{background:#e0e0e0}\
.maintain td,td.maintain{background:#c07820}\
table.lgd td{border:1px solid #999;padding:1px 6px;font-size:11px}\
table.info td{vertical-align:top;padding-right:24px}";

/// HTML text escape.
fn esc(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn escaped(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    esc(&mut o, s);
    o
}

/// The row class of a server, as HAProxy's page colours it.
pub fn server_class(s: &SvStat) -> &'static str {
    let c = &s.check;
    let full = u64::from(s.rise + s.fall).saturating_sub(1);
    let (up, going_down, going_up, down, draining, no_check) = if s.backup {
        (
            "backup_up",
            "backup_going_down",
            "backup_going_up",
            "backup_down",
            "backup_draining",
            "backup_no_check",
        )
    } else {
        (
            "active_up",
            "active_going_down",
            "active_going_up",
            "active_down",
            "active_draining",
            "active_no_check",
        )
    };
    match s.admin {
        Admin::Maint => "maintain",
        Admin::Drain => draining,
        Admin::Ready if !(c.configured && c.enabled) => {
            if c.up {
                no_check
            } else {
                down
            }
        }
        Admin::Ready if c.up && c.health < full => going_down,
        Admin::Ready if c.up => up,
        Admin::Ready if c.health > 0 => going_up,
        Admin::Ready => down,
    }
}

/// `LastChk`: `L7OK/200 in 1ms`, as HAProxy prints it.
fn last_check(s: &SvStat) -> String {
    let c = &s.check;
    if !(c.configured && c.enabled) || s.admin == Admin::Maint {
        return String::new();
    }
    let Some(st) = c.check_status else {
        return String::new();
    };
    let mut out = st.name().to_string();
    if let Some(code) = c.check_code.filter(|_| st.shows_code()) {
        let _ = write!(out, "/{code}");
    }
    if let Some(d) = c.check_duration.filter(|_| st != CheckStatus::Ini) {
        let _ = write!(out, " in {}ms", d.as_millis());
    }
    out
}

/// A number cell (empty when absent).
fn num(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => {
            let _ = write!(out, "<td>{v}</td>");
        }
        None => out.push_str("<td></td>"),
    }
}

fn text(out: &mut String, class: &str, v: &str) {
    let _ = write!(out, "<td class=\"{class}\">");
    esc(out, v);
    out.push_str("</td>");
}

const HEAD_ROWS: &str = "<tr class=\"titre\"><th rowspan=\"2\"></th><th colspan=\"3\">Queue</th>\
<th colspan=\"3\">Session rate</th><th colspan=\"5\">Sessions</th><th colspan=\"2\">Bytes</th><th colspan=\"2\">Denied</th>\
<th colspan=\"3\">Errors</th><th colspan=\"2\">Warnings</th><th colspan=\"8\">Server</th></tr>\
<tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th>\
<th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th>\
<th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th>\
<th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th></tr>";

fn fe_row(out: &mut String, f: &FeStat) {
    let c = &f.c;
    out.push_str(
        "<tr class=\"frontend\"><td class=\"al\">Frontend</td><td></td><td></td><td></td>",
    );
    sessions(out, c, f.scur, Some(f.slim), None);
    num(out, Some(c.denied_req));
    num(out, Some(c.denied_resp));
    num(out, Some(c.err_req));
    out.push_str("<td></td><td></td><td></td><td></td>");
    text(out, "ac", "OPEN");
    out.push_str("<td></td><td></td><td></td><td></td><td></td><td></td><td></td></tr>");
}

/// The "Session rate" (now, highest, no limit), "Sessions" (current,
/// highest, `limit`, total, `lbtot`) and "Bytes" groups of a row.
fn sessions(
    out: &mut String,
    c: &crate::stats::Snapshot,
    cur: u64,
    limit: Option<u64>,
    lbtot: Option<u64>,
) {
    num(out, Some(c.rate));
    num(out, Some(c.rate_max.max(c.rate)));
    out.push_str("<td></td>");
    num(out, Some(cur));
    num(out, Some(c.max.max(cur)));
    num(out, limit);
    num(out, Some(c.total));
    num(out, lbtot);
    num(out, Some(c.bytes_in));
    num(out, Some(c.bytes_out));
}

/// The connection and response errors, retries and redispatches of a
/// backend or server row.
fn conn_errors(out: &mut String, c: &crate::stats::Snapshot) {
    num(out, Some(c.err_conn));
    num(out, Some(c.err_resp));
    num(out, Some(c.retries));
    num(out, Some(c.redispatches));
}

fn sv_row(out: &mut String, s: &SvStat) {
    let c = &s.c;
    let chk = &s.check;
    let checked = chk.configured && chk.enabled;
    let _ = write!(
        out,
        "<tr class=\"{} server\" data-server=\"{}\"><td class=\"al\">",
        server_class(s),
        escaped(&s.name)
    );
    esc(out, &s.name);
    out.push_str("</td>");
    num(out, Some(c.queue_cur));
    num(out, Some(c.queue_max));
    out.push_str("<td></td>");
    let limit = (s.maxconn > 0).then_some(u64::from(s.maxconn));
    sessions(out, c, s.scur, limit, Some(c.lb_total));
    out.push_str("<td></td>");
    num(out, Some(c.denied_resp));
    out.push_str("<td></td>");
    conn_errors(out, c);
    let status = format!(
        "{} {}",
        human_time(std::time::Duration::from_secs(s.lastchg)),
        chk.status
    );
    text(out, "ac", &status);
    let mut lc = String::new();
    esc(&mut lc, &last_check(s));
    if checked && !chk.check_desc.is_empty() {
        let _ = write!(lc, " <small>({})</small>", escaped(&chk.check_desc));
    }
    let _ = write!(out, "<td class=\"al\">{lc}</td>");
    let _ = write!(out, "<td class=\"ac\">{}/{}</td>", s.weight, s.uweight);
    text(out, "ac", if s.backup { "-" } else { "Y" });
    text(out, "ac", if s.backup { "Y" } else { "-" });
    if checked {
        num(out, Some(chk.chkfail));
        num(out, Some(chk.chkdown));
        text(out, "ac", &human_time(chk.downtime));
    } else {
        out.push_str("<td></td><td></td><td></td>");
    }
    out.push_str("</tr>");
}

fn be_row(out: &mut String, b: &crate::api::format::BeStat) {
    let c = &b.c;
    out.push_str("<tr class=\"backend\"><td class=\"al\">Backend</td>");
    num(out, Some(b.qcur));
    num(out, Some(c.queue_max.max(b.qcur)));
    out.push_str("<td></td>");
    sessions(out, c, c.cur, Some(b.slim), Some(c.lb_total));
    num(out, Some(c.denied_req));
    num(out, Some(c.denied_resp));
    out.push_str("<td></td>");
    conn_errors(out, c);
    text(out, "ac", if b.up { "UP" } else { "DOWN" });
    out.push_str("<td></td>");
    let _ = write!(out, "<td class=\"ac\">{}/{}</td>", b.weight, b.uweight);
    num(out, Some(b.act as u64));
    num(out, Some(b.bck as u64));
    out.push_str("<td></td><td></td><td></td></tr>");
}

const LEGEND: &[(&str, &str)] = &[
    ("active_up", "active UP"),
    ("backup_up", "backup UP"),
    ("active_going_down", "active UP, going down"),
    ("backup_going_down", "backup UP, going down"),
    ("active_going_up", "active DOWN, going up"),
    ("backup_going_up", "backup DOWN, going up"),
    ("active_down", "active or backup DOWN"),
    ("active_no_check", "not checked"),
    ("maintain", "active or backup DOWN for maintenance (MAINT)"),
    (
        "active_draining",
        "active or backup SOFT STOPPED for maintenance",
    ),
];

fn header(out: &mut String, rt: &Runtime, o: &PageOpts<'_>) {
    let i = view::info(rt);
    out.push_str("<h1>ringproxy");
    if !o.hide_version {
        let _ = write!(out, " version {}", i.version);
    }
    let _ = write!(out, "</h1><h2>Statistics Report for pid {}", i.pid);
    if !i.node.is_empty() {
        out.push_str(" on ");
        esc(out, &i.node);
    }
    out.push_str(
        "</h2><hr><h3>&gt; General process information</h3><table class=\"info\"><tr><td>",
    );
    let _ = write!(
        out,
        "<p><b>pid = </b>{} (process #1, nbproc = 1, nbthread = {})<br>\
         <b>uptime = </b>{}<br>\
         <b>system limits:</b> memmax = unlimited; ulimit-n = {}<br>\
         <b>maxsock = </b>{}; <b>maxconn = </b>{}<br>\
         current conns = {}; total conns = {}; total requests = {}<br>\
         reloads = {} (failed {})</p>",
        i.pid,
        i.nbthread,
        human_time(i.uptime),
        i.ulimit_n,
        i.ulimit_n,
        i.maxconn,
        i.curr_conns,
        i.cum_conns,
        i.cum_req,
        i.reloads,
        i.failed_reloads,
    );
    out.push_str("</td><td><table class=\"lgd\">");
    for (class, what) in LEGEND {
        let _ = write!(
            out,
            "<tr><td class=\"{class}\">&nbsp;&nbsp;</td><td>{what}</td></tr>"
        );
    }
    out.push_str("</table></td><td><b>Display option:</b><ul>");
    if let Some(r) = o.refresh {
        let _ = write!(out, "<li>Refresh: every {r}s</li>");
    }
    let _ = write!(
        out,
        "<li><a href=\"{u};csv\">CSV export</a></li><li><a href=\"{u};up\">Hide DOWN servers</a></li>\
         <li><a href=\"{u};no-maint\">Hide MAINT servers</a></li></ul></td></tr></table>",
        u = escaped(o.uri)
    );
}

/// The whole page.
pub fn render(rt: &Runtime, o: &PageOpts<'_>) -> String {
    let proxies = view::proxies(&rt.config);
    let mut out = String::with_capacity(8192 + proxies.len() * 4096);
    out.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Statistics Report for ringproxy</title><style>");
    out.push_str(CSS);
    out.push_str("</style></head><body>");
    header(&mut out, rt, o);
    for p in &proxies {
        let _ = write!(
            out,
            "<table class=\"tbl\" data-proxy=\"{0}\"><tr class=\"titre\"><th class=\"pxname\" colspan=\"26\"><a name=\"{0}\">{0}</a></th></tr>",
            escaped(&p.name)
        );
        out.push_str(HEAD_ROWS);
        if let Some(fe) = p.fe {
            fe_row(&mut out, &view::fe_stat(rt, p, fe));
        }
        if let Some(b) = p.be {
            for (_, server) in rt.backends[b].servers_snapshot() {
                if !view::server_shown(&o.filter, &server) {
                    continue;
                }
                let id = crate::api::ServerId { backend: b, server };
                sv_row(&mut out, &view::sv_stat(rt, p, &id));
            }
            let counts = o.filter.hide_maint || o.filter.hide_down;
            be_row(&mut out, &view::be_stat(rt, p, b, counts));
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}
