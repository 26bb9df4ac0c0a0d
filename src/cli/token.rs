//! `sbrp token mint|inspect|verify|jwks`: relay tokens (EdDSA JWTs, authentication.md) for
//! operators and tests, on top of [`sbrp::token`].
//!
//! A token is a secret: it goes to stdout or a 0600 file only when minted, and is never
//! repeated in a message (see [`super::tokeninput`]).

use std::ffi::OsString;
use std::path::PathBuf;

use sbrp::keyfile::{BareKey, DecodedKey};
use sbrp::token::{self, Claims, Jwks, Role, Step, TokenError, VerifyPolicy};
use sbrp::{IdentityKeyPair, SessionId};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::escape::{escape, escape_path};
use super::exit::{CliError, CliResult, Exit};
use super::fsutil::{self, WriteRules};
use super::keyinput;
use super::output::{Output, Style};
use super::tokeninput;

/// Default lifetime of a client token (authentication.md: issuers SHOULD stay ≤ 120 s).
pub const CLIENT_TTL: i64 = 120;
/// Default lifetime of a daemon presence token (authentication.md: SHOULD be ≥ 1 h).
pub const DAEMON_TTL: i64 = 3600;
/// Default issuer.
pub const DEFAULT_ISS: &str = "sbrp";

/// Arguments of `sbrp token`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 success (verify: the token is valid; inspect: it breaks \
    no rule), 1 invalid token or error, 2 usage, 5 secret key file with unsafe permissions.\n\n\
    Examples:\n  \
    sbrp token mint --key daemon.pem --role daemon --did d1 -o daemon.jwt\n  \
    sbrp token mint --key daemon.pem --role client --did d1 --sid 42 -o client.jwt\n  \
    sbrp token jwks daemon.pem > jwks.json\n  \
    sbrp token verify --jwks jwks.json --iss sbrp client.jwt\n  \
    sbrp token inspect client.jwt"
)]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Sign a relay token with an Ed25519 key file
    Mint(MintArgs),
    /// Decode a token without verifying it, and list every rule it breaks
    Inspect(InspectArgs),
    /// Run every validation step of authentication.md, in order (exit 0 valid, 1 invalid)
    Verify(VerifyArgs),
    /// Print the JWKS (JSON Web Key Set) of one or more key files
    Jwks(JwksArgs),
}

/// `--role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    /// A daemon's presence token (no sid).
    Daemon,
    /// A client's session token (with a sid).
    Client,
}

fn parse_sid(s: &str) -> Result<SessionId, String> {
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse::<u64>(),
    }
    .map_err(|e| format!("not a 64-bit unsigned number (decimal, or hex with 0x): {e}"))?;
    SessionId::new(n).ok_or_else(|| "a session id is never 0".to_owned())
}

#[derive(Debug, clap::Args)]
struct MintArgs {
    /// Secret key file that signs the token (as `sbrp keygen` writes it), or `-` for stdin
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Who the token is for
    #[arg(long, value_enum)]
    role: RoleArg,
    /// The daemon id the connection is routed to (`did`)
    #[arg(long, value_name = "ID")]
    did: String,
    /// Session id, decimal or 0x-hex, non-zero (clients only) [default: random]
    #[arg(long, value_name = "N", value_parser = parse_sid)]
    sid: Option<SessionId>,
    /// Principal (`sub`) [default: the daemon id for daemons, a random `client-…` for clients]
    #[arg(long, value_name = "SUB")]
    sub: Option<String>,
    /// Lifetime in seconds [default: 120 for clients (at most 300), 3600 for daemons]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..))]
    ttl: Option<u32>,
    /// Issuer (`iss`); a relay checks it against its own --iss
    #[arg(long, value_name = "ISS", default_value = DEFAULT_ISS)]
    iss: String,
    /// Audience (`aud`); repeat for several [default: sideband-relay]
    #[arg(long, value_name = "AUD")]
    aud: Vec<String>,
    /// A scope (`scp`); repeat for several. Clients always get `session:create`; give
    /// `session:resume` to a daemon that resumes sessions
    #[arg(long, value_name = "SCOPE")]
    scp: Vec<String>,
    /// Key id in the header [default: the key's RFC 7638 JWK thumbprint, as `token jwks` lists it]
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// `lim.concurrent_sessions`: the most live sessions (at least 1)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    lim_sessions: Option<u64>,
    /// Relay region the token is bound to (`region`)
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Issue time, Unix seconds [default: now] (for tokens minted ahead, and tests)
    #[arg(long, value_name = "UNIX_SECONDS")]
    iat: Option<i64>,
    /// Write the token to FILE (created 0600) instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace an existing --output file
    #[arg(long, requires = "output")]
    force: bool,
    /// Print a JSON report with the header and claims (schema sbrp.token.mint/1)
    #[arg(long)]
    json: bool,
}

