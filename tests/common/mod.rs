//! Helpers shared by the CLI tests: a fresh SBRP_HOME per test, the binary, keys.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use sbrp::IdentityKeyPair;
use sbrp::keyfile::{PublicFormat, encode_public};

/// A temp directory used as SBRP_HOME (and as the working directory of the commands).
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Self {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `sbrp` with SBRP_HOME set to this directory, run inside it, no colour variables.
    pub fn sbrp(&self) -> Command {
        let mut cmd = Command::cargo_bin("sbrp").unwrap();
        cmd.env("SBRP_HOME", self.path())
            .env_remove("SBRP_PINS")
            .env_remove("NO_COLOR")
            .env_remove("XDG_CONFIG_HOME")
            .current_dir(self.path());
        cmd
    }

    pub fn pins(&self) -> PathBuf {
        self.join("pins.json")
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

/// A deterministic identity.
pub fn pair(n: u8) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[n; 32])
}

/// Base64 public key of `pair(n)`.
pub fn pub_b64(n: u8) -> String {
    encode_public(&pair(n).public_key(), PublicFormat::Base64)
}

pub fn fp(n: u8) -> String {
    pair(n).fingerprint()
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
pub fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs an external tool the tests compare against (openssl, ssh-keygen); they are part of
/// the test environment, so a missing tool fails the test rather than skipping it.
pub fn tool(name: &str, args: &[&str], dir: &Path) -> std::process::Output {
    let out = std::process::Command::new(name)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} (install it for the interop tests): {e}"));
    assert!(out.status.success(), "{name} {args:?} failed: {out:?}");
    out
}
