//! The inventory's eswitch reads share the host-wide devlink dumps: counted against a fake
//! devlink that answers as a host with two switchdev instances and one without an eswitch.

use super::*;
use crate::devlink::{Eswitch, Port, PortFlavour, Rate};

#[derive(Default)]
struct Fake {
    device_dumps: u32,
    rate_dumps: u32,
    port_dumps: u32,
    eswitch_gets: u32,
    /// A rate dump that fails once (EIO), for the error path.
    rates_fail_once: bool,
}

fn dev(a: &str) -> DevHandle {
    DevHandle::new("pci", a)
}

fn vf_port(d: &str, index: u32, vf: u16) -> Port {
    Port {
        dev: dev(d),
        index,
        flavour: PortFlavour::PciVf,
        number: None,
        pfnum: Some(0),
        vfnum: Some(vf),
        sfnum: None,
        controller: None,
        external: false,
        netdev_ifindex: Some(100 + index),
        netdev: Some(format!("rep{index}")),
        function: None,
    }
}

impl EswitchReads for Fake {
    fn devices(&mut self) -> Result<Vec<DevHandle>, DevlinkError> {
        self.device_dumps += 1;
        Ok(vec![
            dev("0000:5e:00.0"),
            dev("0000:5e:00.1"),
            dev("0000:3b:00.0"),
        ])
    }
    fn instance_of(&mut self, _: &PfId) -> Result<Option<DevHandle>, DevlinkError> {
        Ok(None)
    }
    fn eswitch(&mut self, d: &DevHandle) -> Result<Eswitch, DevlinkError> {
        self.eswitch_gets += 1;
        if d == &dev("0000:3b:00.0") {
            // i40e: devlink for info only.
            return Err(DevlinkError::Request {
                op: "eswitch get".into(),
                err: crate::rtnl::RtnlError::Kernel {
                    errno: libc::EOPNOTSUPP,
                    ext: None,
                },
            });
        }
        Ok(Eswitch {
            mode: EswitchMode::Switchdev,
            inline_mode: None,
            encap_mode: None,
        })
    }
    fn driver(&mut self, _: &DevHandle) -> Option<crate::types::DriverName> {
        None
    }
    fn rates(&mut self) -> Result<Vec<Rate>, DevlinkError> {
        self.rate_dumps += 1;
        if std::mem::take(&mut self.rates_fail_once) {
            return Err(DevlinkError::Request {
                op: "rate dump".into(),
                err: crate::rtnl::RtnlError::Kernel {
                    errno: libc::EIO,
                    ext: None,
                },
            });
        }
        Ok(vec![Rate {
            dev: dev("0000:5e:00.1"),
            object: RateObject::Node {
                name: "tenants".into(),
            },
            tx_share: 0,
            tx_max: 0,
            parent: None,
        }])
    }
    fn ports(&mut self) -> Result<Vec<Port>, DevlinkError> {
        self.port_dumps += 1;
        Ok(vec![
            vf_port("0000:5e:00.0", 1, 0),
            vf_port("0000:5e:00.0", 2, 1),
            vf_port("0000:5e:00.1", 1, 0),
        ])
    }
}

fn pfs() -> Vec<PfId> {
    [
        "0000:5e:00.0",
        "0000:5e:00.1",
        "0000:3b:00.0",
        "0000:af:00.0",
    ]
    .map(|a| PfId::Pci(a.parse().unwrap()))
    .to_vec()
}

#[test]
fn one_instance_rate_and_port_dump_for_every_pf() {
    let mut alone = Fake::default();
    let one_by_one: Vec<_> = pfs()
        .iter()
        .map(|pf| eswitch_with(&mut alone, pf, &mut Dumps::default()).unwrap())
        .collect();
    // Asked alone (as before): a dump of each per PF that has an eswitch.
    assert_eq!(
        (alone.device_dumps, alone.rate_dumps, alone.port_dumps),
        (4, 2, 2)
    );
    let mut shared = Fake::default();
    let together: Vec<_> = eswitches_with(&mut shared, &pfs(), &mut Dumps::default())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(together, one_by_one);
    assert_eq!(
        (shared.device_dumps, shared.rate_dumps, shared.port_dumps),
        (1, 1, 1)
    );
    // The eswitch get stays per instance.
    assert_eq!(shared.eswitch_gets, 3);
    let [a, b, c, d] = &together[..] else {
        panic!("{together:?}")
    };
    let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
    assert_eq!((a.vf_representors, a.rate_nodes.len()), (Some(2), 0));
    assert_eq!(
        (b.vf_representors, b.rate_nodes.clone()),
        (Some(1), vec!["tenants".to_string()])
    );
    assert_eq!((c, d), (&None, &None));
}

#[test]
fn a_failed_dump_is_that_pfs_error_and_asked_again_for_the_next() {
    let mut f = Fake {
        rates_fail_once: true,
        ..Fake::default()
    };
    let r = eswitches_with(&mut f, &pfs(), &mut Dumps::default());
    let e = r[0].as_ref().unwrap_err();
    assert_eq!(e.errno(), Some(libc::EIO), "{e}");
    assert!(
        e.to_string().contains("devlink eswitch of 0000:5e:00.0"),
        "{e}"
    );
    assert_eq!(
        r[1].as_ref().unwrap().as_ref().unwrap().rate_nodes,
        ["tenants"]
    );
    assert_eq!(f.rate_dumps, 2);
}
