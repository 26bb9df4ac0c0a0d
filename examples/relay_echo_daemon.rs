//! A ten-line echo daemon on a relay: `cargo run --example relay_echo_daemon -- URL KEYFILE DAEMON_ID TOKEN_FILE`.
//! The token file is read again at every reconnect, so another process can renew it.
use sbrp::relay_client::{RelayConfig, RelayDaemon, TokenSource};
use sbrp::{Daemon, keyfile};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let [url, key, id, token]: [String; 4] = std::env::args()
        .skip(1)
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| "usage: URL KEYFILE DAEMON_ID TOKEN_FILE")?;
    let keyfile::DecodedKey::Secret(identity) =
        keyfile::decode(&std::fs::read(key)?, keyfile::BareKey::Refuse)?.key
    else {
        return Err("not a secret key".into());
    };
    let daemon = RelayDaemon::new(
        RelayConfig::new(&url)?,
        TokenSource::File(token.into()),
        Daemon::new(identity, &id),
    );
    let echo = |_session, message: Vec<u8>| vec![message];
    daemon.run(echo, |event| eprintln!("{event:?}")).await?;
    Ok(())
}
