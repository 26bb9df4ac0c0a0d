//! Every file sbrp writes, written one way (see `docs/files.md`).
//!
//! - [`write_file`]: keys, captures, manual pages, anything written whole. Never replaces an
//!   existing file unless the user passed `--force` ([`WriteRules::force`]); never writes
//!   through a symbolic link at the final path component (nor onto a directory or a device);
//!   writes whole or not at all (a temp file in the same directory, fsynced, then linked into
//!   place — or renamed over the old file with `--force` — and the directory fsynced). A writer
//!   killed half-way leaves only its temp file, which the next writer of that path removes.
//! - [`open_append_private`]: key logs, which are appended to as NSS key logs are. A new one
//!   is created 0600; an existing one must be a regular file (no symlink) owned by the user and
//!   not accessible by group or others (exit 5 with the `chmod 600` fix).
//! - [`replace_atomically`]: the pin file's own atomic replacement, used under its lock.
//! - [`create_private`]: files written as a stream while a server runs (relay captures):
//!   created new, 0600, never through a symlink, an existing file replaced only with `--force`.
//! - [`same_file`]: refuse two outputs that are one file (e.g. `--capture X --keylog X`).
//!
//! ```ignore
//! fsutil::write_file(&path, &bytes, WriteRules::public("capture", args.force))?;
//! fsutil::write_file(&path, secret.as_bytes(), WriteRules::secret("key file", args.force))?;
//! let file = fsutil::open_append_private(&path, "key log")?;
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::escape::{escape_path, shell_quote_path};
use super::exit::{CliError, CliResult, Exit};

/// Largest key or pin file we read (a key is < 1 KiB; a pin file with thousands of pins fits).
pub const MAX_READ: u64 = 16 * 1024 * 1024;

/// Test hook, only in debug builds (the tests' builds; release binaries do not have it): when
/// this variable is set, a write stops for up to 30 s after the temp file is written and
/// synced and before it is moved into place, and says so on stderr. The crash tests kill the
/// process there.
#[cfg(debug_assertions)]
pub const PAUSE_BEFORE_RENAME_ENV: &str = "SBRP_TEST_PAUSE_BEFORE_RENAME";

#[cfg(debug_assertions)]
fn test_pause(tmp: &Path) {
    if std::env::var_os(PAUSE_BEFORE_RENAME_ENV).is_some_and(|v| !v.is_empty()) {
        let _ = writeln!(
            std::io::stderr(),
            "sbrp: test hook: paused before rename: {}",
            escape_path(tmp)
        );
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
}

#[cfg(not(debug_assertions))]
fn test_pause(_tmp: &Path) {}

/// How [`write_file`] may write a file.
#[derive(Clone, Copy, Debug)]
pub struct WriteRules {
    /// What the file is, for messages: "key file", "capture", "manual page".
    pub what: &'static str,
    /// Permission bits of a new file (0o600 for secrets; others are masked by the umask).
    pub mode: u32,
    /// The user passed `--force`: an existing regular file may be replaced (atomically).
    pub force: bool,
}

impl WriteRules {
    /// A secret (key): mode 0600 from the first byte.
    pub const fn secret(what: &'static str, force: bool) -> Self {
        Self {
            what,
            mode: 0o600,
            force,
        }
    }

    /// A file that holds no secret (capture, manual page): mode 0644 less the umask.
    pub const fn public(what: &'static str, force: bool) -> Self {
        Self {
            what,
            mode: 0o644,
            force,
        }
    }
}

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

/// Refuses what sbrp never writes to: a symbolic link at the final component (even a
/// dangling one), a directory, or anything that is not a regular file. Returns whether a
/// regular file is there.
pub fn check_target(path: &Path, what: &str) -> CliResult<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(CliError::io("cannot examine", path, &e)),
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| format!(" (pointing to {})", escape_path(&t)))
            .unwrap_or_default();
        return Err(CliError::error(format!(
            "{} is a symbolic link{target}; sbrp never writes a {what} through a symbolic link",
            escape_path(path)
        ))
        .hint(
            "give the real path of the file (`readlink -f` prints it), or remove the link first",
        ));
    }
    if ft.is_dir() {
        return Err(CliError::error(format!(
            "{} is a directory, not a file path for the {what}",
            escape_path(path)
        ))
        .hint(format!(
            "give a file name inside it, e.g. {}",
            escape_path(&path.join(suggested_name(what)))
        )));
    }
    if !ft.is_file() {
        return Err(CliError::error(format!(
            "{} is not a regular file (a device, socket or FIFO); sbrp writes a {what} only to a \
             regular file",
            escape_path(path)
        ))
        .hint("give the path of a regular file"));
    }
    Ok(true)
}

fn suggested_name(what: &str) -> &'static str {
    match what {
        "key file" => "identity.pem",
        "capture" => "capture.bin",
        "key log" => "keys.log",
        _ => "FILE",
    }
}

