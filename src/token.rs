//! Relay tokens: the EdDSA JWTs every relay connection carries (authentication.md).
//!
//! No I/O and no clock: the caller passes `now` as Unix seconds.
//!
//! - [`verify`] runs the sixteen validation steps of authentication.md **in order** and reports
//!   the first that fails as a [`TokenError`], which names its [`Step`], its HTTP status (401
//!   for an invalid token, 403 for a valid one that is not allowed here) and a stable code name.
//! - [`inspect`] decodes without verifying and lists *every* rule a token breaks, step by step.
//! - [`mint`] signs claims with an [`IdentityKeyPair`] (through `jsonwebtoken`'s EdDSA signer)
//!   and returns the token as a zeroizing [`Token`].
//! - [`Jwks`] parses and writes a JSON Web Key Set of Ed25519 keys, with RFC 7638 thumbprints
//!   as key ids.
//!
//! The signature is checked with [`IdentityPublicKey::verify_strict`] (rejects small-order keys
//! and non-canonical signatures), stricter than `jsonwebtoken`'s own EdDSA verifier; the claims
//! are read from raw JSON so "missing" and "not a number" are told apart as the steps require.
//! Our rule R1: 30 s clock-skew leeway, client tokens may not live longer than 300 s.
//!
//! ```
//! use sbrp::IdentityKeyPair;
//! use sbrp::token::{self, Claims, Jwks, Role, VerifyPolicy};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = IdentityKeyPair::generate()?;
//! let jwks = Jwks::from_keys([key.public_key()]);
//! let now = 1_700_000_000;
//! let mut claims = Claims::new(Role::Client, "daemon-001", now, 120);
//! claims.sid = Some(sbrp::SessionId::new(42).unwrap());
//! claims.sub = Some("client-7".into());
//! claims.iss = Some("sbrp".into());
//! let token = token::mint(&claims, &key, &token::thumbprint(&key.public_key()))?;
//!
//! let policy = VerifyPolicy { iss: Some("sbrp".into()), ..VerifyPolicy::default() };
//! let verified = token::verify(token.expose(), &jwks, &policy, now + 10)?;
//! assert_eq!(verified.sid.map(|s| s.get()), Some(42));
//!
//! let late = token::verify(token.expose(), &jwks, &policy, now + 200).unwrap_err();
//! assert_eq!((late.step().number(), late.code(), late.http_status()), (8, "expired", 401));
//! # Ok(()) }
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::frame::SessionId;
use crate::keys::{IdentityKeyPair, IdentityPublicKey};

/// Longest token accepted (step 1).
pub const MAX_TOKEN_LEN: usize = 4096;
/// The `typ` header value every relay token carries (step 2).
pub const TOKEN_TYPE: &str = "sbrp-relay+jwt";
/// The audience a relay requires (step 5).
pub const RELAY_AUDIENCE: &str = "sideband-relay";
/// R1: clock-skew leeway, seconds.
pub const DEFAULT_LEEWAY: i64 = 30;
/// R1 (authentication.md step 14): the longest a client token may live (`exp − iat`), seconds.
pub const MAX_CLIENT_LIFETIME: i64 = 300;
/// Above this a client token's lifetime earns a warning (authentication.md step 14).
pub const RECOMMENDED_CLIENT_LIFETIME: i64 = 120;
/// Scope a client token carries to open sessions.
pub const SCOPE_SESSION_CREATE: &str = "session:create";
/// Scope that lets a daemon resume paused sessions after reconnecting.
pub const SCOPE_SESSION_RESUME: &str = "session:resume";
/// Largest JWKS accepted by [`Jwks::parse`], in keys (rotation needs two; a JWKS is operator
/// input, but it is still bounded).
pub const MAX_JWKS_KEYS: usize = 64;

/// Who a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A daemon's presence connection.
    Daemon,
    /// A client's session connection.
    Client,
}

impl Role {
    /// `daemon` or `client`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Daemon => "daemon",
            Role::Client => "client",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "daemon" => Some(Role::Daemon),
            "client" => Some(Role::Client),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `lim`: limits the issuer grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `lim.concurrent_sessions`: the most live sessions a daemon may carry (R11).
    pub concurrent_sessions: Option<u64>,
}

/// The claims of a relay token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// `iss`: the issuer.
    pub iss: Option<String>,
    /// `aud`, normalised to a list.
    pub aud: Vec<String>,
    /// `iat`, Unix seconds.
    pub iat: i64,
    /// `exp`, Unix seconds.
    pub exp: i64,
    /// `jti`: unique id (audit only; a relay never tracks it).
    pub jti: Option<String>,
    /// `ver`: schema version (absent or 1).
    pub ver: Option<u64>,
    /// `sub`: the principal (daemon id for daemons, user id for clients).
    pub sub: Option<String>,
    /// `role`.
    pub role: Role,
    /// `did`: the daemon the connection is routed to.
    pub did: String,
    /// `sid`: the session id (clients; base64url of 8 big-endian bytes on the wire). A daemon
    /// token's `sid` is ignored (`None`) unless it is well formed.
    pub sid: Option<SessionId>,
    /// `scp`: scopes (absent is empty; unknown scopes are kept and ignored by relays).
    pub scp: Vec<String>,
    /// `region`: the relay region the token is bound to.
    pub region: Option<String>,
    /// `lim`.
    pub lim: Limits,
}

impl Claims {
    /// Claims for `role` and daemon `did`, issued at `iat` and living `ttl` seconds, audience
    /// `sideband-relay`, version 1; a client gets scope `session:create`. Set `sid`, `sub`,
    /// `iss` and `jti` as needed.
    pub fn new(role: Role, did: impl Into<String>, iat: i64, ttl: i64) -> Self {
        Self {
            iss: None,
            aud: vec![RELAY_AUDIENCE.to_owned()],
            iat,
            exp: iat.saturating_add(ttl),
            jti: None,
            ver: Some(1),
            sub: None,
            role,
            did: did.into(),
            sid: None,
            scp: match role {
                Role::Client => vec![SCOPE_SESSION_CREATE.to_owned()],
                Role::Daemon => Vec::new(),
            },
            region: None,
            lim: Limits::default(),
        }
    }

