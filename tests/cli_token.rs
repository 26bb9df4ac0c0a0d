//! `sbrp token mint|inspect|verify|jwks` on the built binary, in temp dirs, and interop with an
//! independent JWT implementation (Python PyJWT + cryptography, installed by `.ci/run`).

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use sbrp::keyfile::{SecretFormat, encode_secret};
use serde_json::Value;

/// Writes `pair(n)` as a 0600 PKCS#8 PEM key file.
fn key_file(home: &Home, name: &str, n: u8) -> PathBuf {
    let p = home.write(name, encode_secret(&pair(n), SecretFormat::Pem).as_bytes());
    chmod(&p, 0o600);
    p
}

fn run(home: &Home, args: &[&str]) -> std::process::Output {
    home.sbrp().arg("token").args(args).output().unwrap()
}

fn ok(home: &Home, args: &[&str]) -> std::process::Output {
    let out = run(home, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    out
}

fn code(home: &Home, args: &[&str], want: i32) -> std::process::Output {
    let out = run(home, args);
    assert_eq!(out.status.code(), Some(want), "{args:?}: {}", stderr(&out));
    out
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn part(token: &str, i: usize) -> Value {
    let p = token.trim().split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

/// A home with key 1 at k1.pem and its JWKS at jwks.json (written by `token jwks`).
fn setup() -> Home {
    let home = Home::new();
    key_file(&home, "k1.pem", 1);
    let out = ok(&home, &["jwks", "k1.pem"]);
    home.write("jwks.json", &out.stdout);
    home
}

fn mint(home: &Home, args: &[&str]) -> String {
    let mut all = vec!["mint", "--key", "k1.pem"];
    all.extend_from_slice(args);
    let out = ok(home, &all);
    let t = stdout(&out);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert_eq!(t.matches('\n').count(), 1, "one line: {t}");
    t.trim().to_owned()
}

#[test]
fn client_mint_defaults_follow_the_issue() {
    let home = setup();
    let t = mint(&home, &["--role", "client", "--did", "d1"]);
    let h = part(&t, 0);
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["typ"], "sbrp-relay+jwt");
    assert_eq!(h["kid"], sbrp::token::thumbprint(&pair(1).public_key()));
    let c = part(&t, 1);
    assert_eq!(c["iss"], "sbrp");
    assert_eq!(c["aud"], "sideband-relay");
    assert_eq!(c["role"], "client");
    assert_eq!(c["did"], "d1");
    assert_eq!(c["scp"], serde_json::json!(["session:create"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
    assert!((c["iat"].as_i64().unwrap() - now()).abs() < 60);
    let sub = c["sub"].as_str().unwrap();
    assert!(sub.starts_with("client-") && sub.len() > 10, "{sub}");
    let sid = sbrp::token::decode_sid(c["sid"].as_str().unwrap()).expect("non-zero 8-byte sid");
    assert!(c["jti"].as_str().unwrap().len() >= 16);
    // Two mints differ in sid, sub and jti.
    let t2 = mint(&home, &["--role", "client", "--did", "d1"]);
    let c2 = part(&t2, 1);
    assert_ne!(c2["jti"], c["jti"]);
    assert_ne!(c2["sub"], c["sub"]);
    assert_ne!(
        sbrp::token::decode_sid(c2["sid"].as_str().unwrap()),
        Some(sid)
    );
}

#[test]
fn daemon_mint_defaults_and_explicit_claims() {
    let home = setup();
    let t = mint(&home, &["--role", "daemon", "--did", "daemon-7"]);
    let c = part(&t, 1);
    assert_eq!(c["sub"], "daemon-7");
    assert!(c.get("sid").is_none());
    assert!(c.get("scp").is_none());
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3600
    );

    let t = mint(
        &home,
        &[
            "--role",
            "daemon",
            "--did",
            "d",
            "--sub",
            "owner",
            "--ttl",
            "60",
            "--iss",
            "https://cp.example",
            "--aud",
            "sideband-relay",
            "--aud",
            "other",
            "--scp",
            "session:resume",
            "--kid",
            "k-2026",
            "--lim-sessions",
            "8",
            "--region",
            "eu",
            "--iat",
            "1700000000",
        ],
    );
    assert_eq!(part(&t, 0)["kid"], "k-2026");
    let c = part(&t, 1);
    assert_eq!(
        (&c["sub"], &c["iss"], &c["iat"], &c["exp"], &c["region"]),
        (
            &"owner".into(),
            &"https://cp.example".into(),
            &1_700_000_000.into(),
            &1_700_000_060.into(),
            &"eu".into()
        )
    );
    assert_eq!(c["aud"], serde_json::json!(["sideband-relay", "other"]));
    assert_eq!(c["scp"], serde_json::json!(["session:resume"]));
    assert_eq!(c["lim"]["concurrent_sessions"], 8);
}

#[test]
fn mint_refuses_what_a_relay_would_refuse() {
    let home = setup();
    let e = code(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "daemon", "--did", "d", "--sid", "5",
        ],
        2,
    );
    assert!(stderr(&e).contains("no sid"), "{}", stderr(&e));
    let e = code(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "client", "--did", "d", "--ttl", "301",
        ],
        2,
    );
    assert!(stderr(&e).contains("at most 300"), "{}", stderr(&e));
    code(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "client", "--did", "d", "--sid", "0",
        ],
        2,
    );
    code(
        &home,
        &["mint", "--key", "k1.pem", "--role", "client", "--did", ""],
        2,
    );
    code(
        &home,
        &[
            "mint",
            "--key",
            "k1.pem",
            "--role",
            "client",
            "--did",
            "d",
            "--lim-sessions",
            "0",
        ],
        2,
    );
    // 121..=300 s is allowed with a warning.
    let out = ok(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "client", "--did", "d", "--ttl", "300",
        ],
    );
    assert!(stderr(&out).contains("should live at most 120"));
    // A public key cannot sign; a secret key others can read is refused (exit 5).
    home.write("pub.txt", format!("{}\n", pub_b64(1)));
    code(
        &home,
        &["mint", "--key", "pub.txt", "--role", "daemon", "--did", "d"],
        1,
    );
    chmod(&home.join("k1.pem"), 0o644);
    code(
        &home,
        &["mint", "--key", "k1.pem", "--role", "daemon", "--did", "d"],
        5,
    );
}

