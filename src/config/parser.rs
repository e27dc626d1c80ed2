//! Sections and keyword dispatch: turns lexed lines into section drafts.
//!
//! HAProxy's section rules: any line whose first word is a section keyword
//! opens that section, whatever its indentation; each file starts outside
//! any section, but the implicit defaults carry over from one file to the
//! next (as with several `-f`). A proxy inherits from the `defaults` section
//! named by `from NAME`, else from the last `defaults` section (named or not)
//! seen before it. A `defaults` section without `from` starts from the
//! built-in defaults. A named `defaults` may be redeclared, unless it was
//! already referenced with `from`.
//!
//! Errors never stop parsing: a broken header still opens its section so
//! that the lines inside are checked too. Keyword semantics live in
//! `global`, `proxy` and `server`; cross-section checks in `build`.

use std::collections::HashMap;
use std::sync::Arc;

use super::addr::Resolve;
use super::args::check_name;
use super::check::HttpCheckDraft;
use super::lexer::{self, Env};
use super::server::ServerOpts;
use super::{
    Balance, Bind, ConfigError, ForwardFor, Global, HttpConnMode, HttpReuse, Loaded, Loc, LogStyle,
    LogTargetSpec, Mode, ReadFile, Server, Timeouts,
};
use super::{build, global, proxy};
use crate::http::{Acl, Condition, ErrorFile, HttpRule};

/// The kind of a proxy-like section; decides which keywords apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub(super) fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }

    /// HAProxy's frontend capability. `defaults` has both capabilities so
    /// that every setting can pass down.
    pub(super) fn has_fe(self) -> bool {
        self != Kind::Backend
    }

    /// HAProxy's backend capability (see `has_fe`).
    pub(super) fn has_be(self) -> bool {
        self != Kind::Frontend
    }
}

/// Every setting a `defaults` section passes down to the sections that
/// inherit from it (each proxy starts from a copy).
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub mode: Mode,
    pub maxconn: Option<u32>,
    pub timeouts: Timeouts,
    /// Backend name and where it was written, resolved by `build`.
    pub default_backend: Option<(String, Loc)>,
    pub balance: Balance,
    pub retries: u32,
    pub redispatch: Option<i32>,
    pub allbackups: bool,
    /// Accumulated `default-server` options, the starting point of each
    /// later `server` line.
    pub default_server: ServerOpts,
    /// `option tcplog`/`httplog` and where it was set (for the TCP-mode
    /// fallback warning).
    pub log_style: Option<(LogStyle, Loc)>,
    pub dontlognull: bool,
    pub idle_close_on_response: bool,
    pub logs: Vec<LogTargetSpec>,
    pub conn_mode: HttpConnMode,
    pub http_reuse: HttpReuse,
    pub forwardfor: Option<ForwardFor>,
    pub errorfiles: Vec<ErrorFile>,
    /// `option httpchk` and `http-check` rules.
    pub http_check: HttpCheckDraft,
    /// `stats ...` (see `services`: a proxy's own line replaces them).
    pub stats: Option<super::StatsCfg>,
    pub monitor_uri: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Tcp,
            maxconn: None,
            timeouts: Timeouts::default(),
            default_backend: None,
            balance: Balance::RoundRobin,
            retries: 3,
            redispatch: None,
            allbackups: false,
            default_server: ServerOpts::default(),
            log_style: None,
            dontlognull: false,
            idle_close_on_response: false,
            logs: Vec::new(),
            conn_mode: HttpConnMode::KeepAlive,
            http_reuse: HttpReuse::Safe,
            forwardfor: None,
            errorfiles: Vec::new(),
            http_check: HttpCheckDraft::default(),
            stats: None,
            monitor_uri: None,
        }
    }
}