    /// Whether `scp` grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scp.iter().any(|s| s == scope)
    }

    /// The claims as the JSON object a token carries (`aud` as a string when it has one
    /// entry, `sid` as base64url).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(iss) = &self.iss {
            m.insert("iss".into(), iss.clone().into());
        }
        m.insert(
            "aud".into(),
            match self.aud.as_slice() {
                [one] => one.clone().into(),
                many => many.to_vec().into(),
            },
        );
        m.insert("iat".into(), self.iat.into());
        m.insert("exp".into(), self.exp.into());
        if let Some(jti) = &self.jti {
            m.insert("jti".into(), jti.clone().into());
        }
        if let Some(ver) = self.ver {
            m.insert("ver".into(), ver.into());
        }
        if let Some(sub) = &self.sub {
            m.insert("sub".into(), sub.clone().into());
        }
        m.insert("role".into(), self.role.as_str().into());
        m.insert("did".into(), self.did.clone().into());
        if let Some(sid) = self.sid {
            m.insert("sid".into(), encode_sid(sid).into());
        }
        if !self.scp.is_empty() {
            m.insert("scp".into(), self.scp.clone().into());
        }
        if let Some(region) = &self.region {
            m.insert("region".into(), region.clone().into());
        }
        if let Some(n) = self.lim.concurrent_sessions {
            m.insert(
                "lim".into(),
                serde_json::json!({ "concurrent_sessions": n }),
            );
        }
        Value::Object(m)
    }
}

/// `sid` claim text: base64url (no padding) of the 8 big-endian bytes.
pub fn encode_sid(sid: SessionId) -> String {
    URL_SAFE_NO_PAD.encode(sid.get().to_be_bytes())
}

/// Decodes a `sid` claim: canonical base64url without padding, exactly 8 bytes, not zero.
pub fn decode_sid(text: &str) -> Option<SessionId> {
    if text.len() != 11 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let arr: [u8; 8] = bytes.try_into().ok()?;
    SessionId::new(u64::from_be_bytes(arr))
}

/// What [`verify`] enforces beyond the token itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// The configured issuer; `None` accepts any (step 6 is then skipped).
    pub iss: Option<String>,
    /// The audience that must be listed (step 5), normally `sideband-relay`.
    pub aud: String,
    /// The relay's region; `None` means unbound: a token's `region` is then not checked.
    pub region: Option<String>,
    /// Clock-skew leeway on `exp`, seconds (R1: 30).
    pub leeway: i64,
    /// The longest a client token may live, seconds (R1: 300).
    pub max_client_lifetime: i64,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        Self {
            iss: None,
            aud: RELAY_AUDIENCE.to_owned(),
            region: None,
            leeway: DEFAULT_LEEWAY,
            max_client_lifetime: MAX_CLIENT_LIFETIME,
        }
    }
}

/// A validation step of authentication.md, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// 1: length ≤ 4096 and three dot-separated parts.
    Format = 1,
    /// 2: the header decodes and `typ` is `sbrp-relay+jwt`.
    Type = 2,
    /// 3: the header has a `kid`.
    KeyId = 3,
    /// 4: the EdDSA signature verifies with the JWKS key named by `kid`.
    Signature = 4,
    /// 5: `aud` contains `sideband-relay`.
    Audience = 5,
    /// 6: `iss` is the configured issuer.
    Issuer = 6,
    /// 7: `iat` and `exp` are present and numbers.
    Times = 7,
    /// 8: not expired (with leeway).
    Expiry = 8,
    /// 9: `ver`, if present, is 1.
    Version = 9,
    /// 10: `role` is `daemon` or `client`.
    Role = 10,
    /// 11: `did` is a non-empty string.
    DaemonId = 11,
    /// 12: clients: `sub` a non-empty string, `sid` a non-zero 8-byte base64url value.
    ClientIdentity = 12,
    /// 13: `region`, if present, matches the relay's.
    Region = 13,
    /// 14: clients: `exp − iat` ≤ 300.
    Lifetime = 14,
    /// 15: `scp`, if present, is an array of strings.
    Scopes = 15,
    /// 16: `lim.concurrent_sessions`, if present, is an integer ≥ 1.
    Limits = 16,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 16] = [
        Step::Format,
        Step::Type,
        Step::KeyId,
        Step::Signature,
        Step::Audience,
        Step::Issuer,
        Step::Times,
        Step::Expiry,
        Step::Version,
        Step::Role,
        Step::DaemonId,
        Step::ClientIdentity,
        Step::Region,
        Step::Lifetime,
        Step::Scopes,
        Step::Limits,
    ];

    /// The step's number in authentication.md.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// A stable lower-case name (`signature`, `expiry`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Step::Format => "format",
            Step::Type => "type",
            Step::KeyId => "key_id",
            Step::Signature => "signature",
            Step::Audience => "audience",
            Step::Issuer => "issuer",
            Step::Times => "times",
            Step::Expiry => "expiry",
            Step::Version => "version",
            Step::Role => "role",
            Step::DaemonId => "daemon_id",
            Step::ClientIdentity => "client_identity",
            Step::Region => "region",
            Step::Lifetime => "lifetime",
            Step::Scopes => "scopes",
            Step::Limits => "limits",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {} ({})", self.number(), self.name())
    }
}

