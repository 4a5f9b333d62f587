//! Standard output that a closed pipe ends quietly.
//!
//! `riskstream model list | head -1` closes the pipe after one line. Rust ignores SIGPIPE,
//! so the next write fails with `BrokenPipe`, and std's `println!` panics on it (exit 101
//! with a panic message). A reader that has gone away is not an error of anyone's: the
//! command has nobody left to tell anything, so it ends at once with exit 0 and no message,
//! as `cat` or `grep` do under a shell.
//!
//! Two ways in:
//! - `println!` inside this crate is the macro below, not std's: it is declared before
//!   every other module (`#[macro_use] mod stdout` first in `main.rs`), so it shadows the
//!   prelude's in the whole crate, every command included. It cannot return an error, so it
//!   ends the process itself.
//! - Code outside this crate that prints (the bench commands) writes to a [`Stdout`] handed
//!   to it. A closed pipe is returned as an error carrying [`StdoutClosed`], so the command
//!   unwinds (a bench stops the service it started) and `main` ends quietly ([`closed`]).

use std::io::Write;

/// Prints a line on standard output; a closed pipe ends the process quietly with exit 0.
/// Shadows std's `println!` in this crate (same arguments, same output).
macro_rules! println {
    () => {
        $crate::stdout::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout::line(format_args!($($arg)*))
    };
}

/// Writes `args` and a newline to standard output, as std's `println!` does.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        failed(&e);
    }
}

/// A write to standard output failed: a closed pipe ends the process quietly (exit 0);
/// anything else is what std's `println!` does with it.
fn failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    panic!("failed printing to stdout: {e}");
}

/// The reader of standard output has gone: carried in the `BrokenPipe` error a [`Stdout`]
/// returns.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Standard output as a writer, for code outside this crate: a closed pipe is an error
/// carrying [`StdoutClosed`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdout;

/// A closed pipe becomes an error carrying [`StdoutClosed`]; other errors pass as they are.
fn mark(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(buf).map_err(mark)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush().map_err(mark)
    }
}

/// Whether a command failed only because its reader closed standard output.
pub fn closed(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_closed_pipe_is_told_from_other_broken_pipes() {
        let ours = std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed);
        let e = Err::<(), _>(ours)
            .context("printing the table")
            .unwrap_err();
        assert!(closed(&e));
        // A broker's connection breaking is not the reader going away.
        let theirs = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(!closed(&theirs));
    }
}
