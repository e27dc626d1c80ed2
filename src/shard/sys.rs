//! Thin, checked wrappers over the few socket syscalls that io_uring does not
//! replace for us: creating sockets, socket options and address queries.
//! (io_uring's own `unsafe` stays in `ring.rs`.)

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Writes `addr` into `storage`; returns the length to pass to the kernel.
pub fn write_sockaddr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
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
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

fn read_sockaddr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match storage.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn query(fd: RawFd, peer: bool) -> Option<SocketAddr> {
    // SAFETY: zeroed storage is valid; the kernel writes at most `len` bytes.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = &mut storage as *mut _ as *mut libc::sockaddr;
    // SAFETY: valid fd number (or the call fails), valid out pointers.
    let rc = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    if rc != 0 {
        return None;
    }
    read_sockaddr(&storage)
}

pub fn peer_addr(fd: RawFd) -> Option<SocketAddr> {
    query(fd, true)
}

pub fn local_addr(fd: RawFd) -> Option<SocketAddr> {
    query(fd, false)
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: pointer to a live i32 with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A new non-blocking, close-on-exec TCP socket of the given family.
fn tcp_socket(v6: bool) -> io::Result<RawFd> {
    let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain syscall with constant arguments.
    let fd = unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// A non-blocking TCP socket for a server connection, TCP_NODELAY set (the
/// relay forwards what it has at once; batching is the endpoints' business).
pub fn server_socket(family_v6: bool) -> io::Result<RawFd> {
    let fd = tcp_socket(family_v6)?;
    if let Err(e) = setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1) {
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// A listening socket with SO_REUSEPORT, so that each shard gets its own
/// accept queue for the same address.
pub fn reuseport_listener(addr: SocketAddr, v6only: bool, backlog: i32) -> io::Result<RawFd> {
    let fd = tcp_socket(addr.is_ipv6())?;
    let setup = || -> io::Result<()> {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        // Accepted sockets inherit TCP_NODELAY: no per-connection setsockopt.
        setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        if addr.is_ipv6() {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only as i32)?;
        }
        // SAFETY: zeroed storage is valid and then filled for `addr`.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = write_sockaddr(addr, &mut storage);
        // SAFETY: storage holds a valid address of length `len`.
        if unsafe { libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall on our fd.
        if unsafe { libc::listen(fd, backlog) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    if let Err(e) = setup() {
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// Takes over listening socket `fd`, inherited from the parent (`fd@N`):
/// it must be a listening TCP socket. Marked close-on-exec, so it does not
/// leak further, and given TCP_NODELAY for the sockets it accepts.
pub fn inherited_listener(fd: RawFd) -> io::Result<RawFd> {
    take_inherited_listener(fd)?;
    setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
    Ok(fd)
}

/// Takes over listening socket `fd` inherited from the parent: checks that
/// it listens, marks it close-on-exec; its address family.
pub fn take_inherited_listener(fd: RawFd) -> io::Result<libc::sa_family_t> {
    let mut listening: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid out-pointers for an int option.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            &mut listening as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if listening == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a listening socket",
        ));
    }
    // SAFETY: plain fcntl on an fd we own from now on.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: zeroed storage is a valid out-buffer for getsockname.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage and len describe a buffer large enough for any family.
    if unsafe { libc::getsockname(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) }
        != 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(storage.ss_family)
}

/// A close-on-exec duplicate of `fd`.
/// A close-on-exec duplicate of `fd`, owned.
pub fn dup_owned(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    let d = dup_cloexec(fd)?;
    // SAFETY: dup just made this fd; nothing else owns it.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(d) })
}

pub fn dup_cloexec(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: plain fcntl; the new fd is ours.
    let d = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if d < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(d)
}

/// Stops a listening socket at once: from now on a SYN is refused, and an
/// accept in progress on it completes with an error. (Closing alone waits
/// until io_uring lets go of its accept.) Every fd of the socket is
/// affected, duplicates and other processes' included.
pub fn shutdown_listener(fd: RawFd) {
    // SAFETY: plain syscall on an fd the caller owns.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

/// Closes an fd outside the ring (startup/teardown paths only).
pub fn close(fd: RawFd) {
    // SAFETY: the caller owns fd and never uses it again.
    unsafe { libc::close(fd) };
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_SET bounds are checked by libc's
    // macro translation (cpu < CPU_SETSIZE checked below).
    unsafe {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cpu out of range",
            ));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// CPUs this process may run on, in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data filled by the kernel.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Raises the soft fd limit to the hard one; returns the resulting soft limit.
pub fn raise_nofile() -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    rl.rlim_cur
}