#[test]
fn sid_is_shown_as_decimal_and_hex() {
    let home = setup();
    let out = ok(
        &home,
        &[
            "mint",
            "--key",
            "k1.pem",
            "--role",
            "client",
            "--did",
            "d1",
            "--sid",
            "0xB3A73CE2FF2",
            "--json",
        ],
    );
    let j = json(&out);
    assert_eq!(j["schema"], "sbrp.token.mint/1");
    assert_eq!(j["claims"]["sid"], "AAALOnPOL_I"); // authentication.md's example
    assert_eq!(j["sid"]["decimal"], "12345678901234");
    assert_eq!(j["sid"]["hex"], "0x00000b3a73ce2ff2");
    assert_eq!(j["header"]["typ"], "sbrp-relay+jwt");
    let t = j["token"].as_str().unwrap();
    assert_eq!(part(t, 1), j["claims"]);
    home.write("t.jwt", t);
    let out = ok(&home, &["inspect", "t.jwt"]);
    let text = stdout(&out);
    assert!(
        text.contains("AAALOnPOL_I = 12345678901234 (0x00000b3a73ce2ff2)"),
        "{text}"
    );
    assert!(
        text.contains("expires in 2 m 0 s") || text.contains("expires in 1 m 5"),
        "{text}"
    );
}

