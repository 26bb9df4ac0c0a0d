//! The exit-code contract of `sbrp` (documented in `docs/exit-codes.md`) and the error type
//! every subcommand returns.
//!
//! A subcommand returns `CliResult<Exit>`: `Ok(code)` when it printed its own result (which may
//! still be a non-zero outcome such as a fingerprint mismatch reported as JSON), `Err(CliError)`
//! for a failure that `main` prints as `sbrp: error: …` plus a `sbrp: hint: …` line.

use std::fmt;
use std::io;
use std::path::Path;

use super::escape::escape_path;

/// Every exit status `sbrp` uses. The numbers are a public contract: never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: success (also: stdout was closed early by the reader, e.g. `| head -1`).
    Success = 0,
    /// 1: error: I/O, unreadable or invalid input, refused overwrite.
    Error = 1,
    /// 2: usage: bad arguments (clap), or a confirmation that cannot be asked.
    Usage = 2,
    /// 3: not found: unknown daemon id, not pinned.
    NotFound = 3,
    /// 4: identity key changed, or a fingerprint does not match.
    KeyMismatch = 4,
    /// 5: a secret key file can be read by group or others.
    UnsafePermissions = 5,
    /// 6: protocol failure: a check, a handshake or a strict decode failed.
    #[allow(dead_code)] // used by the protocol subcommands (selftest, decode, peer)
    ProtocolFailure = 6,
    /// 7: refused by the relay: HTTP 401, 403 or 409 on the WebSocket upgrade.
    #[allow(dead_code)] // used with the relay-client feature
    Refused = 7,
}

impl Exit {
    /// Every code, in numeric order.
    #[cfg(test)]
    pub const ALL: [Exit; 8] = [
        Exit::Success,
        Exit::Error,
        Exit::Usage,
        Exit::NotFound,
        Exit::KeyMismatch,
        Exit::UnsafePermissions,
        Exit::ProtocolFailure,
        Exit::Refused,
    ];

    /// The numeric status.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// A stable lower-case name, used in JSON output (`"exit": "key_mismatch"`).
    pub const fn name(self) -> &'static str {
        match self {
            Exit::Success => "success",
            Exit::Error => "error",
            Exit::Usage => "usage",
            Exit::NotFound => "not_found",
            Exit::KeyMismatch => "key_mismatch",
            Exit::UnsafePermissions => "unsafe_permissions",
            Exit::ProtocolFailure => "protocol_failure",
            Exit::Refused => "refused",
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// A failure of a subcommand: what went wrong, how to fix it, and the exit status.
///
/// Build messages from trusted text plus escaped untrusted parts (see
/// [`super::escape::escape`]); `main` prints them verbatim.
#[derive(Debug)]
pub struct CliError {
    exit: Exit,
    message: String,
    hint: Option<String>,
    /// Stdout was closed by the reader: end quietly.
    quiet: bool,
}

/// What every subcommand returns.
pub type CliResult<T = Exit> = Result<T, CliError>;

impl CliError {
    /// A failure with an exit status and a message (no trailing period needed).
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: None,
            quiet: false,
        }
    }

    /// Exit 1 with a message.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Exit::Error, message)
    }

    /// Adds the fix, printed as `sbrp: hint: …`.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure on `path` while doing `what` (e.g. "cannot read"), exit 1, with a hint
    /// that fits the error kind.
    pub fn io(what: &str, path: &Path, err: &io::Error) -> Self {
        let hint = match err.kind() {
            io::ErrorKind::NotFound => "check the path (or create the file first)",
            io::ErrorKind::PermissionDenied => "check the file's owner and permissions",
            io::ErrorKind::AlreadyExists => "choose another path, or pass --force to replace it",
            io::ErrorKind::IsADirectory => "give the path of a file, not a directory",
            _ => "check the path, the disk and the permissions, then try again",
        };
        Self::error(format!("{what} {}: {}", escape_path(path), err)).hint(hint)
    }

    /// The reader closed stdout: exit 0 without printing anything.
    pub fn broken_pipe() -> Self {
        Self {
            exit: Exit::Success,
            message: String::new(),
            hint: None,
            quiet: true,
        }
    }

    /// The exit status.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The message (without the `sbrp: error:` prefix).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The fix, if any.
    pub fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// True when nothing should be printed.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Writes to stdout fail with `BrokenPipe` when the reader went away: that is a quiet exit.
/// Anything else is an error naming stdout.
pub fn stdout_error(err: io::Error) -> CliError {
    if err.kind() == io::ErrorKind::BrokenPipe {
        CliError::broken_pipe()
    } else {
        CliError::error(format!("cannot write to standard output: {err}"))
            .hint("check where standard output goes (disk full? closed?)")
    }
}

/// Prints a clap error (or `--help` / `--version`) and returns its status: 2 for usage errors,
/// 0 for help and version. A closed stdout while printing help is quiet.
pub fn clap_error(err: &clap::Error) -> std::process::ExitCode {
    let _ = err.print();
    let code = if err.use_stderr() {
        Exit::Usage
    } else {
        Exit::Success
    };
    code.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_contract() {
        let codes: Vec<(u8, &str)> = Exit::ALL.iter().map(|e| (e.code(), e.name())).collect();
        assert_eq!(
            codes,
            [
                (0, "success"),
                (1, "error"),
                (2, "usage"),
                (3, "not_found"),
                (4, "key_mismatch"),
                (5, "unsafe_permissions"),
                (6, "protocol_failure"),
                (7, "refused"),
            ]
        );
    }

    #[test]
    fn broken_pipe_is_quiet_success() {
        let e = stdout_error(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(e.is_quiet());
        assert_eq!(e.exit(), Exit::Success);
        let e = stdout_error(io::Error::from(io::ErrorKind::StorageFull));
        assert!(!e.is_quiet());
        assert_eq!(e.exit(), Exit::Error);
    }
}
