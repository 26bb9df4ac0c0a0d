//! The TOFU pin file: which identity key each daemon id is trusted with.
//!
//! Format (documented in `docs/pin-file.md`):
//! `{"version": 1, "pins": [{"daemon_id", "public_key", "fingerprint", "added_at",
//! "last_verified_at", "comment"?}]}`. Unknown fields, duplicate ids, a fingerprint that does
//! not match its key, or another version are errors that name the file, line and column; a
//! file that cannot be read is never rewritten.
//!
//! Every change takes an exclusive lock on the sibling `<file>.lock`, re-reads the file under
//! the lock, and replaces it atomically ([`super::fsutil::replace_atomically`]). Readers take no
//! lock: they see the old file or the new one.
//!
//! # For other subcommands (peer, decode)
//! ```ignore
//! let store = PinStore::open(pins_arg)?;          // --pins / SBRP_PINS / default
//! match store.verify(daemon_id, &presented)? {
//!     Verification::Match(_) => { /* handshake with the pinned key, then */
//!                                 store.mark_verified(daemon_id, &presented)?; }
//!     Verification::Mismatch(pin) => return Err(key_changed_error(&store, &pin, &presented, None)),
//!     Verification::Unknown => if decide_unknown(out, policy, daemon_id, &presented)? {
//!         /* handshake; only after it succeeded: */ store.add(daemon_id, &presented, None)?;
//!     } else { return Err(not_pinned_error(&store, daemon_id)) },
//! }
//! ```

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sbrp::IdentityPublicKey;
use sbrp::keyfile::{PublicFormat, encode_public};
use serde::{Deserialize, Serialize};

use super::config;
use super::escape::{escape, escape_path, needs_escape, shell_quote, shell_quote_path};
use super::exit::{CliError, CliResult, Exit};
use super::fsutil;
use super::output::{Output, Style};

/// The pin file version this build reads and writes.
pub const PIN_FILE_VERSION: u32 = 1;

/// Longest accepted daemon id and comment, in bytes.
pub const MAX_FIELD_LEN: usize = 1024;

/// An RFC 3339 UTC timestamp with second precision, e.g. `2025-11-25T15:05:00Z`.
pub fn rfc3339_utc(t: SystemTime) -> String {
    sbrp::utc::rfc3339(t)
}

/// True for `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || !b.ends_with(b"Z") {
        return false;
    }
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let frac = &b[19..b.len() - 1];
    shape
        && (frac.is_empty()
            || (frac[0] == b'.' && frac.len() > 1 && frac[1..].iter().all(u8::is_ascii_digit)))
}

/// One pinned daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPin", expecting = "a pin object")]
pub struct Pin {
    /// The daemon id, as used in the handshake.
    pub daemon_id: String,
    /// The pinned identity key, standard base64 (44 characters).
    pub public_key: String,
    /// `SHA256:AB:CD:…` of the key (checked against it on load).
    pub fingerprint: String,
    /// When the pin was made (or last replaced), RFC 3339 UTC.
    pub added_at: String,
    /// When the key was last seen to match, RFC 3339 UTC.
    pub last_verified_at: String,
    /// A free-form note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip)]
    key: Option<IdentityPublicKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPin {
    daemon_id: String,
    public_key: String,
    fingerprint: String,
    added_at: String,
    last_verified_at: String,
    #[serde(default)]
    comment: Option<String>,
}

impl TryFrom<RawPin> for Pin {
    type Error = String;