#[test]
fn output_file_is_written_like_a_secret() {
    let home = setup();
    let out = ok(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "daemon", "--did", "d1", "-o", "d.jwt",
        ],
    );
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("wrote daemon token for did d1"));
    assert_eq!(mode(&home.join("d.jwt")), 0o600);
    let t = std::fs::read_to_string(home.join("d.jwt")).unwrap();
    assert!(!stderr(&out).contains(t.trim()));
    // No overwrite without --force; with it, replaced.
    let e = code(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "daemon", "--did", "d2", "-o", "d.jwt",
        ],
        1,
    );
    assert!(stderr(&e).contains("--force"), "{}", stderr(&e));
    assert_eq!(std::fs::read_to_string(home.join("d.jwt")).unwrap(), t);
    ok(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "daemon", "--did", "d2", "-o", "d.jwt", "--force",
        ],
    );
    assert_eq!(
        part(&std::fs::read_to_string(home.join("d.jwt")).unwrap(), 1)["did"],
        "d2"
    );
    // Never through a symlink.
    std::os::unix::fs::symlink(home.join("target"), home.join("link.jwt")).unwrap();
    code(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "daemon", "--did", "d", "-o", "link.jwt",
            "--force",
        ],
        1,
    );
    assert!(!home.join("target").exists());
    // --json with -o reports the path, not the token.
    let j = json(&ok(
        &home,
        &[
            "mint", "--key", "k1.pem", "--role", "daemon", "--did", "d", "-o", "j.jwt", "--json",
        ],
    ));
    assert_eq!(j["token"], Value::Null);
    assert_eq!(j["path"], "j.jwt");
}

