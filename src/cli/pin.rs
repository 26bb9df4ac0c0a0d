//! `sbrp pin …`: the TOFU pin file (add, replace, check, list, show, remove).

use std::ffi::OsString;
use std::path::PathBuf;

use sbrp::IdentityPublicKey;
use serde::Serialize;

use super::escape::escape;
use super::exit::{CliError, CliResult, Exit};
use super::keyinput;
use super::output::{Output, Style};
use super::pinstore::{
    AddOutcome, Pin, PinFile, PinStore, TrustPolicy, Verification, decide_unknown,
    key_changed_error, not_pinned_error, pins_flag,
};

/// Arguments of `sbrp pin`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The pin file is JSON (its format: FILES in `sbrp man pin`), default \
    <config dir>/pins.json.\n\n\
    Examples:\n  \
    sbrp pin add daemon-1 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= --comment lab\n  \
    sbrp pin check daemon-1 daemon-1.pub --policy ask\n  \
    sbrp pin list --json"
)]
pub struct Args {
    /// The pin file [default: <config dir>/pins.json]
    #[arg(long, global = true, env = "SBRP_PINS", value_name = "PATH")]
    pub pins: Option<PathBuf>,

    /// Seconds a change waits for the pin file's lock (held by another sbrp) before it gives up
    /// with exit 1; 0 waits without limit. A wait over 1 s is announced on stderr
    #[arg(long, global = true, value_name = "SECONDS", default_value = "10", value_parser = parse_wait)]
    pub wait: std::time::Duration,

    #[command(subcommand)]
    pub command: PinCommand,
}

