//! The committed completion scripts (`completions/`) and manual pages (`docs/man/`) must be
//! what the current binary generates. To refresh them after changing the CLI:
//! `SBRP_BLESS=1 cargo test --test cli_docs`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bless() -> bool {
    std::env::var_os("SBRP_BLESS").is_some_and(|v| !v.is_empty())
}

fn check(committed: &Path, generated: &[u8]) {
    if bless() {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::write(committed, generated).unwrap();
        return;
    }
    let on_disk = std::fs::read(committed).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is stale or missing: run `SBRP_BLESS=1 cargo test --test cli_docs` and commit it",
        committed.display()
    );
}

#[test]
fn completion_scripts_are_fresh() {
    for (shell, file) in [
        ("bash", "sbrp.bash"),
        ("zsh", "_sbrp"),
        ("fish", "sbrp.fish"),
        ("elvish", "sbrp.elv"),
        ("powershell", "_sbrp.ps1"),
    ] {
        let out = Command::cargo_bin("sbrp")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        assert!(!out.stdout.is_empty());
        check(&repo().join("completions").join(file), &out.stdout);
    }
}

#[test]
fn man_pages_are_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    Command::cargo_bin("sbrp")
        .unwrap()
        .args(["man", "--write-all"])
        .arg(tmp.path())
        .assert()
        .success();
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".1"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let generated = names(tmp.path());
    assert!(generated.contains(&"sbrp.1".to_owned()), "{generated:?}");
    let man_dir = repo().join("docs").join("man");
    for name in &generated {
        check(
            &man_dir.join(name),
            &std::fs::read(tmp.path().join(name)).unwrap(),
        );
    }
    if bless() {
        for old in names(&man_dir) {
            if !generated.contains(&old) {
                std::fs::remove_file(man_dir.join(old)).unwrap();
            }
        }
    } else {
        assert_eq!(
            names(&man_dir),
            generated,
            "docs/man/ holds pages for commands that no longer exist: run \
             `SBRP_BLESS=1 cargo test --test cli_docs` and commit"
        );
    }
}

#[test]
fn man_prints_the_page_of_a_subcommand() {
    let out = Command::cargo_bin("sbrp")
        .unwrap()
        .args(["man", "completions"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed = std::fs::read(repo().join("docs/man/sbrp-completions.1")).unwrap();
    assert_eq!(out.stdout, committed);
}

#[test]
fn man_for_an_unknown_subcommand_is_not_found() {
    Command::cargo_bin("sbrp")
        .unwrap()
        .args(["man", "no-such-command"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("sbrp: error: no manual page"));
}

#[test]
fn completions_and_man_pages_in_json_carry_the_same_text() {
    let sbrp = || {
        let mut c = Command::cargo_bin("sbrp").unwrap();
        c.env("NO_COLOR", "1");
        c
    };
    let bare = sbrp().args(["completions", "fish"]).output().unwrap();
    let json = sbrp()
        .args(["completions", "fish", "--json"])
        .output()
        .unwrap();
    assert!(bare.status.success() && json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.completions/1");
    assert_eq!(v["shell"], "fish");
    assert_eq!(v["script"].as_str().unwrap().as_bytes(), &bare.stdout[..]);

    let bare = sbrp().args(["man", "pin", "add"]).output().unwrap();
    let json = sbrp()
        .args(["man", "pin", "add", "--json"])
        .output()
        .unwrap();
    assert!(bare.status.success() && json.status.success());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["schema"], "sbrp.man/1");
    assert_eq!(v["page"], "sbrp-pin-add.1");
    assert_eq!(v["roff"].as_str().unwrap().as_bytes(), &bare.stdout[..]);
}

#[test]
fn man_pages_have_the_sections_a_reader_expects() {
    for (words, page) in [
        (vec![], "sbrp.1"),
        (vec!["pin", "add"], "sbrp-pin-add.1"),
        (vec!["decode"], "sbrp-decode.1"),
        (vec!["keygen"], "sbrp-keygen.1"),
    ] {
        let out = Command::cargo_bin("sbrp")
            .unwrap()
            .arg("man")
            .args(&words)
            .output()
            .unwrap();
        assert!(out.status.success(), "{page}: {out:?}");
        let roff = String::from_utf8(out.stdout).unwrap();
        let th = roff.lines().find(|l| l.starts_with(".TH ")).unwrap();
        assert!(
            th.contains(&format!("\"sbrp {}\"", env!("CARGO_PKG_VERSION"))),
            "{page}: footer {th}"
        );
        for section in [".SH ENVIRONMENT", ".SH FILES", ".SH EXIT STATUS"] {
            assert!(roff.contains(section), "{page} lacks {section}");
        }
        for var in [
            "SBRP_HOME",
            "XDG_CONFIG_HOME",
            "SBRP_PINS",
            "SBRP_KEYLOGFILE",
            "NO_COLOR",
        ] {
            assert!(roff.contains(var), "{page} does not mention {var}");
        }
        assert!(!roff.contains(".SH EXTRA"), "{page}");
        assert!(!roff.contains("docs/"), "{page} refers to uninstalled docs");
    }
    // Examples are verbatim (no-fill), one command per line, not reflowed.
    let out = Command::cargo_bin("sbrp")
        .unwrap()
        .args(["man", "decode"])
        .output()
        .unwrap();
    let roff = String::from_utf8(out.stdout).unwrap();
    let ex = &roff[roff
        .find(".SH EXAMPLES\n.nf\n")
        .expect("EXAMPLES in no-fill mode")..];
    assert!(
        ex.contains(
            "\nsbrp selftest \\-\\-keylog keys.log \\-\\-capture cap.bin && sbrp decode \\-\\-keylog keys.log cap.bin\n"
        ),
        "{ex}"
    );
    assert!(
        !roff.contains("  sbrp"),
        "examples are reflowed or indented by hand"
    );
}

#[test]
fn every_committed_page_is_free_of_doc_references() {
    for entry in std::fs::read_dir(repo().join("docs/man")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("docs/"), "{}", path.display());
    }
}

#[test]
fn bash_completion_offers_page_names_and_no_hidden_options() {
    let out = Command::cargo_bin("sbrp")
        .unwrap()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(!script.contains("--write-all"), "hidden option offered");
    let man = &script[script.find("        sbrp__subcmd__man)").unwrap()..];
    let opts = man.lines().nth(1).unwrap();
    for word in ["keygen", "pin", "add", "decode", "peer", "client"] {
        assert!(
            opts.split(['"', ' ']).any(|w| w == word),
            "{word} not offered after `sbrp man`: {opts}"
        );
    }
    // In bash itself: `sbrp man pi<TAB>` completes to pin.
    let run = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{script}\nCOMP_WORDS=(sbrp man pi); COMP_CWORD=2; _sbrp sbrp pi man; echo \"${{COMPREPLY[@]}}\""
        ))
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "pin");
}
