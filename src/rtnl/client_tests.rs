//! The receive loop against a scripted peer: a NETLINK_USERSOCK socket stands in for the
//! kernel (any user may talk to another user-space netlink port on that protocol), so lost
//! acks, out-of-order and packed replies, dumps and extended acks are tested without root.

use std::time::{Duration, Instant};

use netlink_packet_route::link::LinkMessage;
use netlink_sys::{protocols::NETLINK_USERSOCK, Socket, SocketAddr};

use super::*;
use crate::rtnl::link::LinkChange;
use crate::rtnl::Request;

/// A fake kernel: reads requests, answers what the test says.
struct Peer {
    sock: Socket,
}

/// (sequence number, flags) of each message of one request datagram.
type Got = Vec<(u32, u16)>;

impl Peer {
    fn new() -> Peer {
        let mut sock = Socket::new(NETLINK_USERSOCK).expect("NETLINK_USERSOCK socket");
        sock.bind_auto().unwrap();
        Peer { sock }
    }

    fn port(&self) -> u32 {
        let mut a = SocketAddr::new(0, 0);
        self.sock.get_address(&mut a).unwrap();
        a.port_number()
    }

    fn client(&self) -> Rtnl {
        let mut c = Rtnl::connect(NETLINK_USERSOCK, self.port()).unwrap();
        c.set_timeout(Duration::from_millis(300));
        c
    }

    /// One request datagram: its messages, and who sent it.
    fn read(&self) -> (Got, SocketAddr) {
        let (buf, from) = self.sock.recv_from_full().unwrap();
        let mut got = vec![];
        let mut off = 0;
        while off + 16 <= buf.len() {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let flags = u16::from_ne_bytes(buf[off + 6..off + 8].try_into().unwrap());
            let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            got.push((seq, flags));
            off += (len + 3) & !3;
        }
        (got, from)
    }

    fn answer(&self, to: &SocketAddr, msgs: &[Vec<u8>]) {
        self.sock.send_to(&msgs.concat(), to, 0).unwrap();
    }
}

fn header(len: usize, ty: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut m = vec![0u8; 16];
    m[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&ty.to_ne_bytes());
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m
}

/// NLMSG_ERROR for `seq` with `code` (0 = ack), capped, with an ext-ack text if given.
fn err_msg(seq: u32, code: i32, ext: Option<&str>) -> Vec<u8> {
    let mut flags = NLM_F_CAPPED;
    if ext.is_some() {
        flags |= NLM_F_ACK_TLVS;
    }
    let mut m = header(0, NLMSG_ERROR, flags, seq);
    m.extend_from_slice(&code.to_ne_bytes());
    // The capped original request: its header only.
    m.extend_from_slice(&header(40, 16, 0, seq));
    if let Some(t) = ext {
        let mut v = t.as_bytes().to_vec();
        v.push(0);
        m.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        m.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        m.extend_from_slice(&v);
        while !m.len().is_multiple_of(4) {
            m.push(0);
        }
    }
    let l = m.len() as u32;
    m[0..4].copy_from_slice(&l.to_ne_bytes());
    m
}

fn newlink(seq: u32, index: u32, name: &str) -> Vec<u8> {
    let mut l = LinkMessage::default();
    l.header.index = index;
    l.attributes
        .push(netlink_packet_route::link::LinkAttribute::IfName(
            name.into(),
        ));
    let mut h = NetlinkHeader::default();
    h.sequence_number = seq;
    h.flags = 0x2; // NLM_F_MULTI
    let mut nl = NetlinkMessage::new(
        h,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)),
    );
    nl.finalize();
    let mut out = vec![0; nl.buffer_len()];
    nl.serialize(&mut out);
    out
}

fn done(seq: u32) -> Vec<u8> {
    let mut m = header(20, NLMSG_DONE, 0x2, seq);
    m.extend_from_slice(&0i32.to_ne_bytes());
    m
}

fn up(name: &str) -> Request {
    Request::set_link_by_name(
        name,
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
}

#[test]
fn a_peer_that_never_answers_gives_a_timeout_not_a_hang() {
    let peer = Peer::new();
    let mut c = peer.client();
    let t = Instant::now();
    let e = c.request(up("eth0")).unwrap_err();
    assert!(
        matches!(e, RtnlError::Timeout(d) if d == Duration::from_millis(300)),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(e.to_string(), "no reply from the kernel within 300ms");
    // The request did reach the peer: the timeout is about the missing ack.
    let (got, _) = peer.read();
    assert_eq!(got.len(), 1);
    assert_ne!(got[0].1 & NLM_F_ACK, 0, "acks are requested");
}

#[test]
fn a_batch_is_one_datagram_and_acks_are_matched_by_sequence() {
    let peer = Peer::new();
    let mut c = peer.client();
    let h = std::thread::scope(|s| {
        let h = s.spawn(|| c.batch(vec![up("a"), up("b"), up("c")]));
        let (got, from) = peer.read();
        assert_eq!(got.len(), 3, "three requests packed in one datagram");
        let seqs: Vec<u32> = got.iter().map(|g| g.0).collect();
        // Out of order, packed, and with a stray reply to an old request mixed in.
        peer.answer(
            &from,
            &[
                err_msg(seqs[2], 0, None),
                err_msg(seqs[0] + 1000, -libc::EINVAL, None),
                err_msg(seqs[0], -libc::EOPNOTSUPP, Some("Unknown device type")),
            ],
        );
        peer.answer(&from, &[err_msg(seqs[1], 0, None)]);
        h.join().unwrap()
    });
    assert_eq!(h.len(), 3);
    let e = h[0].as_ref().unwrap_err();
    assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));
    assert!(e.to_string().ends_with("(Unknown device type)"), "{e}");
    assert!(h[1].is_ok() && h[2].is_ok(), "{h:?}");
}

