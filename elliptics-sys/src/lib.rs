//! Raw FFI to the Elliptics C++ client through a small C shim
//! (`shim/shim.h`). Everything here is `unsafe`; the proxy's safe wrapper
//! lives in `backrunner::storage::elliptics`.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]
#![allow(clippy::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
