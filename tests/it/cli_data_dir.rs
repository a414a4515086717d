//! Only `quire serve` creates the data dir: the other commands, run from the wrong directory or
//! without `--data-dir`, refuse with the path and the flag named instead of starting an empty
//! database or a new root key.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::quire_bin;

/// Runs the CLI in `cwd` with no `QUIRE_*` storage variables set.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(quire_bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("QUIRE_DATA_DIR")
        .env_remove("QUIRE_DATABASE_URL")
        .env_remove("QUIRE_ROOT_KEY")
        .output()
        .expect("run quire")
}

/// A mint for an app-provided document: a managed one must also exist in the database (its
/// token is bound to the upload), which is not what these tests are about.
const MINT: &[&str] = &[
    "token",
    "mint",
    "--app-document-id",
    "d1",
    "--user-id",
    "u1",
    "--permissions",
    "read-document",
];

#[test]
fn commands_other_than_serve_refuse_a_missing_data_dir_and_create_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        &["keys", "list"][..],
        &["keys", "create", "--name", "k"][..],
        &["keys", "revoke", "some-id"][..],
        MINT,
    ] {
        let out = run_in(cwd.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "quire {args:?} succeeded");
        assert!(
            stderr.contains("quire-data") && stderr.contains("--data-dir"),
            "quire {args:?} must name the path and the flag: {stderr}"
        );
        assert!(
            !cwd.path().join("quire-data").exists(),
            "quire {args:?} created ./quire-data"
        );
    }
}

#[test]
fn minting_with_an_explicit_root_key_needs_no_data_dir() {
    // A root key made by minting once against an existing data dir.
    let data = tempfile::tempdir().unwrap();
    let mut args = MINT.to_vec();
    args.extend(["--data-dir", data.path().to_str().unwrap()]);
    assert!(run_in(data.path(), &args).status.success());
    let key = std::fs::read_to_string(data.path().join("root_key")).unwrap();

    let cwd = tempfile::tempdir().unwrap();
    let mut args = MINT.to_vec();
    args.extend(["--root-key", key.trim()]);
    let out = run_in(cwd.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!cwd.path().join("quire-data").exists());
}
