//! `riskstream serve` started by a test: on a free loopback port, stopped when the test
//! ends however it ends, its log kept for the failure message.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (released before the service binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops the service started by the test when the test ends, however it ends.
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `riskstream serve --config cfg` (standard error to `log`) and waits until `addr`
/// accepts connections; panics with the log if it exits first or takes over a minute.
pub fn serve(cfg: &Path, addr: &str, log: &Path) -> Serve {
    let err = std::fs::File::create(log).unwrap();
    let mut child = Serve(
        Command::new(env!("CARGO_BIN_EXE_riskstream"))
            .args(["serve", "--config"])
            .arg(cfg)
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap(),
    );
    wait_listening(addr, &mut child.0, log);
    child
}

/// Waits until `addr` accepts connections; panics with the service's log if it exits first
/// or takes over a minute.
pub fn wait_listening(addr: &str, child: &mut Child, log: &Path) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "serve exited with {s}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The service's log as text, without the terminal colours its fields may carry.
pub fn log_text(log: &Path) -> String {
    let raw = std::fs::read_to_string(log).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … m
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
