//! The transport: one socket type, explicit sequence numbers, pipelined batches and ONE
//! receive loop ([`Rtnl::receive`]) that every request kind goes through, with a deadline.
//!
//! Why a single loop: the three clients this replaces had five loops with three buffer
//! policies and no timeout, so a lost ack blocked a command for ever. Here a request that
//! gets no answer for [`Rtnl::timeout`] fails with [`RtnlError::Timeout`].

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use thiserror::Error;

/// One request of a batch, with a label for error messages. The builders for the kinds of
/// request live with their messages (`link`); the client only sends them.
pub struct Request {
    pub label: String,
    pub(crate) msg: RouteNetlinkMessage,
    /// NLM_F_* beyond REQUEST|ACK (which every request carries).
    pub(crate) flags: u16,
}

pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDRLEN: usize = 16;
/// Keep each datagram well below the kernel's per-skb limit.
const MAX_BATCH_BYTES: usize = 32 * 1024;
/// How long a request may go without any reply before it is declared lost. Generous: some
/// drivers (mlx5, ice) take a second or more to apply a VF setting.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum RtnlError {
    /// Not a `#[from]`/source: the text is already in the message (see BackendError).
    #[error("netlink socket: {0}")]
    Io(io::Error),
    /// The kernel refused the request: errno plus the extended-ack message if any.
    #[error("{}{}", io::Error::from_raw_os_error(*errno), ext.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel { errno: i32, ext: Option<String> },
    #[error("malformed netlink reply: {0}")]
    Decode(String),
    /// No reply within the deadline: the request or its ack was lost (or the kernel is
    /// stuck). The request may or may not have been applied.
    #[error("no reply from the kernel within {0:?}")]
    Timeout(Duration),
}

impl From<io::Error> for RtnlError {
    fn from(e: io::Error) -> Self {
        RtnlError::Io(e)
    }
}

impl RtnlError {
    pub fn errno(&self) -> Option<i32> {
        match self {
            RtnlError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// A copy for every request of a batch that one transport failure ended.
    fn duplicate(&self) -> RtnlError {
        match self {
            RtnlError::Io(e) => RtnlError::Io(io::Error::new(e.kind(), e.to_string())),
            RtnlError::Kernel { errno, ext } => RtnlError::Kernel {
                errno: *errno,
                ext: ext.clone(),
            },
            RtnlError::Decode(s) => RtnlError::Decode(s.clone()),
            RtnlError::Timeout(d) => RtnlError::Timeout(*d),
        }
    }
}

pub type Result<T> = std::result::Result<T, RtnlError>;

/// One netlink message of a reply datagram, header fields decoded.
pub(crate) struct Frame<'a> {
    pub ty: u16,
    /// The whole message, header included.
    pub raw: &'a [u8],
}

/// What the receive loop's caller says after each message of a pending request.
pub(crate) enum Step {
    /// The request expects more messages (dump parts, or the ack after a GETLINK reply).
    More,
    /// The request is answered.
    Done,
}

/// A route netlink socket in the calling thread's network namespace.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    timeout: Duration,
    buf: Vec<u8>,
}

impl Rtnl {
    /// Opens a route socket in the calling thread's network namespace.
    pub fn open() -> Result<Self> {
        Self::connect(NETLINK_ROUTE, 0)
    }