fn exists_error(path: &Path, what: &str) -> CliError {
    CliError::error(format!(
        "{} already exists; sbrp never replaces a {what} unless you pass --force",
        escape_path(path)
    ))
    .hint(format!(
        "pass --force to replace it (the old {what} is lost), or choose another path"
    ))
}

/// Writes `bytes` to `path` whole or not at all, following [`WriteRules`] (see the module
/// documentation). The error names the problem and the fix; nothing is left half-written.
pub fn write_file(path: &Path, bytes: &[u8], rules: WriteRules) -> CliResult<()> {
    let exists = check_target(path, rules.what)?;
    if exists && !rules.force {
        return Err(exists_error(path, rules.what));
    }
    remove_dead_temps(path);
    let tmp = write_temp(path, bytes, rules.mode)?;
    test_pause(&tmp);
    let placed = if exists {
        // --force: the rename replaces the regular file checked above (a symlink put there
        // meanwhile would itself be replaced, never followed).
        std::fs::rename(&tmp, path).map_err(|e| CliError::io("cannot replace", path, &e))
    } else {
        // A hard link never replaces: a file created meanwhile makes it fail.
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(exists_error(path, rules.what))
            }
            // File systems without hard links: an exclusive create of the final name.
            Err(_) => create_exclusive(path, bytes, rules.mode),
        }
    };
    let _ = std::fs::remove_file(&tmp);
    placed?;
    sync_dir(parent_dir(path))
}

/// Creates `path` exclusively (no symlink followed, nothing replaced) and writes `bytes`; a
/// failed write removes the partial file.
fn create_exclusive(path: &Path, bytes: &[u8], mode: u32) -> CliResult<()> {
    let mut file = options(mode).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            exists_error(path, "file")
        } else {
            CliError::io("cannot create", path, &e)
        }
    })?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(CliError::io("cannot write", path, &e));
    }
    Ok(())
}

/// Writes and fsyncs a new temp file next to `path`; removes it on failure.
fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> CliResult<PathBuf> {
    let tmp = temp_path(path)?;
    let mut file = options(mode)
        .open(&tmp)
        .map_err(|e| CliError::io("cannot create temp file", &tmp, &e))?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::io("cannot write", &tmp, &e));
    }
    Ok(tmp)
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

/// The PID in a temp file name that [`write_file`] or [`replace_atomically`] made for `path`.
fn temp_owner(path: &Path, candidate: &Path) -> Option<u32> {
    let name = path.file_name()?.to_string_lossy();
    let cand = candidate.file_name()?.to_string_lossy();
    let rest = cand.strip_prefix(&format!(".{name}.tmp-"))?;
    rest.split('-').next()?.parse().ok()
}

/// True for a temp file name that [`replace_atomically`] made for `path`.
pub fn is_temp_for(path: &Path, candidate: &Path) -> bool {
    temp_owner(path, candidate).is_some()
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

/// Removes the temp files next to `path` whose writer is no longer running (for files written
/// without a lock, such as keys: a live writer's temp file is left alone).
pub fn remove_dead_temps(path: &Path) {
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        if let Some(pid) = temp_owner(path, &p)
            && pid != std::process::id()
            && !process_is_running(pid)
        {
            let _ = std::fs::remove_file(&p);
        }
    }
}

#[cfg(unix)]
fn process_is_running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    // ESRCH: no such process. EPERM: it exists but belongs to someone else.
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(e) if e == rustix::io::Errno::SRCH
    )
}

#[cfg(not(unix))]
fn process_is_running(_pid: u32) -> bool {
    true
}

/// Replaces `path` with `bytes` atomically: a temp file (mode `mode`) in the same directory,
/// written and fsynced, renamed over `path`, then the directory fsynced. Readers see the old
/// content or the new one; a crash leaves one of them (and maybe a stale temp file). The
/// caller has resolved `path` to a regular file (the pin store does, under its lock).
pub fn replace_atomically(path: &Path, bytes: &[u8], mode: u32) -> CliResult<()> {
    let tmp = write_temp(path, bytes, mode)?;
    test_pause(&tmp);
    let result = std::fs::rename(&tmp, path).map_err(|e| CliError::io("cannot replace", path, &e));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(parent_dir(path))
}

