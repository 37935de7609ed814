//! Records the commit the `zkml` binary is built from (`ZKML_BUILD_COMMIT`, empty outside a git
//! checkout), so that benchmark reports name the code that ran even when the binary is copied to
//! and run on another machine. A build with uncommitted changes to the crates it is made of is
//! marked `-dirty`: its figures belong to no commit.

use std::process::Command;

/// The workspace's crates that go into the binary (paths from the workspace root).
const SOURCES: [&str; 5] = ["gpu-kernels", "circuits", "zkml-core", "cli", "Cargo.lock"];

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg("..").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).map(|head| {
        let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
        status.extend(SOURCES);
        match git(&status) {
            Some(changes) if changes.is_empty() => head,
            _ => format!("{head}-dirty"),
        }
    });
    println!("cargo:rustc-env=ZKML_BUILD_COMMIT={}", commit.unwrap_or_default());
    // A new commit moves HEAD, or the branch it names; an edit touches the sources.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = format!("{dir}/{branch}");
            if std::path::Path::new(&loose).exists() {
                println!("cargo:rerun-if-changed={loose}");
            }
        }
        for source in SOURCES {
            println!("cargo:rerun-if-changed=../{source}");
        }
    }
}
