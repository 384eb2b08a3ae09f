//! TAP creation through /dev/net/tun. There is no rtnetlink way to create a persistent tap
//! with the flags QEMU expects, so this is the one place that uses ioctls.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
const IFF_VNET_HDR: libc::c_short = 0x4000;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Creates a persistent TAP named `name` in the calling thread's network namespace.
///
/// `vnet_hdr` and `multiqueue` must match what the VMM will later open the device with,
/// otherwise its TUNSETIFF fails with EINVAL; QEMU/libvirt use vnet_hdr by default.
pub fn create_persistent_tap(name: &str, multiqueue: bool) -> io::Result<()> {
    let _s = tracing::debug_span!("tap_create", name, multiqueue).entered();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
        _pad: [0; 22],
    };
    if multiqueue {
        req.flags |= IFF_MULTI_QUEUE;
    }
    for (d, s) in req.name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which IfReq lays out (40 bytes).
    if unsafe { libc::ioctl(f.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TUNSETPERSIST takes an integer argument by value.
    if unsafe { libc::ioctl(f.as_raw_fd(), TUNSETPERSIST as _, 1 as libc::c_ulong) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ifreq_is_kernel_sized() {
        assert_eq!(std::mem::size_of::<super::IfReq>(), 40);
    }
}
