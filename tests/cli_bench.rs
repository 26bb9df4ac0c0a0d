//! `sbrp bench` on the real binary: the report is consistent with itself (the handshake, its
//! bound and their ratio come from one round), and the decoder rows say what they measure.
//! Speed itself is never asserted here (see the README for measured numbers).

use assert_cmd::Command;

fn bench(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env("NO_COLOR", "1")
        .arg("bench")
        .args(["--seconds", "0.05"])
        .args(args);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "sbrp bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn json_report_is_consistent() {
    let out = bench(&["--json"]);
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema"], "sbrp.bench/1");
    let h = &j["handshake"];
    assert_eq!(h["rounds"], 5);
    let per_sec = h["per_sec"].as_f64().unwrap();
    let bound = h["primitive_bound_per_sec"].as_f64().unwrap();
    let ratio = h["ratio"].as_f64().unwrap();
    assert!(per_sec > 0.0 && bound > 0.0 && ratio > 0.0);
    // One round's figures: the ratio is exactly the handshake rate over the bound.
    assert!(
        (per_sec / bound - ratio).abs() < 1e-9 * ratio,
        "{per_sec} / {bound} != {ratio}"
    );
    // The bound is the sum of the round's primitives.
    let p = &h["primitives_us"];
    let us = |k: &str| p[k].as_f64().unwrap();
    let sum = 2.0 * us("x25519_keygen")
        + 2.0 * us("x25519_dh")
        + us("ed25519_sign")
        + us("ed25519_verify")
        + 2.0 * us("hkdf");
    assert!(
        (1e6 / sum - bound).abs() < 1e-6 * bound,
        "{sum} µs vs {bound}/s"
    );
    let d = &j["decoder"];
    assert!(d["stream_mb_s"].as_f64().unwrap() > 0.0);
    assert!(d["stream_copy_mb_s"].as_f64().unwrap() > 0.0);
    let sizes: Vec<u64> = j["aead"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [64, 1024, 16384, 65508]);
}

#[test]
fn table_labels_the_two_decoder_figures() {
    let out = bench(&[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("zero-copy framing"), "{text}");
    assert!(text.contains("every payload byte copied out"), "{text}");
    assert!(text.contains("median of 5 rounds"), "{text}");
}
