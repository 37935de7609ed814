//! Records the commit the `zkml` binary is built from (`ZKML_BUILD_COMMIT`, empty outside a git
//! checkout), so that benchmark reports name the code that ran even when the binary is copied to
//! and run on another machine. Uncommitted changes are not recorded.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rustc-env=ZKML_BUILD_COMMIT={}", git(&["rev-parse", "--short", "HEAD"]).unwrap_or_default());
    // A new commit moves HEAD, or the branch it names.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = format!("{dir}/{branch}");
            if std::path::Path::new(&loose).exists() {
                println!("cargo:rerun-if-changed={loose}");
            }
        }
    }
}