#[test]
fn verify_accepts_every_input_way_and_never_echoes_the_token() {
    let home = setup();
    let t = mint(&home, &["--role", "client", "--did", "d1", "--sid", "42"]);
    home.write("c.jwt", format!("{t}\n"));
    let check = |out: &std::process::Output, warned: bool| {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert!(
            stdout(out).starts_with("valid: client token for did d1, sid 42 (0x000000000000002a)"),
            "{}",
            stdout(out)
        );
        let err = stderr(out);
        assert_eq!(err.contains("on the command line"), warned, "{err}");
        for piece in t.split('.') {
            assert!(!stdout(out).contains(piece) && !err.contains(piece));
        }
    };
    let base = ["verify", "--jwks", "jwks.json", "--iss", "sbrp"];
    let cmd = |extra: &[&str]| {
        let mut c = home.sbrp();
        c.arg("token").args(base).args(extra);
        c
    };
    check(&cmd(&["c.jwt"]).output().unwrap(), false);
    check(&cmd(&["--token-file", "c.jwt"]).output().unwrap(), false);
    check(&cmd(&["-"]).write_stdin(t.clone()).output().unwrap(), false);
    check(&cmd(&[]).write_stdin(t.clone()).output().unwrap(), false);
    check(&cmd(&[]).env("SBRP_TOKEN", &t).output().unwrap(), false);
    check(&cmd(&[&t]).output().unwrap(), true);
    // A bad token on the command line is refused without being repeated.
    let bad = format!("{t}x");
    let out = cmd(&[&bad]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains(t.split('.').nth(1).unwrap()));
    // Neither a file nor a token.
    let out = cmd(&["no-such-file"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("neither an existing file nor a token"));
}

#[test]
fn verify_names_the_failed_step_in_text_and_json() {
    let home = setup();
    key_file(&home, "k2.pem", 2);
    let t = mint(&home, &["--role", "client", "--did", "d1"]);
    let mut bytes = t.clone().into_bytes();
    // Flip one character of the payload: the signature no longer covers it.
    let i = t.find('.').unwrap() + 5;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    home.write("tampered.jwt", &tampered);
    let expired = mint(&home, &["--role", "daemon", "--did", "d1", "--iat", "1000"]);
    home.write("expired.jwt", &expired);
    home.write("good.jwt", &t);
    let other = run(
        &home,
        &["mint", "--key", "k2.pem", "--role", "client", "--did", "d1"],
    );
    home.write("other.jwt", &other.stdout);

    for (file, extra, step, name, status) in [
        ("tampered.jwt", None, 4, "signature", "bad_signature"),
        ("other.jwt", None, 4, "signature", "unknown_kid"),
        ("expired.jwt", None, 8, "expiry", "expired"),
        (
            "good.jwt",
            Some("someone-else"),
            6,
            "issuer",
            "wrong_issuer",
        ),
    ] {
        let iss = extra.unwrap_or("sbrp");
        let out = code(
            &home,
            &["verify", "--jwks", "jwks.json", "--iss", iss, file],
            1,
        );
        let err = stderr(&out);
        assert!(
            err.contains(&format!("step {step} ({name})")),
            "{file}: {err}"
        );
        assert!(err.contains(status), "{file}: {err}");
        assert!(err.contains("sbrp: hint:"));
        let out = code(
            &home,
            &[
                "verify",
                "--jwks",
                "jwks.json",
                "--iss",
                iss,
                file,
                "--json",
            ],
            1,
        );
        let j = json(&out);
        assert_eq!(j["schema"], "sbrp.token.verify/1");
        assert_eq!(j["ok"], false);
        assert_eq!(j["error"]["step"], step);
        assert_eq!(j["error"]["step_name"], name);
        assert_eq!(j["error"]["code"], status);
        assert_eq!(j["error"]["http_status"], 401);
    }
    // --at moves the clock: the expired token was valid at its issue time.
    ok(
        &home,
        &[
            "verify",
            "--jwks",
            "jwks.json",
            "--iss",
            "sbrp",
            "--at",
            "1100",
            "expired.jwt",
        ],
    );
    // Region: a token bound elsewhere is valid but not allowed here (403).
    let r = mint(
        &home,
        &["--role", "daemon", "--did", "d1", "--region", "eu"],
    );
    home.write("r.jwt", &r);
    let j = json(&code(
        &home,
        &[
            "verify",
            "--jwks",
            "jwks.json",
            "--region",
            "us",
            "r.jwt",
            "--json",
        ],
        1,
    ));
    assert_eq!(
        (
            j["error"]["step"].as_u64(),
            j["error"]["http_status"].as_u64()
        ),
        (Some(13), Some(403))
    );
    // Success JSON.
    let j = json(&ok(
        &home,
        &[
            "verify",
            "--jwks",
            "jwks.json",
            "--iss",
            "sbrp",
            "good.jwt",
            "--json",
        ],
    ));
    assert_eq!(j["ok"], true);
    assert_eq!(j["claims"]["did"], "d1");
    assert!(
        j["sid"]["decimal"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    // A JWKS holding both keys accepts both (rotation).
    home.write(
        "both.json",
        &ok(&home, &["jwks", "k1.pem", "k2.pem"]).stdout,
    );
    ok(&home, &["verify", "--jwks", "both.json", "other.jwt"]);
    ok(&home, &["verify", "--jwks", "both.json", "good.jwt"]);
    // Garbage input and a broken JWKS are errors with JSON too.
    home.write("junk.jwt", "not a token at all");
    let j = json(&code(
        &home,
        &["verify", "--jwks", "jwks.json", "junk.jwt", "--json"],
        1,
    ));
    assert_eq!(j["error"]["step"], 1);
    home.write("bad.json", "{\"keys\": 5}");
    let out = code(
        &home,
        &["verify", "--jwks", "bad.json", "good.jwt", "--json"],
        1,
    );
    assert_eq!(json(&out)["schema"], "sbrp.error/1");
    assert!(stderr(&out).contains("not a usable JWKS"));
}

#[test]
fn inspect_lists_every_broken_rule_by_step() {
    let home = setup();
    let t = mint(
        &home,
        &[
            "--role", "client", "--did", "d1", "--iat", "1000", "--region", "eu",
        ],
    );
    home.write("t.jwt", &t);
    let out = code(
        &home,
        &["inspect", "t.jwt", "--iss", "nobody", "--region", "us"],
        1,
    );
    let text = stdout(&out);
    for needle in [
        "step 6 (issuer)",
        "step 8 (expiry)",
        "step 13 (region)",
        "3 broken",
        "expired 2",
        "signature: not checked",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let j = json(&code(
        &home,
        &[
            "inspect",
            "t.jwt",
            "--iss",
            "nobody",
            "--region",
            "us",
            "--json",
            "--jwks",
            "jwks.json",
        ],
        1,
    ));
    assert_eq!(j["schema"], "sbrp.token.inspect/1");
    let steps: Vec<u64> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [6, 8, 13]);
    assert_eq!(
        j["signature"],
        serde_json::json!({"checked": true, "valid": true})
    );
    assert_eq!(j["times"]["expired"], true);
    assert_eq!(j["claims"]["region"], "eu");
    // A token whose payload is hand-made: several payload rules at once.
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(br#"{"aud":"x","iat":"soon","role":"admin","sid":"AAAAAAAAAAA","scp":"all","lim":{"concurrent_sessions":0}}"#);
    home.write("forged.jwt", format!("{h}.{p}.c2ln"));
    let j = json(&code(&home, &["inspect", "forged.jwt", "--json"], 1));
    let codes: Vec<&str> = j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "wrong_type",
            "missing_kid",
            "wrong_algorithm",
            "wrong_audience",
            "missing_time",
            "missing_time",
            "invalid_role",
            "invalid_did",
            "invalid_scp",
            "invalid_lim"
        ]
    );
    // A valid token breaks nothing: exit 0.
    let good = mint(&home, &["--role", "daemon", "--did", "d1"]);
    let out = home
        .sbrp()
        .args(["token", "inspect", "--jwks", "jwks.json"])
        .write_stdin(good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("signature: valid"));
    assert!(stdout(&out).contains("no rule of authentication.md is broken"));
}

#[test]
fn inspect_escapes_hostile_claims() {
    let home = Home::new();
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"sbrp-relay+jwt","kid":"k"}"#);
    let p = URL_SAFE_NO_PAD
        .encode("{\"did\":\"d\\u001b[31mred\\u202e\",\"role\":\"daemon\"}".as_bytes());
    home.write("t.jwt", format!("{h}.{p}.c2ln"));
    let out = code(&home, &["inspect", "t.jwt"], 1);
    assert!(!out.stdout.contains(&0x1b), "{}", stdout(&out));
    assert!(!stdout(&out).contains('\u{202e}'));
}

#[test]
fn jwks_lists_secret_and_public_keys_with_thumbprint_kids() {
    let home = setup();
    home.write("k2.pub", format!("{}\n", pub_b64(2)));
    let j = json(&ok(&home, &["jwks", "k1.pem", "k2.pub", "k1.pem"]));
    let keys = j["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "the duplicate is listed once");
    for (k, n) in keys.iter().zip([1u8, 2]) {
        let pk = pair(n).public_key();
        assert_eq!(k["kty"], "OKP");
        assert_eq!(k["crv"], "Ed25519");
        assert_eq!(k["alg"], "EdDSA");
        assert_eq!(k["x"], URL_SAFE_NO_PAD.encode(pk.as_bytes()));
        assert!(k.get("d").is_none(), "never the secret half");
        // RFC 7638: SHA-256 of the canonical {"crv","kty","x"} JSON.
        let canon = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            k["x"].as_str().unwrap()
        );
        use sha2::Digest;
        assert_eq!(
            k["kid"],
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canon.as_bytes()))
        );
    }
    let r = json(&ok(&home, &["jwks", "k1.pem", "k2.pub", "--json"]));
    assert_eq!(r["schema"], "sbrp.token.jwks/1");
    assert_eq!(r["jwks"]["keys"], j["keys"]);
    assert_eq!(r["keys"][0]["secret"], true);
    assert_eq!(r["keys"][1]["fingerprint"], fp(2));
    code(&home, &["jwks"], 2);
    code(&home, &["jwks", "missing.pem"], 1);
}

