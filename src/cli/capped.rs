//! Reading files an adversary may have written, in bounded memory and time: a whole small
//! file under a cap, a text file line by line under a per-line and a total cap, and a stream
//! opened for reading. Each cap error names the file and the cap (exit 1), so `/dev/zero`,
//! `/dev/urandom` or a huge file is refused early instead of filling memory or hanging.
//!
//! The caps of each file `sbrp` reads are listed in the README ("Limits").

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use zeroize::Zeroizing;

use super::escape::escape_path;
use super::exit::{CliError, CliResult};

/// A cap in words: `4 KiB (4096 bytes)`.
pub fn describe_cap(cap: u64) -> String {
    let unit = if cap >= 1 << 20 && cap.is_multiple_of(1 << 20) {
        format!("{} MiB", cap >> 20)
    } else if cap >= 1 << 10 && cap.is_multiple_of(1 << 10) {
        format!("{} KiB", cap >> 10)
    } else {
        return format!("{cap} bytes");
    };
    format!("{unit} ({cap} bytes)")
}

fn too_large(what: &str, path: &Path, cap: u64) -> CliError {
    CliError::error(format!(
        "{what} {} is larger than {}, the limit for a {what}",
        escape_path(path),
        describe_cap(cap)
    ))
    .hint("check the path: this does not look like the right file")
}

/// Opens `path` for reading; a directory is refused up front (reading it would fail only
/// after output has begun).
pub fn open(path: &Path, what: &str) -> CliResult<File> {
    let file =
        File::open(path).map_err(|e| CliError::io(&format!("cannot open {what}"), path, &e))?;
    match file.metadata() {
        Ok(meta) if meta.is_dir() => Err(CliError::error(format!(
            "cannot read {what} {}: it is a directory",
            escape_path(path)
        ))
        .hint("give the path of a file, not a directory")),
        Ok(_) => Ok(file),
        Err(e) => Err(CliError::io(&format!("cannot stat {what}"), path, &e)),
    }
}

/// Reads all of `path` when it holds at most `cap` bytes, into a buffer wiped on drop. Reads
/// at most `cap + 1` bytes whatever the file is.
pub fn read(path: &Path, what: &str, cap: u64) -> CliResult<Zeroizing<Vec<u8>>> {
    let file = open(path, what)?;
    // Pre-sized and grown without leaving copies (the file may hold a secret).
    let size = file.metadata().map(|m| m.len()).unwrap_or(0).min(cap);
    let buf = sbrp::keyfile::read_zeroizing(
        file,
        usize::try_from(size).unwrap_or(0),
        usize::try_from(cap).unwrap_or(usize::MAX),
    )
    .map_err(|e| CliError::io(&format!("cannot read {what}"), path, &e))?;
    if buf.len() as u64 > cap {
        return Err(too_large(what, path, cap));
    }
    Ok(buf)
}

/// A text file read one line at a time, under a per-line cap and a total cap.
pub struct Lines<'p> {
    reader: BufReader<File>,
    path: &'p Path,
    what: &'p str,
    line_cap: u64,
    total_cap: u64,
    total: u64,
    line_no: usize,
}

impl<'p> Lines<'p> {
    /// Opens `path` (see [`open`]).
    pub fn open(path: &'p Path, what: &'p str, line_cap: u64, total_cap: u64) -> CliResult<Self> {
        Ok(Self {
            reader: BufReader::with_capacity(64 * 1024, open(path, what)?),
            path,
            what,
            line_cap,
            total_cap,
            total: 0,
            line_no: 0,
        })
    }

    /// The 1-based number of the line last read.
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    /// Reads the next line into `line` (without its `\n`); false at the end of the file.
    /// Memory is bounded by the line cap whatever the file holds.
    pub fn next_line(&mut self, line: &mut Zeroizing<Vec<u8>>) -> CliResult<bool> {
        line.clear();
        let n = (&mut self.reader)
            .take(self.line_cap + 1)
            .read_until(b'\n', line)
            .map_err(|e| CliError::io(&format!("cannot read {}", self.what), self.path, &e))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        self.total += n as u64;
        if self.total > self.total_cap {
            return Err(too_large(self.what, self.path, self.total_cap));
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if n as u64 > self.line_cap {
            return Err(CliError::error(format!(
                "line {} of {} {} is longer than {}, the limit for a line of a {}",
                self.line_no,
                self.what,
                escape_path(self.path),
                describe_cap(self.line_cap),
                self.what
            ))
            .hint("check the path: this does not look like the right file"));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_described_and_enforced() {
        assert_eq!(describe_cap(4096), "4 KiB (4096 bytes)");
        assert_eq!(describe_cap(256 << 20), "256 MiB (268435456 bytes)");
        assert_eq!(describe_cap(100), "100 bytes");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(&read(&p, "test file", 10).unwrap()[..], b"0123456789");
        let e = read(&p, "test file", 9).unwrap_err();
        assert!(
            e.message().contains("larger than 9 bytes"),
            "{}",
            e.message()
        );
        assert!(
            read(dir.path(), "test file", 9)
                .unwrap_err()
                .message()
                .contains("directory")
        );

        std::fs::write(&p, b"ab\ncdef\n\nxyz").unwrap();
        let mut lines = Lines::open(&p, "test file", 4, 100).unwrap();
        let mut line = Zeroizing::new(Vec::new());
        let mut got = Vec::new();
        while lines.next_line(&mut line).unwrap() {
            got.push(String::from_utf8(line.to_vec()).unwrap());
        }
        assert_eq!(got, ["ab", "cdef", "", "xyz"]);
        let mut lines = Lines::open(&p, "test file", 3, 100).unwrap();
        assert!(lines.next_line(&mut line).unwrap());
        let e = lines.next_line(&mut line).unwrap_err();
        assert!(
            e.message().starts_with("line 2 of test file"),
            "{}",
            e.message()
        );
        let mut lines = Lines::open(&p, "test file", 4, 6).unwrap();
        assert!(lines.next_line(&mut line).unwrap());
        assert!(
            lines
                .next_line(&mut line)
                .unwrap_err()
                .message()
                .contains("larger than 6")
        );
    }
}
