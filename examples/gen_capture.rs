//! Writes a capture of one SBRP session for benchmarks: a handshake, then Data frames with
//! PLAINTEXT_LEN-byte plaintexts in both directions, and its key log.
//!
//! `cargo run --release --example gen_capture -- OUT.bin OUT.keylog TOTAL_BYTES [PLAINTEXT_LEN]`

use std::io::{BufWriter, Write};

use sbrp::{ClientHandshake, Daemon, Frame, IdentityKeyPair, SessionId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, keylog, total, rest @ ..] = &args[..] else {
        return Err("usage: gen_capture OUT.bin OUT.keylog TOTAL_BYTES [PLAINTEXT_LEN]".into());
    };
    let total: u64 = total.parse()?;
    let len: usize = rest.first().map_or(Ok(1024 - 41), |s| s.parse())?;
    let daemon = Daemon::new(IdentityKeyPair::generate()?, "bench-daemon");
    let sid = SessionId::new(1).ok_or("sid")?;
    let client = ClientHandshake::start("bench-daemon", sid)?;
    let init = client.init();
    let (accept, mut ds) = daemon.accept(&init)?;
    let mut cs = client.finish(&accept, &daemon.identity().public_key())?;
    std::fs::write(
        keylog,
        sbrp::keylog::format_session(sid.get(), cs.keys()).as_bytes(),
    )?;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    w.write_all(&Frame::HandshakeInit(init).to_vec())?;
    w.write_all(&Frame::HandshakeAccept(accept).to_vec())?;
    let plaintext: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
    let mut written = 0u64;
    let mut i = 0u64;
    while written < total {
        let session = if i.is_multiple_of(2) {
            &mut cs
        } else {
            &mut ds
        };
        let frame = session.encrypt_frame(sid, &plaintext)?;
        w.write_all(&frame)?;
        written += frame.len() as u64;
        i += 1;
    }
    w.flush()?;
    eprintln!(
        "{i} Data frames of {} bytes, {written} bytes",
        13 + 28 + len
    );
    Ok(())
}