/// One section being parsed: a `defaults` or a proxy.
#[derive(Debug)]
pub(super) struct Draft {
    pub kind: Kind,
    /// Empty for an unnamed `defaults` (or a proxy whose header was broken).
    pub name: String,
    pub loc: Loc,
    pub s: Settings,
    pub binds: Vec<Bind>,
    /// `bind` lines seen, valid or not: avoids a second, misleading "no
    /// bind" error when the only bind line was wrong.
    pub bind_lines: usize,
    pub use_backends: Vec<(String, Loc, Option<Condition>)>,
    /// Named ACLs, in declaration order (lines of the same name merged).
    pub acls: Vec<Arc<Acl>>,
    pub http_request: Vec<HttpRule>,
    pub http_response: Vec<HttpRule>,
    /// `tcp-request connection|session|content` rules, in order.
    pub tcp_request: Vec<(crate::http::TcpPhase, crate::http::TcpRule)>,
    /// `stick on|match|store-request` rules, in order.
    pub stick_rules: Vec<crate::http::StickRule>,
    pub servers: Vec<Server>,
    /// `server` lines seen, valid or not (see `bind_lines`).
    pub server_lines: usize,
    /// `defaults` only: referenced by a `from`, so it may not be replaced.
    pub referenced: bool,
    /// A `stats` line of this section was seen (inherited settings are
    /// then replaced, see `services`).
    pub stats_own: bool,
    /// `monitor fail` conditions.
    pub monitor_fail: Vec<crate::http::Condition>,
}

impl Draft {
    fn new(kind: Kind, name: String, loc: Loc, s: Settings) -> Self {
        Draft {
            kind,
            name,
            loc,
            s,
            binds: Vec::new(),
            bind_lines: 0,
            use_backends: Vec::new(),
            acls: Vec::new(),
            http_request: Vec::new(),
            http_response: Vec::new(),
            tcp_request: Vec::new(),
            stick_rules: Vec::new(),
            servers: Vec::new(),
            server_lines: 0,
            referenced: false,
            stats_own: false,
            monitor_fail: Vec::new(),
        }
    }
}

/// Where the next keyword line goes.
#[derive(Clone, Copy)]
enum Section {
    Outside,
    Global,
    Defaults(usize),
    Proxy(usize),
    /// An unsupported section (already reported): its lines are skipped.
    Skipped,
}

/// HAProxy section keywords ringproxy does not implement. Recognizing them
/// gives one clear error instead of one per line of their body.
const UNSUPPORTED_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "crt-store",
    "traces",
    "log-forward",
    "fcgi-app",
    "acme",
];

pub(super) struct Parser<'a> {
    env: &'a Env<'a>,
    resolve: &'a Resolve<'a>,
    read: &'a ReadFile<'a>,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
    global: Global,
    /// Every `defaults` section, in order.
    defaults: Vec<Draft>,
    /// Current owner of each `defaults` name (index into `defaults`).
    named: HashMap<String, usize>,
    /// The last `defaults` section: what a proxy without `from` inherits.
    implicit: Option<usize>,
    /// Frontends, backends and listens, in declaration order.
    proxies: Vec<Draft>,
    /// Names taken on each side (index into `proxies`); a listen takes both.
    fe_names: HashMap<String, usize>,
    be_names: HashMap<String, usize>,
    section: Section,
    /// Listeners declared so far, across every file (see `proxy::Ctx`).
    listeners: usize,
    /// Stick tables declared and referred to so far.
    tables: super::stick::TableRefs,
}

impl<'a> Parser<'a> {
    pub(super) fn new(env: &'a Env<'a>, resolve: &'a Resolve<'a>, read: &'a ReadFile<'a>) -> Self {
        Parser {
            env,
            resolve,
            read,
            errors: Vec::new(),
            warnings: Vec::new(),
            global: Global::default(),
            defaults: Vec::new(),
            named: HashMap::new(),
            implicit: None,
            proxies: Vec::new(),
            fe_names: HashMap::new(),
            be_names: HashMap::new(),
            section: Section::Outside,
            listeners: 0,
            tables: super::stick::TableRefs::default(),
        }
    }

    /// Parses one file's text; `name` is what errors will show.
    pub(super) fn file(&mut self, name: &str, text: &str) {
        let file: Arc<str> = Arc::from(name);
        self.section = Section::Outside;
        for (i, line) in text.lines().enumerate() {
            let line_no = u32::try_from(i.saturating_add(1)).unwrap_or(u32::MAX);
            let loc = Loc {
                file: file.clone(),
                line: line_no,
            };
            self.line(&loc, line);
        }
    }

