//! `sbrp pin …` on the built binary: the pin file, its safety, the trust policies.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;
use predicates::prelude::*;

fn pins_json(home: &Home) -> serde_json::Value {
    let out = home
        .sbrp()
        .args(["pin", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn add(home: &Home, id: &str, n: u8) {
    home.sbrp()
        .args(["pin", "add", id, &pub_b64(n)])
        .assert()
        .success();
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit())
}

#[test]
fn add_list_show_remove() {
    let home = Home::new();
    home.sbrp()
        .args([
            "pin",
            "add",
            "daemon-1",
            &pub_b64(1),
            "--comment",
            "lab box",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(fp(1)));
    assert_eq!(mode(&home.pins()), 0o600);
    let v = pins_json(&home);
    assert_eq!(v["version"], 1);
    let pin = &v["pins"][0];
    assert_eq!(pin["daemon_id"], "daemon-1");
    assert_eq!(pin["public_key"], pub_b64(1));
    assert_eq!(pin["fingerprint"], fp(1));
    assert_eq!(pin["comment"], "lab box");
    assert!(is_rfc3339_utc(pin["added_at"].as_str().unwrap()), "{pin}");
    assert!(is_rfc3339_utc(pin["last_verified_at"].as_str().unwrap()));
    // `list --json` is the file itself.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.pins()).unwrap()).unwrap();
    assert_eq!(file, v);

    home.sbrp()
        .args(["pin", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("daemon-1"))
        .stdout(predicate::str::contains("# lab box"));
    home.sbrp()
        .args(["pin", "show", "daemon-1"])
        .assert()
        .success()
        .stdout(predicate::str::contains(fp(1)))
        .stdout(predicate::str::contains("[ED25519 256]"));
    let out = home
        .sbrp()
        .args(["pin", "show", "daemon-1", "--json"])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["pin"], *pin);
    home.sbrp()
        .args(["pin", "show", "nope"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not pinned"));

    home.sbrp()
        .args(["pin", "remove", "daemon-1"])
        .assert()
        .success();
    home.sbrp()
        .args(["pin", "remove", "daemon-1"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("sbrp pin list"))
        .stderr(predicate::str::contains("pin add").not());
    assert_eq!(pins_json(&home)["pins"], serde_json::json!([]));
}

#[test]
fn add_same_key_is_a_noop_and_another_key_is_refused_with_exit_4() {
    let home = Home::new();
    add(&home, "d", 1);
    let before = std::fs::read(home.pins()).unwrap();
    home.sbrp()
        .args(["pin", "add", "d", &pub_b64(1)])
        .assert()
        .success()
        .stdout(predicate::str::contains("unchanged"));
    assert_eq!(std::fs::read(home.pins()).unwrap(), before);
    home.sbrp()
        .args(["pin", "add", "d", &pub_b64(2)])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("identity_key_changed"))
        .stderr(predicate::str::contains(fp(1)))
        .stderr(predicate::str::contains(fp(2)))
        .stderr(predicate::str::contains(format!(
            "sbrp pin replace d {}",
            pub_b64(2)
        )));
    assert_eq!(std::fs::read(home.pins()).unwrap(), before);
}

#[test]
fn check_match_unknown_and_mismatch() {
    let home = Home::new();
    // Unknown under strict: exit 3, and no file is created.
    home.sbrp()
        .args(["pin", "check", "d", &pub_b64(1)])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not pinned"));
    assert!(!home.pins().exists());
    // ask without a terminal acts as strict.
    home.sbrp()
        .args(["pin", "check", "d", &pub_b64(1), "--policy", "ask"])
        .write_stdin("yes\n")
        .assert()
        .code(3);
    assert!(!home.pins().exists());
    // accept-new pins it and says so.
    home.sbrp()
        .args(["pin", "check", "d", &pub_b64(1), "--policy", "accept-new"])
        .assert()
        .success()
        .stderr(predicate::str::contains("pinned it now"));
    home.sbrp()
        .args(["pin", "check", "d", &pub_b64(1)])
        .assert()
        .success()
        .stdout(predicate::str::contains("match"));
    // The key given as a file works the same.
    home.write("d.pub", pub_b64(2));
    let before = std::fs::read(home.pins()).unwrap();
    home.sbrp()
        .args(["pin", "check", "d", "d.pub", "--policy", "accept-new"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!("pinned:    {}", fp(1))))
        .stderr(predicate::str::contains(format!("presented: {}", fp(2))))
        .stderr(predicate::str::contains(home.pins().to_str().unwrap()))
        .stderr(predicate::str::contains("sbrp pin replace d d.pub"));
    assert_eq!(std::fs::read(home.pins()).unwrap(), before);
    let out = home
        .sbrp()
        .args(["pin", "check", "d", "d.pub", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.pin.check/1");
    assert_eq!(v["status"], "mismatch");
    assert_eq!(v["pinned_fingerprint"], fp(1));
    assert_eq!(v["presented_fingerprint"], fp(2));
}

#[test]
fn check_updates_last_verified() {
    let home = Home::new();
    // A pin verified long ago (hand-written, valid file).
    let file = serde_json::json!({"version": 1, "pins": [{
        "daemon_id": "d", "public_key": pub_b64(1), "fingerprint": fp(1),
        "added_at": "2001-01-01T00:00:00Z", "last_verified_at": "2001-01-01T00:00:00Z"}]});
    home.write("pins.json", serde_json::to_vec(&file).unwrap());
    home.sbrp()
        .args(["pin", "check", "d", &pub_b64(1)])
        .assert()
        .success();
    let pin = &pins_json(&home)["pins"][0];
    assert_eq!(pin["added_at"], "2001-01-01T00:00:00Z");
    assert_ne!(pin["last_verified_at"], "2001-01-01T00:00:00Z");
}

#[test]
fn replace_needs_approval() {
    let home = Home::new();
    home.sbrp()
        .args(["pin", "replace", "d", &pub_b64(2), "--yes"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("sbrp pin add"));
    home.sbrp()
        .args(["pin", "add", "d", &pub_b64(1), "--comment", "c1"])
        .assert()
        .success();
    let before = std::fs::read(home.pins()).unwrap();
    home.sbrp()
        .args(["pin", "replace", "d", &pub_b64(2)])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(fp(1)))
        .stderr(predicate::str::contains(fp(2)))
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(std::fs::read(home.pins()).unwrap(), before);
    let out = home
        .sbrp()
        .args(["pin", "replace", "d", &pub_b64(2), "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.pin.replace/1");
    assert_eq!(v["status"], "replaced");
    assert_eq!(v["previous"]["fingerprint"], fp(1));
    assert_eq!(v["pin"]["fingerprint"], fp(2));
    assert_eq!(v["pin"]["comment"], "c1");
    home.sbrp()
        .args(["pin", "check", "d", &pub_b64(2)])
        .assert()
        .success();
}

/// Runs `sbrp ARGS` on a pseudo-terminal (util-linux `script`), feeding `input`.
fn on_tty(home: &Home, args: &str, input: &str) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("sbrp");
    let cmd = format!("{} {args}", bin.display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SBRP_HOME", home.path())
        .env_remove("SBRP_PINS")
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for the terminal tests");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ask_policy_on_a_terminal() {
    let home = Home::new();
    let k1 = pub_b64(1);
    // "no": not pinned, exit 3.
    let out = on_tty(&home, &format!("pin check d {k1} --policy ask"), "no\n");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stdout(&out).contains("Trust it and pin it?"));
    assert!(!home.pins().exists());
    // A pasted fingerprint that differs: exit 4.
    let out = on_tty(
        &home,
        &format!("pin check d {k1} --policy ask"),
        &format!("{}\n", fp(2)),
    );
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(!home.pins().exists());
    // The right fingerprint (lower case): pinned.
    let out = on_tty(
        &home,
        &format!("pin check d {k1} --policy ask"),
        &format!("{}\n", fp(1).to_lowercase()),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(pins_json(&home)["pins"][0]["fingerprint"], fp(1));
    // "yes" pins another one.
    let out = on_tty(
        &home,
        &format!("pin check e {} --policy ask", pub_b64(2)),
        "yes\n",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // replace asks: anything but yes keeps the pin (exit 4), yes replaces.
    let out = on_tty(&home, &format!("pin replace d {}", pub_b64(3)), "n\n");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert_eq!(pins_json(&home)["pins"][0]["fingerprint"], fp(1));
    let out = on_tty(&home, &format!("pin replace d {}", pub_b64(3)), "yes\n");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(pins_json(&home)["pins"][0]["fingerprint"], fp(3));
}

#[test]
fn corrupt_and_future_files_are_clear_errors_and_left_untouched() {
    let home = Home::new();
    let corrupt = "{\"version\": 1,\n  \"pins\": [\n    {\"daemon_id\": \"d\",,}\n  ]\n}\n";
    let future = "{\"version\": 2, \"pins\": []}\n";
    let tampered = format!(
        "{{\"version\": 1, \"pins\": [{{\"daemon_id\": \"d\", \"public_key\": \"{}\", \
         \"fingerprint\": \"{}\", \"added_at\": \"2001-01-01T00:00:00Z\", \
         \"last_verified_at\": \"2001-01-01T00:00:00Z\"}}]}}",
        pub_b64(1),
        fp(2)
    );
    for (content, msg) in [
        (corrupt.to_owned(), "line 3, column 23"),
        (future.to_owned(), "unsupported pin file version 2"),
        (tampered, "does not match its public_key"),
        ("".to_owned(), "line 1, column 0"),
    ] {
        home.write("pins.json", &content);
        let path = home.pins();
        for args in [
            vec!["pin", "add", "x", &pub_b64(1)],
            vec!["pin", "check", "x", &pub_b64(1), "--policy", "accept-new"],
            vec!["pin", "list"],
            vec!["pin", "remove", "d"],
        ] {
            home.sbrp()
                .args(&args)
                .assert()
                .code(1)
                .stderr(predicate::str::contains(path.to_str().unwrap()))
                .stderr(predicate::str::contains(msg))
                .stderr(predicate::str::contains("sbrp: hint:"));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), content, "{args:?}");
        }
    }
}

#[test]
fn pins_path_from_flag_and_env() {
    let home = Home::new();
    let alt = home.join("alt.json");
    home.sbrp()
        .args([
            "pin",
            "--pins",
            alt.to_str().unwrap(),
            "add",
            "d",
            &pub_b64(1),
        ])
        .assert()
        .success();
    assert!(alt.exists());
    assert!(!home.pins().exists());
    home.sbrp()
        .env("SBRP_PINS", &alt)
        .args(["pin", "show", "d"])
        .assert()
        .success();
    // The hint names the non-default file.
    home.sbrp()
        .env("SBRP_PINS", &alt)
        .args(["pin", "add", "d", &pub_b64(2)])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "--pins {}",
            alt.display()
        )));
}

#[test]
fn bad_daemon_ids_and_keys_are_refused() {
    let home = Home::new();
    for id in ["", "a\x1bb", "rtl\u{202e}txt", " padded"] {
        home.sbrp()
            .args(["pin", "add", id, &pub_b64(1)])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("daemon id"))
            .stderr(predicate::str::contains("\x1b").not());
    }
    // A secret key is not pinned.
    let kp = pair(1);
    home.write(
        "id.pem",
        sbrp::keyfile::encode_secret(&kp, sbrp::keyfile::SecretFormat::Pem).as_bytes(),
    );
    chmod(&home.join("id.pem"), 0o600);
    home.sbrp()
        .args(["pin", "add", "d", "id.pem"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("secret key"));
    assert!(!home.pins().exists());
}

#[test]
fn untrusted_strings_from_the_file_are_escaped() {
    let home = Home::new();
    // A daemon id with control characters breaks the one daemon-id rule: the file is
    // refused, and the message shows the id escaped.
    let bad = serde_json::json!({"version": 1, "pins": [{
        "daemon_id": "evil\u{1b}]0;owned\u{7}\u{202e}", "public_key": pub_b64(1),
        "fingerprint": fp(1), "added_at": "2001-01-01T00:00:00Z",
        "last_verified_at": "2001-01-01T00:00:00Z"}]});
    home.write("pins.json", serde_json::to_vec(&bad).unwrap());
    let out = home.sbrp().args(["pin", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stderr(&out);
    assert!(text.contains("evil\\x1b]0;owned\\x07\\u{202e}"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
    // Comments are free text: escaped on the way out.
    let file = serde_json::json!({"version": 1, "pins": [{
        "daemon_id": "evil", "public_key": pub_b64(1),
        "fingerprint": fp(1), "added_at": "2001-01-01T00:00:00Z",
        "last_verified_at": "2001-01-01T00:00:00Z", "comment": "c\u{9b}2J"}]});
    home.write("pins.json", serde_json::to_vec(&file).unwrap());
    let out = home.sbrp().args(["pin", "list"]).output().unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("c\\u{9b}2J"), "{text}");
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{9b}'));
    // JSON output escapes them as \u sequences and stays valid.
    let out = home
        .sbrp()
        .args(["pin", "list", "--json"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{9b}'));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v, file);
}

#[test]
fn sixteen_concurrent_adds_leave_sixteen_pins() {
    let home = Home::new();
    add(&home, "seed", 200);
    let children: Vec<_> = (0..16u8)
        .map(|i| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
                .args(["pin", "add", &format!("daemon-{i}"), &pub_b64(i)])
                .env("SBRP_HOME", home.path())
                .env_remove("SBRP_PINS")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let v = pins_json(&home);
    let mut ids: Vec<String> = v["pins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["daemon_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut want: Vec<String> = (0..16).map(|i| format!("daemon-{i}")).collect();
    want.push("seed".to_owned());
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn a_writer_killed_before_the_rename_leaves_the_old_file() {
    let home = Home::new();
    add(&home, "old", 1);
    let before = std::fs::read(home.pins()).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
        .args(["pin", "add", "new", &pub_b64(2)])
        .env("SBRP_HOME", home.path())
        .env_remove("SBRP_PINS")
        .env("SBRP_TEST_PAUSE_BEFORE_RENAME", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("paused before rename"), "{line}");
    // The complete new content sits in a temp file; the real file is untouched.
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(std::fs::read(home.pins()).unwrap(), before);
    let temps: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pins.json.tmp-"))
        .collect();
    assert_eq!(temps.len(), 1, "{temps:?}");
    // The next writer cleans the stale temp file up and works.
    add(&home, "next", 3);
    let v = pins_json(&home);
    assert_eq!(v["pins"].as_array().unwrap().len(), 2);
    assert!(
        std::fs::read_dir(home.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp-"))
    );
}

#[test]
fn writers_killed_at_random_points_never_leave_a_broken_file() {
    let home = Home::new();
    add(&home, "base", 1);
    for i in 0..24u8 {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("sbrp"))
            .args(["pin", "add", &format!("d{i}"), &pub_b64(i + 10)])
            .env("SBRP_HOME", home.path())
            .env_remove("SBRP_PINS")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Vary where the kill lands: sometimes before, during or after the write.
        std::thread::sleep(std::time::Duration::from_micros(u64::from(i) * 250));
        let _ = child.kill();
        child.wait().unwrap();
        // Whatever happened, the file parses and still holds every earlier pin.
        let v = pins_json(&home);
        let pins = v["pins"].as_array().unwrap();
        assert_eq!(pins[0]["daemon_id"], "base");
    }
}
