//! `sbrp keygen`, `sbrp pubkey`, `sbrp fingerprint` on the built binary.

mod common;

use base64::Engine as _;
use common::*;
use predicates::prelude::*;
use sbrp::keyfile::{PublicFormat, SecretFormat, encode_public, encode_secret};
use sha2::{Digest, Sha256};

fn keygen(home: &Home, args: &[&str]) -> std::process::Output {
    let out = home.sbrp().arg("keygen").args(args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    out
}

#[test]
fn keygen_writes_a_private_0600_identity_and_reports_it() {
    let home = Home::new();
    let sub = home.join("sub/dir");
    let out = home
        .sbrp()
        .env("SBRP_HOME", &sub)
        .arg("keygen")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let id = sub.join("identity.pem");
    assert_eq!(mode(&id), 0o600);
    assert_eq!(mode(&sub), 0o700);
    let pem = std::fs::read_to_string(&id).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("public key:  "));
    assert!(lines[1].starts_with("fingerprint: SHA256:"));
    assert_eq!(lines[2], "+--[ED25519 256]--+");
    assert_eq!(lines[12], "+----[SHA256]-----+");
    assert!(stderr(&out).contains("wrote a new Ed25519 identity"));

    let pubkey = home
        .sbrp()
        .env("SBRP_HOME", &sub)
        .arg("pubkey")
        .output()
        .unwrap();
    assert!(pubkey.status.success());
    assert_eq!(
        stdout(&pubkey).trim(),
        lines[0].trim_start_matches("public key:").trim()
    );
}

#[test]
fn keygen_never_overwrites_without_force_and_replaces_atomically_with_it() {
    let home = Home::new();
    keygen(&home, &["-o", "id.pem"]);
    let before = std::fs::read(home.join("id.pem")).unwrap();
    home.sbrp()
        .args(["keygen", "-o", "id.pem"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read(home.join("id.pem")).unwrap(), before);

    keygen(&home, &["-o", "id.pem", "--force"]);
    let after = std::fs::read(home.join("id.pem")).unwrap();
    assert_ne!(after, before);
    assert_eq!(mode(&home.join("id.pem")), 0o600);
    // No temp file left behind.
    let names: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn keygen_to_stdout_puts_the_report_on_stderr() {
    let home = Home::new();
    let out = keygen(&home, &["-o", "-", "--format", "hex"]);
    let secret = stdout(&out);
    assert_eq!(secret.trim().len(), 128, "{secret}");
    let err = stderr(&out);
    assert!(err.contains("fingerprint: SHA256:"));
    assert!(err.contains("+--[ED25519 256]--+"));
    // stdout feeds pubkey through stdin.
    let out = home
        .sbrp()
        .args(["pubkey", "-", "--format", "hex"])
        .write_stdin(secret.clone())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), &secret.trim()[64..]);
    assert!(!home.join("identity.pem").exists());

    home.sbrp()
        .args(["keygen", "-o", "-", "--json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--format json"));
}

