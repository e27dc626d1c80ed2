//! Thin wrappers over the Linux syscalls on ringload's hot paths: the
//! monotonic clock, epoll, nonblocking TCP sockets, `send`/`recv`.
//!
//! Contract: nothing here allocates, so the workers' steady state stays
//! allocation-free; errors come back as `io::Error` built from `errno`
//! (`io::Error::from_raw_os_error` does not allocate either).

use std::io;
use std::mem;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const EP_IN: u32 = libc::EPOLLIN as u32;
pub const EP_OUT: u32 = libc::EPOLLOUT as u32;
pub const EP_ERR: u32 = libc::EPOLLERR as u32;
pub const EP_HUP: u32 = libc::EPOLLHUP as u32;
pub const EP_RDHUP: u32 = libc::EPOLLRDHUP as u32;
pub const EP_ET: u32 = libc::EPOLLET as u32;

/// Nanoseconds on CLOCK_MONOTONIC (a vDSO call, no syscall, with the TSC
/// clock source). Only differences are meaningful.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An epoll instance. Tokens are the `u64` user data given to `add`.
pub struct Epoll {
    fd: OwnedFd,
    /// `epoll_pwait2` (nanosecond timeouts, Linux 5.11+) works here; if not,
    /// timeouts are rounded up to whole milliseconds for `epoll_wait`.
    pwait2: bool,
}

/// An empty event array entry, for preallocating `wait`'s buffer.
pub const EMPTY_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Epoll { fd, pwait2: true })
    }

    /// Registers `fd` for `events` (EP_* flags), reported with `token`.
    pub fn add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits for events into `events`, for at most `timeout_ns` (None =
    /// forever). Returns how many entries were filled; 0 on timeout or when
    /// interrupted by a signal.
    pub fn wait(
        &mut self,
        events: &mut [libc::epoll_event],
        timeout_ns: Option<u64>,
    ) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        let ret = match timeout_ns {
            Some(t) if self.pwait2 => {
                let ts = libc::timespec {
                    tv_sec: (t / 1_000_000_000) as libc::time_t,
                    tv_nsec: (t % 1_000_000_000) as libc::c_long,
                };
                // SAFETY: `events` is valid for `max` entries, `ts` for the
                // call, a null sigmask means "don't change it".
                let r = unsafe {
                    libc::epoll_pwait2(
                        self.fd.as_raw_fd(),
                        events.as_mut_ptr(),
                        max,
                        &ts,
                        std::ptr::null(),
                    )
                };
                if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                    self.pwait2 = false;
                    return self.wait(events, timeout_ns);
                }
                r
            }
            _ => {
                let ms = match timeout_ns {
                    None => -1,
                    Some(t) => t.div_ceil(1_000_000).min(i32::MAX as u64) as libc::c_int,
                };
                // SAFETY: `events` is valid for `max` entries.
                unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, ms) }
            }
        };
        if ret < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(ret as usize)
    }
}

/// A socket address in the form the socket syscalls take.
pub struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    pub fn new(addr: &SocketAddr) -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is large and aligned enough for
                // any sockaddr type.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                mem::size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    fn family(&self) -> libc::c_int {
        self.storage.ss_family as libc::c_int
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const _ as *const libc::sockaddr
    }
}

fn new_socket(addr: &RawAddr) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before use.
    let fd = cvt(unsafe {
        libc::socket(
            addr.family(),
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_int_opt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `value` is a valid int for the duration of the call.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const _ as *const libc::c_void,
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Starts a nonblocking TCP connect to `addr`, with TCP_NODELAY set.
/// Returns the socket and whether it is already connected (otherwise the
/// connect is in progress: writability, or EPOLLERR on failure, tells the
/// outcome). Errors are immediate connect failures (refused, no ports...).
pub fn tcp_connect(addr: &RawAddr) -> io::Result<(OwnedFd, bool)> {
    let fd = new_socket(addr)?;
    set_int_opt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    // SAFETY: `addr` holds a valid sockaddr of `addr.len` bytes.
    let r = unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) };
    if r == 0 {
        return Ok((fd, true));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok((fd, false))
    } else {
        Err(e)
    }
}

/// A nonblocking listening socket on `addr` with SO_REUSEADDR and, if
/// `reuseport`, SO_REUSEPORT (so several threads can each have one). Returns
/// it with the address actually bound (port 0 picks a free port).
pub fn tcp_listen(addr: &SocketAddr, reuseport: bool) -> io::Result<(OwnedFd, SocketAddr)> {
    let raw = RawAddr::new(addr);
    let fd = new_socket(&raw)?;
    set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuseport {
        set_int_opt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    // SAFETY: `raw` holds a valid sockaddr of `raw.len` bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len) })?;
    // SAFETY: plain syscall on a socket we own.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), 4096) })?;
    let listener = TcpListener::from(fd);
    let local = listener.local_addr()?;
    Ok((OwnedFd::from(listener), local))
}

/// Accepts one connection as a nonblocking socket; `WouldBlock` when none is
/// waiting.
pub fn accept(listener: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed; the result is checked.
    let fd = cvt(unsafe {
        libc::accept4(
            listener,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `recv` into `buf`: Ok(0) is end of stream.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `send` of `buf` (MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE).
#[inline]
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