#[test]
fn a_lost_ack_in_a_batch_times_out_that_request_only() {
    let peer = Peer::new();
    let mut c = peer.client();
    let h = std::thread::scope(|s| {
        let h = s.spawn(|| c.batch(vec![up("a"), up("b")]));
        let (got, from) = peer.read();
        peer.answer(&from, &[err_msg(got[0].0, 0, None)]);
        h.join().unwrap()
    });
    assert!(h[0].is_ok());
    assert!(matches!(h[1], Err(RtnlError::Timeout(_))), "{:?}", h[1]);
    // The socket stays usable: a late ack for the lost request is skipped.
    let h = std::thread::scope(|s| {
        let h = s.spawn(|| c.request(up("c")));
        let (got, from) = peer.read();
        peer.answer(
            &from,
            &[
                err_msg(got[0].0 - 1, 0, None),
                err_msg(got[0].0, -libc::ENODEV, None),
            ],
        );
        h.join().unwrap()
    });
    assert_eq!(h.unwrap_err().errno(), Some(libc::ENODEV));
}

#[test]
fn a_dump_reads_every_part_until_done() {
    let peer = Peer::new();
    let mut c = peer.client();
    let links = std::thread::scope(|s| {
        let h = s.spawn(|| c.dump_links());
        let (got, from) = peer.read();
        let seq = got[0].0;
        assert_ne!(got[0].1 & netlink_packet_core::NLM_F_DUMP, 0);
        peer.answer(&from, &[newlink(seq, 1, "lo"), newlink(seq, 2, "eth0")]);
        peer.answer(&from, &[newlink(seq, 3, "eth1"), done(seq)]);
        h.join().unwrap()
    })
    .unwrap();
    let names: Vec<_> = links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "eth0", "eth1"]);
}

#[test]
fn a_get_returns_the_link_then_its_ack_or_none_on_enodev() {
    let peer = Peer::new();
    let mut c = peer.client();
    let (found, missing) = std::thread::scope(|s| {
        let h = s.spawn(|| (c.get_link("eth0"), c.get_link("nope")));
        let (got, from) = peer.read();
        peer.answer(
            &from,
            &[newlink(got[0].0, 2, "eth0"), err_msg(got[0].0, 0, None)],
        );
        let (got, from) = peer.read();
        peer.answer(
            &from,
            &[err_msg(got[0].0, -libc::ENODEV, Some("no such device"))],
        );
        h.join().unwrap()
    });
    assert_eq!(found.unwrap().unwrap().index, 2);
    assert!(missing.unwrap().is_none());
}

#[test]
fn a_truncated_reply_is_a_decode_error() {
    let peer = Peer::new();
    let mut c = peer.client();
    let r = std::thread::scope(|s| {
        let h = s.spawn(|| c.request(up("a")));
        let (got, from) = peer.read();
        let mut m = err_msg(got[0].0, 0, None);
        m[0..4].copy_from_slice(&999u32.to_ne_bytes());
        peer.answer(&from, &[m]);
        h.join().unwrap()
    });
    assert!(matches!(r, Err(RtnlError::Decode(_))), "{r:?}");
}

#[test]
fn ack_decoding() {
    assert!(parse_ack(&err_msg(1, 0, None)).is_ok());
    let e = parse_ack(&err_msg(1, -libc::EBUSY, None)).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EBUSY));
    assert!(matches!(e, RtnlError::Kernel { ext: None, .. }));
    let e = parse_ack(&err_msg(1, -libc::EOPNOTSUPP, Some("Unknown device type"))).unwrap_err();
    assert!(matches!(&e, RtnlError::Kernel { ext: Some(t), .. } if t == "Unknown device type"));
    // An uncapped error echoes the whole request before the TLVs.
    let mut m = header(0, NLMSG_ERROR, NLM_F_ACK_TLVS, 1);
    m.extend_from_slice(&(-libc::EINVAL).to_ne_bytes());
    let mut orig = header(24, 16, 0, 1);
    orig.extend_from_slice(&[0xaa; 8]);
    m.extend_from_slice(&orig);
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
    m.extend_from_slice(b"bad\0");
    let l = m.len() as u32;
    m[0..4].copy_from_slice(&l.to_ne_bytes());
    let e = parse_ack(&m).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{} (bad)", io::Error::from_raw_os_error(libc::EINVAL))
    );
    // NLMSG_DONE with and without an error code; a short NLMSG_ERROR.
    assert!(parse_ack(&done(1)).is_ok());
    assert!(parse_ack(&header(16, NLMSG_DONE, 0, 1)).is_ok());
    let mut d = header(20, NLMSG_DONE, 0, 1);
    d.extend_from_slice(&(-libc::EMSGSIZE).to_ne_bytes());
    assert_eq!(parse_ack(&d).unwrap_err().errno(), Some(libc::EMSGSIZE));
    assert!(matches!(
        parse_ack(&header(16, NLMSG_ERROR, 0, 1)),
        Err(RtnlError::Decode(_))
    ));
}
