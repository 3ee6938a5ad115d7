//! Builds the web UI (`bff/ui`, npm and Vite) into `bff/ui/dist` whenever its sources
//! change, so that `cargo run` serves it without a separate step.
//!
//! Without npm the build goes on with a warning (the server then answers the UI's paths
//! with how to build it); `CLOUDGRID_SKIP_UI_BUILD=1` skips it. A UI that fails to build
//! fails the build: a broken page should not ship quietly.

use std::path::Path;
use std::process::Command;

/// What the UI's build reads: a change to any of it builds the UI again.
const SOURCES: &[&str] = &["src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json", "tsconfig.node.json"];

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let ui = Path::new(&root).join("bff").join("ui");
    for source in SOURCES {
        println!("cargo:rerun-if-changed={}", ui.join(source).display());
    }
    println!("cargo:rerun-if-env-changed=CLOUDGRID_SKIP_UI_BUILD");
    if std::env::var("CLOUDGRID_SKIP_UI_BUILD").is_ok_and(|v| !v.is_empty() && v != "0") || !ui.join("package.json").exists() {
        return;
    }
    if Command::new("npm").arg("--version").output().is_err() {
        println!("cargo:warning=npm not found: the web UI is not built (install Node.js 20.19+ and build again, or see bff/ui/README.md)");
        return;
    }
    // Dependencies: installed as the lock file pins them, again when it changed.
    let installed = ui.join("node_modules").join(".package-lock.json");
    let stale = match (modified(&installed), modified(&ui.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed < lock,
        _ => true,
    };
    if stale {
        npm(&ui, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    npm(&ui, &["run", "build"]);
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn npm(dir: &Path, args: &[&str]) {
    let out = Command::new("npm").args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("npm {}: {e}", args.join(" ")));
    if !out.status.success() {
        panic!(
            "building the web UI failed: npm {} in bff/ui ({})\n{}\n{}\n(CLOUDGRID_SKIP_UI_BUILD=1 builds the server without it)",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