/// Why a token was refused. Never carries the token text; claim values quoted in messages are
/// the issuer's, audience or role names (escape them before printing to a terminal).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Step 1: no token at all.
    #[error("missing_token: no token was given")]
    Missing,
    /// Step 1: longer than 4096 bytes.
    #[error("token_too_long: the token is {len} bytes, more than {MAX_TOKEN_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Step 1: not three dot-separated parts.
    #[error(
        "malformed_token: a token is three base64url parts separated by dots; this has {parts}"
    )]
    Malformed {
        /// How many parts it has.
        parts: usize,
    },
    /// Step 2: the header is not base64url JSON.
    #[error("malformed_header: the header is not a base64url JSON object")]
    MalformedHeader,
    /// Step 2: `typ` missing or not `sbrp-relay+jwt`.
    #[error("wrong_type: the header's typ is {found}, not \"sbrp-relay+jwt\"")]
    WrongType {
        /// What it is (JSON text, or `missing`).
        found: String,
    },
    /// Step 3: no `kid` string in the header.
    #[error("missing_kid: the header has no kid (key id) string")]
    MissingKid,
    /// Step 4: the header's `alg` is not EdDSA.
    #[error("wrong_algorithm: the header's alg is {found}; only EdDSA is accepted")]
    WrongAlgorithm {
        /// What it is (JSON text, or `missing`).
        found: String,
    },
    /// Step 4: no usable Ed25519 key with that `kid` in the JWKS.
    #[error("unknown_kid: no EdDSA Ed25519 key with kid {kid:?} in the JWKS")]
    UnknownKid {
        /// The key id asked for.
        kid: String,
    },
    /// Step 4: the signature does not verify.
    #[error("bad_signature: the signature does not verify with the key {kid:?}")]
    BadSignature {
        /// The key id used.
        kid: String,
    },
    /// Step 5: the payload is not a base64url JSON object.
    #[error("malformed_claims: the payload is not a base64url JSON object")]
    MalformedClaims,
    /// Step 5: `aud` missing or without the relay's audience.
    #[error("wrong_audience: aud does not contain {expected:?}")]
    WrongAudience {
        /// The required audience.
        expected: String,
    },
    /// Step 6: `iss` is not the configured issuer.
    #[error("wrong_issuer: iss is {found}, expected {expected:?}")]
    WrongIssuer {
        /// What it is (JSON text, or `missing`).
        found: String,
        /// The configured issuer.
        expected: String,
    },
    /// Step 7: `iat` or `exp` missing or not a number.
    #[error("missing_time: the {claim} claim is missing or not a number")]
    MissingTime {
        /// `iat` or `exp`.
        claim: &'static str,
    },
    /// Step 8: expired (beyond the leeway).
    #[error("expired: the token expired {ago} s ago (leeway {leeway} s)")]
    Expired {
        /// Seconds since `exp`.
        ago: i64,
        /// The leeway applied.
        leeway: i64,
    },
    /// Step 9: `ver` present and not 1.
    #[error("unsupported_version: ver is {found}, only 1 is supported")]
    UnsupportedVersion {
        /// What it is (JSON text).
        found: String,
    },
    /// Step 10: `role` missing or unknown.
    #[error("invalid_role: role is {found}, expected \"daemon\" or \"client\"")]
    InvalidRole {
        /// What it is (JSON text, or `missing`).
        found: String,
    },
    /// Step 11: `did` missing, not a string or empty.
    #[error("invalid_did: did must be a non-empty string")]
    InvalidDid,
    /// Step 12: a client token without a non-empty `sub`.
    #[error("invalid_sub: a client token needs a non-empty sub string")]
    InvalidSub,
    /// Step 12: a client token's `sid` is missing or not a non-zero 8-byte base64url value.
    #[error(
        "invalid_sid: a client token's sid must be base64url (no padding) of 8 big-endian bytes, not zero"
    )]
    InvalidSid,
    /// Step 13: `region` is not the relay's (403: valid, but not for this relay).
    #[error("wrong_region: the token is bound to region {found}, this relay serves {expected:?}")]
    WrongRegion {
        /// The token's region (JSON text).
        found: String,
        /// The relay's region.
        expected: String,
    },
    /// Step 14: a client token living longer than allowed.
    #[error("lifetime_too_long: a client token may live {max} s, this one lives {lifetime} s")]
    LifetimeTooLong {
        /// `exp − iat`.
        lifetime: i64,
        /// The maximum.
        max: i64,
    },
    /// Step 15: `scp` not an array of strings.
    #[error("invalid_scp: scp must be an array of strings")]
    InvalidScopes,
    /// Step 16: `lim.concurrent_sessions` not an integer ≥ 1 (or `lim` not an object).
    #[error("invalid_lim: lim.concurrent_sessions must be an integer of at least 1")]
    InvalidLimits,
}

impl TokenError {
    /// The validation step that failed.
    pub const fn step(&self) -> Step {
        match self {
            Self::Missing | Self::TooLong { .. } | Self::Malformed { .. } => Step::Format,
            Self::MalformedHeader | Self::WrongType { .. } => Step::Type,
            Self::MissingKid => Step::KeyId,
            Self::WrongAlgorithm { .. } | Self::UnknownKid { .. } | Self::BadSignature { .. } => {
                Step::Signature
            }
            Self::MalformedClaims | Self::WrongAudience { .. } => Step::Audience,
            Self::WrongIssuer { .. } => Step::Issuer,
            Self::MissingTime { .. } => Step::Times,
            Self::Expired { .. } => Step::Expiry,
            Self::UnsupportedVersion { .. } => Step::Version,
            Self::InvalidRole { .. } => Step::Role,
            Self::InvalidDid => Step::DaemonId,
            Self::InvalidSub | Self::InvalidSid => Step::ClientIdentity,
            Self::WrongRegion { .. } => Step::Region,
            Self::LifetimeTooLong { .. } => Step::Lifetime,
            Self::InvalidScopes => Step::Scopes,
            Self::InvalidLimits => Step::Limits,
        }
    }

