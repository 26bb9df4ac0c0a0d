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

/// `sbrp bench relay` with short measurements and a few sessions, its temporary files in
/// `tmp` (the JWKS and the relay's log), which must be gone afterwards.
fn bench_relay(args: &[&str]) -> std::process::Output {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("sbrp").unwrap();
    cmd.env("NO_COLOR", "1")
        .env("TMPDIR", tmp.path())
        .args(["bench", "relay", "--seconds", "0.2"])
        .args(args)
        .timeout(std::time::Duration::from_secs(600));
    let out = cmd.output().unwrap();
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
    out
}

fn f64_of(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

#[test]
fn relay_json_report_verifies_every_echo() {
    let out = bench_relay(&["--sessions", "20", "--json"]);
    assert!(
        out.status.success(),
        "sbrp bench relay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema"], "sbrp.bench-relay/1");
    assert_eq!(j["ok"], true);
    assert_eq!(j["failures"], 0);
    assert_eq!(j["window"], 256);
    assert_eq!(j["rounds"], 5);
    let sizes = j["sizes"].as_array().unwrap();
    let got: Vec<u64> = sizes.iter().map(|s| s["size"].as_u64().unwrap()).collect();
    assert_eq!(got, [64, 1024, 16384]);
    for s in sizes {
        let (d, r) = (
            f64_of(&s["direct_msgs_per_s"]),
            f64_of(&s["relay_msgs_per_s"]),
        );
        assert!(d > 0.0 && r > 0.0, "{s}");
        assert!((r / d - f64_of(&s["ratio"])).abs() < 1e-9, "{s}");
        let (p50, p99) = (f64_of(&s["rtt_p50_ms"]), f64_of(&s["rtt_p99_ms"]));
        assert!(p50 > 0.0 && p50 <= p99, "{s}");
        assert!(f64_of(&s["direct_rtt_p50_ms"]) > 0.0, "{s}");
        // Forwarding real frames costs the relay CPU time (null only without schedstat).
        let cpu = &s["relay_cpu_us_per_msg"];
        assert!(cpu.is_null() || f64_of(cpu) > 0.0, "{s}");
    }
    let p = &j["paced"];
    assert_eq!(p["rate"], 5000);
    assert_eq!(p["size"], 1024);
    let messages = p["messages"].as_u64().unwrap();
    assert!(messages > 0, "{p}");
    let (p50, p99, max) = (
        f64_of(&p["rtt_p50_ms"]),
        f64_of(&p["rtt_p99_ms"]),
        f64_of(&p["rtt_max_ms"]),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{p}");
    let (d50, d99) = (
        f64_of(&p["direct_rtt_p50_ms"]),
        f64_of(&p["direct_rtt_p99_ms"]),
    );
    assert!(d50 > 0.0 && d50 <= d99, "{p}");
    let c = &j["concurrency"];
    assert_eq!(c["sessions"], 20);
    assert_eq!(c["daemons"], 1);
    let (idle, rss) = (
        c["relay_rss_idle_kib"].as_u64().unwrap(),
        c["relay_rss_kib"].as_u64().unwrap(),
    );
    assert!(idle > 0 && rss > 0 && c["relay_rss_peak_kib"].as_u64().unwrap() >= rss);
    let per = f64_of(&c["rss_per_session_kib"]);
    assert!(
        (per - rss.saturating_sub(idle) as f64 / 20.0).abs() < 1e-9,
        "{c}"
    );
    assert!(f64_of(&j["handshakes_per_s"]) > 0.0);
    assert_eq!(j["handshake_concurrency"], 64);
    // Every concurrency session's echo and every paced echo is among the verified ones.
    assert!(j["verified"].as_u64().unwrap() >= 20 + messages, "{j}");
    // The RSS target is for 10,000 sessions: not judged with 20.
    assert!(j["targets"]["rss_512mib_10k_sessions"].is_null());
    assert!(j["targets"]["relay_half_of_direct_1k"].is_boolean());
    assert!(j["targets"]["paced_p99_2ms"].is_boolean());
    assert!(j["load_average_start"].is_array() && j["cpus"].as_u64().unwrap() >= 1);
}

#[test]
fn relay_bench_fails_on_a_tampered_echo() {
    // The bench's daemon flips a byte in every 50th echo: the client must notice each one.
    let out = bench_relay(&[
        "--sessions",
        "5",
        "--json",
        "--tamper-every",
        "50",
        "--window",
        "8",
    ]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["schema"], "sbrp.bench-relay/1");
    assert_eq!(j["ok"], false);
    assert_eq!(j["window"], 8);
    let failures = j["failures"].as_u64().unwrap();
    let verified = j["verified"].as_u64().unwrap();
    // Exactly one in 50 of all echoes was changed, and each one was caught.
    let all = verified + failures;
    assert!(failures >= 1, "{j}");
    assert!(
        all / 50 <= failures && failures <= all / 50 + 1,
        "{failures} failures of {all} echoes"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed verification"), "{err}");
}

#[test]
fn relay_table_prints_each_target_beside_its_figure() {
    let out = bench_relay(&["--sessions", "3"]);
    assert!(
        out.status.success(),
        "sbrp bench relay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = |what: &str| {
        text.lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no line with {what:?} in\n{text}"))
            .to_owned()
    };
    assert!(line("    1024 ").contains("target ≥ 50 %"), "{text}");
    assert!(line("paced").contains("target p99 ≤ 2 ms"), "{text}");
    assert!(line("direct at the same rate").contains("p99"), "{text}");
    assert!(
        line("sessions at once").contains("not judged below 10000 sessions"),
        "{text}"
    );
    assert!(line("load average").contains("CPUs"), "{text}");
    assert!(text.contains("every echo verified"), "{text}");
}

#[test]
fn relay_window_beyond_the_queue_bound_is_a_usage_error() {
    // 512 frames of 16 KiB are half the relay's default --max-queue; beyond that (and 0) is
    // refused by the argument parser before anything starts: exit 2 naming the flag and its
    // range (usage errors print no JSON, docs/json.md).
    for bad in ["0", "513"] {
        let out = Command::cargo_bin("sbrp")
            .unwrap()
            .env("NO_COLOR", "1")
            .args(["bench", "relay", "--window", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--window {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--window") && err.contains("1..=512"), "{err}");
    }
}
