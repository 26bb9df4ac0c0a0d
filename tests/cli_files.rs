//! Every file sbrp writes follows one discipline (docs/files.md), on the built binary: never
//! replaced without --force, never written through a symlink, whole or not at all; key logs
//! appended but private; config directory and pin file permissions; symlinked pin files;
//! lock waits; secrets never echoed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;
use predicates::prelude::*;

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn capture_never_overwrites_nor_follows_symlinks() {
    let home = Home::new();
    let key = home.write("identity.pem", "precious\n");
    // An existing file is refused without --force and left alone.
    home.sbrp()
        .args(["selftest", "--capture", "identity.pem"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read(&key).unwrap(), b"precious\n");
    // A symlink to another file is refused, even with --force; the target is untouched.
    std::os::unix::fs::symlink(&key, home.join("cap.bin")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        home.sbrp()
            .args(["selftest", "--capture", "cap.bin"])
            .args(extra)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("symbolic link"));
    }
    assert_eq!(std::fs::read(&key).unwrap(), b"precious\n");
    // A new path is written whole; --force replaces a regular file.
    home.sbrp()
        .args(["selftest", "--capture", "new.bin"])
        .assert()
        .success();
    let first = std::fs::read(home.join("new.bin")).unwrap();
    assert!(first.len() > 100);
    home.sbrp()
        .args(["selftest", "--capture", "new.bin", "--force"])
        .assert()
        .success();
    assert!(
        !files_in(home.path()).iter().any(|n| n.contains(".tmp-")),
        "{:?}",
        files_in(home.path())
    );
}

