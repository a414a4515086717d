//! Builds the browser viewer and dashboard (`web/`) so that `cargo build` alone produces a
//! server that serves them: release builds embed `web/dist`. Runs `npm ci` when `web/node_modules`
//! is missing and `npm run build` when the web sources changed. Without npm, or with
//! `QUIRE_SKIP_WEB_BUILD=1`, the server still builds and says at `/` that the assets are missing.

use std::path::Path;
use std::process::Command;

fn main() {
    for path in [
        "web/src",
        "web/scripts",
        "web/package.json",
        "web/package-lock.json",
        "web/tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=QUIRE_SKIP_WEB_BUILD");
    if std::env::var_os("QUIRE_SKIP_WEB_BUILD").is_some() {
        return;
    }
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    if !web.join("package.json").exists() {
        return;
    }
    let npm = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("npm")
            .args(args)
            .current_dir(&web)
            .status()
            .map_err(|e| format!("cannot run npm ({e}); install Node.js to build the viewer"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`npm {}` failed in web/", args.join(" ")))
        }
    };
    let result = (|| {
        if !web.join("node_modules").exists() {
            npm(&["ci", "--no-audit", "--no-fund"])?;
        }
        npm(&["run", "build"])
    })();
    if let Err(e) = result {
        println!("cargo:warning=web assets not built: {e}");
    }
}