    /// The stable code name (`expired`, `bad_signature`, …), also the prefix of `Display`.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::TooLong { .. } => "token_too_long",
            Self::Malformed { .. } => "malformed_token",
            Self::MalformedHeader => "malformed_header",
            Self::WrongType { .. } => "wrong_type",
            Self::MissingKid => "missing_kid",
            Self::WrongAlgorithm { .. } => "wrong_algorithm",
            Self::UnknownKid { .. } => "unknown_kid",
            Self::BadSignature { .. } => "bad_signature",
            Self::MalformedClaims => "malformed_claims",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::WrongIssuer { .. } => "wrong_issuer",
            Self::MissingTime { .. } => "missing_time",
            Self::Expired { .. } => "expired",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::InvalidRole { .. } => "invalid_role",
            Self::InvalidDid => "invalid_did",
            Self::InvalidSub => "invalid_sub",
            Self::InvalidSid => "invalid_sid",
            Self::WrongRegion { .. } => "wrong_region",
            Self::LifetimeTooLong { .. } => "lifetime_too_long",
            Self::InvalidScopes => "invalid_scp",
            Self::InvalidLimits => "invalid_lim",
        }
    }

    /// The HTTP status a relay answers the upgrade with: 403 for a valid token that is not
    /// allowed on this relay (a region mismatch), 401 for every other failure.
    pub const fn http_status(&self) -> u16 {
        match self {
            Self::WrongRegion { .. } => 403,
            _ => 401,
        }
    }
}

/// A signed token. A secret: zeroized on drop, redacted by `Debug`, compared in constant time.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Wraps token text (trimmed of surrounding whitespace, e.g. a file's final newline).
    pub fn new(text: &str) -> Self {
        Self(Zeroizing::new(text.trim().to_owned()))
    }

    /// The token text. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<redacted, {} bytes>)", self.0.len())
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Eq for Token {}

/// One Ed25519 public key of a JWKS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// `kid`.
    pub kid: String,
    /// The key (`x`).
    pub key: IdentityPublicKey,
    /// `alg`, if the entry names one (a key is used only if it is absent or `EdDSA`).
    pub alg: Option<String>,
}

/// A JSON Web Key Set holding Ed25519 (`OKP`/`Ed25519`) keys. Entries of other types are
/// skipped when parsing (RFC 7517 §5: unknown keys are ignored), counted in
/// [`Jwks::skipped`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwks {
    /// The usable keys.
    pub keys: Vec<Jwk>,
    /// Entries that were not Ed25519 public keys with a `kid`.
    pub skipped: usize,
}

/// A JWKS that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Not JSON, or no `keys` array.
    #[error("malformed_jwks: {0}")]
    Malformed(String),
    /// More keys than [`MAX_JWKS_KEYS`].
    #[error("malformed_jwks: {0} keys, more than {MAX_JWKS_KEYS}")]
    TooManyKeys(usize),
    /// Two keys with the same `kid`.
    #[error("malformed_jwks: two keys have kid {0:?}")]
    DuplicateKid(String),
}

impl Jwks {
    /// A JWKS of `keys`, each with its RFC 7638 thumbprint as `kid` and `alg` `EdDSA`.
    pub fn from_keys(keys: impl IntoIterator<Item = IdentityPublicKey>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| Jwk {
                    kid: thumbprint(&key),
                    key,
                    alg: Some("EdDSA".into()),
                })
                .collect(),
            skipped: 0,
        }
    }

    /// Parses `{"keys":[…]}`.
    pub fn parse(bytes: &[u8]) -> Result<Self, JwksError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Malformed(e.to_string()))?;
        let entries = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError::Malformed("no \"keys\" array".into()))?;
        if entries.len() > MAX_JWKS_KEYS {
            return Err(JwksError::TooManyKeys(entries.len()));
        }
        let mut jwks = Jwks::default();
        for e in entries {
            let s = |k: &str| e.get(k).and_then(Value::as_str);
            let key = (s("kty") == Some("OKP") && s("crv") == Some("Ed25519"))
                .then(|| s("x"))
                .flatten()
                .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
                .and_then(|b| IdentityPublicKey::from_slice(&b));
            let private = e.get("d").is_some();
            match (key, s("kid")) {
                (Some(key), Some(kid)) if !private && !kid.is_empty() => {
                    if jwks.keys.iter().any(|k| k.kid == kid) {
                        return Err(JwksError::DuplicateKid(kid.to_owned()));
                    }
                    jwks.keys.push(Jwk {
                        kid: kid.to_owned(),
                        key,
                        alg: s("alg").map(str::to_owned),
                    });
                }
                _ => jwks.skipped += 1,
            }
        }
        Ok(jwks)
    }

    /// The JWKS as JSON (`kty`, `crv`, `x`, `kid`, `alg`, `use`).
    pub fn to_json(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                let mut m = Map::new();
                m.insert("kty".into(), "OKP".into());
                m.insert("crv".into(), "Ed25519".into());
                m.insert("x".into(), URL_SAFE_NO_PAD.encode(k.key.as_bytes()).into());
                m.insert("kid".into(), k.kid.clone().into());
                if let Some(alg) = &k.alg {
                    m.insert("alg".into(), alg.clone().into());
                }
                m.insert("use".into(), "sig".into());
                Value::Object(m)
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The usable key with `kid` (its `alg` absent or `EdDSA`).
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.alg.as_deref().is_none_or(|a| a == "EdDSA"))
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 key: the default `kid`.
pub fn thumbprint(key: &IdentityPublicKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A token failed to sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("internal_error: cannot sign the token: {0}")]
pub struct MintError(String);