#[test]
fn an_empty_stdin_is_a_missing_token() {
    // stdin is a pipe with nothing in it: the token is empty (step 1).
    let home = setup();
    let out = home
        .sbrp()
        .args(["token", "inspect", "--json"])
        .env_remove("SBRP_TOKEN")
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["problems"][0]["code"], "missing_token");
}

// ---- interop with PyJWT + cryptography ----

fn python(dir: &Path, script: &str, args: &[&str]) -> std::process::Output {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output()
        .expect("python3 is part of the test environment");
    assert!(
        probe.status.success(),
        "PyJWT and cryptography are needed (`.ci/run` installs them: python3 -m pip install pyjwt cryptography): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const PY_VERIFY: &str = r#"
import json, sys, jwt
jwks = json.load(open(sys.argv[1]))
tok = open(sys.argv[2]).read().strip()
header = jwt.get_unverified_header(tok)
key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
claims = jwt.decode(tok, jwt.PyJWK(key).key, algorithms=["EdDSA"],
                    audience="sideband-relay", issuer="sbrp",
                    options={"require": ["exp", "iat", "iss", "aud", "jti"]})
print(json.dumps({"header": header, "claims": claims}))
"#;

const PY_MINT: &str = r#"
import json, sys, time, jwt, base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
key = Ed25519PrivateKey.generate()
jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
jwk["kid"] = "py-key-1"; jwk["alg"] = "EdDSA"
json.dump({"keys": [jwk]}, open("py-jwks.json", "w"))
now = int(time.time())
sid = base64.urlsafe_b64encode((0x0B3A73CE2FF2).to_bytes(8, "big")).rstrip(b"=").decode()
claims = {"iss": "sbrp", "aud": ["sideband-relay"], "iat": now, "exp": now + 100, "jti": "py-1",
          "ver": 1, "sub": "user-9", "role": "client", "did": "d-py", "sid": sid,
          "scp": ["session:create", "future:scope"]}
tok = jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "sbrp-relay+jwt", "kid": "py-key-1"})
open("py.jwt", "w").write(tok)
"#;