/// Where the token comes from (shared by inspect and verify).
#[derive(Debug, clap::Args)]
struct TokenInput {
    /// The token: a file holding it, `-` for stdin, or the token itself (warned: others can
    /// see arguments) [default: --token-file, then SBRP_TOKEN, then stdin]
    #[arg(value_name = "TOKEN|FILE|-", conflicts_with = "token_file")]
    token: Option<OsString>,
    /// File holding the token (`-` for stdin)
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// The checks that depend on the relay's setting and the clock (shared by inspect and verify).
#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Expected issuer (`iss`); without it any issuer is accepted (step 6 skipped)
    #[arg(long, value_name = "ISS")]
    iss: Option<String>,
    /// Relay region (step 13 is skipped without it)
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Check as if the clock read this time, Unix seconds [default: now]
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<i64>,
}

#[derive(Debug, clap::Args)]
struct InspectArgs {
    #[command(flatten)]
    input: TokenInput,
    /// Also check the signature against this JWKS file (step 4)
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    #[command(flatten)]
    check: CheckArgs,
    /// Print JSON (schema sbrp.token.inspect/1)
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    input: TokenInput,
    /// JWKS file with the issuer's public keys (`sbrp token jwks` writes one)
    #[arg(long, value_name = "FILE")]
    jwks: PathBuf,
    /// Required audience
    #[arg(long, value_name = "AUD", default_value = token::RELAY_AUDIENCE)]
    aud: String,
    #[command(flatten)]
    check: CheckArgs,
    /// Print JSON (schema sbrp.token.verify/1), on failure too
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct JwksArgs {
    /// Key files (secret or public), or `-` for stdin
    #[arg(value_name = "KEYFILE", required = true)]
    keys: Vec<PathBuf>,
    /// Print a JSON report (schema sbrp.token.jwks/1) wrapping the JWKS with each key's source
    /// and fingerprint, instead of the bare JWKS
    #[arg(long)]
    json: bool,
}

/// Runs `sbrp token`.
pub fn run(out: &Output, args: Args) -> CliResult {
    match args.command {
        TokenCommand::Mint(a) => mint(out, a),
        TokenCommand::Inspect(a) => inspect(out, a),
        TokenCommand::Verify(a) => verify(out, a),
        TokenCommand::Jwks(a) => jwks(out, a),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn random<const N: usize>() -> CliResult<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| CliError::error(format!("the system random number generator failed: {e}")))?;
    Ok(b)
}

fn random_sid() -> CliResult<SessionId> {
    loop {
        if let Some(sid) = SessionId::new(u64::from_be_bytes(random()?)) {
            return Ok(sid);
        }
    }
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `{"text": "AAALOnPOL_I", "decimal": "12345", "hex": "0x…"}` (decimal as a string: u64).
fn sid_json(sid: SessionId) -> Value {
    json!({
        "text": token::encode_sid(sid),
        "decimal": sid.get().to_string(),
        "hex": format!("0x{:016x}", sid.get()),
    })
}

fn header_json(kid: &str) -> Value {
    json!({"alg": "EdDSA", "typ": token::TOKEN_TYPE, "kid": kid})
}

fn mint(out: &Output, a: MintArgs) -> CliResult {
    let role = match a.role {
        RoleArg::Daemon => Role::Daemon,
        RoleArg::Client => Role::Client,
    };
    if a.did.is_empty() {
        return Err(CliError::new(Exit::Usage, "--did is empty")
            .hint("give the daemon id the relay routes to (step 11 refuses an empty did)"));
    }
    if role == Role::Daemon && a.sid.is_some() {
        return Err(CliError::new(
            Exit::Usage,
            "a daemon presence token carries no sid (it multiplexes every session)",
        )
        .hint("drop --sid, or mint a client token with --role client"));
    }
    let ttl = match (a.ttl, role) {
        (Some(t), _) => i64::from(t),
        (None, Role::Client) => CLIENT_TTL,
        (None, Role::Daemon) => DAEMON_TTL,
    };
    if role == Role::Client && ttl > token::MAX_CLIENT_LIFETIME {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "a client token may live at most {} s (authentication.md step 14); --ttl is {ttl}",
                token::MAX_CLIENT_LIFETIME
            ),
        )
        .hint("mint a shorter-lived token (120 s is the recommended maximum) and renew it"));
    }
    if role == Role::Client && ttl > token::RECOMMENDED_CLIENT_LIFETIME {
        out.warn(&format!(
            "a client token should live at most {} s (authentication.md); this one lives {ttl} s",
            token::RECOMMENDED_CLIENT_LIFETIME
        ));
    }
    if a.sub.as_deref() == Some("") {
        return Err(CliError::new(Exit::Usage, "--sub is empty")
            .hint("give the principal, or leave --sub out for the default"));
    }
    if a.kid.as_deref() == Some("") {
        return Err(CliError::new(Exit::Usage, "--kid is empty")
            .hint("leave --kid out to use the key's RFC 7638 thumbprint"));
    }

    let loaded = keyinput::load_secret(&a.key, BareKey::Refuse)?;
    let DecodedKey::Secret(pair) = &loaded.decoded.key else {
        return Err(CliError::error("the key file holds no secret key"));
    };
    let pair: &IdentityKeyPair = pair;
    let kid = a
        .kid
        .clone()
        .unwrap_or_else(|| token::thumbprint(&pair.public_key()));

    let iat = a.iat.unwrap_or_else(now);
    let mut claims = Claims::new(role, a.did.clone(), iat, ttl);
    claims.iss = Some(a.iss.clone());
    if !a.aud.is_empty() {
        claims.aud = a.aud.clone();
    }
    claims.jti = Some(b64url(&random::<16>()?));
    claims.sub = Some(match (&a.sub, role) {
        (Some(s), _) => s.clone(),
        (None, Role::Daemon) => a.did.clone(),
        (None, Role::Client) => format!("client-{}", hex::encode(random::<8>()?)),
    });
    if role == Role::Client {
        claims.sid = Some(match a.sid {
            Some(s) => s,
            None => random_sid()?,
        });
    }
    for s in &a.scp {
        if !claims.has_scope(s) {
            claims.scp.push(s.clone());
        }
    }
    claims.region = a.region.clone();
    claims.lim.concurrent_sessions = a.lim_sessions;
    if !claims.aud.iter().any(|x| x == token::RELAY_AUDIENCE) {
        out.warn(&format!(
            "aud does not contain {:?}: a relay refuses this token (step 5)",
            token::RELAY_AUDIENCE
        ));
    }

    let minted = token::mint(&claims, pair, &kid)
        .map_err(|e| CliError::error(escape(&e.to_string()).into_owned()))?;

    if let Some(path) = &a.output {
        let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(minted.expose().len() + 1));
        bytes.extend_from_slice(minted.expose().as_bytes());
        bytes.push(b'\n');
        fsutil::write_file(path, &bytes, WriteRules::secret("token file", a.force))?;
    }
    let summary = match claims.sid {
        Some(sid) => format!(
            "{} token for did {}, sid {} (0x{:016x}), {}",
            role,
            escape(&claims.did),
            sid.get(),
            sid.get(),
            time_left(claims.exp, now())
        ),
        None => format!(
            "{} token for did {}, {}",
            role,
            escape(&claims.did),
            time_left(claims.exp, now())
        ),
    };
    if a.json {
        let doc = json!({
            "schema": "sbrp.token.mint/1",
            "ok": true,
            "path": a.output.as_ref().map(|p| p.to_string_lossy().into_owned()),
            "token": if a.output.is_some() { Value::Null } else { Value::String(minted.expose().to_owned()) },
            "header": header_json(&kid),
            "claims": claims.to_json(),
            "sid": claims.sid.map(sid_json),
            "fingerprint": pair.fingerprint(),
        });
        out.json(&doc)?;
        return Ok(Exit::Success);
    }
    match &a.output {
        Some(path) => out.note(&format!("wrote {summary} to {}", escape_path(path))),
        None => {
            let mut line =
                zeroize::Zeroizing::new(String::with_capacity(minted.expose().len() + 1));
            line.push_str(minted.expose());
            line.push('\n');
            out.print(&line)?;
        }
    }
    Ok(Exit::Success)
}