    fn try_from(raw: RawPin) -> Result<Self, String> {
        let id = super::daemon_id::shorten(&raw.daemon_id);
        if let Err(p) = super::daemon_id::check(&raw.daemon_id) {
            return Err(format!("the daemon_id \"{id}\" {} ({})", p.problem, p.hint));
        }

        let key = sbrp::keyfile::decode(raw.public_key.as_bytes(), sbrp::keyfile::BareKey::Public)
            .ok()
            .filter(|d| d.encoding == sbrp::keyfile::KeyEncoding::Base64 && !d.key.is_secret())
            .map(|d| d.key.public_key())
            .ok_or_else(|| format!("the public_key of \"{id}\" is not a base64 32-byte key"))?;
        if !raw.fingerprint.eq_ignore_ascii_case(&key.fingerprint()) {
            return Err(format!(
                "the fingerprint of \"{id}\" does not match its public_key (edited or tampered file)"
            ));
        }
        for (name, value) in [
            ("added_at", &raw.added_at),
            ("last_verified_at", &raw.last_verified_at),
        ] {
            if !is_rfc3339_utc(value) {
                return Err(format!(
                    "the {name} of \"{id}\" is not an RFC 3339 UTC time like 2025-01-31T12:00:00Z"
                ));
            }
        }
        Ok(Pin {
            daemon_id: raw.daemon_id,
            public_key: raw.public_key,
            fingerprint: raw.fingerprint,
            added_at: raw.added_at,
            last_verified_at: raw.last_verified_at,
            comment: raw.comment,
            key: Some(key),
        })
    }
}

impl Pin {
    /// A new pin made now.
    pub fn new(daemon_id: &str, key: &IdentityPublicKey, comment: Option<String>) -> Self {
        let now = rfc3339_utc(SystemTime::now());
        Pin {
            daemon_id: daemon_id.to_owned(),
            public_key: encode_public(key, PublicFormat::Base64),
            fingerprint: key.fingerprint(),
            added_at: now.clone(),
            last_verified_at: now,
            comment,
            key: Some(*key),
        }
    }

    /// The pinned key.
    pub fn key(&self) -> IdentityPublicKey {
        // Always set: pins are built by `new` or validated by `try_from`.
        self.key.unwrap_or(IdentityPublicKey::from_bytes([0; 32]))
    }

    /// True when `key` is the pinned key (constant time).
    pub fn matches(&self, key: &IdentityPublicKey) -> bool {
        self.key.as_ref() == Some(key)
    }
}

/// The whole pin file.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PinFile {
    /// Always [`PIN_FILE_VERSION`].
    pub version: u32,
    /// The pins, in the order they were added.
    pub pins: Vec<Pin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPinFile {
    #[allow(dead_code)] // checked while parsing
    version: FileVersion,
    pins: PinList,
}

/// What a JSON object in the pin file must be, for messages.
trait Shape {
    const EXPECTING: &'static str;
}

impl Shape for RawPinFile {
    const EXPECTING: &'static str =
        "the pin file object {\"version\": 1, \"pins\": [...]} (see sbrp-pin(1))";
}

impl Shape for Pin {
    const EXPECTING: &'static str = "a pin object {\"daemon_id\": ..., \"public_key\": ..., \
         \"fingerprint\": ..., \"added_at\": ..., \"last_verified_at\": ...}";
}

/// `T` read from a JSON object only: serde's derive also accepts an array of the fields in
/// order (`[1, []]`), which is not the documented format. Errors raised while reading `T`
/// (also by its `try_from`) carry the position where they happened.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Shape> serde::de::Visitor<'de> for V<T> {
            type Value = MapOnly<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The `pins` array; a duplicated daemon id is reported where its second pin ends.
struct PinList(Vec<Pin>);

impl<'de> Deserialize<'de> for PinList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PinList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of pins [{\"daemon_id\": ...}, ...]")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PinList, A::Error> {
                let mut pins: Vec<Pin> = Vec::new();
                let mut seen = std::collections::HashSet::new();
                while let Some(MapOnly(pin)) = seq.next_element::<MapOnly<Pin>>()? {
                    if !seen.insert(pin.daemon_id.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "daemon id \"{}\" is pinned twice (the second pin ends just \
                             before this point)",
                            super::daemon_id::shorten(&pin.daemon_id)
                        )));
                    }
                    pins.push(pin);
                }
                Ok(PinList(pins))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A version number that must be [`PIN_FILE_VERSION`]; the error points at the value.
struct FileVersion;

impl<'de> Deserialize<'de> for FileVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v == u64::from(PIN_FILE_VERSION) {
            Ok(FileVersion)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported pin file version {v} (this sbrp reads version {PIN_FILE_VERSION}; \
                 a newer sbrp wrote it?)"
            )))
        }
    }
}