    /// A socket of `protocol` talking to port `peer` (0 = the kernel). Tests point it at a
    /// user-space "kernel" that answers (or does not) as they script.
    pub(crate) fn connect(protocol: isize, peer: u32) -> Result<Self> {
        let mut sock = Socket::new(protocol)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(peer, 0))?;
        // Without these the kernel echoes the whole request in every error and omits
        // the human-readable reason. Best effort: old kernels lack them.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_rx_buf_sz(1 << 20);
        Ok(Rtnl {
            sock,
            seq: 0,
            timeout: DEFAULT_TIMEOUT,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// How long a request may wait for its next reply message.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Appends one request to `out`; returns its sequence number.
    fn encode(&mut self, msg: RouteNetlinkMessage, flags: u16, out: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        let mut h = NetlinkHeader::default();
        h.flags = NLM_F_REQUEST | flags;
        h.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let start = out.len();
        out.resize(start + nl.buffer_len(), 0);
        nl.serialize(&mut out[start..]);
        self.seq
    }

    /// Runs one request and waits for its ack.
    pub fn request(&mut self, req: Request) -> Result<()> {
        let _s = tracing::debug_span!("rtnl", op = %req.label).entered();
        self.batch(vec![req]).pop().expect("one result per request")
    }

    /// Sends all requests (packed into as few datagrams as fit), then reads one ack per
    /// request. Results come back in request order; a failed request does not stop the
    /// kernel from processing the following ones.
    pub fn batch(&mut self, reqs: Vec<Request>) -> Vec<Result<()>> {
        let _s = tracing::debug_span!("rtnl_batch", n = reqs.len()).entered();
        let mut results: Vec<Option<Result<()>>> = (0..reqs.len()).map(|_| None).collect();
        let mut pending: HashMap<u32, usize> = HashMap::new();
        let mut out = Vec::with_capacity(MAX_BATCH_BYTES);
        let mut sent = Ok(());
        super::count::rtnl(false, reqs.len() as u64);
        for (i, r) in reqs.into_iter().enumerate() {
            let seq = self.encode(r.msg, r.flags | NLM_F_ACK, &mut out);
            pending.insert(seq, i);
            if out.len() >= MAX_BATCH_BYTES {
                sent = self.send(&out);
                out.clear();
                if sent.is_err() {
                    break;
                }
            }
        }
        if sent.is_ok() && !out.is_empty() {
            sent = self.send(&out);
        }
        let outcome = sent.and_then(|()| {
            self.receive(&mut pending, |i, f| {
                if f.ty == NLMSG_ERROR {
                    results[i] = Some(parse_ack(f.raw));
                    Step::Done
                } else {
                    Step::More
                }
            })
        });
        if let Err(e) = outcome {
            for &i in pending.values() {
                results[i] = Some(Err(e.duplicate()));
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(RtnlError::Decode("no reply".into()))))
            .collect()
    }

    /// A request answered by at most one message plus an ack (RTM_GETLINK of one link).
    /// `Ok(None)` when the kernel answers with an error `absent` names (ENODEV for a link).
    pub(crate) fn get(
        &mut self,
        msg: RouteNetlinkMessage,
        absent: i32,
    ) -> Result<Option<NetlinkMessage<RouteNetlinkMessage>>> {
        let mut out = Vec::new();
        let seq = self.encode(msg, NLM_F_ACK, &mut out);
        super::count::rtnl(false, 1);
        self.send(&out)?;
        let mut found = None;
        let mut res = Ok(());
        self.receive(&mut HashMap::from([(seq, 0)]), |_, f| {
            if f.ty == NLMSG_ERROR {
                res = parse_ack(f.raw);
                return Step::Done;
            }
            match decode(f.raw) {
                Ok(m) => found = Some(m),
                Err(e) => res = Err(e),
            }
            Step::More
        })?;
        match res {
            Ok(()) => Ok(found),
            Err(RtnlError::Kernel { errno, .. }) if errno == absent => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A dump request (NLM_F_DUMP): every part until NLMSG_DONE.
    pub(crate) fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<NetlinkMessage<RouteNetlinkMessage>>> {
        let mut out = Vec::new();
        let seq = self.encode(msg, netlink_packet_core::NLM_F_DUMP, &mut out);
        super::count::rtnl(true, 1);
        self.send(&out)?;
        let mut parts = Vec::new();
        let mut res = Ok(());
        self.receive(&mut HashMap::from([(seq, 0)]), |_, f| match f.ty {
            // NLMSG_DONE carries an error code of its own (0, or why the dump stopped).
            NLMSG_DONE | NLMSG_ERROR => {
                res = parse_ack(f.raw);
                Step::Done
            }
            _ => {
                match decode(f.raw) {
                    Ok(m) => parts.push(m),
                    Err(e) if res.is_ok() => res = Err(e),
                    Err(_) => {}
                }
                Step::More
            }
        })?;
        res.map(|()| parts)
    }

    /// A socket of another netlink protocol (NETLINK_GENERIC for devlink) that shares this
    /// transport: the same deadline, batching and receive loop. Callers encode their own
    /// payloads and send them with [`Rtnl::raw`].
    pub(crate) fn open_protocol(protocol: isize) -> Result<Self> {
        Self::connect(protocol, 0)
    }

    /// One request whose payload (everything after the 16-byte netlink header) the caller
    /// encoded: message type `ty`, NLM_F_* `flags` beyond REQUEST|ACK. Returns the payloads
    /// of every reply message before the ack (a dump's parts, or a GET's answer). A plain
    /// request is acked (NLM_F_ACK added), a dump (NLM_F_DUMP) ends with NLMSG_DONE.
    pub(crate) fn raw(&mut self, ty: u16, flags: u16, payload: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + payload.len();
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&(len as u32).to_ne_bytes());
        out.extend_from_slice(&ty.to_ne_bytes());
        // A dump ends with NLMSG_DONE; an ack on top would only be a stray message.
        let ack = if flags & netlink_packet_core::NLM_F_DUMP == 0 {
            NLM_F_ACK
        } else {
            0
        };
        out.extend_from_slice(&(NLM_F_REQUEST | ack | flags).to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(payload);
        self.send(&out)?;
        let mut parts = Vec::new();
        let mut res = Ok(());
        self.receive(&mut HashMap::from([(seq, 0)]), |_, f| match f.ty {
            NLMSG_DONE | NLMSG_ERROR => {
                // A dump's NLMSG_DONE is followed by no ack of its own; a failed dump
                // part's error ends it too.
                let r = parse_ack(f.raw);
                if res.is_ok() {
                    res = r;
                }
                Step::Done
            }
            _ => {
                parts.push(f.raw[NLMSG_HDRLEN.min(f.raw.len())..].to_vec());
                Step::More
            }
        })?;
        res.map(|()| parts)
    }

    fn send(&self, out: &[u8]) -> Result<()> {
        self.sock.send(out, 0)?;
        Ok(())
    }

    /// THE receive loop. Reads datagrams (each sized by a peek first: one message of a PF
    /// with hundreds of VFs is bigger than any fixed buffer, and a truncated datagram cannot
    /// be re-read) and hands every message of a pending request to `on`, until no request
    /// is pending. Messages for other sequence numbers (replies to a request that already
    /// timed out) are skipped. Fails with [`RtnlError::Timeout`] when no message for a
    /// pending request arrives for [`Rtnl::timeout`].
    pub(crate) fn receive(
        &mut self,
        pending: &mut HashMap<u32, usize>,
        mut on: impl FnMut(usize, &Frame<'_>) -> Step,
    ) -> Result<()> {
        let mut progress = Instant::now();
        while !pending.is_empty() {
            let left = self.timeout.saturating_sub(progress.elapsed());
            if left.is_zero() {
                tracing::warn!(
                    pending = pending.len(),
                    timeout_ms = self.timeout.as_millis() as u64,
                    "netlink request unanswered"
                );
                return Err(RtnlError::Timeout(self.timeout));
            }
            if !self.readable(left)? {
                continue;
            }
            let n = self.recv_datagram()?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let m = &self.buf[off..n];
                let len = u32::from_ne_bytes(m[0..4].try_into().expect("4 bytes")) as usize;
                if len < NLMSG_HDRLEN || len > m.len() {
                    return Err(RtnlError::Decode(format!(
                        "message length {len} at offset {off} of a {n}-byte datagram"
                    )));
                }
                let ty = u16::from_ne_bytes(m[4..6].try_into().expect("2 bytes"));
                let seq = u32::from_ne_bytes(m[8..12].try_into().expect("4 bytes"));
                match pending.get(&seq) {
                    Some(&slot) => {
                        progress = Instant::now();
                        let frame = Frame { ty, raw: &m[..len] };
                        if let Step::Done = on(slot, &frame) {
                            pending.remove(&seq);
                        }
                    }
                    None => tracing::debug!(seq, ty, "skipping a reply to another request"),
                }
                off += (len + 3) & !3;
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for a datagram; false on timeout or a signal.
    fn readable(&self, timeout: Duration) -> Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let ts = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&self.sock, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) => Ok(n > 0),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(RtnlError::Io(e.into())),
        }
    }

    /// Reads one whole datagram into `self.buf`; returns its length.
    fn recv_datagram(&mut self) -> Result<usize> {
        let mut probe: [u8; 0] = [];
        let want = self
            .sock
            .recv(&mut &mut probe[..], libc::MSG_PEEK | libc::MSG_TRUNC)?;
        self.buf.clear();
        self.buf.reserve(want);
        let n = self.sock.recv(&mut self.buf, 0)?;
        Ok(n.min(self.buf.len()))
    }
}

fn decode(raw: &[u8]) -> Result<NetlinkMessage<RouteNetlinkMessage>> {
    NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw)
        .map_err(|e| RtnlError::Decode(e.to_string()))
}

/// Decodes an NLMSG_ERROR (or the error code of an NLMSG_DONE) by hand: the crate's parser
/// does not expose the extended-ack TLVs, and those carry the only useful text ("Unknown
/// device type"). The one place vifman reads kernel errors.
pub(crate) fn parse_ack(m: &[u8]) -> Result<()> {
    if m.len() < NLMSG_HDRLEN + 4 {
        // An NLMSG_DONE without a code (old kernels) is a plain end of dump.
        return if m.len() >= NLMSG_HDRLEN
            && u16::from_ne_bytes(m[4..6].try_into().expect("2 bytes")) == NLMSG_DONE
        {
            Ok(())
        } else {
            Err(RtnlError::Decode("short NLMSG_ERROR".into()))
        };
    }
    let ty = u16::from_ne_bytes(m[4..6].try_into().expect("2 bytes"));
    let flags = u16::from_ne_bytes(m[6..8].try_into().expect("2 bytes"));
    let code = i32::from_ne_bytes(m[16..20].try_into().expect("4 bytes"));
    if code == 0 {
        return Ok(());
    }
    let mut ext = None;
    // NLMSG_ERROR: TLVs follow the (capped) original request; NLMSG_DONE: the code.
    let tlvs_at = if ty == NLMSG_DONE {
        Some(NLMSG_HDRLEN + 4)
    } else if m.len() >= NLMSG_HDRLEN + 4 + NLMSG_HDRLEN {
        let orig_len = u32::from_ne_bytes(m[20..24].try_into().expect("4 bytes")) as usize;
        Some(
            NLMSG_HDRLEN
                + 4
                + if flags & NLM_F_CAPPED != 0 {
                    NLMSG_HDRLEN
                } else {
                    (orig_len + 3) & !3
                },
        )
    } else {
        None
    };
    if let (true, Some(mut off)) = (flags & NLM_F_ACK_TLVS != 0, tlvs_at) {
        while off + 4 <= m.len() {
            let alen = u16::from_ne_bytes(m[off..off + 2].try_into().expect("2 bytes")) as usize;
            let aty = u16::from_ne_bytes(m[off + 2..off + 4].try_into().expect("2 bytes")) & 0x3fff;
            if alen < 4 || off + alen > m.len() {
                break;
            }
            if aty == NLMSGERR_ATTR_MSG {
                let s = &m[off + 4..off + alen];
                let s = s.split(|b| *b == 0).next().unwrap_or(&[]);
                ext = Some(String::from_utf8_lossy(s).into_owned());
            }
            off += (alen + 3) & !3;
        }
    }
    Err(RtnlError::Kernel {
        errno: code.saturating_neg(),
        ext,
    })
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