fn read_jwks(path: &std::path::Path) -> CliResult<Jwks> {
    let bytes = if path == std::path::Path::new("-") {
        fsutil::read_limited(std::io::stdin().lock(), 4096, "standard input")?
    } else {
        fsutil::read_file(path)?.1
    };
    let jwks = Jwks::parse(&bytes).map_err(|e| {
        CliError::error(format!(
            "{} is not a usable JWKS: {}",
            escape_path(path),
            escape(&e.to_string())
        ))
        .hint("give a JSON Web Key Set {\"keys\":[…]}; `sbrp token jwks KEYFILE` makes one")
    })?;
    if jwks.keys.is_empty() {
        return Err(CliError::error(format!(
            "{} holds no Ed25519 (OKP) public key with a kid",
            escape_path(path)
        ))
        .hint("`sbrp token jwks KEYFILE` makes a JWKS of the issuer's key"));
    }
    Ok(jwks)
}

/// One broken rule, for JSON.
#[derive(Serialize)]
struct ProblemJson {
    step: u8,
    step_name: &'static str,
    code: &'static str,
    http_status: u16,
    message: String,
}

impl ProblemJson {
    fn of(e: &TokenError) -> Self {
        Self {
            step: e.step().number(),
            step_name: e.step().name(),
            code: e.code(),
            http_status: e.http_status(),
            message: e.to_string(),
        }
    }
}