/// The `pin` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PinCommand {
    /// Pin a daemon's identity key (the same key again is a no-op; another key is refused, exit 4)
    Add {
        /// The daemon id
        daemon_id: String,
        /// The public key (hex, base64, PEM, …), a file holding it, or `-` for stdin
        #[arg(value_name = "KEY|FILE")]
        key: OsString,
        /// A note stored with the pin
        #[arg(long)]
        comment: Option<String>,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// Approve a key change: replace the pinned key of a daemon (asks unless --yes)
    Replace {
        /// The daemon id
        daemon_id: String,
        /// The new public key, a file holding it, or `-` for stdin
        #[arg(value_name = "KEY|FILE")]
        key: OsString,
        /// Do not ask for confirmation (required when stdin is not a terminal)
        #[arg(long, short = 'y')]
        yes: bool,
        /// A new note (default: keep the old one)
        #[arg(long)]
        comment: Option<String>,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check a presented key against the pin: 0 match, 3 not pinned (strict), 4 changed
    Check {
        /// The daemon id
        daemon_id: String,
        /// The presented public key, a file holding it, or `-` for stdin
        #[arg(value_name = "KEY|FILE")]
        key: OsString,
        /// What to do with an unknown daemon
        #[arg(long, value_enum, default_value_t = TrustPolicy::Strict)]
        policy: TrustPolicy,
        /// Print the outcome as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the pins
    List {
        /// Print the pin file as JSON (same shape as the file)
        #[arg(long)]
        json: bool,
    },
    /// Show one pin (exit 3 if absent)
    Show {
        /// The daemon id
        daemon_id: String,
        /// Print it as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a pin (exit 3 if absent)
    Remove {
        /// The daemon id
        daemon_id: String,
        /// Print the removed pin as JSON
        #[arg(long)]
        json: bool,
    },
}

/// JSON outcome of add / replace / check / remove: `{"schema": "sbrp.pin.<cmd>/1", …}`.
#[derive(Serialize)]
struct Outcome<'a> {
    schema: &'static str,
    /// False when the command fails (its exit status is not 0).
    ok: bool,
    status: &'static str,
    daemon_id: &'a str,
    pin_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    presented_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pinned_fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin: Option<Pin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<Pin>,
    /// The failure, when `ok` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<super::output::ErrorJson>,
}

impl<'a> Outcome<'a> {
    /// Records the outcome and the pin it concerns.
    fn settle(&mut self, status: &'static str, pin: &Pin) {
        self.status = status;
        self.pinned_fingerprint = Some(pin.fingerprint.clone());
        self.pin = Some(pin.clone());
    }

    fn new(cmd: &'static str, status: &'static str, id: &'a str, store: &PinStore) -> Self {
        let schema = match cmd {
            "add" => "sbrp.pin.add/1",
            "replace" => "sbrp.pin.replace/1",
            "check" => "sbrp.pin.check/1",
            _ => "sbrp.pin.remove/1",
        };
        Outcome {
            schema,
            ok: true,
            status,
            daemon_id: id,
            pin_file: store.path().to_string_lossy().into_owned(),
            presented_fingerprint: None,
            pinned_fingerprint: None,
            pin: None,
            previous: None,
            error: None,
        }
    }
}

/// `pin show --json`.
#[derive(Serialize)]
struct ShowJson<'a> {
    version: u32,
    pin: &'a Pin,
}

/// Prints the JSON outcome (if asked) and turns a failure into its exit status: with `--json`
/// the outcome goes to stdout and the error still to stderr.
fn finish(out: &Output, json: Option<&Outcome<'_>>, result: Result<Exit, CliError>) -> CliResult {
    if let Some(o) = json {
        match &result {
            Ok(_) => out.json(o)?,
            Err(e) => out.json(&Outcome {
                ok: false,
                error: Some(super::output::ErrorJson::of(e)),
                pin: o.pin.clone(),
                previous: o.previous.clone(),
                presented_fingerprint: o.presented_fingerprint.clone(),
                pinned_fingerprint: o.pinned_fingerprint.clone(),
                pin_file: o.pin_file.clone(),
                ..*o
            })?,
        }
    }
    result
}

fn key_arg_text(arg: &OsString) -> Option<&str> {
    arg.to_str().filter(|s| *s != "-")
}

/// Parses `--wait`: a non-negative number of seconds (fractions allowed), at most a day.
fn parse_wait(s: &str) -> Result<std::time::Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(format!("`{s}` is not between 0 and 86400 seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

/// The daemon id of a subcommand, if it takes one.
fn daemon_id_of(cmd: &PinCommand) -> Option<&str> {
    match cmd {
        PinCommand::Add { daemon_id, .. }
        | PinCommand::Replace { daemon_id, .. }
        | PinCommand::Check { daemon_id, .. }
        | PinCommand::Show { daemon_id, .. }
        | PinCommand::Remove { daemon_id, .. } => Some(daemon_id),
        PinCommand::List { .. } => None,
    }
}

/// Runs `sbrp pin`.
pub fn run(out: &Output, args: Args) -> CliResult {
    if let Some(id) = daemon_id_of(&args.command) {
        super::daemon_id::validate(id)?;
    }
    let store = PinStore::open(args.pins)?.with_wait(args.wait);
    match args.command {
        PinCommand::Add {
            daemon_id,
            key,
            comment,
            json,
        } => add(out, &store, &daemon_id, &key, comment, json),
        PinCommand::Replace {
            daemon_id,
            key,
            yes,
            comment,
            json,
        } => replace(out, &store, &daemon_id, &key, yes, comment, json),
        PinCommand::Check {
            daemon_id,
            key,
            policy,
            json,
        } => check(out, &store, &daemon_id, &key, policy, json),
        PinCommand::List { json } => list(out, &store, json),
        PinCommand::Show { daemon_id, json } => show(out, &store, &daemon_id, json),
        PinCommand::Remove { daemon_id, json } => remove(out, &store, &daemon_id, json),
    }
}

fn add(
    out: &Output,
    store: &PinStore,
    id: &str,
    key_arg: &OsString,
    comment: Option<String>,
    json: bool,
) -> CliResult {
    let (key, _) = keyinput::load_public_arg(key_arg)?;
    let outcome = store.add(id, &key, comment)?;
    let (status, pin, result) = match &outcome {
        AddOutcome::Added(pin) => {
            if !json {
                out.println(&format!(
                    "{} {} {}",
                    out.style_out("pinned", Style::Good),
                    escape(id),
                    pin.fingerprint
                ))?;
            }
            ("added", pin, Ok(Exit::Success))
        }
        AddOutcome::Unchanged(pin) => {
            if !json {
                out.println(&format!(
                    "already pinned (unchanged): {} {}",
                    escape(id),
                    pin.fingerprint
                ))?;
            }
            ("unchanged", pin, Ok(Exit::Success))
        }
        AddOutcome::Conflict(pin) => (
            "mismatch",
            pin,
            Err(key_changed_error(store, pin, &key, key_arg_text(key_arg))),
        ),
    };
    let mut o = Outcome::new("add", status, id, store);
    o.presented_fingerprint = Some(key.fingerprint());
    o.pinned_fingerprint = Some(pin.fingerprint.clone());
    o.pin = Some(pin.clone());
    finish(out, json.then_some(&o), result)
}

fn replace(
    out: &Output,
    store: &PinStore,
    id: &str,
    key_arg: &OsString,
    yes: bool,
    comment: Option<String>,
    json: bool,
) -> CliResult {
    let (key, _) = keyinput::load_public_arg(key_arg)?;
    let Some(old) = store.lookup(id)? else {
        let mut o = Outcome::new("replace", "not_pinned", id, store);
        o.presented_fingerprint = Some(key.fingerprint());
        let err = not_pinned_error(store, id).hint(format!(
            "there is no key to replace; to pin this one: sbrp pin add {} KEY{}",
            super::escape::shell_quote(id),
            pins_flag(store)
        ));
        return finish(out, json.then_some(&o), Err(err));
    };
    if old.matches(&key) {
        let mut o = Outcome::new("replace", "unchanged", id, store);
        o.pin = Some(old.clone());
        if !json {
            out.println(&format!(
                "already pinned to this key (unchanged): {} {}",
                escape(id),
                old.fingerprint
            ))?;
        }
        return finish(out, json.then_some(&o), Ok(Exit::Success));
    }
    out.eprintln(&format!(
        "Replacing the pinned identity key of \"{}\":\n  old: {}\n  new: {}",
        escape(id),
        out.style_err(&escape(&old.fingerprint), Style::Bad),
        out.style_err(&key.fingerprint(), Style::Bold)
    ));
    if !yes {
        let mut o = Outcome::new("replace", "not_approved", id, store);
        o.presented_fingerprint = Some(key.fingerprint());
        o.pinned_fingerprint = Some(old.fingerprint.clone());
        o.pin = Some(old.clone());
        if !out.can_prompt() {
            let err = CliError::new(
                Exit::Usage,
                "refusing to replace a pinned key without confirmation (stdin is not a terminal)",
            )
            .hint("check the new fingerprint with the daemon's operator, then pass --yes");
            return finish(out, json.then_some(&o), Err(err));
        }
        let answer = out.ask("Approve this key change? Type yes to replace: ")?;
        if !answer.trim().eq_ignore_ascii_case("yes") {
            let err = CliError::new(
                Exit::KeyMismatch,
                format!(
                    "key change of \"{}\" not approved; the pin is unchanged",
                    super::daemon_id::shorten(id)
                ),
            )
            .hint(
                "nothing changed; once the operator confirmed the new fingerprint, run the \
                 command again and type yes",
            );
            return finish(out, json.then_some(&o), Err(err));
        }
    }
    let (previous, new) = store.replace(id, &old.key(), &key, comment)?;
    if json {
        let mut o = Outcome::new("replace", "replaced", id, store);
        o.presented_fingerprint = Some(key.fingerprint());
        o.pinned_fingerprint = Some(new.fingerprint.clone());
        o.pin = Some(new.clone());
        o.previous = Some(previous.clone());
        out.json(&o)?;
    } else {
        out.println(&format!(
            "{} {} {}",
            out.style_out("replaced", Style::Good),
            escape(id),
            new.fingerprint
        ))?;
    }
    Ok(Exit::Success)
}

fn check(
    out: &Output,
    store: &PinStore,
    id: &str,
    key_arg: &OsString,
    policy: TrustPolicy,
    json: bool,
) -> CliResult {
    let (key, _) = keyinput::load_public_arg(key_arg)?;
    let mut verification = store.verify(id, &key)?;
    if let Verification::Match(_) = verification {
        // Re-checked under the lock while recording the time. Recording is best effort (a
        // read-only config directory, a lock held too long): the check itself stands.
        match store.mark_verified(id, &key) {
            Ok(v) => verification = v,
            Err(e) => out.warn(&format!(
                "the key matches, but last_verified_at was not updated: {}",
                e.message()
            )),
        }
    }
    let mut o = Outcome::new("check", "", id, store);
    o.presented_fingerprint = Some(key.fingerprint());
    match verification {
        Verification::Match(pin) => {
            o.settle("match", &pin);
            if !json {
                out.println(&format!(
                    "{} {} {}",
                    out.style_out("match:", Style::Good),
                    escape(id),
                    pin.fingerprint
                ))?;
            }
            finish(out, json.then_some(&o), Ok(Exit::Success))
        }
        Verification::Mismatch(pin) => {
            o.settle("mismatch", &pin);
            let err = key_changed_error(store, &pin, &key, key_arg_text(key_arg));
            finish(out, json.then_some(&o), Err(err))
        }
        Verification::Unknown => check_unknown(out, store, id, &key, policy, json, o),
    }
}

fn check_unknown(
    out: &Output,
    store: &PinStore,
    id: &str,
    key: &IdentityPublicKey,
    policy: TrustPolicy,
    json: bool,
    mut o: Outcome<'_>,
) -> CliResult {
    if !decide_unknown(out, policy, id, key)? {
        o.status = "not_pinned";
        let mut err = not_pinned_error(store, id);
        if policy == TrustPolicy::Ask {
            err = if out.can_prompt() {
                err.hint(format!(
                    "you did not approve it; once its fingerprint is confirmed, run the command \
                     again and answer yes (or paste the fingerprint), or: sbrp pin add {} KEY{}",
                    super::escape::shell_quote(id),
                    pins_flag(store)
                ))
            } else {
                err.hint(format!(
                    "--policy ask needs a terminal to ask on (stdin and stderr); here, check the \
                     fingerprint out of band and pin it: sbrp pin add {} KEY{}",
                    super::escape::shell_quote(id),
                    pins_flag(store)
                ))
            };
        }
        return finish(out, json.then_some(&o), Err(err));
    }
    // Pin it; a concurrent writer may have pinned it meanwhile, so look at the outcome.
    match store.add(id, key, None)? {
        AddOutcome::Added(pin) | AddOutcome::Unchanged(pin) => {
            o.settle("pinned", &pin);
            if !json {
                out.note(&format!(
                    "\"{}\" was not pinned; pinned it now ({})",
                    escape(id),
                    policy_name(policy)
                ));
                out.println(&format!(
                    "{} {} {}",
                    out.style_out("pinned", Style::Good),
                    escape(id),
                    pin.fingerprint
                ))?;
            }
            finish(out, json.then_some(&o), Ok(Exit::Success))
        }
        AddOutcome::Conflict(pin) => {
            o.settle("mismatch", &pin);
            let err = key_changed_error(store, &pin, key, None);
            finish(out, json.then_some(&o), Err(err))
        }
    }
}

fn policy_name(p: TrustPolicy) -> &'static str {
    match p {
        TrustPolicy::Strict => "strict",
        TrustPolicy::AcceptNew => "policy accept-new",
        TrustPolicy::Ask => "you approved it",
    }
}

fn list(out: &Output, store: &PinStore, json: bool) -> CliResult {
    let file: PinFile = store.load()?;
    if json {
        out.json(&file)?;
        return Ok(Exit::Success);
    }
    if file.pins.is_empty() {
        out.note(&format!(
            "no pins in {}",
            super::escape::escape_path(store.path())
        ));
        return Ok(Exit::Success);
    }
    let ids: Vec<String> = file
        .pins
        .iter()
        .map(|p| escape(&p.daemon_id).into_owned())
        .collect();
    let width = ids.iter().map(|s| s.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for (pin, id) in file.pins.iter().zip(&ids) {
        let pad = width - id.chars().count();
        text.push_str(&format!(
            "{}{}  {}  {}",
            out.style_out(id, Style::Bold),
            " ".repeat(pad),
            escape(&pin.fingerprint),
            out.style_out(
                &format!("verified {}", escape(&pin.last_verified_at)),
                Style::Dim
            )
        ));
        if let Some(c) = &pin.comment {
            text.push_str(&format!("  # {}", escape(c)));
        }
        text.push('\n');
    }
    out.print(&text)?;
    Ok(Exit::Success)
}

/// Exit 3 for show/remove: the id is not in the file; `pin list` shows what is.
fn unknown_id_error(store: &PinStore, id: &str) -> CliError {
    not_pinned_error(store, id).hint(format!(
        "check the id's spelling; `sbrp pin list{}` shows the pinned daemons",
        pins_flag(store)
    ))
}

fn show(out: &Output, store: &PinStore, id: &str, json: bool) -> CliResult {
    let Some(pin) = store.lookup(id)? else {
        return Err(unknown_id_error(store, id));
    };
    if json {
        out.json(&ShowJson {
            version: super::pinstore::PIN_FILE_VERSION,
            pin: &pin,
        })?;
        return Ok(Exit::Success);
    }
    let mut text = format!(
        "daemon id:        {}\npublic key:       {}\nfingerprint:      {}\nadded at:         {}\nlast verified at: {}\n",
        out.style_out(&escape(&pin.daemon_id), Style::Bold),
        escape(&pin.public_key),
        escape(&pin.fingerprint),
        escape(&pin.added_at),
        escape(&pin.last_verified_at)
    );
    if let Some(c) = &pin.comment {
        text.push_str(&format!("comment:          {}\n", escape(c)));
    }
    text.push_str(&sbrp::randomart::identity_randomart(&pin.key()));
    out.print(&text)?;
    Ok(Exit::Success)
}

fn remove(out: &Output, store: &PinStore, id: &str, json: bool) -> CliResult {
    let Some(pin) = store.remove(id)? else {
        let o = Outcome::new("remove", "not_pinned", id, store);
        return finish(out, json.then_some(&o), Err(unknown_id_error(store, id)));
    };
    if json {
        let mut o = Outcome::new("remove", "removed", id, store);
        o.pin = Some(pin.clone());
        out.json(&o)?;
    } else {
        out.println(&format!(
            "removed {} {}",
            escape(id),
            escape(&pin.fingerprint)
        ))?;
    }
    Ok(Exit::Success)
}
