//! The runtime API's listening sockets, one per `stats socket` line.
//!
//! A UNIX socket file is created as HAProxy does: bound under a temporary
//! name, given its mode and owner, then renamed over the final path, so no
//! client can connect before the permissions apply. A stale socket file
//! (nobody accepts on it) is replaced; a live one, or a file that is not a
//! socket, is an error. The file is removed when its `Bound` is dropped
//! (at exit, or on a failed startup) if it is still ours.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::config::{ApiLevel, Global, IdSpec, StatsAddr, StatsSocket};

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Unix(l) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        }
    }
}

/// One `stats socket`, bound and ready.
#[derive(Debug)]
pub struct Bound {
    pub listener: Listener,
    pub level: ApiLevel,
    /// `expose-fd listeners`.
    pub expose_fd: bool,
    /// The address as written (`unix@/run/rp.sock`, `ipv4@127.0.0.1:9999`).
    pub name: String,
    /// The socket file and its identity (device, inode), to remove it at
    /// exit only if nobody replaced it meanwhile.
    file: Option<(PathBuf, u64, u64)>,
}

/// Closing a bound socket removes its file, if it is still the one this
/// process created: whatever way startup or the API ends, no stale file is
/// left behind.
impl Drop for Bound {
    fn drop(&mut self) {
        if let Some((path, dev, ino)) = &self.file
            && let Ok(m) = fs::symlink_metadata(path)
            && m.dev() == *dev
            && m.ino() == *ino
        {
            let _ = fs::remove_file(path);
        }
    }
}

/// Binds every `stats socket` of the configuration. The error names the
/// line (`file:line: ...`) like the configuration's own errors; sockets
/// already bound are closed (and their files removed: `Drop`) on error.
/// `replace_live`: a socket file another process still listens on is
/// replaced (a binary upgrade takes over from that process), not refused.
pub fn bind_all(g: &Global, replace_live: bool) -> Result<Vec<Bound>, String> {
    let mut out: Vec<Bound> = Vec::new();
    for s in &g.stats_sockets {
        let b = bind_one(s, replace_live)
            .map_err(|e| format!("{}: cannot bind 'stats socket' {}: {e}", s.loc, s.addr))?;
        out.push(b);
    }
    Ok(out)
}

fn bind_one(s: &StatsSocket, replace_live: bool) -> Result<Bound, String> {
    let (listener, file) = match &s.addr {
        StatsAddr::Unix(path) => {
            let (l, id) = bind_unix(Path::new(path), s, replace_live)?;
            (Listener::Unix(l), Some(id))
        }
        StatsAddr::Abstract(name) => (Listener::Unix(bind_abstract(name)?), None),
        StatsAddr::Tcp(addr) => {
            let l = TcpListener::bind(addr).map_err(|e| e.to_string())?;
            (Listener::Tcp(l), None)
        }
        StatsAddr::Fd(fd) => (inherited(*fd)?, None),
    };
    match &listener {
        Listener::Unix(l) => l.set_nonblocking(true),
        Listener::Tcp(l) => l.set_nonblocking(true),
    }
    .map_err(|e| e.to_string())?;
    Ok(Bound {
        listener,
        level: s.level,
        expose_fd: s.expose_fd_listeners,
        name: s.addr.to_string(),
        file,
    })
}

/// An inherited listening socket (`fd@N`), UNIX or TCP.
fn inherited(fd: RawFd) -> Result<Listener, String> {
    let family = crate::shard::sys::take_inherited_listener(fd).map_err(|e| e.to_string())?;
    use std::os::fd::FromRawFd;
    match i32::from(family) {
        // SAFETY: the fd is a listening socket of this family, inherited
        // for this `stats socket` and owned by the listener from now on.
        libc::AF_UNIX => Ok(Listener::Unix(unsafe { UnixListener::from_raw_fd(fd) })),
        libc::AF_INET | libc::AF_INET6 => {
            // SAFETY: as above, a listening TCP socket.
            Ok(Listener::Tcp(unsafe { TcpListener::from_raw_fd(fd) }))
        }
        f => Err(format!(
            "fd@{fd} is a socket of family {f}, not UNIX or TCP"
        )),
    }
}

fn bind_abstract(name: &str) -> Result<UnixListener, String> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .map_err(|e| e.to_string())?;
    UnixListener::bind_addr(&addr).map_err(|e| e.to_string())
}

fn uid_of(spec: &IdSpec) -> Result<u32, String> {
    match spec {
        IdSpec::Id(n) => Ok(*n),
        IdSpec::Name(n) => match nix::unistd::User::from_name(n) {
            Ok(Some(u)) => Ok(u.uid.as_raw()),
            Ok(None) => Err(format!("unknown user '{n}'")),
            Err(e) => Err(format!("cannot look up user '{n}': {e}")),
        },
    }
}

fn gid_of(spec: &IdSpec) -> Result<u32, String> {
    match spec {
        IdSpec::Id(n) => Ok(*n),
        IdSpec::Name(n) => match nix::unistd::Group::from_name(n) {
            Ok(Some(g)) => Ok(g.gid.as_raw()),
            Ok(None) => Err(format!("unknown group '{n}'")),
            Err(e) => Err(format!("cannot look up group '{n}': {e}")),
        },
    }
}

/// Refuses to replace a live socket or a file that is not a socket; removes
/// a stale socket.
fn clear_stale(path: &Path, replace_live: bool) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
        Ok(m) if !m.file_type().is_socket() => Err("the path exists and is not a socket".into()),
        // Renamed over below: the old process keeps its socket, clients
        // reach the new one.
        Ok(_) if replace_live => Ok(()),
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => Err("another process is listening on it".into()),
            Err(_) => match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(format!("cannot remove the stale socket: {e}"))
                }
                _ => Ok(()),
            },
        },
    }
}

fn bind_unix(
    path: &Path,
    s: &StatsSocket,
    replace_live: bool,
) -> Result<(UnixListener, (PathBuf, u64, u64)), String> {
    clear_stale(path, replace_live)?;
    let uid = s.owner.as_ref().map(uid_of).transpose()?;
    let gid = s.group.as_ref().map(gid_of).transpose()?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let l = UnixListener::bind(&tmp).map_err(|e| e.to_string())?;
    let finish = || -> io::Result<()> {
        if let Some(mode) = s.mode {
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
        }
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(&tmp, uid, gid)?;
        }
        fs::rename(&tmp, path)
    };
    if let Err(e) = finish() {
        let _ = fs::remove_file(&tmp);
        return Err(e.to_string());
    }
    let m = fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    Ok((l, (path.to_path_buf(), m.dev(), m.ino())))
}