    /// Validates everything parsed and returns the model, or every error.
    pub(super) fn finish(self) -> Result<Loaded, Vec<ConfigError>> {
        let Parser {
            global,
            proxies,
            mut errors,
            mut warnings,
            tables,
            ..
        } = self;
        let tables = tables.finish(&mut errors);
        let config = build::build(global, &proxies, tables, &mut errors, &mut warnings);
        if errors.is_empty() {
            Ok(Loaded { config, warnings })
        } else {
            Err(errors)
        }
    }

    fn error(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.errors.push(ConfigError {
            loc: Some(loc.clone()),
            msg: msg.into(),
        });
    }

    /// Records a keyword handler's outcome: its warnings, then its error.
    fn report(&mut self, loc: &Loc, result: Result<(), String>, warnings: Vec<String>) {
        for w in warnings {
            self.warnings.push(ConfigError {
                loc: Some(loc.clone()),
                msg: w,
            });
        }
        if let Err(e) = result {
            self.error(loc, e);
        }
    }

    fn line(&mut self, loc: &Loc, text: &str) {
        // HAProxy's special variables, then the caller's environment.
        let env = |name: &str| match name {
            ".FILE" => Some(loc.file.to_string()),
            ".LINE" => Some(loc.line.to_string()),
            _ => (self.env)(name),
        };
        let words = match lexer::split(text, &env) {
            Ok(words) => words,
            Err(e) => return self.error(loc, e),
        };
        let Some(first) = words.first() else { return };
        match first.as_str() {
            "global" => self.start_global(loc, &words),
            "defaults" => self.start_defaults(loc, &words),
            "frontend" => self.start_proxy(Kind::Frontend, loc, &words),
            "backend" => self.start_proxy(Kind::Backend, loc, &words),
            "listen" => self.start_proxy(Kind::Listen, loc, &words),
            kw if UNSUPPORTED_SECTIONS.contains(&kw) => {
                self.error(
                    loc,
                    format!("'{kw}' sections are not supported (section skipped)"),
                );
                self.section = Section::Skipped;
            }
            _ => self.keyword(loc, &words),
        }
    }

    fn start_global(&mut self, loc: &Loc, words: &[String]) {
        if let Some(extra) = words.get(1) {
            self.error(
                loc,
                format!("'global' cannot handle unexpected argument '{extra}'"),
            );
        }
        self.section = Section::Global;
    }

    fn start_defaults(&mut self, loc: &Loc, words: &[String]) {
        let (name, from) = self.header(Kind::Defaults, loc, words);
        let mut replaceable = true;
        if !name.is_empty() {
            if let Err(e) = check_name("'defaults' name", &name) {
                self.error(loc, e);
            }
            let prev = self.named.get(&name).and_then(|&i| self.defaults.get(i));
            if let Some(prev) = prev.filter(|p| p.referenced) {
                let msg = format!(
                    "defaults section '{name}' has the same name as another defaults section \
                     declared at {} which was explicitly referenced hence cannot be replaced; \
                     please remove or rename one of the offending defaults sections",
                    prev.loc
                );
                replaceable = false;
                self.error(loc, msg);
            }
        }
        let s = self.inherited(Kind::Defaults, &name, from.as_deref(), loc);
        let idx = self.defaults.len();
        if !name.is_empty() && replaceable {
            self.named.insert(name.clone(), idx);
        }
        self.defaults
            .push(Draft::new(Kind::Defaults, name, loc.clone(), s));
        self.implicit = Some(idx);
        self.section = Section::Defaults(idx);
    }

    fn start_proxy(&mut self, kind: Kind, loc: &Loc, words: &[String]) {
        let (name, from) = self.header(kind, loc, words);
        let idx = self.proxies.len();
        if !name.is_empty() {
            if let Err(e) = check_name(&format!("'{}' name", kind.word()), &name) {
                self.error(loc, e);
            }
            self.register(kind, &name, loc, idx);
        }
        let s = self.inherited(kind, &name, from.as_deref(), loc);
        self.proxies.push(Draft::new(kind, name, loc.clone(), s));
        self.section = Section::Proxy(idx);
    }

