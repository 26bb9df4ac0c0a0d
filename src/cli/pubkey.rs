//! `sbrp pubkey [FILE|-]`: the public key of a secret key file, like `wg pubkey` or
//! `ssh-keygen -y`. Refuses a secret file that group or others can access (exit 5). A public
//! key input is printed normalised (so `sbrp pubkey daemon.pub --format hex` converts).

use std::path::PathBuf;

use sbrp::keyfile::{self, BareKey, PublicFormat};
use serde::Serialize;

use super::config;
use super::exit::{CliError, CliResult, Exit};
use super::keyinput;
use super::output::Output;

/// Output format of `pubkey`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Standard base64 (44 characters), the form of the pin file.
    #[default]
    Base64,
    /// 64 hex characters.
    Hex,
    /// SubjectPublicKeyInfo PEM ("PUBLIC KEY"), as `openssl pkey -pubout` writes.
    Pem,
    /// {"schema": "sbrp.pubkey/1", "public_key", "fingerprint", "encoding"}.
    Json,
}

/// Arguments of `sbrp pubkey`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sbrp pubkey                         # of <config dir>/identity.pem\n  \
    sbrp pubkey daemon.pem --format pem\n  \
    sbrp keygen -o - | sbrp pubkey -")]
pub struct Args {
    /// Secret key file (or a public key, printed normalised), or `-` for stdin [default:
    /// <config dir>/identity.pem]
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Base64)]
    pub format: Format,

    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,

    /// Read a bare 32-byte value (hex, base64, raw) as an Ed25519 seed (by default it is a
    /// public key, printed normalised with a note)
    #[arg(long)]
    pub seed: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    public_key: &'a str,
    fingerprint: &'a str,
    encoding: &'static str,
}

/// Runs `sbrp pubkey`.
pub fn run(out: &Output, args: Args) -> CliResult {
    let path = match args.file {
        Some(p) => p,
        None => {
            let p = config::default_identity_path()?;
            if !p.exists() {
                return Err(CliError::error(format!(
                    "no identity at {}",
                    super::escape::escape_path(&p)
                ))
                .hint("create one with `sbrp keygen`, or give the secret key file"));
            }
            p
        }
    };
    let bare = if args.seed {
        BareKey::Seed
    } else {
        BareKey::Public
    };
    let loaded = keyinput::load_secret_or_public(&path, bare)?;
    if !loaded.decoded.key.is_secret() {
        use sbrp::keyfile::KeyEncoding as E;
        let bare_value = matches!(
            loaded.decoded.encoding,
            E::Raw | E::Hex | E::Base64 | E::Base64Url
        );
        out.note(&format!(
            "{} holds a public key ({}); printing it normalised{}",
            loaded.source.describe(),
            loaded.decoded.encoding.name(),
            if bare_value {
                " (if this 32-byte value is an Ed25519 seed, pass --seed)"
            } else {
                ""
            }
        ));
    }
    let public = loaded.public_key();
    let format = if args.json { Format::Json } else { args.format };
    match format {
        Format::Base64 => out.println(&keyfile::encode_public(&public, PublicFormat::Base64))?,
        Format::Hex => out.println(&keyfile::encode_public(&public, PublicFormat::Hex))?,
        Format::Pem => out.print(&keyfile::encode_public(&public, PublicFormat::Pem))?,
        Format::Json => out.json(&Report {
            schema: "sbrp.pubkey/1",
            public_key: &keyfile::encode_public(&public, PublicFormat::Base64),
            fingerprint: &public.fingerprint(),
            encoding: loaded.decoded.encoding.name(),
        })?,
    }
    Ok(Exit::Success)
}
