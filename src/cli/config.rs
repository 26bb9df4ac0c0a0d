//! The configuration directory: `$SBRP_HOME` if set, else `$XDG_CONFIG_HOME/sbrp`, else
//! `~/.config/sbrp`. Empty variables count as unset; a relative `XDG_CONFIG_HOME` is ignored,
//! as the XDG specification says.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::escape::{escape_path, shell_quote_path};
use super::exit::{CliError, CliResult, Exit};

/// File name of the default identity inside the config directory.
pub const IDENTITY_FILE: &str = "identity.pem";
/// File name of the default pin file inside the config directory.
pub const PINS_FILE: &str = "pins.json";

/// The directory from the three variables, as a pure function.
pub fn resolve_config_dir(
    sbrp_home: Option<OsString>,
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let non_empty = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = non_empty(sbrp_home) {
        return Some(dir);
    }
    if let Some(xdg) = non_empty(xdg_config_home).filter(|p| p.is_absolute()) {
        return Some(xdg.join("sbrp"));
    }
    non_empty(home).map(|h| h.join(".config").join("sbrp"))
}

/// The configuration directory of this process (it may not exist yet). An existing one is
/// checked as ssh checks `~/.ssh` ([`check_dir_permissions`]).
pub fn config_dir() -> CliResult<PathBuf> {
    let dir = unchecked_config_dir()?;
    check_dir_permissions(&dir)?;
    Ok(dir)
}

/// Refuses (exit 5) a configuration directory that group or others can write to, or that
/// belongs to another user (root excepted): whoever can write there can swap the identity
/// key or the pins. A missing directory passes (it is created 0700).
pub fn check_dir_permissions(dir: &Path) -> CliResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(dir) else {
            return Ok(());
        };
        let mode = meta.mode() & 0o7777;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me && meta.uid() != 0 {
            return Err(CliError::new(
                Exit::UnsafePermissions,
                format!(
                    "the configuration directory {} belongs to user id {}, not to you (user id {me})",
                    escape_path(dir),
                    meta.uid()
                ),
            )
            .hint("set SBRP_HOME to a directory of your own"));
        }
        if mode & 0o022 != 0 {
            return Err(CliError::new(
                Exit::UnsafePermissions,
                format!(
                    "the configuration directory {} has mode {mode:04o}: group or others can \
                     write to it (and replace the identity key or the pins)",
                    escape_path(dir)
                ),
            )
            .hint(format!(
                "run `chmod go-w {}` (and check its files: anyone could have changed them), or \
                 set SBRP_HOME to a private directory",
                shell_quote_path(dir)
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn unchecked_config_dir() -> CliResult<PathBuf> {
    resolve_config_dir(
        std::env::var_os("SBRP_HOME"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
    .ok_or_else(|| {
        CliError::error("cannot find the configuration directory: HOME is not set")
            .hint("set SBRP_HOME to a directory for sbrp's files, or give the path explicitly")
    })
}

/// `<config dir>/identity.pem`.
pub fn default_identity_path() -> CliResult<PathBuf> {
    Ok(config_dir()?.join(IDENTITY_FILE))
}

/// `<config dir>/pins.json`.
pub fn default_pins_path() -> CliResult<PathBuf> {
    Ok(config_dir()?.join(PINS_FILE))
}

/// Creates `dir` and its missing parents; the directories created get mode 0700. An existing
/// directory is left as it is.
pub fn create_private_dir(dir: &Path) -> CliResult<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        CliError::error(format!("cannot create directory {}: {e}", escape_path(dir)))
            .hint("check that the parent directory exists and is writable, or set SBRP_HOME")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<OsString> {
        Some(OsString::from(v))
    }

    #[test]
    fn precedence() {
        assert_eq!(
            resolve_config_dir(s("/h/sbrp"), s("/x"), s("/home/u")),
            Some(PathBuf::from("/h/sbrp"))
        );
        assert_eq!(
            resolve_config_dir(None, s("/x"), s("/home/u")),
            Some(PathBuf::from("/x/sbrp"))
        );
        assert_eq!(
            resolve_config_dir(s(""), s(""), s("/home/u")),
            Some(PathBuf::from("/home/u/.config/sbrp"))
        );
        assert_eq!(
            resolve_config_dir(None, s("relative"), s("/home/u")),
            Some(PathBuf::from("/home/u/.config/sbrp"))
        );
        assert_eq!(resolve_config_dir(None, None, None), None);
    }
}