#[test]
fn pyjwt_verifies_our_tokens() {
    let home = setup();
    for args in [
        &[
            "--role", "client", "--did", "d1", "--sid", "99", "-o", "c.jwt",
        ][..],
        &[
            "--role",
            "daemon",
            "--did",
            "d1",
            "--scp",
            "session:resume",
            "-o",
            "d.jwt",
        ][..],
    ] {
        let mut all = vec!["mint", "--key", "k1.pem"];
        all.extend_from_slice(args);
        ok(&home, &all);
    }
    let out = python(home.path(), PY_VERIFY, &["jwks.json", "c.jwt"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["header"]["typ"], "sbrp-relay+jwt");
    assert_eq!(v["header"]["alg"], "EdDSA");
    assert_eq!(v["claims"]["role"], "client");
    assert_eq!(
        v["claims"]["sid"],
        URL_SAFE_NO_PAD.encode(99u64.to_be_bytes())
    );
    let out = python(home.path(), PY_VERIFY, &["jwks.json", "d.jwt"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["claims"]["scp"], serde_json::json!(["session:resume"]));
}

#[test]
fn we_verify_pyjwt_tokens_and_refuse_a_tampered_one_at_the_signature_step() {
    let home = Home::new();
    python(home.path(), PY_MINT, &[]);
    let j = json(&ok(
        &home,
        &[
            "verify",
            "--jwks",
            "py-jwks.json",
            "--iss",
            "sbrp",
            "py.jwt",
            "--json",
        ],
    ));
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["kid"], "py-key-1");
    assert_eq!(j["claims"]["did"], "d-py");
    assert_eq!(j["sid"]["decimal"], "12345678901234");
    assert_eq!(
        j["claims"]["scp"],
        serde_json::json!(["session:create", "future:scope"])
    );
    // Change the did in the payload, keep the signature.
    let t = std::fs::read_to_string(home.join("py.jwt")).unwrap();
    let parts: Vec<&str> = t.trim().split('.').collect();
    let mut claims = part(&t, 1);
    claims["did"] = "d-evil".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    home.write("forged.jwt", forged);
    let j = json(&code(
        &home,
        &["verify", "--jwks", "py-jwks.json", "forged.jwt", "--json"],
        1,
    ));
    assert_eq!(
        (j["error"]["step"].as_u64(), j["error"]["code"].as_str()),
        (Some(4), Some("bad_signature"))
    );
}
