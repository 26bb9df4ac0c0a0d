//! `sbrp fingerprint [KEY|FILE|-]`: the reference fingerprint (`SHA256:AB:CD:…`) or the
//! randomart of a public or secret key in any encoding, and `--compare`.

use std::ffi::OsString;

use sbrp::keyfile::{self, BareKey, PublicFormat};
use sbrp::randomart::identity_randomart;
use serde::Serialize;

use super::config;
use super::escape::escape_path;
use super::exit::{CliError, CliResult, Exit};
use super::keyinput;
use super::output::{Output, Style};

/// Output format of `fingerprint`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// SHA256:AB:CD:… (the reference form, 102 characters)
    #[default]
    Fingerprint,
    /// The OpenSSH "drunken bishop" picture of the key's SHA-256 digest (17×9)
    Randomart,
    /// {"schema": "sbrp.fingerprint/1", "public_key", "fingerprint", "randomart", "encoding"}
    Json,
}

/// Arguments of `sbrp fingerprint`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "KEY may be hex, base64, base64url, SPKI or PKCS#8 PEM, an ssh-ed25519 \
    line, or a raw 32/64-byte file (FILES in `sbrp man fingerprint`).\n\nExamples:\n  \
    sbrp fingerprint                    # of <config dir>/identity.pem\n  \
    sbrp fingerprint daemon.pub --format randomart\n  \
    sbrp fingerprint 11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n  \
    sbrp fingerprint daemon.pub --compare SHA256:3F:0A:…"
)]
pub struct Args {
    /// The key itself, a file holding it, or `-` for stdin [default: <config dir>/identity.pem]
    #[arg(value_name = "KEY|FILE")]
    pub key: Option<OsString>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Fingerprint)]
    pub format: Format,

    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Compare with this fingerprint (SHA256:AB:CD:… in any case, or 64 bare hex digits):
    /// exit 0 when it matches, 4 when it does not
    #[arg(long, value_name = "FINGERPRINT", value_parser = parse_fingerprint)]
    pub compare: Option<[u8; 32]>,
}

/// Parses a fingerprint given by a person: `SHA256:` prefix optional and case-insensitive,
/// hex pairs separated by `:` or not, any case.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let t = s.trim();
    let body = match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("sha256:") => &t[7..],
        _ => t,
    };
    let hex_digits: String = if body.contains(':') {
        let parts: Vec<&str> = body.split(':').collect();
        if parts.len() != 32 || parts.iter().any(|p| p.len() != 2) {
            return Err("expected 32 colon-separated hex pairs (SHA256:AB:CD:…)".to_owned());
        }
        parts.concat()
    } else {
        body.to_owned()
    };
    if hex_digits.len() == 43 && !hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(
            "this looks like an OpenSSH (base64) fingerprint; sbrp fingerprints are \
                    SHA256: followed by 32 hex pairs"
                .to_owned(),
        );
    }
    if hex_digits.len() != 64 || !hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("expected SHA256: followed by 32 hex pairs, or 64 hex digits".to_owned());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(&hex_digits, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    public_key: &'a str,
    fingerprint: &'a str,
    randomart: &'a str,
    encoding: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<Compare>,
}

#[derive(Serialize)]
struct Compare {
    expected: String,
    #[serde(rename = "match")]
    matches: bool,
}

/// Runs `sbrp fingerprint`.
pub fn run(out: &Output, args: Args) -> CliResult {
    let loaded = match args.key {
        Some(arg) => keyinput::load_arg(&arg, BareKey::Public)?,
        None => {
            let p = config::default_identity_path()?;
            if !p.exists() {
                return Err(
                    CliError::error(format!("no identity at {}", escape_path(&p)))
                        .hint("give a key or a key file, or create an identity with `sbrp keygen`"),
                );
            }
            keyinput::load_file(&p, BareKey::Public)?
        }
    };
    let public = loaded.public_key();
    let fingerprint = public.fingerprint();
    let compare = args.compare.map(|expected| Compare {
        expected: sbrp::keys::fingerprint_of_digest(&expected),
        matches: bool::from(subtle::ConstantTimeEq::ct_eq(
            &expected[..],
            &public.digest()[..],
        )),
    });
    let format = if args.json { Format::Json } else { args.format };
    let mismatch = compare.as_ref().is_some_and(|c| !c.matches);
    let mismatch_error = |c: &Compare| {
        CliError::new(
            Exit::KeyMismatch,
            format!(
                "fingerprint mismatch for {}:\n  expected: {}\n  actual:   {}",
                loaded.source.describe(),
                c.expected,
                fingerprint
            ),
        )
        .hint("do not trust this key until you know why it differs from the one you expected")
    };
    match format {
        Format::Json => {
            let art = identity_randomart(&public);
            let exit = if mismatch {
                Exit::KeyMismatch
            } else {
                Exit::Success
            };
            out.json(&Report {
                schema: "sbrp.fingerprint/1",
                public_key: &keyfile::encode_public(&public, PublicFormat::Base64),
                fingerprint: &fingerprint,
                randomart: &art,
                encoding: loaded.decoded.encoding.name(),
                compare,
            })?;
            if exit != Exit::Success {
                out.error(&CliError::new(
                    exit,
                    "fingerprint mismatch (see the JSON output)",
                ));
            }
            Ok(exit)
        }
        _ if compare.is_some() => match compare {
            Some(c) if c.matches => {
                out.println(&format!(
                    "{} {}",
                    out.style_out("match:", Style::Good),
                    fingerprint
                ))?;
                Ok(Exit::Success)
            }
            Some(c) => Err(mismatch_error(&c)),
            None => Ok(Exit::Success),
        },
        Format::Randomart => {
            out.print(&identity_randomart(&public))?;
            Ok(Exit::Success)
        }
        Format::Fingerprint => {
            out.println(&fingerprint)?;
            Ok(Exit::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "SHA256:21:FE:31:DF:A1:54:A2:61:62:6B:F8:54:04:6F:D2:27:1B:7B:ED:4B:6A:BE:45:AA:58:87:7E:F4:7F:97:21:B9";

    #[test]
    fn fingerprint_forms() {
        let want = parse_fingerprint(FP).unwrap();
        assert_eq!(sbrp::keys::fingerprint_of_digest(&want), FP);
        assert_eq!(parse_fingerprint(&FP.to_lowercase()).unwrap(), want);
        assert_eq!(parse_fingerprint(&FP[7..]).unwrap(), want);
        let bare: String = FP[7..].replace(':', "");
        assert_eq!(parse_fingerprint(&bare).unwrap(), want);
        assert_eq!(parse_fingerprint(&format!(" {bare}\n")).unwrap(), want);
        assert!(
            parse_fingerprint("SHA256:Q9e0W207ANHx3KMTFooNQBsjhaXKV1Ycz9Tg896it/A")
                .unwrap_err()
                .contains("OpenSSH")
        );
        assert!(parse_fingerprint(&FP[..FP.len() - 3]).is_err());
        assert!(parse_fingerprint("").is_err());
        assert!(parse_fingerprint("SHA256:zz").is_err());
    }
}
