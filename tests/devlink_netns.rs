//! The devlink client against the real kernel in a private network namespace: the family
//! lookup, dumps that end (NLMSG_DONE handled, no hang) and typed errors naming the
//! operation. A fresh netns has no devlink instances; netdevsim-backed behaviour is
//! tested in the VM tier (tests/vm/guest/scenarios/65-netdevsim.sh).

mod common;

use common::*;
use vifman::devlink::{DevHandle, Devlink, EswitchMode};

#[test]
fn devlink_client_on_the_host_kernel() {
    let Some(()) = in_netns("devlink_client_on_the_host_kernel", || {
        let mut dl = match Devlink::open() {
            Ok(d) => d,
            Err(vifman::devlink::DevlinkError::NoFamily) => {
                eprintln!("SKIP: kernel without devlink");
                return;
            }
            Err(e) => panic!("devlink open: {e}"),
        };
        assert_eq!(dl.devices().unwrap(), vec![]);
        assert_eq!(dl.ports().unwrap(), vec![]);
        assert_eq!(dl.rates().unwrap(), vec![]);
        let nope = DevHandle::new("netdevsim", "netdevsim999");
        let e = dl.eswitch(&nope).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
        assert!(
            e.to_string()
                .contains("eswitch show netdevsim/netdevsim999"),
            "{e}"
        );
        let e = dl
            .set_eswitch_mode(&nope, EswitchMode::Switchdev)
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    }) else {
        return;
    };
}
