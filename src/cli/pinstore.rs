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
use std::time::{SystemTime, UNIX_EPOCH};

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
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
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
#[serde(try_from = "RawPin")]
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
        let id = escape(&raw.daemon_id).into_owned();
        if raw.daemon_id.is_empty() {
            return Err("a pin has an empty daemon_id".to_owned());
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPinFile")]
pub struct PinFile {
    /// Always [`PIN_FILE_VERSION`].
    pub version: u32,
    /// The pins, in the order they were added.
    pub pins: Vec<Pin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPinFile {
    version: FileVersion,
    pins: Vec<Pin>,
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

impl TryFrom<RawPinFile> for PinFile {
    type Error = String;

    fn try_from(raw: RawPinFile) -> Result<Self, String> {
        let _ = raw.version;
        let mut seen = std::collections::HashSet::new();
        for p in &raw.pins {
            if !seen.insert(p.daemon_id.as_str()) {
                return Err(format!(
                    "daemon id \"{}\" is pinned twice",
                    escape(&p.daemon_id)
                ));
            }
        }
        Ok(PinFile {
            version: PIN_FILE_VERSION,
            pins: raw.pins,
        })
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

    /// Parses a pin file; errors carry line and column (without the path).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
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
#[derive(Clone, Debug)]
pub struct PinStore {
    path: PathBuf,
    is_default: bool,
}

impl PinStore {
    /// The store at `path` (from `--pins` or `SBRP_PINS`), or `<config dir>/pins.json`.
    pub fn open(path: Option<PathBuf>) -> CliResult<Self> {
        match path {
            Some(p) if !p.as_os_str().is_empty() => Ok(PinStore {
                path: p,
                is_default: false,
            }),
            _ => Ok(PinStore {
                path: config::default_pins_path()?,
                is_default: true,
            }),
        }
    }

    /// The pin file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// Reads the file; a missing file is an empty one. Nothing is ever written here.
    pub fn load(&self) -> CliResult<PinFile> {
        let (_, bytes) = match fsutil::read_file(&self.path) {
            Ok(x) => x,
            Err(_) if !self.path.exists() => return Ok(PinFile::empty()),
            Err(e) => return Err(e),
        };
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
                 read); the format is described in docs/pin-file.md{}",
                if what.contains("unsupported pin file version") {
                    ", or upgrade sbrp"
                } else {
                    ""
                }
            ))
        })
    }

    /// Runs `change` on the current file under the exclusive lock and writes the result
    /// atomically when `change` says it changed something.
    pub fn modify<T>(
        &self,
        change: impl FnOnce(&mut PinFile) -> CliResult<(T, bool)>,
    ) -> CliResult<T> {
        if self.is_default {
            config::create_private_dir(fsutil::parent_dir(&self.path))?;
        }
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
        lock.lock()
            .map_err(|e| CliError::io("cannot lock", &lock_path, &e))?;
        // Under the lock: any temp file is from a writer that died.
        fsutil::remove_stale_temps(&self.path);
        let mut file = self.load()?;
        let (value, changed) = change(&mut file)?;
        if changed {
            fsutil::replace_atomically(&self.path, &file.to_bytes()?, 0o600)?;
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
        validate_text("daemon id", daemon_id)?;
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
                    escape(daemon_id)
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

/// Refuses empty text, text longer than [`MAX_FIELD_LEN`], text with control or invisible
/// formatting characters, or with leading/trailing whitespace.
pub fn validate_text(what: &str, value: &str) -> CliResult<()> {
    let problem = if value.is_empty() && what == "daemon id" {
        Some("is empty")
    } else if value.len() > MAX_FIELD_LEN {
        Some("is longer than 1024 bytes")
    } else if value.chars().any(needs_escape) {
        Some("contains control or invisible formatting characters")
    } else if value.trim() != value {
        Some("starts or ends with whitespace")
    } else {
        None
    };
    match problem {
        Some(p) => Err(
            CliError::error(format!("the {what} \"{}\" {p}", escape(value)))
                .hint(format!("give a {what} of printable characters")),
        ),
        None => Ok(()),
    }
}

/// Exit 3: `daemon_id` is not pinned.
pub fn not_pinned_error(store: &PinStore, daemon_id: &str) -> CliError {
    CliError::new(
        Exit::NotFound,
        format!(
            "daemon \"{}\" is not pinned in {}",
            escape(daemon_id),
            escape_path(store.path())
        ),
    )
    .hint(format!(
        "check its fingerprint out of band, then pin it: sbrp pin add {} KEY{}",
        shell_quote(daemon_id),
        pins_flag(store)
    ))
}

fn pins_flag(store: &PinStore) -> String {
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
            escape(&pin.daemon_id),
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
                escape(daemon_id),
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
        let at = |s: u64| rfc3339_utc(UNIX_EPOCH + std::time::Duration::from_secs(s));
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
        f.pins.push(Pin::new("d\u{202e}2", &key(), None));
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
        assert!(validate_text("daemon id", "daemon-1.example").is_ok());
        assert!(validate_text("daemon id", "").is_err());
        assert!(validate_text("daemon id", "a\x1bb").is_err());
        assert!(validate_text("daemon id", "a\u{202e}b").is_err());
        assert!(validate_text("daemon id", " a").is_err());
        assert!(validate_text("comment", &"x".repeat(1025)).is_err());
    }
}
