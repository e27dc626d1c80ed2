//! The io_uring driver: every `unsafe` of the data plane lives in this file.
//!
//! Ownership rules (who owns a piece of memory while the kernel may touch it):
//! - **Provided buffers** (`BufRing`): a buffer id is owned either (a) by the
//!   kernel, while it sits in the buffer ring, or (b) by user space, from the
//!   receive completion that selected it until the last `BufLease` on it is
//!   consumed by `BufRing::recycle`. Leases are counted references (`retain`
//!   makes another, e.g. to forward the end of one HTTP message and keep the
//!   start of the next); `BufLease` is neither `Copy` nor `Clone`, so every
//!   handle is recycled exactly once and the buffer returns to the kernel
//!   only with the last one. A lease handed to a send stays with its owner
//!   until that send's completion arrives, so the kernel never reads memory
//!   that was returned to the ring.
//! - **Owned byte buffers** (`Box<[u8]>`, e.g. a PROXY header sent to a
//!   server): the caller keeps the box alive, unmoved in the heap, until the
//!   completion of the send that reads it (the stream holds it in its pipe
//!   state and only drops it after that completion).
//! - **Socket addresses** for connect: they live in an `Arc` of the server,
//!   whose heap allocation never moves and outlives the operation because the
//!   stream holds a clone of the `Arc` until the connect completes.
//! - **The ring memory and the buffer memory** are mmapped regions owned by
//!   `Ring`/`BufRing`; the shard drops them only after draining every
//!   operation (see `Shard::drain`), buffer ring before the ring itself is not
//!   required since the kernel unregisters buffer rings at ring teardown, but
//!   the buffer memory is unmapped only after the ring is closed.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::{IoUring, cqueue, opcode, squeue, types};

/// One completion, copied out of the completion queue so that handlers can
/// push new submissions while processing it.
#[derive(Debug, Clone, Copy)]
pub struct Completion {
    pub user_data: u64,
    pub result: i32,
    pub flags: u32,
}

