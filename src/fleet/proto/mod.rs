//! kubelet device-plugin API v1beta1, generated from `proto/deviceplugin/v1beta1/api.proto`
//! and checked in, so building needs no protoc and no build script (a build script made cargo
//! walk the fixture trees' deliberate symlink loops). Regenerate with tonic-prost-build 0.14
//! when the .proto changes (docs/fleet.md).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!("v1beta1.rs");