impl PinFile {
    /// An empty file.
    pub fn empty() -> Self {
        PinFile {
            version: PIN_FILE_VERSION,
            pins: Vec::new(),
        }
    }

    /// The pin of `daemon_id`.
    pub fn get(&self, daemon_id: &str) -> Option<&Pin> {
        self.pins.iter().find(|p| p.daemon_id == daemon_id)
    }

    fn get_mut(&mut self, daemon_id: &str) -> Option<&mut Pin> {
        self.pins.iter_mut().find(|p| p.daemon_id == daemon_id)
    }

    /// Parses a pin file (only the documented shape); errors carry line and column (without
    /// the path).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let MapOnly(raw) = serde_json::from_slice::<MapOnly<RawPinFile>>(bytes)?;
        Ok(PinFile {
            version: PIN_FILE_VERSION,
            pins: raw.pins.0,
        })
    }

    /// The file's bytes (pretty JSON with a final newline).
    pub fn to_bytes(&self) -> CliResult<Vec<u8>> {
        let mut s = super::output::to_json(self)?;
        s.push('\n');
        Ok(s.into_bytes())
    }
}

/// What the pin file says about a presented key.
#[derive(Clone, Debug, PartialEq)]
pub enum Verification {
    /// The daemon is pinned to this key.
    Match(Pin),
    /// The daemon is not pinned.
    Unknown,
    /// The daemon is pinned to another key: `identity_key_changed`.
    Mismatch(Pin),
}

/// Result of [`PinStore::add`].
#[derive(Clone, Debug, PartialEq)]
pub enum AddOutcome {
    /// Pinned now.
    Added(Pin),
    /// Already pinned to the same key: nothing changed.
    Unchanged(Pin),
    /// Pinned to another key: refused (nothing changed).
    Conflict(Pin),
}

/// The trust policy for an unknown daemon (mirrors the peer SDK's strict / auto / prompt).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustPolicy {
    /// Unknown daemons are refused (exit 3)
    #[default]
    Strict,
    /// Unknown daemons are pinned on first use
    AcceptNew,
    /// Ask on a terminal (yes / no / paste the expected fingerprint); strict otherwise
    Ask,
}

/// The pin file at a path, with its lock file beside it.
///
/// A symlinked pin file is resolved once, when the store is opened: the lock, the reads and
/// the atomic replacement all act on the real file (so two paths to one file share one lock,
/// and the link keeps pointing at the current file), and a replaced file keeps its mode.
#[derive(Clone, Debug)]
pub struct PinStore {
    /// The path as given (for messages and hints).
    path: PathBuf,
    /// The file itself: `path` with its symbolic links at the final component resolved.
    real: PathBuf,
    is_default: bool,
    /// How long a change waits for the lock (zero: no limit).
    wait: std::time::Duration,
}

/// How long a change waits for the pin file's lock unless told otherwise.
pub const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// After this long waiting for a lock, say so on stderr.
const ANNOUNCE_WAIT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// `path` with the symbolic links of its final component followed (relative targets are
/// resolved against the link's directory); a dangling link resolves to where it points.
fn resolve_links(path: &Path) -> CliResult<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)
                    .map_err(|e| CliError::io("cannot read the symbolic link", &current, &e))?;
                current = fsutil::parent_dir(&current).join(target);
            }
            _ => return Ok(current),
        }
    }
    Err(
        CliError::error(format!("{} is a loop of symbolic links", escape_path(path)))
            .hint("point the link at a real file"),
    )
}