/// Signs `claims` with `key` as an EdDSA JWT with header
/// `{"typ":"sbrp-relay+jwt","alg":"EdDSA","kid":kid}`.
pub fn mint(claims: &Claims, key: &IdentityKeyPair, kid: &str) -> Result<Token, MintError> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let der = key
        .as_dalek()
        .to_pkcs8_der()
        .map_err(|e| MintError(e.to_string()))?;
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some(TOKEN_TYPE.into());
    header.kid = Some(kid.into());
    let text = jsonwebtoken::encode(&header, &claims.to_json(), &encoding)
        .map_err(|e| MintError(e.to_string()))?;
    Ok(Token(Zeroizing::new(text)))
}

/// A token split and decoded, not verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The header object.
    pub header: Map<String, Value>,
    /// The payload object, if it decodes.
    pub payload: Option<Map<String, Value>>,
    /// The signature bytes, if they decode.
    pub signature: Option<Vec<u8>>,
}

fn b64_json(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn describe(v: Option<&Value>) -> String {
    match v {
        None => "missing".into(),
        Some(v) => {
            let mut s = v.to_string();
            if s.len() > 80 {
                let mut cut = 77;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                s.truncate(cut);
                s.push_str("...");
            }
            s
        }
    }
}

/// Steps 1 and 2 (format, header): the three parts.
fn split(token: &str) -> Result<[&str; 3], TokenError> {
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLong { len: token.len() });
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts[..] {
        [h, p, s] if !h.is_empty() && !p.is_empty() && !s.is_empty() => Ok([h, p, s]),
        _ => Err(TokenError::Malformed { parts: parts.len() }),
    }
}

fn header_checks(header: &Map<String, Value>) -> Result<&str, TokenError> {
    if header.get("typ").and_then(Value::as_str) != Some(TOKEN_TYPE) {
        return Err(TokenError::WrongType {
            found: describe(header.get("typ")),
        });
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => Ok(kid),
        _ => Err(TokenError::MissingKid),
    }
}

/// Decodes a token without verifying anything beyond steps 1–2's shape (for inspection).
pub fn decode_unverified(token: &str) -> Result<Decoded, TokenError> {
    let [h, p, s] = split(token.trim())?;
    let header = b64_json(h).ok_or(TokenError::MalformedHeader)?;
    Ok(Decoded {
        header,
        payload: b64_json(p),
        signature: URL_SAFE_NO_PAD.decode(s).ok(),
    })
}

fn number(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    // A float or a u64 beyond i64: clamp towards the safe side after flooring.
    let f = v.as_f64()?;
    f.is_finite().then(|| f.floor() as i64)
}

/// The payload steps (5–16) in order, each independent: every failure, for [`inspect`];
/// [`verify`] stops at the first. Returns the claims when none failed.
fn payload_checks(
    m: &Map<String, Value>,
    policy: &VerifyPolicy,
    now: i64,
    failures: &mut Vec<TokenError>,
) -> Option<Claims> {
    let before = failures.len();
    let str_of = |k: &str| m.get(k).and_then(Value::as_str);
    // 5: aud
    let aud: Vec<String> = match m.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if !aud.contains(&policy.aud) {
        failures.push(TokenError::WrongAudience {
            expected: policy.aud.clone(),
        });
    }
    // 6: iss
    let iss = str_of("iss").map(str::to_owned);
    if let Some(expected) = &policy.iss
        && iss.as_deref() != Some(expected.as_str())
    {
        failures.push(TokenError::WrongIssuer {
            found: describe(m.get("iss")),
            expected: expected.clone(),
        });
    }
    // 7: iat, exp
    let iat = number(m.get("iat"));
    let exp = number(m.get("exp"));
    if iat.is_none() {
        failures.push(TokenError::MissingTime { claim: "iat" });
    }
    if exp.is_none() {
        failures.push(TokenError::MissingTime { claim: "exp" });
    }
    // 8: expiry
    if let Some(exp) = exp
        && exp.saturating_add(policy.leeway) < now
    {
        failures.push(TokenError::Expired {
            ago: now.saturating_sub(exp),
            leeway: policy.leeway,
        });
    }
    // 9: ver
    let ver = match m.get("ver") {
        None => None,
        Some(v) if v.as_u64() == Some(1) => Some(1),
        Some(v) => {
            failures.push(TokenError::UnsupportedVersion {
                found: describe(Some(v)),
            });
            None
        }
    };
    // 10: role
    let role = str_of("role").and_then(Role::parse);
    if role.is_none() {
        failures.push(TokenError::InvalidRole {
            found: describe(m.get("role")),
        });
    }
    // 11: did
    let did = str_of("did").filter(|d| !d.is_empty());
    if did.is_none() {
        failures.push(TokenError::InvalidDid);
    }
    // 12: client sub and sid
    let sub = str_of("sub").map(str::to_owned);
    let sid = str_of("sid").and_then(decode_sid);
    if role == Some(Role::Client) {
        if sub.as_deref().is_none_or(str::is_empty) {
            failures.push(TokenError::InvalidSub);
        }
        if sid.is_none() {
            failures.push(TokenError::InvalidSid);
        }
    }
    // 13: region
    let region = m.get("region");
    if let (Some(r), Some(expected)) = (region, &policy.region)
        && r.as_str() != Some(expected.as_str())
    {
        failures.push(TokenError::WrongRegion {
            found: describe(Some(r)),
            expected: expected.clone(),
        });
    }
    // 14: client lifetime
    if role == Some(Role::Client)
        && let (Some(iat), Some(exp)) = (iat, exp)
    {
        let lifetime = exp.saturating_sub(iat);
        if lifetime > policy.max_client_lifetime {
            failures.push(TokenError::LifetimeTooLong {
                lifetime,
                max: policy.max_client_lifetime,
            });
        }
    }
    // 15: scp
    let scp = match m.get("scp") {
        None => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(_) => {
            failures.push(TokenError::InvalidScopes);
            Vec::new()
        }
    };
    // 16: lim
    let lim = match m.get("lim") {
        None => Limits::default(),
        Some(Value::Object(l)) => match l.get("concurrent_sessions") {
            None => Limits::default(),
            Some(v) => match v.as_u64().filter(|n| *n >= 1) {
                Some(n) => Limits {
                    concurrent_sessions: Some(n),
                },
                None => {
                    failures.push(TokenError::InvalidLimits);
                    Limits::default()
                }
            },
        },
        Some(_) => {
            failures.push(TokenError::InvalidLimits);
            Limits::default()
        }
    };
    if failures.len() != before {
        return None;
    }
    Some(Claims {
        iss,
        aud,
        iat: iat?,
        exp: exp?,
        jti: str_of("jti").map(str::to_owned),
        ver,
        sub,
        role: role?,
        did: did?.to_owned(),
        sid,
        scp,
        region: region.and_then(Value::as_str).map(str::to_owned),
        lim,
    })
}