    /// Parses `KEYWORD [NAME] [from DEFAULTS]` into (name, from), reporting
    /// errors. A name is mandatory except on `defaults`, where `defaults
    /// from X` is an unnamed section inheriting X (as HAProxy reads it).
    fn header(&mut self, kind: Kind, loc: &Loc, words: &[String]) -> (String, Option<String>) {
        let kw = kind.word();
        let rest = words.get(1..).unwrap_or_default();
        let (name, tail) = match rest {
            [first, tail @ ..] if !first.is_empty() => match (kind, first.as_str(), tail.len()) {
                (Kind::Defaults, "from", 1) => ("", rest),
                _ => (first.as_str(), tail),
            },
            _ if kind == Kind::Defaults => ("", rest),
            _ => {
                self.error(loc, format!("'{kw}' expects <name> as an argument"));
                ("", rest.get(1..).unwrap_or_default())
            }
        };
        let from = match tail {
            [] => None,
            [from, what] if from == "from" && !what.is_empty() => Some(what.clone()),
            [from, ..] if from == "from" => {
                self.error(
                    loc,
                    format!("'from' on '{kw}' line expects exactly one defaults section name"),
                );
                None
            }
            [extra, ..] => {
                self.error(
                    loc,
                    format!("'{kw}' cannot handle unexpected argument '{extra}'"),
                );
                None
            }
        };
        (name.to_string(), from)
    }

    /// Claims `name` on the frontend and/or backend side of `kind`, or
    /// reports the section that already holds it (a frontend and a backend
    /// may share a name; a listen conflicts with both).
    fn register(&mut self, kind: Kind, name: &str, loc: &Loc, idx: usize) {
        let sides = [
            (kind.has_fe(), &self.fe_names),
            (kind.has_be(), &self.be_names),
        ];
        let clash = sides
            .iter()
            .filter(|(applies, _)| *applies)
            .find_map(|(_, names)| names.get(name))
            .and_then(|&i| self.proxies.get(i));
        if let Some(prev) = clash {
            let msg = format!(
                "{} '{name}' has the same name as {} '{name}' declared at {}",
                kind.word(),
                prev.kind.word(),
                prev.loc
            );
            return self.error(loc, msg);
        }
        if kind.has_fe() {
            self.fe_names.insert(name.to_string(), idx);
        }
        if kind.has_be() {
            self.be_names.insert(name.to_string(), idx);
        }
    }

    /// The settings a new section starts from: its `from` defaults, else
    /// (for a proxy) the last defaults section, else the built-in ones.
    fn inherited(&mut self, kind: Kind, name: &str, from: Option<&str>, loc: &Loc) -> Settings {
        let implicit = if kind == Kind::Defaults {
            None
        } else {
            self.implicit
        };
        let source = match from {
            None => implicit,
            Some(from) => match self.named.get(from).copied() {
                Some(i) => Some(i),
                None => {
                    let msg = format!(
                        "defaults section '{from}' (for {} '{name}') not found",
                        kind.word()
                    );
                    self.error(loc, msg);
                    implicit
                }
            },
        };
        match source.and_then(|i| self.defaults.get_mut(i)) {
            Some(d) => {
                d.referenced |= from.is_some();
                d.s.clone()
            }
            None => Settings::default(),
        }
    }

    /// Runs a non-section keyword in the current section.
    fn keyword(&mut self, loc: &Loc, words: &[String]) {
        let kw = words.first().map(String::as_str).unwrap_or_default();
        if kw.starts_with('.') {
            let msg =
                format!("'{kw}': conditional blocks and '.' directives are not supported yet");
            return self.error(loc, msg);
        }
        let draft = match self.section {
            Section::Skipped => return,
            Section::Outside => {
                return self.error(loc, format!("unknown keyword '{kw}' out of section"));
            }
            Section::Global => {
                let mut warnings = Vec::new();
                let result = global::keyword(&mut self.global, words, loc, &mut warnings);
                return self.report(loc, result, warnings);
            }
            Section::Defaults(i) => self.defaults.get_mut(i),
            Section::Proxy(i) => self.proxies.get_mut(i),
        };
        let Some(draft) = draft else { return };
        self.tables.current.clone_from(&draft.name);
        self.tables.loc = Some(loc.clone());
        let mut ctx = proxy::Ctx {
            draft,
            loc,
            resolve: self.resolve,
            warnings: Vec::new(),
            listeners: &mut self.listeners,
            tables: &mut self.tables,
            global_logs: &self.global.logs,
            read: self.read,
            bufsize: self.global.bufsize,
        };
        let result = proxy::keyword(&mut ctx, words);
        let warnings = ctx.warnings;
        self.report(loc, result, warnings);
    }
}
