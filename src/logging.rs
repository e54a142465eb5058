//! The server's log: `tracing` events written to stdout as text or JSON
//! lines, where a line that cannot be written is dropped and counted.
//!
//! tracing-subscriber's writer reports a failed write with `eprintln!`,
//! which panics when stderr fails too (the usual case: stdout and stderr go
//! to one pipe whose reader, a log collector, has died). That panic ended
//! whichever task logged: a room (its sockets stayed open in a room that no
//! longer existed) or, at SIGTERM, the process (exit 101). The log must never
//! end anything, so writes go through [`DroppingStdout`], which never fails.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Counter: log lines that could not be written (stdout closed or full) and were dropped.
pub const LOG_LINES_DROPPED: &str = "myroom_log_lines_dropped_total";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; terminal colours only when stdout is a terminal.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`, `spans`).
    Json,
}

/// Send the process's `tracing` events to stdout in `format`, filtered by
/// `RUST_LOG` (default `info`). Call once, before anything logs.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(DroppingStdout)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.with_ansi(colours_wanted()).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Colours on a terminal only, and never when `NO_COLOR` is set (no-color.org).
fn colours_wanted() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Stdout for log lines: a line that cannot be written is dropped and counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct DroppingStdout;

impl<'a> MakeWriter<'a> for DroppingStdout {
    type Writer = DroppingWriter<io::StdoutLock<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        DroppingWriter(io::stdout().lock())
    }
}

/// A writer that takes every write whole, whether or not `W` did: the
/// formatter writes one event with one `write_all`, so a failure is one
/// lost line.
#[derive(Debug)]
pub struct DroppingWriter<W>(pub W);

impl<W: Write> Write for DroppingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.write_all(buf).is_err() {
            metrics::counter!(LOG_LINES_DROPPED).increment(1);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_line_that_cannot_be_written_is_taken_whole_and_dropped() {
        let mut writer = DroppingWriter(Broken);
        assert_eq!(writer.write(b"a line\n").unwrap(), 7);
        assert!(writer.write_all(b"another line\n").is_ok());
        assert!(writer.flush().is_ok());
    }
}