/// Runs every validation step of authentication.md in order against `jwks` and `policy` at
/// time `now` (Unix seconds), returning the claims or the first failure.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    policy: &VerifyPolicy,
    now: i64,
) -> Result<Claims, TokenError> {
    // 1
    let [h, p, s] = split(token)?;
    // 2, 3
    let header = b64_json(h).ok_or(TokenError::MalformedHeader)?;
    let kid = header_checks(&header)?;
    // 4: EdDSA only, the key named by kid, strict verification.
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(TokenError::WrongAlgorithm {
            found: describe(header.get("alg")),
        });
    }
    let jwk = jwks.find(kid).ok_or_else(|| TokenError::UnknownKid {
        kid: kid.to_owned(),
    })?;
    let bad = || TokenError::BadSignature {
        kid: kid.to_owned(),
    };
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let signed = &token[..h.len() + 1 + p.len()];
    if !jwk.key.verify_strict(signed.as_bytes(), &sig) {
        return Err(bad());
    }
    // 5–16
    let payload = b64_json(p).ok_or(TokenError::MalformedClaims)?;
    let mut failures = Vec::new();
    match payload_checks(&payload, policy, now, &mut failures) {
        Some(claims) => Ok(claims),
        None => Err(failures
            .into_iter()
            .next()
            .unwrap_or(TokenError::MalformedClaims)),
    }
}

/// What [`inspect`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    /// The decoded parts (when the token splits and its header decodes).
    pub decoded: Option<Decoded>,
    /// The claims, when every payload rule holds (the signature is not checked).
    pub claims: Option<Claims>,
    /// Every rule broken, in step order (step 4 is reported only when a JWKS was given).
    pub problems: Vec<TokenError>,
    /// Whether the signature was checked against a JWKS, and the outcome.
    pub signature_checked: bool,
}

/// Decodes `token` and lists every rule of authentication.md it breaks, by step. Step 4 (the
/// signature) is checked only when `jwks` is given.
pub fn inspect(token: &str, jwks: Option<&Jwks>, policy: &VerifyPolicy, now: i64) -> Inspection {
    let token = token.trim();
    let mut out = Inspection {
        decoded: None,
        claims: None,
        problems: Vec::new(),
        signature_checked: false,
    };
    let decoded = match decode_unverified(token) {
        Ok(d) => d,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    match decoded.header.get("typ").and_then(Value::as_str) {
        Some(TOKEN_TYPE) => {}
        _ => out.problems.push(TokenError::WrongType {
            found: describe(decoded.header.get("typ")),
        }),
    }
    if decoded
        .header
        .get("kid")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        out.problems.push(TokenError::MissingKid);
    }
    if decoded.header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        out.problems.push(TokenError::WrongAlgorithm {
            found: describe(decoded.header.get("alg")),
        });
    } else if let Some(jwks) = jwks {
        out.signature_checked = true;
        if let Err(e) = verify_signature_only(token, jwks) {
            out.problems.push(e);
        }
    }
    match &decoded.payload {
        None => out.problems.push(TokenError::MalformedClaims),
        Some(m) => out.claims = payload_checks(m, policy, now, &mut out.problems),
    }
    out.decoded = Some(decoded);
    out
}

