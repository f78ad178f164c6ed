//! Build script: find an installed Elliptics, compile the C++ shim, run
//! bindgen over the shim's C header.

mod bindgen_shim;
mod find;

fn main() {
    let install = find::find().unwrap_or_else(|msg| panic!("{msg}"));
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("shim/shim.cpp")
        .include("shim")
        .flag_if_supported("-std=c++14")
        // Elliptics' and blackhole's headers are noisy; the shim's own code is small.
        .flag_if_supported("-Wno-address-of-packed-member")
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-unused-but-set-variable")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-format-truncation");
    for inc in &install.include_dirs {
        build.include(inc);
    }
    build.compile("elliptics_shim");
    for dir in &install.lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        // The libraries carry RUNPATH; tests and binaries still need to find them.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    // Read by dependents' build scripts as DEP_ELLIPTICS_CPP_RPATH.
    if let Ok(joined) = std::env::join_paths(&install.lib_dirs) {
        println!("cargo:rpath={}", joined.to_string_lossy());
    }
    // The C++ runtime comes from `cc` (it honours CXXSTDLIB).
    for lib in find::libs() {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    println!("cargo:rerun-if-changed=shim/shim.cpp");
    println!("cargo:rerun-if-changed=shim/shim.h");
    bindgen_shim::generate("shim/shim.h");
}