/// Opens a key log (or any private append-only file) for appending: created 0600 if missing;
/// a symlink at `path` is refused (`O_NOFOLLOW`), and an existing file must be a regular file
/// owned by the user that group and others cannot access (exit 5 with the `chmod 600` fix).
pub fn open_append_private(path: &Path, what: &str) -> CliResult<File> {
    check_target(path, what)?;
    let mut opts = OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
        opts.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    let file = opts.open(path).map_err(|e| {
        if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
            CliError::error(format!(
                "{} is a symbolic link; sbrp never writes a {what} through a symbolic link",
                escape_path(path)
            ))
            .hint("give the real path of the file, or remove the link first")
        } else {
            CliError::io(&format!("cannot open the {what}"), path, &e)
        }
    })?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io("cannot stat", path, &e))?;
    if !meta.is_file() {
        return Err(CliError::error(format!(
            "{} is not a regular file; sbrp appends a {what} only to a regular file",
            escape_path(path)
        ))
        .hint("give the path of a regular file"));
    }
    check_private(path, &meta, what)?;
    Ok(file)
}

/// Creates a private file to be written as a stream (a relay's captures): mode 0600 from the
/// first byte, created exclusively (`O_EXCL`, so a symlink put there is never followed), a
/// symbolic link, directory or device at `path` refused. An existing regular file is refused
/// unless `force`, which removes it and creates the file anew (its old content is not kept:
/// such a file is never written whole, so it cannot be replaced atomically).
#[cfg_attr(not(feature = "relay"), allow(dead_code))]
pub fn create_private(path: &Path, what: &'static str, force: bool) -> CliResult<File> {
    let exists = check_target(path, what)?;
    if exists {
        if !force {
            return Err(exists_error(path, what));
        }
        std::fs::remove_file(path).map_err(|e| CliError::io("cannot replace", path, &e))?;
    }
    let file = options(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            exists_error(path, what)
        } else {
            CliError::io(&format!("cannot create the {what}"), path, &e)
        }
    })?;
    sync_dir(parent_dir(path))?;
    Ok(file)
}

/// Refuses (exit 5) a private file owned by someone else or accessible by group or others.
pub fn check_private(path: &Path, meta: &std::fs::Metadata, what: &str) -> CliResult<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(CliError::new(
                Exit::UnsafePermissions,
                format!(
                    "{what} {} belongs to user id {}, not to you (user id {me})",
                    escape_path(path),
                    meta.uid()
                ),
            )
            .hint(format!(
                "use a {what} of your own (its owner can read and change it), or take it over: \
                 `sudo chown $(id -u) {}`",
                shell_quote_path(path)
            )));
        }
        let mode = mode_of(meta);
        if mode & 0o077 != 0 {
            return Err(CliError::new(
                Exit::UnsafePermissions,
                format!(
                    "{what} {} has mode {mode:04o}: group or others can access it",
                    escape_path(path)
                ),
            )
            .hint(format!(
                "run `chmod 600 {}` (and treat what it already holds as exposed)",
                shell_quote_path(path)
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, meta, what);
    Ok(())
}

/// True when `a` and `b` name the same file: the same inode if both exist, else the same
/// absolute path once the directories are resolved.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    let resolve = |p: &Path| -> Option<PathBuf> {
        let dir = std::fs::canonicalize(parent_dir(p)).ok()?;
        Some(dir.join(p.file_name()?))
    };
    match (resolve(a), resolve(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Reads at most [`MAX_READ`] bytes from an open reader into a buffer wiped on drop, sized
/// up front from `size_hint` and grown without leaving copies (see
/// [`sbrp::keyfile::read_zeroizing`]).
pub fn read_limited(
    reader: impl Read,
    size_hint: u64,
    what: &str,
) -> CliResult<zeroize::Zeroizing<Vec<u8>>> {
    let hint = usize::try_from(size_hint.min(MAX_READ)).unwrap_or(0);
    let buf = sbrp::keyfile::read_zeroizing(reader, hint, MAX_READ as usize)
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
    let bytes = read_limited(file, meta.len(), &escape_path(path))?;
    Ok((meta, bytes))
}

/// After a secret was written to stdout: true when stdout is a pipe whose reader went away
/// while bytes were still unread in it (`sbrp keygen -o - | head -0`), i.e. the secret is
/// lost although every write succeeded. Waits up to 200 ms for a live reader to take the
/// bytes; a reader that is still alive and slower than that is given the benefit of the doubt.
pub fn stdout_pipe_lost_unread() -> bool {
    #[cfg(unix)]
    {
        use rustix::event::{PollFd, PollFlags, poll};
        use std::os::fd::AsFd;
        let stdout = std::io::stdout();
        let fd = stdout.as_fd();
        let is_pipe = rustix::fs::fstat(fd)
            .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo)
            .unwrap_or(false);
        if !is_pipe {
            return false;
        }
        let until = std::time::Instant::now() + std::time::Duration::from_millis(200);
        loop {
            let unread = rustix::io::ioctl_fionread(fd).unwrap_or(0);
            if unread == 0 {
                return false;
            }
            let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
            let zero = rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            if poll(&mut fds, Some(&zero)).is_ok() && fds[0].revents().contains(PollFlags::ERR) {
                return true; // the read end is closed with our bytes still in the pipe
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    #[cfg(not(unix))]
    false
}
