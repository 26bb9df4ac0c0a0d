//! `sbrp pubkey [FILE|-]`: the public key of a secret key file, like `wg pubkey` or
//! `ssh-keygen -y`. Refuses a secret file that group or others can access (exit 5).

use std::path::PathBuf;

use sbrp::keyfile::{self, PublicFormat};
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
    /// Secret key file, or `-` for stdin [default: <config dir>/identity.pem]
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Base64)]
    pub format: Format,

    /// Same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
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
    let loaded = keyinput::load_secret(&path)?;
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