#[test]
fn keygen_json_report_and_every_secret_format_round_trips() {
    let home = Home::new();
    for format in ["pem", "hex", "base64", "json"] {
        let file = format!("id-{format}");
        let out = keygen(&home, &["-o", &file, "--format", format, "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["schema"], "sbrp.keygen/1");
        assert_eq!(report["format"], format);
        let fpr = report["fingerprint"].as_str().unwrap();
        assert!(report["randomart"].as_str().unwrap().contains("[SHA256]"));
        let out = home
            .sbrp()
            .args(["pubkey", &file, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {out:?}");
        let pk: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(pk["schema"], "sbrp.pubkey/1");
        assert_eq!(pk["public_key"], report["public_key"]);
        assert_eq!(pk["fingerprint"], fpr);
        home.sbrp()
            .args(["fingerprint", &file])
            .assert()
            .success()
            .stdout(format!("{fpr}\n"));
    }
}

#[test]
fn keygen_into_a_missing_directory_is_an_error() {
    let home = Home::new();
    home.sbrp()
        .args(["keygen", "-o", "no/such/dir/id.pem"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("sbrp: error: cannot create"))
        .stderr(predicate::str::contains("sbrp: hint:"));
}

#[test]
fn openssl_reads_our_pkcs8_and_we_read_openssls() {
    let home = Home::new();
    keygen(&home, &["-o", "id.pem"]);
    let ours = home
        .sbrp()
        .args(["pubkey", "id.pem", "--format", "pem"])
        .output()
        .unwrap();
    assert!(ours.status.success());
    let theirs = tool(
        "openssl",
        &["pkey", "-in", "id.pem", "-pubout"],
        home.path(),
    );
    assert_eq!(stdout(&ours), stdout(&theirs));
    // OpenSSL reads our SPKI PEM too.
    home.write("id.pub.pem", &ours.stdout);
    tool(
        "openssl",
        &["pkey", "-pubin", "-in", "id.pub.pem", "-noout"],
        home.path(),
    );

    tool(
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "ossl.pem"],
        home.path(),
    );
    chmod(&home.join("ossl.pem"), 0o600);
    let der = tool(
        "openssl",
        &["pkey", "-in", "ossl.pem", "-pubout", "-outform", "DER"],
        home.path(),
    );
    let raw = &der.stdout[der.stdout.len() - 32..];
    let want = base64::engine::general_purpose::STANDARD.encode(raw);
    home.sbrp()
        .args(["pubkey", "ossl.pem"])
        .assert()
        .success()
        .stdout(format!("{want}\n"));
    // The DER forms OpenSSL writes are read as well.
    home.write("ossl.pub.der", &der.stdout);
    home.sbrp()
        .args(["fingerprint", "ossl.pub.der", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"encoding\": \"spki-der\""));
}

#[test]
fn secret_files_readable_by_others_are_refused_with_exit_5() {
    let home = Home::new();
    keygen(&home, &["-o", "id.pem"]);
    let id = home.join("id.pem");
    for m in [0o644, 0o640, 0o604] {
        chmod(&id, m);
        home.sbrp()
            .args(["pubkey", "id.pem"])
            .assert()
            .code(5)
            .stderr(predicate::str::contains(format!("mode {m:04o}")))
            .stderr(predicate::str::contains("chmod 600 id.pem"));
        home.sbrp().args(["fingerprint", "id.pem"]).assert().code(5);
    }
    chmod(&id, 0o400);
    home.sbrp().args(["pubkey", "id.pem"]).assert().success();
    // A public key file may be world-readable.
    let pk = home.write("id.pub", pub_b64(1));
    chmod(&pk, 0o644);
    home.sbrp()
        .args(["fingerprint", "id.pub"])
        .assert()
        .success();
}

#[test]
fn pubkey_errors() {
    let home = Home::new();
    home.sbrp()
        .arg("pubkey")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("sbrp keygen"));
    home.sbrp()
        .args(["pubkey", "missing.pem"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read missing.pem"));
    // A public key (as `sbrp pubkey > k.pub` writes it, mode 0644) is legitimate: printed
    // normalised, no permission check, a note about --seed on stderr.
    let p = home.write("k.pub", format!("{}\n", pub_b64(1)));
    chmod(&p, 0o644);
    home.sbrp()
        .args(["pubkey", "k.pub", "--format", "hex"])
        .assert()
        .success()
        .stdout(format!(
            "{}\n",
            hex::encode(pair(1).public_key().as_bytes())
        ))
        .stderr(predicate::str::contains("holds a public key"))
        .stderr(predicate::str::contains("--seed"));
    let p = home.write(
        "spki.pem",
        encode_public(&pair(1).public_key(), PublicFormat::Pem),
    );
    chmod(&p, 0o644);
    home.sbrp()
        .args(["pubkey", "spki.pem"])
        .assert()
        .success()
        .stdout(format!("{}\n", pub_b64(1)));
    // --seed: a bare 32-byte value is a seed (RFC 8032 test 1).
    let seed = home.write(
        "seed.hex",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n",
    );
    chmod(&seed, 0o600);
    home.sbrp()
        .args(["pubkey", "seed.hex", "--seed", "--format", "hex"])
        .assert()
        .success()
        .stdout("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n");
    let p = home.write("junk", "hello world\n");
    chmod(&p, 0o600);
    home.sbrp()
        .args(["pubkey", "junk"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("expected"));
}

#[test]
fn fingerprint_accepts_every_encoding() {
    let home = Home::new();
    let kp = pair(9);
    let pk = kp.public_key();
    let want = format!("{}\n", pk.fingerprint());
    let b64 = encode_public(&pk, PublicFormat::Base64);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pk.as_bytes());
    let hexk = encode_public(&pk, PublicFormat::Hex);
    let args: Vec<String> = vec![b64.clone(), url, hexk.clone(), hexk.to_uppercase()];
    for a in &args {
        home.sbrp()
            .args(["fingerprint", a])
            .assert()
            .success()
            .stdout(want.clone());
    }
    let mut raw64 = kp.seed().to_vec();
    raw64.extend_from_slice(pk.as_bytes());
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "spki.pem",
            encode_public(&pk, PublicFormat::Pem).into_bytes(),
        ),
        (
            "pkcs8.pem",
            encode_secret(&kp, SecretFormat::Pem).as_bytes().to_vec(),
        ),
        (
            "secret.hex",
            encode_secret(&kp, SecretFormat::Hex).as_bytes().to_vec(),
        ),
        (
            "secret.b64",
            encode_secret(&kp, SecretFormat::Base64).as_bytes().to_vec(),
        ),
        (
            "secret.json",
            encode_secret(&kp, SecretFormat::Json).as_bytes().to_vec(),
        ),
        ("raw32", pk.as_bytes().to_vec()),
        ("raw64", raw64),
        ("b64.txt", format!("{b64}\n").into_bytes()),
    ];
    for (name, bytes) in &files {
        let p = home.write(name, bytes);
        chmod(&p, 0o600);
        home.sbrp()
            .args(["fingerprint", name])
            .assert()
            .success()
            .stdout(want.clone());
        home.sbrp()
            .args(["fingerprint", "-"])
            .write_stdin(bytes.clone())
            .assert()
            .success()
            .stdout(want.clone());
    }
}

#[test]
fn fingerprint_input_errors_say_what_was_expected() {
    let home = Home::new();
    let b64 = pub_b64(1);
    let cases: Vec<(String, &str)> = vec![
        (b64[..40].to_string(), "expected"),
        (format!("{b64}{b64}x"), "expected"),
        ("abcd".repeat(15), "hex key has 60 characters; expected 64"),
        (format!("{b64} trailing"), "unexpected data after the key"),
        ("%%%".to_owned(), "expected"),
    ];
    for (arg, msg) in cases {
        home.sbrp()
            .args(["fingerprint", &arg])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(msg))
            .stderr(predicate::str::contains("sbrp: hint:"));
    }
    // A PEM with junk after it, via stdin.
    let pem = encode_public(&pair(1).public_key(), PublicFormat::Pem);
    home.sbrp()
        .args(["fingerprint", "-"])
        .write_stdin(format!("{pem}junk\n"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("text after the PEM block"));
    // A raw file of the wrong size.
    home.write("raw33", [0x80u8; 33]);
    home.sbrp()
        .args(["fingerprint", "raw33"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("exactly 32 bytes"));
    // An argument that is both a file name and a key is ambiguous.
    home.write(
        &encode_public(&pair(2).public_key(), PublicFormat::Hex),
        "x",
    );
    home.sbrp()
        .args([
            "fingerprint",
            &encode_public(&pair(2).public_key(), PublicFormat::Hex),
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("ambiguous"));
    // Untrusted input is escaped in messages.
    home.sbrp()
        .args(["fingerprint", "evil\x1b[2Jkey"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("evil\\x1b[2Jkey"))
        .stderr(predicate::str::contains("\x1b[2J").not());
}

#[test]
fn fingerprint_compare_exit_codes() {
    let home = Home::new();
    let b64 = pub_b64(3);
    let f = fp(3);
    for form in [f.clone(), f.to_lowercase(), f[7..].replace(':', "")] {
        home.sbrp()
            .args(["fingerprint", &b64, "--compare", &form])
            .assert()
            .success()
            .stdout(predicate::str::contains("match"));
    }
    home.sbrp()
        .args(["fingerprint", &b64, "--compare", &fp(4)])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(fp(4)))
        .stderr(predicate::str::contains(f.clone()));
    let out = home
        .sbrp()
        .args(["fingerprint", &b64, "--compare", &fp(4), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["compare"]["match"], false);
    assert_eq!(v["compare"]["expected"], fp(4));
    home.sbrp()
        .args(["fingerprint", &b64, "--compare", "SHA256:nope"])
        .assert()
        .code(2);
}

#[test]
fn fingerprint_json_and_randomart() {
    let home = Home::new();
    let pk = pair(5).public_key();
    let out = home
        .sbrp()
        .args(["fingerprint", &pub_b64(5), "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.fingerprint/1");
    assert_eq!(v["public_key"], pub_b64(5));
    assert_eq!(v["fingerprint"], fp(5));
    assert_eq!(v["encoding"], "base64");
    let art = sbrp::randomart::identity_randomart(&pk);
    assert_eq!(v["randomart"], art.as_str());
    home.sbrp()
        .args(["fingerprint", &pub_b64(5), "--format", "randomart"])
        .assert()
        .success()
        .stdout(art);
}

/// The nine body lines (and the frame) OpenSSH drew for a fixed key, captured from
/// `ssh-keygen -lv -E sha256` (OpenSSH 9.2): the walk over the same digest must match.
#[test]
fn randomart_matches_a_captured_ssh_keygen_picture() {
    let line =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaYOHspyeTmVgGzuLbaaFlPXZdoEDoLTmoyhEWuNvbp root@vm";
    let want = "\
+--[ED25519 256]--+
|     .=Bo+.=*o.  |
|     .o =.Ooo++..|
|     . +...Bo+.++|
|  . . o. .  +o+.o|
|   o .  S   .+ o |
|    .    .  . o .|
|           . o . |
|            +..  |
|           ..E.  |
+----[SHA256]-----+
";
    let key = sbrp::keyfile::decode(line.as_bytes(), sbrp::keyfile::BareKey::Public)
        .unwrap()
        .key
        .public_key();
    let digest = Sha256::digest(sbrp::keyfile::openssh_wire_blob(&key));
    assert_eq!(
        sbrp::randomart::randomart(&digest, "[ED25519 256]", "[SHA256]"),
        want
    );
}

/// Live golden test: a fresh key from the installed ssh-keygen.
#[test]
fn randomart_matches_ssh_keygen_for_a_fresh_key() {
    let home = Home::new();
    tool(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", "k"],
        home.path(),
    );
    let line = std::fs::read_to_string(home.join("k.pub")).unwrap();
    let out = tool(
        "ssh-keygen",
        &["-lv", "-E", "sha256", "-f", "k.pub"],
        home.path(),
    );
    let text = stdout(&out);
    let theirs: Vec<&str> = text.lines().skip(1).take(11).collect();
    let key = sbrp::keyfile::decode(line.as_bytes(), sbrp::keyfile::BareKey::Public)
        .unwrap()
        .key
        .public_key();
    let digest = Sha256::digest(sbrp::keyfile::openssh_wire_blob(&key));
    let art = sbrp::randomart::randomart(&digest, "[ED25519 256]", "[SHA256]");
    let ours: Vec<&str> = art.lines().collect();
    assert_eq!(
        ours[1..10],
        theirs[1..10],
        "body lines differ:\n{art}\n{text}"
    );
    assert_eq!(ours, theirs, "frame differs:\n{art}\n{text}");
    // And sbrp reads the ssh-ed25519 line itself.
    home.sbrp()
        .args(["fingerprint", "k.pub", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"encoding\": \"openssh\""));
}
