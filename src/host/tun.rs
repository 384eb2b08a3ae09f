//! TAP creation through /dev/net/tun, the kernel-access layer's one character device. There
//! is no rtnetlink way to create a persistent tap with the flags QEMU expects, so this is the
//! one place that uses ioctls for it.

use std::io;
use std::os::fd::AsRawFd;

use rustix::fs::{Mode, OFlags};

use crate::types::IfName;

/// `struct ifreq` as TUNSETIFF uses it: the name, then the flags in the union.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// IFLA_TUN_TYPE of a TAP (`IFF_TAP`); a TUN device (layer 3) has 1.
pub const TUN_TYPE_TAP: u8 = libc::IFF_TAP as u8;

/// Creates a persistent TAP named `name` in the calling thread's network namespace.
///
/// `vnet_hdr` and `multiqueue` must match what the VMM will later open the device with,
/// otherwise its TUNSETIFF fails with EINVAL; QEMU/libvirt use vnet_hdr by default.
/// `IFF_TUN_EXCL` makes creation exclusive: if a device of that name appeared since the
/// caller looked, this fails with EBUSY instead of attaching to someone else's device.
pub fn create_persistent_tap(name: &IfName, multiqueue: bool) -> io::Result<()> {
    let _s = tracing::debug_span!("tap_create", %name, multiqueue).entered();
    let f = rustix::fs::open(
        "/dev/net/tun",
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR | libc::IFF_TUN_EXCL;
    if multiqueue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: flags as libc::c_short,
        _pad: [0; 22],
    };
    // IfName guarantees 1..=15 bytes without NUL or '%', so the name is NUL-terminated and
    // the kernel will not substitute a number into it.
    for (d, s) in req.name.iter_mut().zip(name.as_str().as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which IfReq lays out (40 bytes).
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::TUNSETIFF as _, &mut req as *mut IfReq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel writes back the name it used. Closing `f` before TUNSETPERSIST destroys
    // the device, so a mismatch leaves nothing behind.
    let got: Vec<u8> = req
        .name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    if got != name.as_str().as_bytes() {
        return Err(io::Error::other(format!(
            "the kernel named the tap {:?}, not {name}",
            String::from_utf8_lossy(&got)
        )));
    }
    // SAFETY: TUNSETPERSIST takes an integer argument by value.
    if unsafe { libc::ioctl(f.as_raw_fd(), libc::TUNSETPERSIST as _, 1 as libc::c_ulong) } < 0 {
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