impl Completion {
    /// A multishot operation stays armed after this completion.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer id selected by a receive, if any.
    pub fn buffer_id(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// What the kernel granted at ring setup; logged once per shard.
#[derive(Debug, Clone, Copy)]
pub struct RingSetup {
    pub single_issuer: bool,
    pub defer_taskrun: bool,
}

pub struct Ring {
    ring: IoUring,
    /// Submissions pushed since the last `submit`.
    unsubmitted: usize,
}

impl Ring {
    /// Creates the ring on the calling thread, which becomes its only
    /// submitter. Tries SINGLE_ISSUER + DEFER_TASKRUN (6.1+), then
    /// SINGLE_ISSUER alone, then a plain ring, reporting what it got.
    pub fn new(entries: u32) -> io::Result<(Ring, RingSetup)> {
        let cq = entries.saturating_mul(4);
        let attempts: &[(bool, bool)] = match std::env::var("RINGPROXY_RING").as_deref() {
            Ok("plain") => &[(false, false)],
            Ok("single") => &[(true, false)],
            _ => &[(true, true), (true, false), (false, false)],
        };
        let mut last_err = None;
        for &(single, defer) in attempts {
            let mut b = IoUring::builder();
            b.setup_cqsize(cq).setup_clamp();
            if single {
                b.setup_single_issuer();
            }
            if defer {
                b.setup_defer_taskrun();
            }
            match b.build(entries) {
                Ok(ring) => {
                    return Ok((
                        Ring {
                            ring,
                            unsubmitted: 0,
                        },
                        RingSetup {
                            single_issuer: single,
                            defer_taskrun: defer,
                        },
                    ));
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("io_uring setup failed")))
    }

    pub fn fd(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        self.ring.as_raw_fd()
    }

    /// Pushes one entry, flushing the submission queue to the kernel first if
    /// it is full. An error here means the kernel refused `io_uring_enter`.
    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every entry built by this module only references memory
            // whose ownership rules are stated in the module doc: provided
            // buffers held by a lease, boxed bytes and Arc'd addresses kept
            // alive by the caller until the completion.
            let pushed = unsafe { self.ring.submission().push(&entry).is_ok() };
            if pushed {
                self.unsubmitted += 1;
                return Ok(());
            }
            self.ring.submit()?;
            self.unsubmitted = 0;
        }
    }

    /// Multishot accept on a listening socket.
    pub fn accept_multi(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let e = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build()
            .user_data(token);
        self.push(e)
    }

    /// Receive into a buffer the kernel selects from group `bgid`. The
    /// completion carries the buffer id, which becomes a `BufLease`.
    pub fn recv_select(&mut self, fd: RawFd, bgid: u16, token: u64) -> io::Result<()> {
        let e = opcode::Recv::new(types::Fd(fd), std::ptr::null_mut(), 0)
            .buf_group(bgid)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(token);
        self.push(e)
    }

    /// Multishot receive: stays armed and posts one completion (with the
    /// `more` flag) per chunk of data, each in a buffer the kernel selects
    /// from group `bgid`, until EOF, an error, an empty buffer ring
    /// (`-ENOBUFS`) or a cancellation ends it (a completion without `more`).
    pub fn recv_multi(&mut self, fd: RawFd, bgid: u16, token: u64) -> io::Result<()> {
        let e = opcode::RecvMulti::new(types::Fd(fd), bgid)
            .build()
            .user_data(token);
        self.push(e)
    }

    /// Cancels the one operation submitted with `target` as user_data.
    pub fn cancel_op(&mut self, target: u64, token: u64) -> io::Result<()> {
        let e = opcode::AsyncCancel::new(target).build().user_data(token);
        self.push(e)
    }

    /// Sends `lease[off..end]`. The lease must stay with the caller, not
    /// recycled, until this operation's completion (module rule for leases).
    pub fn send_lease(
        &mut self,
        fd: RawFd,
        bufs: &BufRing,
        lease: &BufLease,
        off: u32,
        end: u32,
        token: u64,
    ) -> io::Result<()> {
        debug_assert!(off <= end && end as usize <= bufs.size);
        let ptr = bufs.ptr(lease.bid).wrapping_add(off as usize);
        let e = opcode::Send::new(types::Fd(fd), ptr, end - off)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(token);
        self.push(e)
    }

    /// Sends `data[off..]` from a boxed buffer. The box must stay alive and
    /// unmodified until this operation's completion (module rule for owned
    /// byte buffers); moving the `Box` itself is fine, its heap memory does
    /// not move.
    pub fn send_owned(&mut self, fd: RawFd, data: &[u8], off: u32, token: u64) -> io::Result<()> {
        let rest = &data[off as usize..];
        let e = opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(token);
        self.push(e)
    }

    /// Connects `fd` to `addr`. `addr` must stay valid until the completion
    /// (module rule: it lives in an `Arc` held by the stream).
    pub fn connect(&mut self, fd: RawFd, addr: &SockAddr, token: u64) -> io::Result<()> {
        let e = opcode::Connect::new(
            types::Fd(fd),
            &addr.storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            addr.len,
        )
        .build()
        .user_data(token);
        self.push(e)
    }

    pub fn shutdown(&mut self, fd: RawFd, how: i32, token: u64) -> io::Result<()> {
        let e = opcode::Shutdown::new(types::Fd(fd), how)
            .build()
            .user_data(token);
        self.push(e)
    }

    pub fn close(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let e = opcode::Close::new(types::Fd(fd)).build().user_data(token);
        self.push(e)
    }

    /// Cancels every operation in flight on `fd`. Its own completion is
    /// posted with `token`; each cancelled operation completes with
    /// `-ECANCELED` under its own token.
    pub fn cancel_fd(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let e = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
            .build()
            .user_data(token);
        self.push(e)
    }

    /// Posts a completion carrying `data` on another ring (cross-shard
    /// wakeup). No completion is posted on this ring when it succeeds.
    pub fn msg_ring(&mut self, target_ring_fd: RawFd, data: u64, token: u64) -> io::Result<()> {
        let e = opcode::MsgRingData::new(types::Fd(target_ring_fd), 0, data, None)
            .build()
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(token);
        self.push(e)
    }

    /// Submits pending entries and waits for at least one completion, or
    /// until `timeout` passes (None: wait indefinitely).
    pub fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let res = match timeout {
            None => self.ring.submit_and_wait(1),
            Some(d) => {
                let ts = types::Timespec::new()
                    .sec(d.as_secs())
                    .nsec(d.subsec_nanos());
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        self.unsubmitted = 0;
        match res {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Submits pending entries without waiting.
    pub fn submit(&mut self) -> io::Result<()> {
        if self.unsubmitted > 0 {
            self.ring.submit()?;
            self.unsubmitted = 0;
        }
        Ok(())
    }

    /// Moves every available completion into `out` (cleared first).
    pub fn reap(&mut self, out: &mut Vec<Completion>) {
        out.clear();
        for cqe in self.ring.completion() {
            out.push(Completion {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
    }
}

/// A socket address in the form `connect` needs, stored where it cannot move
/// (inside an `Arc`'d server).
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddr {
    pub fn new(addr: std::net::SocketAddr) -> SockAddr {
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = crate::shard::sys::write_sockaddr(addr, &mut storage);
        SockAddr { storage, len }
    }
}

/// A provided buffer checked out of the ring: the holder owns the memory
/// until it gives the lease back with `BufRing::recycle`.
#[derive(Debug)]
#[must_use = "a lease not recycled leaks a buffer of the ring"]
pub struct BufLease {
    bid: u16,
}

/// A ring of `count` provided buffers of `size` bytes, registered as buffer
/// group `bgid` on one ring.
pub struct BufRing {
    /// The ring of `io_uring_buf` entries shared with the kernel.
    entries: *mut types::BufRingEntry,
    entries_len: usize,
    /// The buffers themselves: `count * size` bytes.
    data: *mut u8,
    data_len: usize,
    /// Capacity of the ring (entries and buffers mapped).
    count: u16,
    /// Buffers handed to the kernel so far: ids `0..provided`. The pool
    /// grows on demand because the ring is FIFO: every provided buffer gets
    /// touched in turn, so providing all of them up front would make the
    /// resident memory the whole pool instead of what the load needs.
    provided: u16,
    size: usize,
    mask: u16,
    /// Our copy of the tail; published to the kernel with a release store.
    tail: u16,
    bgid: u16,
    /// Buffers currently out of the ring (leased), for accounting.
    out: u32,
    /// Live leases per buffer id (0: in the kernel's ring).
    refs: Vec<u16>,
}

impl BufRing {
    /// Maps and registers the ring. `count` must be a power of two ≤ 32768;
    /// `initial` buffers are provided now, more by `grow`.
    pub fn new(
        ring: &Ring,
        bgid: u16,
        count: u16,
        initial: u16,
        size: usize,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer count must be a power of two <= 32768",
            ));
        }
        let entries_len = count as usize * std::mem::size_of::<types::BufRingEntry>();
        let data_len = count as usize * size;
        let entries = mmap_anon(entries_len)? as *mut types::BufRingEntry;
        let data = match mmap_anon(data_len) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: `entries` was just mapped with this length.
                unsafe { libc::munmap(entries as *mut libc::c_void, entries_len) };
                return Err(e);
            }
        };
        let mut br = BufRing {
            entries,
            entries_len,
            data,
            data_len,
            count,
            provided: 0,
            size,
            mask: count - 1,
            tail: 0,
            bgid,
            out: 0,
            refs: vec![0; count as usize],
        };
        // SAFETY: `entries` points to `count` entries mapped above, which
        // stay mapped until `Drop`, after the ring that uses them is gone.
        let reg = unsafe {
            ring.ring
                .submitter()
                .register_buf_ring_with_flags(entries as u64, count, bgid, 0)
        };
        if let Err(e) = reg {
            drop(br);
            return Err(e);
        }
        br.grow(initial.max(1));
        Ok(br)
    }

    /// Provides up to `n` more buffers to the kernel; returns how many were
    /// added (0 once the pool is at its capacity).
    pub fn grow(&mut self, n: u16) -> u16 {
        let add = n.min(self.count - self.provided);
        for bid in self.provided..self.provided + add {
            self.put(bid);
        }
        self.provided += add;
        if add > 0 {
            self.publish();
        }
        add
    }

    /// Buffers currently in the kernel's hands (provided and not leased).
    pub fn available(&self) -> u32 {
        self.provided as u32 - self.out
    }

    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn outstanding(&self) -> u32 {
        self.out
    }

    /// Turns a receive completion's buffer id into a lease. The kernel handed
    /// the buffer over with that completion, so nobody else owns it.
    pub fn lease(&mut self, bid: u16) -> BufLease {
        debug_assert!(bid < self.count && self.refs[bid as usize] == 0);
        self.out += 1;
        self.refs[bid as usize] = 1;
        BufLease { bid }
    }

    /// Another reference to a leased buffer; it goes back to the kernel only
    /// when every reference has been recycled.
    pub fn retain(&mut self, lease: &BufLease) -> BufLease {
        self.refs[lease.bid as usize] += 1;
        BufLease { bid: lease.bid }
    }

    /// The first `len` bytes of a leased buffer, as the kernel wrote them.
    pub fn data(&self, lease: &BufLease, len: usize) -> &[u8] {
        let len = len.min(self.size);
        // SAFETY: the lease proves the buffer is out of the kernel's hands;
        // it lies inside the mapping; no send reads it mutably.
        unsafe { std::slice::from_raw_parts(self.ptr(lease.bid), len) }
    }

    /// Drops one reference; the last one gives the buffer back to the
    /// kernel. Consuming the lease makes a double recycle impossible.
    pub fn recycle(&mut self, lease: BufLease) {
        let r = &mut self.refs[lease.bid as usize];
        *r -= 1;
        if *r > 0 {
            return;
        }
        self.out -= 1;
        self.put(lease.bid);
        self.publish();
    }

    fn ptr(&self, bid: u16) -> *const u8 {
        self.data.wrapping_add(bid as usize * self.size)
    }

    fn put(&mut self, bid: u16) {
        let idx = (self.tail & self.mask) as usize;
        // SAFETY: idx < count; the entry at the tail is not visible to the
        // kernel until `publish` moves the tail past it.
        let entry = unsafe { &mut *self.entries.add(idx) };
        entry.set_addr(self.ptr(bid) as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&mut self) {
        // SAFETY: the tail field lives in the first entry of the mapping;
        // the kernel reads it with acquire semantics.
        unsafe {
            let tail = types::BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both regions were mapped with these lengths in `new`. The
        // shard drops the `Ring` (which unregisters the group) before this.
        unsafe {
            libc::munmap(self.entries as *mut libc::c_void, self.entries_len);
            libc::munmap(self.data as *mut libc::c_void, self.data_len);
        }
    }
}

fn mmap_anon(len: usize) -> io::Result<*mut u8> {
    // SAFETY: anonymous private mapping, no file, checked result.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

/// The control thread's small ring, used only to post MSG_RING wakeups to
/// shards (it has no data-plane work).
pub struct WakeRing {
    ring: IoUring,
}

impl WakeRing {
    pub fn new() -> io::Result<WakeRing> {
        Ok(WakeRing {
            ring: IoUring::new(64)?,
        })
    }

    /// Posts a completion with `data` on the target ring and waits for the
    /// kernel to accept it.
    pub fn wake(&mut self, target_ring_fd: RawFd, data: u64) -> io::Result<()> {
        let e = opcode::MsgRingData::new(types::Fd(target_ring_fd), 0, data, None)
            .build()
            .user_data(0);
        // SAFETY: the entry references no user memory.
        unsafe {
            if self.ring.submission().push(&e).is_err() {
                self.ring.submit()?;
                let _ = self.ring.submission().push(&e);
            }
        }
        self.ring.submit_and_wait(1)?;
        let mut res = 0;
        for cqe in self.ring.completion() {
            res = cqe.result();
        }
        if res < 0 {
            return Err(io::Error::from_raw_os_error(-res));
        }
        Ok(())
    }
}

// The raw pointers are only dereferenced by the owning shard thread; a
// BufRing is created on the shard thread and never leaves it.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_buffer_returns_to_the_kernel_with_the_last_reference() {
        let (ring, _) = Ring::new(8).expect("io_uring available");
        let mut bufs = BufRing::new(&ring, 7, 8, 4, 256).expect("buffer ring");
        assert_eq!(bufs.available(), 4);
        // As if a receive completion had selected buffer 0.
        let a = bufs.lease(0);
        assert_eq!(bufs.available(), 3);
        let b = bufs.retain(&a);
        bufs.recycle(a);
        assert_eq!(bufs.available(), 3, "a reference is still live");
        bufs.recycle(b);
        assert_eq!(bufs.available(), 4);
        assert_eq!(bufs.grow(100), 4, "capped at the ring's capacity");
        assert_eq!(bufs.available(), 8);
        drop(bufs);
        drop(ring);
    }
}