/// Set once the "readable by others" warning was printed (one per process).
static WARNED_READABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl PinStore {
    /// The store at `path` (from `--pins` or `SBRP_PINS`), or `<config dir>/pins.json`.
    pub fn open(path: Option<PathBuf>) -> CliResult<Self> {
        let (path, is_default) = match path {
            Some(p) if !p.as_os_str().is_empty() => (p, false),
            _ => (config::default_pins_path()?, true),
        };
        let real = resolve_links(&path)?;
        Ok(PinStore {
            path,
            real,
            is_default,
            wait: DEFAULT_LOCK_WAIT,
        })
    }

    /// Sets how long a change waits for the lock (zero: no limit).
    pub fn with_wait(mut self, wait: std::time::Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The pin file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file: `<real file>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self
            .real
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".lock");
        self.real.with_file_name(name)
    }

    /// Reads the file; a missing file is an empty one. Nothing is ever written here. A file
    /// that group or others can write is refused (exit 5); one they can read is warned about.
    pub fn load(&self) -> CliResult<PinFile> {
        let (meta, bytes) = match fsutil::read_file(&self.real) {
            Ok(x) => x,
            Err(_) if !self.real.exists() => return Ok(PinFile::empty()),
            Err(e) => return Err(e),
        };
        self.check_permissions(&meta)?;
        PinFile::parse(&bytes).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            let what = match e.classify() {
                serde_json::error::Category::Eof => "the file ends too early".to_owned(),
                _ => escape(&strip_position(&e.to_string())).into_owned(),
            };
            CliError::error(format!(
                "cannot read pin file {}: line {line}, column {column}: {what}",
                escape_path(&self.path)
            ))
            .hint(format!(
                "fix the file by hand or move it aside (sbrp never rewrites a pin file it cannot \
                 read); the format is described in sbrp-pin(1){}",
                if what.contains("unsupported pin file version") {
                    ", or upgrade sbrp"
                } else {
                    ""
                }
            ))
        })
    }

    fn check_permissions(&self, meta: &std::fs::Metadata) -> CliResult<()> {
        #[cfg(unix)]
        {
            let mode = fsutil::mode_of(meta);
            if mode & 0o022 != 0 {
                return Err(CliError::new(
                    Exit::UnsafePermissions,
                    format!(
                        "pin file {} has mode {mode:04o}: group or others can change which keys \
                         you trust",
                        escape_path(&self.path)
                    ),
                )
                .hint(format!(
                    "run `chmod 600 {}` and check its pins (`sbrp pin list`) against their \
                     daemons",
                    shell_quote_path(&self.real)
                )));
            }
            if mode & 0o044 != 0
                && !WARNED_READABLE.swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                super::output::warn_stderr(&format!(
                    "pin file {} has mode {mode:04o}: others can read which daemons you use \
                     (`chmod 600 {}` keeps it private)",
                    escape_path(&self.path),
                    shell_quote_path(&self.real)
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        Ok(())
    }

    /// Takes the exclusive lock, waiting at most `self.wait` (zero: no limit) and saying so on
    /// stderr after one second.
    fn lock(&self) -> CliResult<File> {
        let lock_path = self.lock_path();
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let lock: File = opts
            .open(&lock_path)
            .map_err(|e| CliError::io("cannot open lock file", &lock_path, &e))?;
        let start = std::time::Instant::now();
        let mut announced = false;
        loop {
            match lock.try_lock() {
                Ok(()) => return Ok(lock),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(CliError::io("cannot lock", &lock_path, &e));
                }
            }
            let waited = start.elapsed();
            if !self.wait.is_zero() && waited >= self.wait {
                return Err(CliError::error(format!(
                    "gave up after {} s waiting for the lock on {}: another process is changing \
                     the pin file",
                    self.wait.as_secs_f64(),
                    escape_path(&lock_path)
                ))
                .hint(format!(
                    "wait for the other sbrp to finish and run the command again, or give it \
                     longer with --wait SECONDS (0 waits without limit); `fuser {}` shows who \
                     holds it",
                    shell_quote_path(&lock_path)
                )));
            }
            if !announced && waited >= ANNOUNCE_WAIT_AFTER {
                announced = true;
                let limit = if self.wait.is_zero() {
                    "without a time limit".to_owned()
                } else {
                    format!("for up to {} s", self.wait.as_secs_f64())
                };
                super::output::note_stderr(&format!(
                    "waiting for the lock on {} (held by another process) {limit}",
                    escape_path(&lock_path)
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Runs `change` on the current file under the exclusive lock and writes the result
    /// atomically when `change` says it changed something.
    pub fn modify<T>(
        &self,
        change: impl FnOnce(&mut PinFile) -> CliResult<(T, bool)>,
    ) -> CliResult<T> {
        if self.is_default {
            config::create_private_dir(fsutil::parent_dir(&self.real))?;
        }
        let lock = self.lock()?;
        // Under the lock: any temp file is from a writer that died.
        fsutil::remove_stale_temps(&self.real);
        let mut file = self.load()?;
        let (value, changed) = change(&mut file)?;
        if changed {
            // A replaced file keeps its mode; a new one is 0600.
            #[cfg(unix)]
            let mode = std::fs::metadata(&self.real)
                .map(|m| fsutil::mode_of(&m))
                .unwrap_or(0o600);
            #[cfg(not(unix))]
            let mode = 0o600;
            fsutil::replace_atomically(&self.real, &file.to_bytes()?, mode)?;
        }
        drop(lock); // unlocks
        Ok(value)
    }

    /// The pin of `daemon_id`, if any.
    pub fn lookup(&self, daemon_id: &str) -> CliResult<Option<Pin>> {
        Ok(self.load()?.get(daemon_id).cloned())
    }

    /// Compares a presented key with the pin (read-only).
    pub fn verify(&self, daemon_id: &str, key: &IdentityPublicKey) -> CliResult<Verification> {
        Ok(match self.lookup(daemon_id)? {
            None => Verification::Unknown,
            Some(pin) if pin.matches(key) => Verification::Match(pin),
            Some(pin) => Verification::Mismatch(pin),
        })
    }

    /// Records that `key` was seen to match (updates `last_verified_at`). Re-checks under the
    /// lock; returns the current verification.
    pub fn mark_verified(
        &self,
        daemon_id: &str,
        key: &IdentityPublicKey,
    ) -> CliResult<Verification> {
        self.modify(|file| match file.get_mut(daemon_id) {
            None => Ok((Verification::Unknown, false)),
            Some(pin) if pin.matches(key) => {
                pin.last_verified_at = rfc3339_utc(SystemTime::now());
                Ok((Verification::Match(pin.clone()), true))
            }
            Some(pin) => Ok((Verification::Mismatch(pin.clone()), false)),
        })
    }

    /// Pins `key` for `daemon_id` unless it is pinned already (to any key).
    pub fn add(
        &self,
        daemon_id: &str,
        key: &IdentityPublicKey,
        comment: Option<String>,
    ) -> CliResult<AddOutcome> {
        super::daemon_id::validate(daemon_id)?;
        if let Some(c) = &comment {
            validate_text("comment", c)?;
        }
        self.modify(|file| match file.get(daemon_id) {
            Some(pin) if pin.matches(key) => Ok((AddOutcome::Unchanged(pin.clone()), false)),
            Some(pin) => Ok((AddOutcome::Conflict(pin.clone()), false)),
            None => {
                let pin = Pin::new(daemon_id, key, comment);
                file.pins.push(pin.clone());
                Ok((AddOutcome::Added(pin), true))
            }
        })
    }

    /// Replaces the pinned key of `daemon_id` if it is still `expected_old` (so a concurrent
    /// change is not overwritten blindly). Returns the old and the new pin.
    pub fn replace(
        &self,
        daemon_id: &str,
        expected_old: &IdentityPublicKey,
        key: &IdentityPublicKey,
        comment: Option<String>,
    ) -> CliResult<(Pin, Pin)> {
        if let Some(c) = &comment {
            validate_text("comment", c)?;
        }
        self.modify(|file| {
            let Some(pin) = file.get_mut(daemon_id) else {
                return Err(not_pinned_error(self, daemon_id));
            };
            if !pin.matches(expected_old) {
                return Err(CliError::error(format!(
                    "the pin of \"{}\" changed while you were deciding",
                    super::daemon_id::shorten(daemon_id)
                ))
                .hint("run the command again"));
            }
            let old = pin.clone();
            let comment = comment.or_else(|| old.comment.clone());
            *pin = Pin::new(daemon_id, key, comment);
            Ok(((old, pin.clone()), true))
        })
    }

    /// Removes the pin of `daemon_id`; `None` when it was not pinned.
    pub fn remove(&self, daemon_id: &str) -> CliResult<Option<Pin>> {
        self.modify(
            |file| match file.pins.iter().position(|p| p.daemon_id == daemon_id) {
                Some(i) => Ok((Some(file.pins.remove(i)), true)),
                None => Ok((None, false)),
            },
        )
    }
}

/// Refuses a comment longer than [`MAX_FIELD_LEN`], with control or invisible formatting
/// characters, or with leading/trailing whitespace (daemon ids: [`super::daemon_id`]).
pub fn validate_text(what: &str, value: &str) -> CliResult<()> {
    let (problem, hint) = if value.len() > MAX_FIELD_LEN {
        (
            format!("is {} bytes long (at most {MAX_FIELD_LEN})", value.len()),
            format!("give a shorter {what}"),
        )
    } else if let Some(c) = value.chars().find(|c| needs_escape(*c)) {
        (
            format!(
                "contains the control or invisible character U+{:04X}",
                u32::from(c)
            ),
            format!("remove it: a {what} is printable text"),
        )
    } else if value.trim() != value {
        (
            "starts or ends with whitespace".to_owned(),
            "remove the spaces around it".to_owned(),
        )
    } else {
        return Ok(());
    };
    Err(CliError::error(format!(
        "the {what} \"{}\" {problem}",
        super::daemon_id::shorten(value)
    ))
    .hint(hint))
}

/// Exit 3: `daemon_id` is not pinned.
pub fn not_pinned_error(store: &PinStore, daemon_id: &str) -> CliError {
    CliError::new(
        Exit::NotFound,
        format!(
            "daemon \"{}\" is not pinned in {}",
            super::daemon_id::shorten(daemon_id),
            escape_path(store.path())
        ),
    )
    .hint(format!(
        "check its fingerprint out of band, then pin it: sbrp pin add {} KEY{}",
        shell_quote(daemon_id),
        pins_flag(store)
    ))
}

/// ` --pins PATH` when the store is not the default one (for commands in hints).
pub fn pins_flag(store: &PinStore) -> String {
    if store.is_default {
        String::new()
    } else {
        format!(" --pins {}", shell_quote_path(store.path()))
    }
}

/// Exit 4: `identity_key_changed`, with the stored and presented fingerprints, the file, and
/// the command that would approve the change (`key_arg` is how the user gave the new key, if
/// it can be repeated on a command line).
pub fn key_changed_error(
    store: &PinStore,
    pin: &Pin,
    presented: &IdentityPublicKey,
    key_arg: Option<&str>,
) -> CliError {
    let new_key = key_arg
        .map(shell_quote)
        .unwrap_or_else(|| encode_public(presented, PublicFormat::Base64));
    CliError::new(
        Exit::KeyMismatch,
        format!(
            "identity_key_changed: daemon \"{}\" presents a different identity key than the one \
             pinned in {}\n  pinned:    {}\n  presented: {}",
            super::daemon_id::shorten(&pin.daemon_id),
            escape_path(store.path()),
            escape(&pin.fingerprint),
            presented.fingerprint()
        ),
    )
    .hint(format!(
        "this may be an attack; confirm the new fingerprint with the daemon's operator. If the \
         change is legitimate, approve it with: sbrp pin replace {} {}{}",
        shell_quote(&pin.daemon_id),
        new_key,
        pins_flag(store)
    ))
}

/// Decides whether to trust an unknown daemon under `policy`: accept-new says yes; strict
/// says no; ask asks on a terminal (yes / no / paste the expected fingerprint) and acts as
/// strict when there is no terminal. A pasted fingerprint that differs is exit 4.
pub fn decide_unknown(
    out: &Output,
    policy: TrustPolicy,
    daemon_id: &str,
    key: &IdentityPublicKey,
) -> CliResult<bool> {
    match policy {
        TrustPolicy::AcceptNew => Ok(true),
        TrustPolicy::Strict => Ok(false),
        TrustPolicy::Ask if !out.can_prompt() => Ok(false),
        TrustPolicy::Ask => {
            out.eprintln(&format!(
                "daemon \"{}\" is not pinned. Its identity key has the fingerprint\n  {}",
                super::daemon_id::shorten(daemon_id),
                out.style_err(&key.fingerprint(), Style::Bold)
            ));
            let answer =
                out.ask("Trust it and pin it? [yes / no / paste the expected fingerprint]: ")?;
            let answer = answer.trim();
            if answer.eq_ignore_ascii_case("yes") || answer.eq_ignore_ascii_case("y") {
                return Ok(true);
            }
            if answer.is_empty()
                || answer.eq_ignore_ascii_case("no")
                || answer.eq_ignore_ascii_case("n")
            {
                return Ok(false);
            }
            match super::fingerprint::parse_fingerprint(answer) {
                Ok(expected) if expected == key.digest() => {
                    out.eprintln(&format!(
                        "{} the fingerprint matches",
                        out.style_err("ok:", Style::Good)
                    ));
                    Ok(true)
                }
                Ok(expected) => Err(CliError::new(
                    Exit::KeyMismatch,
                    format!(
                        "the fingerprint you pasted does not match the daemon's key\n  expected:  {}\n  presented: {}",
                        sbrp::keys::fingerprint_of_digest(&expected),
                        key.fingerprint()
                    ),
                )
                .hint("do not trust this daemon until you know why the keys differ")),
                Err(_) => {
                    out.warn("answer not understood; not pinning");
                    Ok(false)
                }
            }
        }
    }
}

/// `serde_json` appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let at = |s: u64| rfc3339_utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
        assert!(is_rfc3339_utc(&at(1_700_000_000)));
        assert!(is_rfc3339_utc("2023-11-14T22:13:20.123Z"));
        assert!(!is_rfc3339_utc("2023-11-14 22:13:20Z"));
        assert!(!is_rfc3339_utc("2023-11-14T22:13:20+01:00"));
        assert!(!is_rfc3339_utc("2023-11-14T22:13:20.Z"));
    }

    fn key() -> IdentityPublicKey {
        sbrp::IdentityKeyPair::from_seed(&[7; 32]).public_key()
    }

    #[test]
    fn file_round_trips() {
        let mut f = PinFile::empty();
        f.pins.push(Pin::new("d1", &key(), Some("lab".into())));
        f.pins.push(Pin::new("d2", &key(), None));
        let bytes = f.to_bytes().unwrap();
        let back = PinFile::parse(&bytes).unwrap();
        assert_eq!(back, f);
        assert!(back.pins[0].matches(&key()));
    }

    #[test]
    fn rejects_bad_files_with_positions() {
        let good = String::from_utf8(
            {
                let mut f = PinFile::empty();
                f.pins.push(Pin::new("d1", &key(), None));
                f
            }
            .to_bytes()
            .unwrap(),
        )
        .unwrap();
        let err = |s: &str| PinFile::parse(s.as_bytes()).unwrap_err().to_string();
        assert!(
            err(&good.replace("\"version\": 1", "\"version\": 2"))
                .contains("unsupported pin file version 2")
        );
        assert!(err(&good.replace("\"d1\"", "\"d1\", \"extra\": 1")).contains("unknown field"));
        let other_fp = sbrp::IdentityKeyPair::from_seed(&[8; 32]).fingerprint();
        assert!(err(&good.replace(&key().fingerprint(), &other_fp)).contains("does not match"));
        let twice = good.replace("\"pins\": [", "\"pins\": [{\"daemon_id\": \"d1\", \"public_key\": \"PK\", \"fingerprint\": \"FP\", \"added_at\": \"T\", \"last_verified_at\": \"T\"},");
        assert!(PinFile::parse(twice.as_bytes()).is_err());
        let e = PinFile::parse(b"{\"version\": 1,\n \"pins\": [}").unwrap_err();
        assert_eq!(e.line(), 2);
    }

    #[test]
    fn text_validation() {
        assert!(validate_text("comment", "lab box").is_ok());
        assert!(validate_text("comment", "a\x1bb").is_err());
        assert!(validate_text("comment", "a\u{202e}b").is_err());
        assert!(validate_text("comment", " a").is_err());
        assert!(validate_text("comment", &"x".repeat(1025)).is_err());
    }
}
