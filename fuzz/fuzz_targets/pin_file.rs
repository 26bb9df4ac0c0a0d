//! Fuzz target: the pin file (the binary's `src/cli/pinstore.rs`, compiled in here with the
//! modules it uses). Parsing never panics; a file that parses writes back to bytes that parse
//! to the same pins, and writing those again gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "pin_cli.rs"]
mod cli;

use cli::pinstore::PinFile;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = PinFile::parse(data) else {
        return;
    };
    let bytes = file.to_bytes().expect("a parsed pin file serialises");
    let back = PinFile::parse(&bytes).expect("what we write parses");
    assert_eq!(back, file);
    assert_eq!(back.to_bytes().expect("again"), bytes);
});