fn problem_line(e: &TokenError) -> String {
    format!("{}: {}", e.step(), escape(&e.to_string()))
}

/// "1 m 58 s", "2 h 3 m", "3 d 4 h".
fn human_duration(secs: i64) -> String {
    let s = secs.unsigned_abs();
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} m")
    } else if m > 0 {
        format!("{m} m {s} s")
    } else {
        format!("{s} s")
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn utc(ts: i64) -> String {
    sbrp::utc::rfc3339_secs(ts)
}

fn time_of(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// `expires in 1 m 58 s` / `expired 3 m 2 s ago`.
fn time_left(exp: i64, now: i64) -> String {
    if exp >= now {
        format!("expires in {}", human_duration(exp - now))
    } else {
        format!("expired {} ago", human_duration(now - exp))
    }
}

/// A claim value for a terminal: strings bare (escaped), anything else as JSON (escaped).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => escape(s).into_owned(),
        Value::Array(a) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| escape(s).into_owned())
            .collect::<Vec<_>>()
            .join(", "),
        other => escape(&other.to_string()).into_owned(),
    }
}

fn inspect(out: &Output, a: InspectArgs) -> CliResult {
    let (tok, source) =
        tokeninput::read_token(a.input.token.as_deref(), a.input.token_file.as_deref())?;
    let jwks = a.jwks.as_deref().map(read_jwks).transpose()?;
    let policy = VerifyPolicy {
        iss: a.check.iss.clone(),
        region: a.check.region.clone(),
        ..VerifyPolicy::default()
    };
    let now = a.check.at.unwrap_or_else(now);
    let ins = token::inspect(tok.expose(), jwks.as_ref(), &policy, now);
    let header = ins.decoded.as_ref().map(|d| &d.header);
    let payload = ins.decoded.as_ref().and_then(|d| d.payload.as_ref());
    let sid = payload
        .and_then(|p| p.get("sid"))
        .and_then(Value::as_str)
        .and_then(token::decode_sid);
    let iat = payload.and_then(|p| time_of(p.get("iat")));
    let exp = payload.and_then(|p| time_of(p.get("exp")));
    let sig_ok = ins.signature_checked && !ins.problems.iter().any(|p| p.step() == Step::Signature);
    let ok = ins.problems.is_empty();

    if a.json {
        let doc = json!({
            "schema": "sbrp.token.inspect/1",
            "ok": ok,
            "source": source.kind(),
            "length": tok.expose().len(),
            "header": header.map(|h| Value::Object(h.clone())),
            "claims": payload.map(|p| Value::Object(p.clone())),
            "sid": sid.map(sid_json),
            "times": {
                "now": now,
                "iat": iat,
                "exp": exp,
                "lifetime": iat.zip(exp).map(|(i, e)| e.saturating_sub(i)),
                "expires_in": exp.map(|e| e.saturating_sub(now)),
                "expired": exp.map(|e| e < now),
            },
            "signature": {
                "checked": ins.signature_checked,
                "valid": ins.signature_checked.then_some(sig_ok),
            },
            "problems": ins.problems.iter().map(ProblemJson::of).collect::<Vec<_>>(),
        });
        out.json(&doc)?;
        return Ok(if ok { Exit::Success } else { Exit::Error });
    }

    let mut text = String::new();
    let label = |t: &mut String, k: &str, v: String| {
        t.push_str(&format!("  {k:<24} {v}\n"));
    };
    match header {
        Some(h) => {
            text.push_str(&format!("{}\n", out.style_out("header:", Style::Bold)));
            for (k, v) in h {
                label(&mut text, &escape(k), show(v));
            }
        }
        None => text.push_str("header: does not decode\n"),
    }
    match payload {
        Some(p) => {
            text.push_str(&format!("{}\n", out.style_out("claims:", Style::Bold)));
            for (k, v) in p {
                let shown = match (k.as_str(), v) {
                    ("iat", _) | ("exp", _) if time_of(Some(v)).is_some() => {
                        let t = time_of(Some(v)).unwrap_or_default();
                        let mut s = format!("{} ({})", show(v), utc(t));
                        if k == "exp" {
                            s.push_str(&format!(", {}", time_left(t, now)));
                        }
                        s
                    }
                    ("sid", _) => match sid {
                        Some(sid) => format!("{} = {} (0x{:016x})", show(v), sid.get(), sid.get()),
                        None => format!("{} (not a valid session id)", show(v)),
                    },
                    ("lim", Value::Object(l)) => l
                        .iter()
                        .map(|(k, v)| format!("{}={}", escape(k), show(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => show(v),
                };
                label(&mut text, &escape(k), shown);
            }
            if let (Some(i), Some(e)) = (iat, exp) {
                label(&mut text, "(lifetime)", human_duration(e.saturating_sub(i)));
            }
        }
        None if ins.decoded.is_some() => text.push_str("claims: do not decode\n"),
        None => {}
    }
    let sig = if !ins.signature_checked {
        "not checked (give --jwks FILE, or use `sbrp token verify`)".to_owned()
    } else if sig_ok {
        out.style_out("valid", Style::Good)
    } else {
        out.style_out("INVALID", Style::Bad)
    };
    text.push_str(&format!(
        "{} {sig}\n",
        out.style_out("signature:", Style::Bold)
    ));
    if ok {
        let checked = if ins.signature_checked {
            ""
        } else {
            " (signature not checked)"
        };
        text.push_str(&format!(
            "{} {}{checked}\n",
            out.style_out("rules:", Style::Bold),
            out.style_out("no rule of authentication.md is broken", Style::Good)
        ));
    } else {
        text.push_str(&format!(
            "{} {} broken:\n",
            out.style_out("rules:", Style::Bold),
            ins.problems.len()
        ));
        for p in &ins.problems {
            text.push_str(&format!(
                "  {}\n",
                out.style_out(&problem_line(p), Style::Bad)
            ));
        }
    }
    out.print(&text)?;
    Ok(if ok { Exit::Success } else { Exit::Error })
}

fn verify(out: &Output, a: VerifyArgs) -> CliResult {
    let (tok, source) =
        tokeninput::read_token(a.input.token.as_deref(), a.input.token_file.as_deref())?;
    let jwks = read_jwks(&a.jwks)?;
    if jwks.skipped > 0 {
        out.note(&format!(
            "{}: {} entr{} that are not Ed25519 public keys with a kid were skipped",
            escape_path(&a.jwks),
            jwks.skipped,
            if jwks.skipped == 1 { "y" } else { "ies" }
        ));
    }
    let policy = VerifyPolicy {
        iss: a.check.iss.clone(),
        aud: a.aud.clone(),
        region: a.check.region.clone(),
        ..VerifyPolicy::default()
    };
    let now = a.check.at.unwrap_or_else(now);
    let result = token::verify(tok.expose(), &jwks, &policy, now);
    let kid = token::decode_unverified(tok.expose()).ok().and_then(|d| {
        d.header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if a.check.iss.is_none() && result.is_ok() {
        out.warn("no --iss given: any issuer was accepted (step 6 skipped); a relay checks it");
    }
    match result {
        Ok(claims) => {
            if claims.role == Role::Client
                && claims.exp.saturating_sub(claims.iat) > token::RECOMMENDED_CLIENT_LIFETIME
            {
                out.warn(&format!(
                    "the client token lives {} s, more than the recommended {} s",
                    claims.exp.saturating_sub(claims.iat),
                    token::RECOMMENDED_CLIENT_LIFETIME
                ));
            }
            if a.json {
                out.json(&json!({
                    "schema": "sbrp.token.verify/1",
                    "ok": true,
                    "source": source.kind(),
                    "kid": kid,
                    "claims": claims.to_json(),
                    "sid": claims.sid.map(sid_json),
                    "expires_in": claims.exp.saturating_sub(now),
                    "error": Value::Null,
                }))?;
            } else {
                let sid = claims
                    .sid
                    .map(|s| format!(", sid {} (0x{:016x})", s.get(), s.get()))
                    .unwrap_or_default();
                out.println(&format!(
                    "{}: {} token for did {}{sid}, sub {}, key {}, {}",
                    out.style_out("valid", Style::Good),
                    claims.role,
                    escape(&claims.did),
                    escape(claims.sub.as_deref().unwrap_or("-")),
                    escape(kid.as_deref().unwrap_or("-")),
                    time_left(claims.exp, now)
                ))?;
            }
            Ok(Exit::Success)
        }
        Err(e) => {
            if a.json {
                out.json(&json!({
                    "schema": "sbrp.token.verify/1",
                    "ok": false,
                    "source": source.kind(),
                    "kid": kid,
                    "claims": Value::Null,
                    "sid": Value::Null,
                    "error": ProblemJson::of(&e),
                }))?;
            }
            Err(CliError::error(format!(
                "invalid token (HTTP {} at a relay): {}",
                e.http_status(),
                problem_line(&e)
            ))
            .hint(verify_hint(&e)))
        }
    }
}

fn verify_hint(e: &TokenError) -> &'static str {
    match e.step() {
        Step::Format | Step::Type | Step::KeyId => {
            "this is not an SBRP relay token; `sbrp token inspect` shows what it holds"
        }
        Step::Signature => {
            "check that the JWKS holds the issuer's current key (`sbrp token jwks KEYFILE`) and that the token was not altered"
        }
        Step::Expiry => "mint a fresh token (`sbrp token mint`), or check the clocks",
        Step::Issuer => "check --iss against the issuer the token names (`sbrp token inspect`)",
        _ => "`sbrp token inspect` lists every rule the token breaks",
    }
}

fn jwks(out: &Output, a: JwksArgs) -> CliResult {
    let mut keys = Vec::new();
    let mut report = Vec::new();
    for path in &a.keys {
        let loaded = keyinput::load_file(path, BareKey::Public)?;
        let public = loaded.public_key();
        if keys.contains(&public) {
            out.note(&format!(
                "{} holds a key already listed; skipped",
                loaded.source.describe()
            ));
            continue;
        }
        keys.push(public);
        report.push(json!({
            "source": path.to_string_lossy(),
            "kid": token::thumbprint(&public),
            "fingerprint": public.fingerprint(),
            "secret": loaded.decoded.key.is_secret(),
        }));
    }
    let set = Jwks::from_keys(keys).to_json();
    if a.json {
        let mut m = Map::new();
        m.insert("schema".into(), "sbrp.token.jwks/1".into());
        m.insert("ok".into(), true.into());
        m.insert("jwks".into(), set);
        m.insert("keys".into(), report.into());
        out.json(&Value::Object(m))?;
    } else {
        out.json(&set)?;
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(human_duration(118), "1 m 58 s");
        assert_eq!(human_duration(3600), "1 h 0 m");
        assert_eq!(human_duration(90_000), "1 d 1 h");
        assert_eq!(time_left(100, 40), "expires in 1 m 0 s");
        assert_eq!(time_left(40, 100), "expired 1 m 0 s ago");
    }

    #[test]
    fn sid_parses_decimal_and_hex_never_zero() {
        assert_eq!(parse_sid("42").unwrap().get(), 42);
        assert_eq!(parse_sid("0x2a").unwrap().get(), 42);
        assert!(parse_sid("0").is_err());
        assert!(parse_sid("-1").is_err());
        assert!(parse_sid("18446744073709551616").is_err());
    }
}
