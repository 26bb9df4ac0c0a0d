//! Fuzz target: key logs. Parsing the whole text and inserting line by line (as `sbrp decode`
//! reads a file) agree on the first error or on every key; every accepted line formats back
//! to a line that parses to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sbrp::frame::Direction;
use sbrp::keylog::{KeyLog, MAX_KEYS_PER_DIRECTION, format_line, parse_line};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let whole = KeyLog::parse(text);
    let mut log = KeyLog::new();
    let mut first_error = None;
    for (i, line) in text.lines().enumerate() {
        match parse_line(line, i + 1) {
            Ok(Some(entry)) => {
                let again = format_line(entry.direction, entry.session_id, &entry.key);
                let back = parse_line(&again, 1).unwrap().unwrap();
                assert_eq!(back, entry);
                log.insert(entry);
            }
            Ok(None) => {}
            Err(e) => {
                first_error = Some(e);
                break;
            }
        }
    }
    match (whole, first_error) {
        (Err(a), Some(b)) => assert_eq!(a, b),
        (Ok(w), None) => {
            assert_eq!(w.len(), log.len());
            assert_eq!(w.sessions(), log.sessions());
            for sid in w.sessions() {
                for d in [Direction::ClientToDaemon, Direction::DaemonToClient] {
                    let a: Vec<_> = w.keys(sid, d).collect();
                    let b: Vec<_> = log.keys(sid, d).collect();
                    assert_eq!(a, b);
                    assert!(a.len() <= MAX_KEYS_PER_DIRECTION);
                }
            }
        }
        (w, e) => panic!("whole {:?} vs line by line {e:?}", w.err()),
    }
});