fn verify_signature_only(token: &str, jwks: &Jwks) -> Result<(), TokenError> {
    let [h, p, s] = split(token)?;
    let header = b64_json(h).ok_or(TokenError::MalformedHeader)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(TokenError::MissingKid)?;
    let jwk = jwks.find(kid).ok_or_else(|| TokenError::UnknownKid {
        kid: kid.to_owned(),
    })?;
    let sig: Option<[u8; 64]> = URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|b| b.try_into().ok());
    match sig {
        Some(sig)
            if jwk
                .key
                .verify_strict(&token.as_bytes()[..h.len() + 1 + p.len()], &sig) =>
        {
            Ok(())
        }
        _ => Err(TokenError::BadSignature {
            kid: kid.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn key(n: u8) -> IdentityKeyPair {
        IdentityKeyPair::from_seed(&[n; 32])
    }

    fn client_claims() -> Claims {
        let mut c = Claims::new(Role::Client, "d1", NOW, 120);
        c.iss = Some("sbrp".into());
        c.sub = Some("client-1".into());
        c.sid = SessionId::new(0x0000_0B3A_73CE_2FF2);
        c.jti = Some("j1".into());
        c
    }

    fn policy() -> VerifyPolicy {
        VerifyPolicy {
            iss: Some("sbrp".into()),
            ..VerifyPolicy::default()
        }
    }

    /// A token with arbitrary header and payload JSON, signed by `k`.
    fn forge(header: &Value, payload: &Value, k: &IdentityKeyPair) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let p = URL_SAFE_NO_PAD.encode(payload.to_string());
        let sig = k.sign(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn hdr(k: &IdentityKeyPair) -> Value {
        serde_json::json!({"alg":"EdDSA","typ":TOKEN_TYPE,"kid":thumbprint(&k.public_key())})
    }

    #[test]
    fn sid_matches_the_spec_example() {
        assert_eq!(
            decode_sid("AAALOnPOL_I").unwrap().get(),
            0x0000_0B3A_73CE_2FF2
        );
        assert_eq!(
            encode_sid(SessionId::new(0x0B3A_73CE_2FF2).unwrap()),
            "AAALOnPOL_I"
        );
        assert_eq!(decode_sid("AAAAAAAAAAA"), None); // zero
        assert_eq!(decode_sid("AAALOnPOL_I="), None); // padding
        assert_eq!(decode_sid("AAALOnPOL_J"), None); // non-canonical trailing bits
        assert_eq!(decode_sid("AAALOnPOL/I"), None); // not url-safe
        assert_eq!(decode_sid("AAALOnPO"), None);
    }

    #[test]
    fn thumbprint_is_rfc_8037_appendix_a3() {
        // RFC 8037 A.1/A.3: x = 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo
        let x = URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let pk = IdentityPublicKey::from_slice(&x).unwrap();
        assert_eq!(
            thumbprint(&pk),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn mint_then_verify_round_trips() {
        let k = key(1);
        let jwks = Jwks::from_keys([key(2).public_key(), k.public_key()]);
        let claims = client_claims();
        let t = mint(&claims, &k, &thumbprint(&k.public_key())).unwrap();
        assert_eq!(
            verify(t.expose(), &jwks, &policy(), NOW + 5).unwrap(),
            claims
        );
        let dbg = format!("{t:?}");
        assert!(!dbg.contains(&t.expose()[..20]), "{dbg}");
    }

    #[test]
    fn jwks_round_trips_and_skips_foreign_keys() {
        let jwks = Jwks::from_keys([key(1).public_key(), key(2).public_key()]);
        let mut v = jwks.to_json();
        v["keys"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}));
        let back = Jwks::parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(back.keys, jwks.keys);
        assert_eq!(back.skipped, 1);
        let dup = serde_json::json!({"keys":[v["keys"][0], v["keys"][0]]});
        assert!(matches!(
            Jwks::parse(dup.to_string().as_bytes()),
            Err(JwksError::DuplicateKid(_))
        ));
        let short = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"s"}]}"#;
        assert_eq!(Jwks::parse(short.as_bytes()).unwrap().skipped, 1);
    }

    fn step_of(token: &str, jwks: &Jwks, policy: &VerifyPolicy) -> (u8, &'static str, u16) {
        let e = verify(token, jwks, policy, NOW).unwrap_err();
        assert!(token.len() < 8 || !e.to_string().contains(token));
        (e.step().number(), e.code(), e.http_status())
    }

    #[test]
    fn every_step_fails_where_it_should() {
        let k = key(1);
        let jwks = Jwks::from_keys([k.public_key()]);
        let p = policy();
        let good = client_claims().to_json();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = good.clone();
            f(&mut c);
            forge(&hdr(&k), &c, &k)
        };
        let hwith = |f: &dyn Fn(&mut Value)| {
            let mut h = hdr(&k);
            f(&mut h);
            forge(&h, &good, &k)
        };
        assert_eq!(step_of("", &jwks, &p), (1, "missing_token", 401));
        assert_eq!(step_of(&"a.".repeat(2100), &jwks, &p).1, "token_too_long");
        assert_eq!(step_of("a.b", &jwks, &p).1, "malformed_token");
        assert_eq!(step_of("a.b.c.d", &jwks, &p).1, "malformed_token");
        assert_eq!(step_of("!!.b.c", &jwks, &p), (2, "malformed_header", 401));
        assert_eq!(
            step_of(&hwith(&|h| h["typ"] = "JWT".into()), &jwks, &p).1,
            "wrong_type"
        );
        assert_eq!(
            step_of(
                &hwith(&|h| {
                    h.as_object_mut().unwrap().remove("typ");
                }),
                &jwks,
                &p
            )
            .1,
            "wrong_type"
        );
        assert_eq!(
            step_of(
                &hwith(&|h| {
                    h.as_object_mut().unwrap().remove("kid");
                }),
                &jwks,
                &p
            ),
            (3, "missing_kid", 401)
        );
        assert_eq!(
            step_of(&hwith(&|h| h["alg"] = "HS256".into()), &jwks, &p),
            (4, "wrong_algorithm", 401)
        );
        assert_eq!(
            step_of(&hwith(&|h| h["alg"] = "none".into()), &jwks, &p).1,
            "wrong_algorithm"
        );
        assert_eq!(
            step_of(&hwith(&|h| h["kid"] = "other".into()), &jwks, &p).1,
            "unknown_kid"
        );
        // Signed by another key under our kid.
        assert_eq!(
            step_of(&forge(&hdr(&k), &good, &key(3)), &jwks, &p).1,
            "bad_signature"
        );
        // A flipped payload byte.
        let t = forge(&hdr(&k), &good, &k);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(good.to_string().replace("d1", "d2"));
        assert_eq!(step_of(&parts.join("."), &jwks, &p).1, "bad_signature");
        // A JWKS key restricted to another algorithm is not used.
        let mut restricted = jwks.clone();
        restricted.keys[0].alg = Some("RS256".into());
        assert_eq!(step_of(&t, &restricted, &p).1, "unknown_kid");

        assert_eq!(
            step_of(&with(&|c| c["aud"] = "other".into()), &jwks, &p),
            (5, "wrong_audience", 401)
        );
        assert!(
            verify(
                &with(&|c| c["aud"] = serde_json::json!(["x", "sideband-relay"])),
                &jwks,
                &p,
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            step_of(&with(&|c| c["iss"] = "evil".into()), &jwks, &p),
            (6, "wrong_issuer", 401)
        );
        assert_eq!(
            step_of(&with(&|c| c["iat"] = "1".into()), &jwks, &p),
            (7, "missing_time", 401)
        );
        assert_eq!(
            step_of(
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
                &jwks,
                &p
            )
            .1,
            "missing_time"
        );
        assert_eq!(
            step_of(
                &with(&|c| {
                    c["exp"] = (NOW - 31).into();
                    c["iat"] = (NOW - 100).into();
                }),
                &jwks,
                &p
            ),
            (8, "expired", 401)
        );
        assert!(
            verify(
                &with(&|c| {
                    c["exp"] = (NOW - 30).into();
                    c["iat"] = (NOW - 100).into();
                }),
                &jwks,
                &p,
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            step_of(&with(&|c| c["ver"] = 2.into()), &jwks, &p),
            (9, "unsupported_version", 401)
        );
        assert!(
            verify(
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("ver");
                }),
                &jwks,
                &p,
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            step_of(&with(&|c| c["role"] = "admin".into()), &jwks, &p),
            (10, "invalid_role", 401)
        );
        assert_eq!(
            step_of(&with(&|c| c["did"] = "".into()), &jwks, &p),
            (11, "invalid_did", 401)
        );
        assert_eq!(
            step_of(&with(&|c| c["did"] = 5.into()), &jwks, &p).1,
            "invalid_did"
        );
        assert_eq!(
            step_of(&with(&|c| c["sub"] = "".into()), &jwks, &p),
            (12, "invalid_sub", 401)
        );
        assert_eq!(
            step_of(&with(&|c| c["sid"] = "AAAAAAAAAAA".into()), &jwks, &p),
            (12, "invalid_sid", 401)
        );
        assert_eq!(
            step_of(
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("sid");
                }),
                &jwks,
                &p
            )
            .1,
            "invalid_sid"
        );
        let regional = VerifyPolicy {
            region: Some("eu".into()),
            ..policy()
        };
        assert_eq!(
            step_of(&with(&|c| c["region"] = "us".into()), &jwks, &regional),
            (13, "wrong_region", 403)
        );
        assert!(verify(&with(&|c| c["region"] = "eu".into()), &jwks, &regional, NOW).is_ok());
        assert_eq!(
            step_of(&with(&|c| c["exp"] = (NOW + 301).into()), &jwks, &p),
            (14, "lifetime_too_long", 401)
        );
        assert!(verify(&with(&|c| c["exp"] = (NOW + 300).into()), &jwks, &p, NOW).is_ok());
        assert_eq!(
            step_of(
                &with(&|c| c["scp"] = serde_json::json!(["a", 1])),
                &jwks,
                &p
            ),
            (15, "invalid_scp", 401)
        );
        assert_eq!(
            step_of(
                &with(&|c| c["lim"] = serde_json::json!({"concurrent_sessions": 0})),
                &jwks,
                &p
            ),
            (16, "invalid_lim", 401)
        );
        assert_eq!(
            step_of(
                &with(&|c| c["lim"] = serde_json::json!({"concurrent_sessions": 1.5})),
                &jwks,
                &p
            )
            .1,
            "invalid_lim"
        );
    }

    #[test]
    fn daemon_tokens_need_no_sid_or_short_life() {
        let k = key(1);
        let jwks = Jwks::from_keys([k.public_key()]);
        let mut c = Claims::new(Role::Daemon, "d1", NOW, 3600);
        c.iss = Some("sbrp".into());
        c.sub = Some("d1".into());
        c.scp = vec![SCOPE_SESSION_RESUME.into(), "future:thing".into()];
        c.lim.concurrent_sessions = Some(8);
        let t = mint(&c, &k, &thumbprint(&k.public_key())).unwrap();
        let v = verify(t.expose(), &jwks, &policy(), NOW).unwrap();
        assert!(v.has_scope(SCOPE_SESSION_RESUME));
        assert_eq!(v.lim.concurrent_sessions, Some(8));
    }

    #[test]
    fn the_first_failing_step_wins_and_inspect_lists_all() {
        let k = key(1);
        let jwks = Jwks::from_keys([k.public_key()]);
        let mut c = client_claims().to_json();
        c["iss"] = "evil".into();
        c["exp"] = (NOW - 1000).into();
        c["iat"] = (NOW - 2000).into();
        c["role"] = "x".into();
        let t = forge(&hdr(&k), &c, &k);
        assert_eq!(
            verify(&t, &jwks, &policy(), NOW).unwrap_err().code(),
            "wrong_issuer"
        );
        let i = inspect(&t, None, &policy(), NOW);
        let codes: Vec<_> = i.problems.iter().map(TokenError::code).collect();
        assert_eq!(codes, ["wrong_issuer", "expired", "invalid_role"]);
        assert!(i.claims.is_none());
        let ok = inspect(
            &forge(&hdr(&k), &client_claims().to_json(), &k),
            Some(&jwks),
            &policy(),
            NOW,
        );
        assert!(ok.problems.is_empty() && ok.signature_checked && ok.claims.is_some());
    }

    #[test]
    fn no_panic_on_junk() {
        let jwks = Jwks::from_keys([key(1).public_key()]);
        for t in [
            "..",
            ".a.",
            "e30.e30.",
            "e30.e30.AA",
            "eyJ0eXAiOjF9.e30.AA",
            "\u{e9}.\u{e9}.\u{e9}",
        ] {
            assert!(verify(t, &jwks, &policy(), NOW).is_err());
            let _ = inspect(t, Some(&jwks), &policy(), NOW);
        }
    }
}
