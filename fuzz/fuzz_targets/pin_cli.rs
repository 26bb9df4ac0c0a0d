//! The binary's modules the pin_file target needs (not a target itself).

#[path = "../../src/cli/config.rs"]
pub mod config;
#[path = "../../src/cli/escape.rs"]
pub mod escape;
#[path = "../../src/cli/exit.rs"]
pub mod exit;
#[path = "../../src/cli/fsutil.rs"]
pub mod fsutil;
#[path = "../../src/cli/output.rs"]
pub mod output;
#[path = "../../src/cli/pinstore.rs"]
pub mod pinstore;
#[path = "../../src/cli/fingerprint.rs"]
pub mod fingerprint;
#[path = "../../src/cli/keyinput.rs"]
pub mod keyinput;
#[path = "../../src/cli/daemon_id.rs"]
pub mod daemon_id;
