//! Reading a relay token given to a command: a path or the token itself as an argument, `-`
//! (stdin), `--token-file FILE`, or the `SBRP_TOKEN` environment variable, in that order; with
//! none of them, stdin when it is not a terminal.
//!
//! A token is a secret: it is never printed back in a message, and one given on the command
//! line earns a warning (other users see arguments in `ps`, and shells keep them).

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use sbrp::token::Token;

use super::escape::{escape_bytes, escape_path};
use super::exit::{CliError, CliResult, Exit};
use super::fsutil;

/// The environment variable a token may come from.
pub const TOKEN_ENV: &str = "SBRP_TOKEN";

/// Where a token came from, for messages (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// A file.
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// The `SBRP_TOKEN` environment variable.
    Env,
    /// The command-line argument itself.
    Argument,
}

impl TokenSource {
    /// The escaped path, "standard input", "SBRP_TOKEN" or "the TOKEN argument".
    pub fn describe(&self) -> String {
        match self {
            TokenSource::File(p) => escape_path(p),
            TokenSource::Stdin => "standard input".to_owned(),
            TokenSource::Env => TOKEN_ENV.to_owned(),
            TokenSource::Argument => "the TOKEN argument".to_owned(),
        }
    }

    /// A short name for JSON: `file`, `stdin`, `env`, `argument`.
    pub fn kind(&self) -> &'static str {
        match self {
            TokenSource::File(_) => "file",
            TokenSource::Stdin => "stdin",
            TokenSource::Env => "env",
            TokenSource::Argument => "argument",
        }
    }
}

/// True when an argument that is not an existing file looks like token text (so it must not
/// be printed back): it has a dot-separated JWT shape or a long base64url run.
fn looks_like_token(arg: &str) -> bool {
    let t = arg.trim();
    t.matches('.').count() >= 2
        || (t.len() >= 24
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.=".contains(&b)))
}

fn from_bytes(bytes: &[u8], source: &TokenSource) -> CliResult<Token> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        CliError::error(format!("{} is not UTF-8 text", source.describe()))
            .hint("a relay token is ASCII: three base64url parts separated by dots")
    })?;
    Ok(Token::new(text))
}

fn read_path(path: &Path) -> CliResult<Token> {
    let (_meta, bytes) = fsutil::read_file(path)?;
    from_bytes(&bytes, &TokenSource::File(path.to_owned()))
}

fn read_stdin() -> CliResult<Token> {
    let bytes = fsutil::read_limited(std::io::stdin().lock(), 8192, "standard input")?;
    from_bytes(&bytes, &TokenSource::Stdin)
}

/// Reads the token from the first of: `arg` (`-` is stdin, an existing path is a file,
/// anything else is the token itself, with a warning), `token_file`, `SBRP_TOKEN`, stdin when
/// it is not a terminal. With none, a usage error (exit 2) that lists the ways.
pub fn read_token(
    arg: Option<&OsStr>,
    token_file: Option<&Path>,
) -> CliResult<(Token, TokenSource)> {
    if let Some(arg) = arg {
        if arg == "-" {
            return Ok((read_stdin()?, TokenSource::Stdin));
        }
        let path = Path::new(arg);
        if path.exists() {
            return Ok((read_path(path)?, TokenSource::File(path.to_owned())));
        }
        let Some(text) = arg.to_str() else {
            return Err(CliError::error(format!(
                "no such file: {}",
                escape_bytes(arg.as_encoded_bytes())
            ))
            .hint("check the path"));
        };
        if !looks_like_token(text) {
            return Err(CliError::error(format!(
                "{} is neither an existing file nor a token",
                escape_bytes(arg.as_encoded_bytes())
            ))
            .hint("check the path, or pass the token with --token-file FILE, SBRP_TOKEN or `-` and stdin"));
        }
        super::output::warn_stderr(
            "a token was given on the command line: other users can see it (`ps`) and it stays \
             in your shell history; use --token-file FILE, SBRP_TOKEN, or `-` and stdin",
        );
        return Ok((Token::new(text), TokenSource::Argument));
    }
    if let Some(path) = token_file {
        if path == Path::new("-") {
            return Ok((read_stdin()?, TokenSource::Stdin));
        }
        return Ok((read_path(path)?, TokenSource::File(path.to_owned())));
    }
    if let Some(v) = std::env::var_os(TOKEN_ENV)
        && !v.is_empty()
    {
        let token = from_bytes(v.as_encoded_bytes(), &TokenSource::Env)?;
        return Ok((token, TokenSource::Env));
    }
    if !std::io::stdin().is_terminal() {
        return Ok((read_stdin()?, TokenSource::Stdin));
    }
    Err(CliError::new(Exit::Usage, "no token given").hint(
        "give a token file (`--token-file FILE` or as the argument), set SBRP_TOKEN, or pipe \
         the token on stdin (`-`)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes_are_not_echoed() {
        assert!(looks_like_token("eyJh.eyJi.c2ln"));
        assert!(looks_like_token("eyJhbGciOiJFZERTQSIsInR5cCI6"));
        assert!(!looks_like_token("tok.txt"));
        assert!(!looks_like_token("missing-file"));
    }
}