#[test]
fn capture_and_key_log_at_one_path_are_refused() {
    let home = Home::new();
    home.sbrp()
        .args(["selftest", "--capture", "x", "--keylog", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("same file"));
    assert!(!home.join("x").exists());
    // Two names of one file, one through SBRP_KEYLOGFILE.
    home.write("keys.log", "");
    chmod(&home.join("keys.log"), 0o600);
    std::fs::hard_link(home.join("keys.log"), home.join("other")).unwrap();
    home.sbrp()
        .env("SBRP_KEYLOGFILE", home.join("keys.log"))
        .args(["selftest", "--capture", "other", "--force"])
        .assert()
        .code(2);
    assert_eq!(std::fs::read(home.join("keys.log")).unwrap(), b"");
}

#[test]
fn key_logs_are_appended_private_and_refused_when_exposed() {
    let home = Home::new();
    home.sbrp()
        .args(["selftest", "--keylog", "keys.log"])
        .assert()
        .success()
        .stderr(predicate::str::contains("anyone who can read it"));
    assert_eq!(mode(&home.join("keys.log")), 0o600);
    let one = std::fs::read_to_string(home.join("keys.log")).unwrap();
    home.sbrp()
        .args(["selftest", "--keylog", "keys.log"])
        .assert()
        .success();
    let two = std::fs::read_to_string(home.join("keys.log")).unwrap();
    assert!(two.starts_with(&one) && two.len() > one.len(), "appended");
    // Group- or world-readable: exit 5 with the fix, nothing appended.
    chmod(&home.join("keys.log"), 0o644);
    home.sbrp()
        .args(["selftest", "--keylog", "keys.log"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("chmod 600"));
    assert_eq!(std::fs::read_to_string(home.join("keys.log")).unwrap(), two);
    // A symlink is never followed.
    chmod(&home.join("keys.log"), 0o600);
    std::os::unix::fs::symlink(home.join("keys.log"), home.join("link.log")).unwrap();
    home.sbrp()
        .args(["selftest", "--keylog", "link.log"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(home.join("keys.log")).unwrap(), two);
}

#[test]
fn keygen_refuses_symlinks_and_directories_with_fitting_hints() {
    let home = Home::new();
    std::os::unix::fs::symlink(home.join("nowhere"), home.join("dangling.pem")).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let out = home
            .sbrp()
            .args(["keygen", "-o", "dangling.pem"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = stderr(&out);
        assert!(err.contains("symbolic link"), "{err}");
        assert!(!err.contains("pass --force"), "{err}");
    }
    assert!(!home.join("nowhere").exists());
    let out = home.sbrp().args(["keygen", "-o", "/tmp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is a directory"), "{err}");
    assert!(!err.contains("already exists"), "{err}");
}

#[test]
fn keygen_killed_before_the_rename_leaves_no_key_behind_after_the_next_run() {
    let home = Home::new();
    sbrp_keygen(&home, &["-o", "id.pem"]);
    let before = std::fs::read(home.join("id.pem")).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["keygen", "-o", "id.pem", "--force"])
        .env("SBRP_HOME", home.path())
        .env("SBRP_TEST_PAUSE_BEFORE_RENAME", "1")
        .current_dir(home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("paused before rename"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(home.join("id.pem")).unwrap(), before);
    let temps: Vec<String> = files_in(home.path())
        .into_iter()
        .filter(|n| n.starts_with(".id.pem.tmp-"))
        .collect();
    assert_eq!(temps.len(), 1, "the killed writer's temp file: {temps:?}");
    assert_eq!(mode(&home.join(&temps[0])), 0o600);
    // The next keygen of that path removes the dead writer's temp file (a whole secret key).
    sbrp_keygen(&home, &["-o", "id.pem", "--force"]);
    assert!(
        !files_in(home.path()).iter().any(|n| n.contains(".tmp-")),
        "{:?}",
        files_in(home.path())
    );
    assert_ne!(std::fs::read(home.join("id.pem")).unwrap(), before);
}

fn sbrp_keygen(home: &Home, args: &[&str]) {
    home.sbrp().arg("keygen").args(args).assert().success();
}

#[test]
fn a_secret_that_cannot_be_written_whole_is_an_error() {
    // `sbrp keygen -o - | head -0`: the reader is gone before the key is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let home = Home::new();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["keygen", "-o", "-"])
        .env("SBRP_HOME", home.path())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("the key is lost"), "{}", stderr(&out));
    // The real pipeline: the write lands in the pipe, the reader exits without reading it.
    let bin = assert_cmd::cargo::cargo_bin("sbrp");
    let shell = |pipeline: &str| -> String {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!(
                "'{}' keygen -o - 2>/dev/null | {pipeline}; echo \"${{PIPESTATUS[0]}}\"",
                bin.display()
            ))
            .env("SBRP_HOME", home.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(shell("head -0"), "1");
    assert_eq!(
        shell("head -c 10 >/dev/null"),
        "1",
        "half a key is lost too"
    );
    assert_eq!(shell("cat >/dev/null"), "0");
    // Data that can be printed again still ends quietly on a closed pipe.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["fingerprint", &pub_b64(1)])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn config_directory_writable_by_others_is_refused() {
    let home = Home::new();
    let dir = home.join("cfg");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    for args in [
        &["keygen"][..],
        &["pin", "list"][..],
        &["pubkey"][..],
        &["pin", "add", "d", &pub_b64(1)][..],
    ] {
        home.sbrp()
            .env("SBRP_HOME", &dir)
            .args(args)
            .assert()
            .code(5)
            .stderr(predicate::str::contains("chmod go-w"));
    }
    assert!(files_in(&dir).is_empty());
    chmod(&dir, 0o750);
    home.sbrp()
        .env("SBRP_HOME", &dir)
        .args(["pin", "add", "d", &pub_b64(1)])
        .assert()
        .success();
}

#[test]
fn pin_file_permissions_writable_refused_readable_warned() {
    let home = Home::new();
    home.sbrp()
        .args(["pin", "add", "d", &pub_b64(1)])
        .assert()
        .success();
    chmod(&home.pins(), 0o666);
    home.sbrp()
        .args(["pin", "list"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("chmod 600"));
    chmod(&home.pins(), 0o644);
    home.sbrp()
        .args(["pin", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains("warning:"))
        .stderr(predicate::str::contains("others can read"));
}

#[test]
fn symlinked_pin_file_is_resolved_once_and_keeps_its_mode() {
    let home = Home::new();
    let real_dir = home.join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("pins.json");
    home.sbrp()
        .args(["pin", "add", "a", &pub_b64(1), "--pins"])
        .arg(&real)
        .assert()
        .success();
    chmod(&real, 0o640);
    std::os::unix::fs::symlink("real/pins.json", home.pins()).unwrap();
    // Through the link (the default path): the real file changes, the link stays a link.
    home.sbrp()
        .args(["pin", "add", "b", &pub_b64(2)])
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(home.pins())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&real), 0o640, "mode kept");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(v["pins"].as_array().unwrap().len(), 2);
    // One lock for both names: next to the real file.
    assert!(real_dir.join("pins.json.lock").exists());
    assert!(!home.join("pins.json.lock").exists());
}

/// Holds the pin file's lock from another process (flock(1), as sbrp's lock is an flock).
fn hold_lock(lock: &std::path::Path) -> std::process::Child {
    // -o: flock itself holds the lock (the shell does not inherit it), so killing flock
    // releases it.
    let mut child = std::process::Command::new("flock")
        .arg("-o")
        .arg(lock)
        .args(["-c", "echo locked; sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock(1) from util-linux is needed");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn lock_waits_are_announced_and_bounded() {
    let home = Home::new();
    home.sbrp()
        .args(["pin", "add", "a", &pub_b64(1)])
        .assert()
        .success();
    let lock = home.join("pins.json.lock");
    let mut holder = hold_lock(&lock);
    let out = home
        .sbrp()
        .args(["pin", "add", "b", &pub_b64(2), "--wait", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("waiting for the lock on"), "{err}");
    assert!(err.contains("gave up after 1.5 s"), "{err}");
    assert!(err.contains("pins.json.lock"), "{err}");
    // A reader needs no lock, and `pin check` still succeeds (timestamp not recorded).
    home.sbrp()
        .args(["pin", "check", "a", &pub_b64(1), "--wait", "0.2"])
        .assert()
        .success()
        .stderr(predicate::str::contains("last_verified_at was not updated"));
    // Released while waiting: the change goes through.
    let mut waiter = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["pin", "add", "c", &pub_b64(3)])
        .env("SBRP_HOME", home.path())
        .env_remove("SBRP_PINS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(waiter.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("waiting for the lock"), "{line}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(waiter.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(home.pins())
            .unwrap()
            .matches("daemon_id")
            .count(),
        2
    );
}

#[test]
fn pin_check_succeeds_on_a_read_only_config_directory() {
    let home = Home::new();
    let dir = home.join("cfg");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    home.sbrp()
        .env("SBRP_HOME", &dir)
        .args(["pin", "add", "d", &pub_b64(1)])
        .assert()
        .success();
    std::fs::remove_file(dir.join("pins.json.lock")).unwrap();
    let before = std::fs::read(dir.join("pins.json")).unwrap();
    chmod(&dir, 0o500);
    let out = home
        .sbrp()
        .env("SBRP_HOME", &dir)
        .args(["pin", "check", "d", &pub_b64(1)])
        .output()
        .unwrap();
    chmod(&dir, 0o700);
    if rustix_is_root() {
        return; // root writes anyway: nothing to check
    }
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).contains("match"));
    assert!(stderr(&out).contains("warning:"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("pins.json")).unwrap(), before);
}

fn rustix_is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

#[test]
fn public_keys_are_legitimate_and_secrets_are_never_echoed() {
    let home = Home::new();
    // `sbrp pubkey > daemon.pub` then `sbrp pubkey daemon.pub`: a 0644 public key is fine.
    sbrp_keygen(&home, &["-o", "daemon.pem"]);
    let out = home.sbrp().args(["pubkey", "daemon.pem"]).output().unwrap();
    let public = stdout(&out);
    home.write("daemon.pub", &public);
    chmod(&home.join("daemon.pub"), 0o644);
    home.sbrp()
        .args(["pubkey", "daemon.pub"])
        .assert()
        .success()
        .stdout(public.clone());
    // A mistyped secret on the command line: its length and kind, never its characters.
    let secret_hex = hex::encode([0x5au8; 64]);
    let typo = &secret_hex[..127];
    let out = home.sbrp().args(["fingerprint", typo]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(!err.contains(&typo[..16]), "secret echoed: {err}");
    assert!(err.contains("127 characters"), "{err}");
    assert!(err.contains("hex"), "{err}");
    // A valid secret on the command line works, with a warning about `ps`.
    let out = home
        .sbrp()
        .args([
            "fingerprint",
            &hex::encode({
                let p = pair(4);
                let mut v = p.seed().to_vec();
                v.extend_from_slice(p.public_key().as_bytes());
                v
            }),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(stderr(&out).contains("command line"), "{}", stderr(&out));
    assert!(stderr(&out).contains("ps"));
}

#[test]
fn key_inputs_name_what_they_are() {
    let home = Home::new();
    // 0x-prefixed hex, as `decode` accepts it.
    home.sbrp()
        .args([
            "fingerprint",
            &format!("0x{}", hex::encode(pair(1).public_key().as_bytes())),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(fp(1)));
    for (alg, name) in [
        ("RSA", "an RSA key"),
        ("X25519", "an X25519 key"),
        ("ED448", "an Ed448 key"),
    ] {
        tool(
            "openssl",
            &["genpkey", "-algorithm", alg, "-out", &format!("{alg}.pem")],
            home.path(),
        );
        chmod(&home.join(&format!("{alg}.pem")), 0o600);
        home.sbrp()
            .args(["fingerprint", &format!("{alg}.pem")])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(name))
            .stderr(predicate::str::contains("1.2.840").not());
    }
    tool(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", "ssh_id"],
        home.path(),
    );
    home.sbrp()
        .args(["pin", "add", "d", "ssh_id"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("OpenSSH private key"))
        .stderr(predicate::str::contains(".pub"))
        .stderr(predicate::str::contains("ssh-keygen -y"));
    // `sbrp pubkey` does not tell the user to run `sbrp pubkey`.
    home.write("junk", "hello world\n");
    let out = home.sbrp().args(["pubkey", "junk"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("sbrp pubkey"), "{}", stderr(&out));
    // The .pub file works.
    home.sbrp()
        .args(["pin", "add", "d", "ssh_id.pub"])
        .assert()
        .success();
}

#[test]
fn daemon_ids_follow_one_rule() {
    let home = Home::new();
    let long = "x".repeat(100_000);
    let out = home
        .sbrp()
        .args(["pin", "add", &long, &pub_b64(1)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.len() < 1000,
        "the id is echoed whole: {} bytes",
        err.len()
    );
    assert!(err.contains("100000 bytes"), "{err}");
    assert!(!err.contains("printable"), "{err}");
    // NFD "é" is refused with the NFC form as the fix: no two look-alike pins.
    home.sbrp()
        .args(["pin", "add", "caf\u{e9}", &pub_b64(1)])
        .assert()
        .success();
    home.sbrp()
        .args(["pin", "add", "cafe\u{301}", &pub_b64(2)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("NFC"))
        .stderr(predicate::str::contains("caf\u{e9}"));
    for bad in ["", "a\u{1b}b"] {
        home.sbrp()
            .args(["pin", "show", bad])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("daemon id"));
    }
}

#[test]
fn pin_file_errors_have_real_positions_and_plain_words() {
    let home = Home::new();
    let pin = |id: &str| {
        format!(
            "{{\"daemon_id\": \"{id}\", \"public_key\": \"{}\", \"fingerprint\": \"{}\", \
             \"added_at\": \"2001-01-01T00:00:00Z\", \"last_verified_at\": \"2001-01-01T00:00:00Z\"}}",
            pub_b64(1),
            fp(1)
        )
    };
    home.write(
        "pins.json",
        format!(
            "{{\"version\": 1, \"pins\": [\n{},\n{}\n]}}\n",
            pin("d"),
            pin("d")
        ),
    );
    let out = home.sbrp().args(["pin", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("pinned twice"), "{err}");
    // Where the second pin of "d" ends (serde reports the point after it).
    assert!(err.contains("line 4, column 1"), "{err}");
    for (text, words) in [
        ("[]", "expected the pin file object"),
        ("[1, []]", "expected the pin file object"),
        ("{\"version\": 1, \"pins\": [[]]}", "expected a pin object"),
    ] {
        home.write("pins.json", text);
        let out = home.sbrp().args(["pin", "list"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{text} accepted");
        let err = stderr(&out);
        assert!(err.contains(words), "{text}: {err}");
        assert!(
            !err.contains("RawPinFile") && !err.contains("line 0"),
            "{err}"
        );
    }
}

#[test]
fn json_documents_are_printed_on_failure_too() {
    let home = Home::new();
    home.sbrp()
        .args(["pin", "add", "d", &pub_b64(1)])
        .assert()
        .success();
    let doc = |args: &[&str], code: i32| -> serde_json::Value {
        let out = home.sbrp().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: no JSON on stdout ({e}): {out:?}"))
    };
    let v = doc(&["pin", "remove", "x", "--json"], 3);
    assert_eq!(v["schema"], "sbrp.pin.remove/1");
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["exit"], "not_found");
    assert_eq!(v["error"]["code"], 3);
    let v = doc(&["pin", "replace", "x", &pub_b64(2), "--yes", "--json"], 3);
    assert_eq!(v["status"], "not_pinned");
    assert_eq!(v["ok"], false);
    let v = doc(&["pin", "replace", "d", &pub_b64(2), "--json"], 2);
    assert_eq!(v["schema"], "sbrp.pin.replace/1");
    assert_eq!(v["error"]["exit"], "usage");
    let v = doc(&["pin", "show", "x", "--json"], 3);
    assert_eq!(v["schema"], "sbrp.error/1");
    assert_eq!(v["command"], "pin show");
    let v = doc(&["fingerprint", "nope", "--json"], 1);
    assert_eq!(v["ok"], false);
    // decode prints its own document, ending in a summary with ok: false (one document).
    let v = doc(&["decode", "--format", "json", "missing.bin"], 1);
    assert!(
        v["schema"].as_str().unwrap().starts_with("sbrp.decode/"),
        "{v}"
    );
    assert_eq!(v["summary"]["ok"], false);
    assert_eq!(v["summary"]["error"]["code"], "read_failed");
    let v = doc(&["pin", "add", "d", &pub_b64(1), "--json"], 0);
    assert_eq!(v["ok"], true);
}

#[test]
fn hints_fit_the_situation() {
    let home = Home::new();
    let out = home
        .sbrp()
        .args(["pin", "show", "nobody"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("sbrp pin list"));
    assert!(!stderr(&out).contains("pin add"), "{}", stderr(&out));
}

fn daemon_over_exec(key: &std::path::Path, id: &str) -> String {
    format!(
        "'{}' peer daemon -q --key '{}' --daemon-id {id}",
        assert_cmd::cargo::cargo_bin("sbrp").display(),
        key.display()
    )
}

#[test]
fn peer_client_labels_each_key_for_what_it_is() {
    let home = Home::new();
    sbrp_keygen(&home, &["-o", "k.pem"]);
    let out = home
        .sbrp()
        .args(["peer", "client", "--daemon-id", "d", "--identity-key"])
        .arg(pub_b64(9))
        .args(["--exec", &daemon_over_exec(&home.join("k.pem"), "d")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(!text.contains("(the key given)"), "{text}");
    assert!(text.contains("presented; not the --identity-key"), "{text}");
    assert!(!err.contains("is pinned"), "no pin file is involved: {err}");
    assert!(err.contains(&format!("given:     {}", fp(9))), "{err}");
}

#[test]
fn peer_exec_runs_in_its_own_process_group_ended_as_a_whole() {
    let home = Home::new();
    let pid_file = home.join("child.pid");
    // The command starts a background child and never answers: the handshake times out.
    let cmd = format!("sleep 300 & echo $! > '{}'; sleep 300", pid_file.display());
    // No pipes to wait on: a surviving child would hold them open.
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["peer", "client", "--daemon-id", "d", "--identity-key"])
        .arg(pub_b64(1))
        .args(["--handshake-timeout", "0.5", "--exec", &cmd])
        .env("SBRP_HOME", home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(6));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.trim();
    // Gone, or a zombie waiting for an init that does not reap: not running either way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(") ").next().map(|r| r.chars().next()))
            .flatten();
        if matches!(state, None | Some('Z') | Some('X')) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the command's child {pid} still runs (state {state:?})"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn peer_timeouts_mean_the_same_at_zero_and_daemon_ids_follow_the_rule() {
    let home = Home::new();
    sbrp_keygen(&home, &["-o", "k.pem"]);
    let public = stdout(&home.sbrp().args(["pubkey", "k.pem"]).output().unwrap());
    // 0 is "no limit" for both timeouts: the session works.
    home.sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d",
            "--identity-key",
            public.trim(),
        ])
        .args(["--timeout", "0", "--handshake-timeout", "0", "--ping"])
        .args(["--exec", &daemon_over_exec(&home.join("k.pem"), "d")])
        .assert()
        .success();
    for args in [
        &[
            "peer",
            "daemon",
            "--key",
            "k.pem",
            "--listen",
            "127.0.0.1:0",
            "--daemon-id",
            "",
        ][..],
        &[
            "peer",
            "client",
            "--identity-key",
            public.trim(),
            "--daemon-id",
            "a\u{7}b",
        ][..],
    ] {
        home.sbrp()
            .args(args)
            .timeout(std::time::Duration::from_secs(10))
            .assert()
            .code(1)
            .stderr(predicate::str::contains("the daemon id"));
    }
    let long = "x".repeat(100_000);
    let out = home
        .sbrp()
        .args([
            "peer",
            "client",
            "--identity-key",
            public.trim(),
            "--daemon-id",
            &long,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).len() < 1000, "{} bytes", stderr(&out).len());
    // A bad --listen address gets an address hint, not "the port may be busy".
    let out = home
        .sbrp()
        .args([
            "peer",
            "daemon",
            "--key",
            "k.pem",
            "--daemon-id",
            "d",
            "--listen",
            "notanaddr",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HOST:PORT"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("port is free"), "{}", stderr(&out));
}

/// Runs `sbrp ARGS` on a pseudo-terminal (util-linux `script`), feeding `input`.
fn on_tty(home: &Home, args: &str, input: &str) -> std::process::Output {
    use std::io::Write;
    let bin = assert_cmd::cargo::cargo_bin("sbrp");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .env("SBRP_HOME", home.path())
        .env_remove("SBRP_PINS")
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for the terminal tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn declining_at_the_prompt_gets_a_hint_for_someone_at_a_terminal() {
    let home = Home::new();
    let out = on_tty(
        &home,
        &format!("pin check d {} --policy ask", pub_b64(1)),
        "no\n",
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = stdout(&out); // script merges the terminal's output
    assert!(text.contains("you did not approve it"), "{text}");
    assert!(!text.contains("on a terminal"), "{text}");
    // Without a terminal, the hint says that one is needed.
    let out = home
        .sbrp()
        .args(["pin", "check", "d", &pub_b64(1), "--policy", "ask"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("needs a terminal"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn peer_client_in_stdio_mode_keeps_json_off_the_wire() {
    let home = Home::new();
    // A key that does not decode fails before any frame; stdout (the wire) stays empty.
    let out = home
        .sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d",
            "--identity-key",
            "nope",
            "--json",
        ])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    // With --exec, stdout is free: the failure document is printed there.
    let out = home
        .sbrp()
        .args([
            "peer",
            "client",
            "--daemon-id",
            "d",
            "--identity-key",
            "nope",
            "--json",
        ])
        .args(["--exec", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.error/1");
    assert_eq!(v["command"], "peer client");
}
