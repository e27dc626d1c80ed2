//! Listening sockets handed from a running process to its successor, over
//! the runtime API socket, in HAProxy's `_getsocks` format (so that either
//! side may be HAProxy): a binary upgrade loses no SYN because the new
//! process accepts on the very sockets the old one listened on.
//!
//! The exchange, after the client sent `_getsocks\n`:
//! 1. the server sends the number of sockets, a native-endian `i32`;
//! 2. then batches of at most `MAX_SEND_FD` sockets, each batch one message
//!    carrying the fds (SCM_RIGHTS) and, per fd, `[ns len u8][ns][iface len
//!    u8][iface][options: 4 bytes]` (we send no namespace, no interface and
//!    zero options; the receiver reads the address with getsockname);
//! 3. after each batch the client answers 4 bytes (an acknowledgement, the
//!    count so far) before the next one is sent.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, getsockopt, recvmsg, sendmsg, sockopt,
};

/// HAProxy's batch size (one SCM_RIGHTS message holds at most 253 fds).
pub const MAX_SEND_FD: usize = 253;

/// How long either side waits for the other.
const WAIT: Duration = Duration::from_secs(2);

/// A listening socket received from the previous process.
#[derive(Debug)]
pub struct Received {
    pub fd: OwnedFd,
    pub addr: SocketAddr,
    pub v6only: bool,
}

fn io_err(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Server side: sends `fds` on `stream` (which read `_getsocks`). The
/// stream is put in blocking mode with a timeout for the exchange.
pub fn send_sockets(stream: &UnixStream, fds: &[RawFd]) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WAIT))?;
    stream.set_read_timeout(Some(WAIT))?;
    let count = i32::try_from(fds.len()).unwrap_or(i32::MAX);
    let mut w = stream;
    std::io::Write::write_all(&mut w, &count.to_ne_bytes())?;
    // Per fd: no namespace (0), no interface (0), 4 bytes of options.
    const PER_FD: [u8; 6] = [0, 0, 0, 0, 0, 0];
    for batch in fds.chunks(MAX_SEND_FD) {
        let data: Vec<u8> = batch.iter().flat_map(|_| PER_FD).collect();
        let iov = [IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(batch)];
        sendmsg::<()>(
            stream.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(io_err)?;
        let mut ack = [0u8; 4];
        std::io::Read::read_exact(&mut w, &mut ack)?;
    }
    Ok(())
}

/// Client side (`-x PATH`): asks the process listening on `path` for its
/// listening sockets. Sockets that are not TCP listeners are closed.
pub fn get_sockets(path: &Path) -> std::io::Result<Vec<Received>> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.set_write_timeout(Some(WAIT))?;
    let mut s = &stream;
    std::io::Write::write_all(&mut s, b"_getsocks\n")?;
    let mut n = [0u8; 4];
    std::io::Read::read_exact(&mut s, &mut n)?;
    let total = usize::try_from(i32::from_ne_bytes(n)).unwrap_or(0);
    let mut fds: Vec<OwnedFd> = Vec::with_capacity(total);
    // Per fd at most: 1 + 255 + 1 + 255 + 4 bytes.
    let mut buf = vec![0u8; MAX_SEND_FD * 516];
    while fds.len() < total {
        let mut space = nix::cmsg_space!([RawFd; MAX_SEND_FD]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io_err)?;
        if msg.bytes == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the old process sent {} of {total} sockets", fds.len()),
            ));
        }
        for c in msg.cmsgs().map_err(io_err)? {
            if let ControlMessageOwned::ScmRights(got) = c {
                // SAFETY: SCM_RIGHTS just installed these fds in this
                // process; nothing else owns them.
                fds.extend(
                    got.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        // The acknowledgement lets the sender go on with its next batch.
        // A sender that does not wait for it (HAProxy sends everything,
        // then closes) makes this write fail: as HAProxy's own receiver
        // does, that is ignored.
        let ack = i32::try_from(fds.len()).unwrap_or(i32::MAX);
        let _ = std::io::Write::write_all(&mut s, &ack.to_ne_bytes());
    }
    let mut out = Vec::with_capacity(fds.len());
    for fd in fds {
        // A TCP listener (the stats socket, UNIX, has no such address).
        let listening = getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false);
        let Some(addr) = crate::shard::sys::local_addr(fd.as_raw_fd()).filter(|_| listening) else {
            continue;
        };
        let v6only = addr.is_ipv6() && getsockopt(&fd, sockopt::Ipv6V6Only).unwrap_or(false);
        out.push(Received { fd, addr, v6only });
    }
    Ok(out)
}
