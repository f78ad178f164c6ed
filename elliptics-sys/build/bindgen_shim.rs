//! Rust declarations for the shim's C header (only the shim's `ell_*` items).

use std::env;
use std::path::PathBuf;

pub fn generate(header: &str) {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    bindgen::Builder::default()
        .header(header)
        .allowlist_function("ell_.*")
        .allowlist_type("ell_.*")
        .allowlist_var("ELL_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .layout_tests(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| {
            panic!("bindgen over {header} failed: {e} (is libclang-dev installed?)")
        })
        .write_to_file(&out)
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
