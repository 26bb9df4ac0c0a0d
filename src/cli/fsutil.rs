//! Writing files safely: secret files created exclusively with mode 0600 from the first
//! byte, and atomic replacement (temp file in the same directory, fsync, rename, fsync of the
//! directory), so a crash leaves the old file or the new one, never a broken one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::escape::{escape_path, shell_quote_path};
use super::exit::{CliError, CliResult, Exit};

/// Largest key or pin file we read (a key is < 1 KiB; a pin file with thousands of pins fits).
pub const MAX_READ: u64 = 16 * 1024 * 1024;

/// Test hook: when this variable is set, [`replace_atomically`] stops for up to 30 s after the
/// temp file is written and synced and before the rename, and says so on stderr. The crash
/// tests kill the process there. Harmless otherwise (it only waits).
pub const PAUSE_BEFORE_RENAME_ENV: &str = "SBRP_TEST_PAUSE_BEFORE_RENAME";

fn options(mode: u32) -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes a directory entry change (create, rename) to disk.
pub fn sync_dir(dir: &Path) -> CliResult<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| CliError::io("cannot sync directory", dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `path` exclusively with `mode` (0600 for secrets) and writes `bytes`. Never
/// overwrites: an existing file is an error naming `--force`. A failed write removes the
/// partial file.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> CliResult<()> {
    let mut file = options(mode).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::error(format!(
                "{} already exists; sbrp never overwrites a key file",
                escape_path(path)
            ))
            .hint(
                "pass --force to replace it (the old key is lost), or choose another path with -o",
            )
        } else {
            CliError::io("cannot create", path, &e)
        }
    })?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(CliError::io("cannot write", path, &e));
    }
    sync_dir(parent_dir(path))
}

/// A unique temp file name next to `path`: `.NAME.tmp-PID-RANDOM`.
fn temp_path(path: &Path) -> CliResult<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| {
            CliError::error(format!("{} is not a file path", escape_path(path)))
                .hint("give the path of a file")
        })?
        .to_string_lossy();
    let mut rnd = [0u8; 6];
    getrandom::fill(&mut rnd).map_err(|e| {
        CliError::error(format!("the system random number generator failed: {e}"))
            .hint("check the operating system's entropy source")
    })?;
    Ok(parent_dir(path).join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        hex::encode(rnd)
    )))
}

/// True for a temp file name that [`replace_atomically`] made for `path`.
pub fn is_temp_for(path: &Path, candidate: &Path) -> bool {
    let (Some(name), Some(cand)) = (path.file_name(), candidate.file_name()) else {
        return false;
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    cand.to_string_lossy().starts_with(&prefix)
}

/// Removes temp files left next to `path` by killed writers. Call only while holding the lock
/// that serialises writers of `path`.
pub fn remove_stale_temps(path: &Path) {
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if is_temp_for(path, &p) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Replaces `path` with `bytes` atomically: a temp file (mode `mode`) in the same directory,
/// written and fsynced, renamed over `path`, then the directory fsynced. Readers see the old
/// content or the new one; a crash leaves one of them (and maybe a stale temp file).
pub fn replace_atomically(path: &Path, bytes: &[u8], mode: u32) -> CliResult<()> {
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut file = options(mode)
            .open(&tmp)
            .map_err(|e| CliError::io("cannot create temp file", &tmp, &e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| CliError::io("cannot write", &tmp, &e))?;
        drop(file);
        if std::env::var_os(PAUSE_BEFORE_RENAME_ENV).is_some_and(|v| !v.is_empty()) {
            eprintln!(
                "sbrp: test hook: paused before rename: {}",
                escape_path(&tmp)
            );
            std::thread::sleep(std::time::Duration::from_secs(30));
        }
        std::fs::rename(&tmp, path).map_err(|e| CliError::io("cannot replace", path, &e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(parent_dir(path))
}

/// Reads at most [`MAX_READ`] bytes from an open reader into a buffer wiped on drop.
pub fn read_limited(reader: impl Read, what: &str) -> CliResult<zeroize::Zeroizing<Vec<u8>>> {
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    reader
        .take(MAX_READ + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::error(format!("cannot read {what}: {e}")))?;
    if buf.len() as u64 > MAX_READ {
        return Err(CliError::error(format!(
            "{what} is larger than {MAX_READ} bytes; this is not a key or pin file"
        ))
        .hint("check the path"));
    }
    Ok(buf)
}

/// Mode bits (e.g. 0o644) of an open file, on Unix.
#[cfg(unix)]
pub fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// Refuses a secret key file that group or others can access, like ssh does: exit 5 with the
/// mode and the `chmod 600` fix.
pub fn check_secret_permissions(path: &Path, meta: &std::fs::Metadata) -> CliResult<()> {
    #[cfg(unix)]
    {
        let mode = mode_of(meta);
        if mode & 0o077 != 0 {
            return Err(CliError::new(
                Exit::UnsafePermissions,
                format!(
                    "secret key file {} has mode {mode:04o}: group or others can access it",
                    escape_path(path)
                ),
            )
            .hint(format!(
                "run `chmod 600 {}` (and consider the key compromised if others could read it)",
                shell_quote_path(path)
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta);
    Ok(())
}

/// Opens `path` for reading and returns its metadata (from the open file, so it describes
/// what is read) and content.
pub fn read_file(path: &Path) -> CliResult<(std::fs::Metadata, zeroize::Zeroizing<Vec<u8>>)> {
    let file = File::open(path).map_err(|e| CliError::io("cannot read", path, &e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io("cannot stat", path, &e))?;
    if meta.is_dir() {
        return Err(
            CliError::error(format!("{} is a directory", escape_path(path)))
                .hint("give the path of a key file"),
        );
    }
    let bytes = read_limited(file, &escape_path(path))?;
    Ok((meta, bytes))
}
