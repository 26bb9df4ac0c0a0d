//! Writing session keys to a key log (`--keylog FILE`, `SBRP_KEYLOGFILE`).
//!
//! One line per direction, formatted by [`sbrp::keylog::format_session`] (see
//! `docs/keylog.md`). Shared by `selftest` and `peer`; writing keys is always opt-in and
//! always announced on stderr.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sbrp::SessionKeys;

use crate::cli::escape::escape_path;
use crate::cli::exit::CliResult;
use crate::cli::output::Output;

/// An open key log, shared by every connection.
#[derive(Debug)]
pub struct KeyLog {
    path: PathBuf,
    file: Mutex<File>,
}

/// The environment variable that turns key logging on for every tool that runs sessions.
pub const ENV: &str = "SBRP_KEYLOGFILE";

impl KeyLog {
    /// The key log to write: `--keylog FILE` if given, else a non-empty `SBRP_KEYLOGFILE`.
    pub fn path(flag: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| {
            std::env::var_os(ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// Opens `path` for appending, and warns on stderr. A new key log is created 0600; an
    /// existing one must be a regular file (not a symlink) of the user's that group and
    /// others cannot access (exit 5 with the `chmod 600` fix): see
    /// [`crate::cli::fsutil::open_append_private`].
    pub fn open(out: &Output, path: &Path) -> CliResult<Self> {
        let file = crate::cli::fsutil::open_append_private(path, "key log")?;
        out.warn(&format!(
            "appending session keys to {}: anyone who can read it can decrypt these sessions",
            escape_path(path)
        ));
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Appends the lines for one session (one write, so concurrent sessions do not interleave).
    pub fn write(&self, session_id: u64, keys: &SessionKeys) -> Result<(), String> {
        let lines = sbrp::keylog::format_session(session_id, keys);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(lines.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| format!("cannot write the key log {}: {e}", escape_path(&self.path)))
    }
}
