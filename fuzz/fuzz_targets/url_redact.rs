//! Fuzz target: the redaction of relay URLs in HAR captures (`sbrp decode` of a HAR, the
//! library's `src/url_redact.rs`, compiled in). Whatever the URL, the output has no
//! `token` parameter, in the query or the fragment, whose value is not `REDACTED` — the name
//! compared as a server would see it (percent-decoded here by a decoder of our own, any case),
//! repeated parameters included — and no user-info; redaction is stable (redacting twice is
//! redacting once) and leaves a URL with nothing to redact unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/url_redact.rs"]
mod redact;

/// Percent-decodes a name (an independent decoder: `u8::from_str_radix` on each `%XX`).
fn decoded(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = name.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        if c == b'%'
            && let Some(hex) = tail.get(..2)
            && hex.iter().all(u8::is_ascii_hexdigit)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16)
        {
            out.push(v);
            rest = &tail[2..];
            continue;
        }
        out.push(c);
        rest = tail;
    }
    out.make_ascii_lowercase();
    out
}

/// The `token` values of a URL (query and fragment parameters), and whether it has user-info.
fn secrets(url: &str) -> (Vec<String>, bool) {
    let (before_fragment, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (head, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    let userinfo = head
        .split_once("://")
        .is_some_and(|(_, rest)| rest.split('/').next().unwrap_or("").contains('@'));
    let values = [query, fragment]
        .iter()
        .flat_map(|part| part.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| decoded(k) == b"token")
        .map(|(_, v)| v.to_owned())
        .collect();
    (values, userinfo)
}

fuzz_target!(|data: &[u8]| {
    let url = String::from_utf8_lossy(data);
    let out = redact::redact_url(&url);
    let (values, userinfo) = secrets(&out);
    assert!(
        values.iter().all(|v| v == "REDACTED"),
        "a token survived: {url:?} → {out:?}"
    );
    if userinfo {
        let (head, _) = out.split_once(['?', '#']).unwrap_or((&out, ""));
        assert!(head.contains("://REDACTED@"), "user-info survived: {out:?}");
    }
    assert_eq!(redact::redact_url(&out), out, "redaction is not stable");
    let (before, had_userinfo) = secrets(&url);
    if before.is_empty() && !had_userinfo {
        assert_eq!(out, url, "changed a URL with nothing to redact");
    }
});
