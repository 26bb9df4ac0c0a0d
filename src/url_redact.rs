//! Token parameters in relay URLs (R14): the one rule for which query or fragment parameter is a
//! token, used to redact URLs found in HAR captures (`sbrp decode`) and to refuse a relay URL
//! that carries its own token ([`crate::relay_client::RelayConfig::new`]). Pure functions with no
//! dependency, so the `url_redact` fuzz target compiles this file in.

/// Whether a query or fragment parameter's name is `token` once percent-decoded, in any case
/// (`token`, `TOKEN`, `%74oken`, `to%6Ben`): a server that decodes names sees all of them.
pub fn is_token_name(name: &str) -> bool {
    let b = name.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                decoded.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                decoded.push(c);
                i += 1;
            }
        }
    }
    decoded.eq_ignore_ascii_case(b"token")
}

/// `a=1&token=x` → `a=1&token=REDACTED` (the name kept as written).
fn redact_params(params: &str) -> String {
    params
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if is_token_name(k) => format!("{k}=REDACTED"),
            _ => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The URL with any user-info and the value of every `token` parameter redacted, in the query
/// and in the fragment (where single-page apps put parameters), whatever the case or
/// percent-encoding of the name.
pub fn redact_url(url: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://REDACTED@{host}{path}"),
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(&redact_params(q));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(&redact_params(f));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("wss://relay.example/v1/c?token=eyJ.abc.def&x=1"),
            "wss://relay.example/v1/c?token=REDACTED&x=1"
        );
        assert_eq!(
            redact_url("wss://u:p@relay.example/?a=1&TOKEN=s#frag"),
            "wss://REDACTED@relay.example/?a=1&TOKEN=REDACTED#frag"
        );
        assert_eq!(redact_url("ws://127.0.0.1:1/"), "ws://127.0.0.1:1/");
    }

    /// Before the `url_redact` fuzz target (whose invariant these break) a percent-encoded
    /// name and a token in the fragment were printed as they were.
    #[test]
    fn redaction_of_encoded_repeated_and_fragment_tokens() {
        assert_eq!(
            redact_url("wss://r/?%74oken=s1&to%6Ben=s2&token=s3&token=s4#x=1&%54OKEN=s5"),
            "wss://r/?%74oken=REDACTED&to%6Ben=REDACTED&token=REDACTED&token=REDACTED\
             #x=1&%54OKEN=REDACTED"
        );
        assert_eq!(redact_url("wss://r/#token=s"), "wss://r/#token=REDACTED");
        // Not a token: a longer name, an escape that decodes to something else.
        assert_eq!(
            redact_url("wss://r/?tokens=x&%7token=y"),
            "wss://r/?tokens=x&%7token=y"
        );
    }
}
