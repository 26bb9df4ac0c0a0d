//! Writing session keys to a key log (`--keylog FILE`, `SBRP_KEYLOGFILE`).
//!
//! One line per direction, the format of `sbrp decode`'s key log:
//! `CLIENT_TO_DAEMON <session id, 16 hex digits> <key, 64 hex digits>` and the same with
//! `DAEMON_TO_CLIENT`. This is a private formatter until the shared key-log module exists;
//! the format is the contract, not this code.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sbrp::SessionKeys;
use zeroize::Zeroizing;

use crate::cli::escape::escape_path;
use crate::cli::exit::{CliError, CliResult};
use crate::cli::output::Output;

/// The two key-log lines for a session.
pub fn format_lines(session_id: u64, keys: &SessionKeys) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "CLIENT_TO_DAEMON {session_id:016x} {}\nDAEMON_TO_CLIENT {session_id:016x} {}\n",
        hex::encode(*keys.client_to_daemon),
        hex::encode(*keys.daemon_to_client),
    ))
}

/// An open key log, shared by every connection.
#[derive(Debug)]
pub struct KeyLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl KeyLog {
    /// Opens `path` for appending (created 0600), and warns on stderr.
    pub fn open(out: &Output, path: &Path) -> CliResult<Self> {
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| CliError::io("cannot open the key log", path, &e))?;
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
        let lines = format_lines(session_id, keys);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(lines.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| format!("cannot write the key log {}: {e}", escape_path(&self.path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let keys = SessionKeys {
            client_to_daemon: Zeroizing::new([0x11; 32]),
            daemon_to_client: Zeroizing::new([0xab; 32]),
        };
        let text = format_lines(0x1234, &keys);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("CLIENT_TO_DAEMON 0000000000001234 {}", "11".repeat(32))
        );
        assert_eq!(
            lines[1],
            format!("DAEMON_TO_CLIENT 0000000000001234 {}", "ab".repeat(32))
        );
    }
}
