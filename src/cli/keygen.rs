//! `sbrp keygen`: writes a new Ed25519 identity (PKCS#8 PEM by default, created with mode
//! 0600 from the first byte) and prints its public key, fingerprint and randomart.

use std::path::PathBuf;

use sbrp::IdentityKeyPair;
use sbrp::keyfile::{self, PublicFormat, SecretFormat};
use sbrp::randomart::identity_randomart;
use serde::Serialize;

use super::config;
use super::escape::escape_path;
use super::exit::{CliError, CliResult, Exit};
use super::fsutil;
use super::output::{Output, Style};

/// File format of the secret key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// PKCS#8 PEM ("PRIVATE KEY"), readable by OpenSSL.
    #[default]
    Pem,
    /// 128 hex characters: seed then public key.
    Hex,
    /// 88 base64 characters: seed then public key.
    Base64,
    /// JSON object {"schema": "sbrp.identity/1", "secret_key", "public_key", "fingerprint"}.
    Json,
}

impl Format {
    fn secret_format(self) -> SecretFormat {
        match self {
            Format::Pem => SecretFormat::Pem,
            Format::Hex => SecretFormat::Hex,
            Format::Base64 => SecretFormat::Base64,
            Format::Json => SecretFormat::Json,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Pem => "pem",
            Format::Hex => "hex",
            Format::Base64 => "base64",
            Format::Json => "json",
        }
    }
}

/// Arguments of `sbrp keygen`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sbrp keygen                      # writes <config dir>/identity.pem\n  \
    sbrp keygen -o daemon.pem --json\n  \
    sbrp keygen -o - --format hex    # secret to stdout, report to stderr")]
pub struct Args {
    /// Where to write the secret key; `-` for stdout [default: <config dir>/identity.pem]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Format of the secret key
    #[arg(long, value_enum, default_value_t = Format::Pem)]
    pub format: Format,

    /// Replace an existing file (atomically; the old key is lost)
    #[arg(long)]
    pub force: bool,

    /// Print the report (path, public key, fingerprint, randomart) as one JSON object
    #[arg(long)]
    pub json: bool,
}

/// `keygen --json` output.
#[derive(Serialize)]
struct Report<'a> {
    schema: &'static str,
    path: Option<String>,
    format: &'static str,
    public_key: &'a str,
    fingerprint: &'a str,
    randomart: &'a str,
}

/// Runs `sbrp keygen`.
pub fn run(out: &Output, args: Args) -> CliResult {
    let to_stdout = args.output.as_deref() == Some(std::path::Path::new("-"));
    if to_stdout && args.json {
        return Err(CliError::new(
            Exit::Usage,
            "--json cannot be combined with -o - (stdout already carries the secret key)",
        )
        .hint("use `--format json` to get the secret and public key as one JSON object"));
    }
    let path = match &args.output {
        Some(p) => p.clone(),
        None => {
            let dir = config::config_dir()?;
            config::create_private_dir(&dir)?;
            dir.join(config::IDENTITY_FILE)
        }
    };
    let rules = fsutil::WriteRules::secret("key file", args.force);
    if !to_stdout {
        // Refused before a key is made: a symlink, a directory, an existing file without --force.
        if fsutil::check_target(&path, rules.what)? && !args.force {
            return Err(CliError::error(format!(
                "{} already exists; sbrp never overwrites a key file unless you pass --force",
                escape_path(&path)
            ))
            .hint(
                "pass --force to replace it (the old key is lost), or choose another path with -o",
            ));
        }
    }

    let pair = IdentityKeyPair::generate().map_err(|e| {
        CliError::error(e.to_string()).hint("check the operating system's entropy source")
    })?;
    let secret = keyfile::encode_secret(&pair, args.format.secret_format());
    if to_stdout {
        let lost = || {
            CliError::error(
                "the new secret key could not be written whole to standard output (the \
                 reader closed it); the key is lost",
            )
            .hint("send it to a file (`-o FILE`) or to a reader that takes all of it")
        };
        out.print(&secret).map_err(|e| {
            if e.is_quiet() {
                // A closed pipe is quiet for data that can be printed again, not for a new
                // secret key: it is lost.
                lost()
            } else {
                e
            }
        })?;
        if fsutil::stdout_pipe_lost_unread() {
            return Err(lost());
        }
    } else {
        fsutil::write_file(&path, secret.as_bytes(), rules)?;
    }
    drop(secret);

    let public = pair.public_key();
    let public_b64 = keyfile::encode_public(&public, PublicFormat::Base64);
    let fingerprint = public.fingerprint();
    let art = identity_randomart(&public);
    if args.json {
        out.json(&Report {
            schema: "sbrp.keygen/1",
            path: Some(path.to_string_lossy().into_owned()),
            format: args.format.name(),
            public_key: &public_b64,
            fingerprint: &fingerprint,
            randomart: &art,
        })?;
        return Ok(Exit::Success);
    }
    if to_stdout {
        out.eprintln(&format!("public key:  {public_b64}"));
        out.eprintln(&format!(
            "fingerprint: {}",
            out.style_err(&fingerprint, Style::Bold)
        ));
        out.eprintln(art.trim_end());
    } else {
        out.note(&format!(
            "wrote a new Ed25519 identity to {} (mode 0600)",
            escape_path(&path)
        ));
        out.print(&format!(
            "public key:  {public_b64}\nfingerprint: {}\n{art}",
            out.style_out(&fingerprint, Style::Bold)
        ))?;
    }
    Ok(Exit::Success)
}
