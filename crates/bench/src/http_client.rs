//! The load generator's client: threads that each hold one HTTP/1.1 keep-alive connection
//! and send with blocking system calls.
//!
//! Why not an async client: the generator shares the machine's two cores with the service
//! it measures, so every microsecond it spends is one the service does not get. Measured
//! from `/proc/PID/stat` at 3,000 requests/s: reqwest cost the generator 110–117 µs of CPU
//! per request; hyper's connection API with a free list, 96–114 µs. Most of that was not
//! HTTP but hand-offs: a pacer thread woke a runtime worker, which spawned a task, whose
//! request went through a channel to the connection's own task and its answer back through
//! another, each a wake-up and often a context switch. Here one thread does all of it: it
//! takes the next request's number, sleeps until that request is due, writes it, reads the
//! answer (`httparse` for the head, `Content-Length` for the body) and records it — one
//! sleep, one write and one or two reads per request, nothing shared but a counter.
//!
//! Latency is still measured from when each request was *due*: a request whose thread is
//! late (all threads busy behind a stalled service) is charged the wait. With 64 threads at
//! 5,000/s a thread is due every 12.8 ms, so that only happens once the service is already
//! far past the 5 ms target.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// An answer: its status and whole body.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A connection that is older than this since its last answer is reopened before use:
/// the service closes keep-alive connections that stay silent (`server.header_timeout`),
/// and a request written to one it has just closed would be lost.
const REOPEN_AFTER: Duration = Duration::from_millis(500);

/// The largest answer head accepted (the service's are a few hundred bytes).
const MAX_HEAD: usize = 16 * 1024;

/// One connection's client: POSTs JSON to one path on one address.
pub(crate) struct Client {
    addr: SocketAddr,
    /// `POST <path> HTTP/1.1` and the fixed headers, up to `Content-Length: `.
    head: Vec<u8>,
    timeout: Duration,
    conn: Option<(TcpStream, Instant)>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Client {
    /// A client posting to `path` on `addr` with `Authorization: Bearer <key>`; no
    /// connection is opened until the first request.
    pub(crate) fn new(addr: SocketAddr, path: &str, key: &str, timeout: Duration) -> Client {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: "
        )
        .into_bytes();
        Client {
            addr,
            head,
            timeout,
            conn: None,
            buf: Vec::with_capacity(8192),
            out: Vec::with_capacity(4096),
        }
    }

    /// Posts `body` and reads the whole answer. An error says what failed (connecting,
    /// sending, reading, a malformed answer, or no answer within the timeout); the
    /// connection is dropped after one.
    pub(crate) fn post(&mut self, body: &[u8]) -> Result<Answer, String> {
        let r = self.exchange(body);
        if r.is_err() {
            self.conn = None;
        }
        r
    }

    fn exchange(&mut self, body: &[u8]) -> Result<Answer, String> {
        if self
            .conn
            .as_ref()
            .is_none_or(|(_, used)| used.elapsed() > REOPEN_AFTER)
        {
            self.conn = Some((self.connect()?, Instant::now()));
        }
        let Some((stream, _)) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        self.out.clear();
        self.out.extend_from_slice(&self.head);
        self.out
            .extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
        self.out.extend_from_slice(body);
        stream
            .write_all(&self.out)
            .map_err(|e| format!("sending: {e}"))?;
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        let (status, body_at, len, close) = loop {
            let n = stream.read(&mut chunk).map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    format!("no answer within {:?}", self.timeout)
                }
                _ => format!("reading the answer: {e}"),
            })?;
            if n == 0 {
                return Err("the service closed the connection before answering".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(h) = parse_head(&self.buf)? {
                break h;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(format!("an answer head longer than {MAX_HEAD} bytes"));
            }
        };
        while self.buf.len() < body_at + len {
            let n = stream
                .read(&mut chunk)
                .map_err(|e| format!("reading the answer's body: {e}"))?;
            if n == 0 {
                return Err("the service closed the connection within an answer".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = self.buf[body_at..body_at + len].to_vec();
        if close {
            self.conn = None;
        } else if let Some((_, used)) = self.conn.as_mut() {
            *used = Instant::now();
        }
        Ok(Answer { status, body })
    }

    fn connect(&self) -> Result<TcpStream, String> {
        let fail = |e: std::io::Error| format!("connecting to {}: {e}", self.addr);
        let s = TcpStream::connect_timeout(&self.addr, self.timeout).map_err(fail)?;
        s.set_nodelay(true).map_err(fail)?;
        s.set_read_timeout(Some(self.timeout)).map_err(fail)?;
        s.set_write_timeout(Some(self.timeout)).map_err(fail)?;
        Ok(s)
    }
}

/// The status, where the body starts, its length and whether the service will close the
/// connection, once `buf` holds a whole head; `None` while it does not.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, usize, usize, bool)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let at = match resp.parse(buf) {
        Ok(httparse::Status::Complete(at)) => at,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("a malformed answer head: {e}")),
    };
    let status = resp.code.unwrap_or(0);
    let mut len = None;
    let mut close = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("a chunked answer (the service's answers carry their length)".into());
        }
    }
    let len = len.ok_or_else(|| format!("an answer ({status}) without a Content-Length"))?;
    Ok(Some((status, at, len, close)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    /// A loopback server that answers every request on a connection with its count, and
    /// closes each connection after `per_conn` answers (saying so in the last).
    fn server(per_conn: usize) -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                std::thread::spawn(move || {
                    let mut w = s.try_clone().unwrap();
                    let mut r = BufReader::new(s);
                    for n in 0..per_conn {
                        let mut len = 0usize;
                        loop {
                            let mut line = String::new();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let l = line.to_ascii_lowercase();
                            if let Some(v) = l.strip_prefix("content-length: ") {
                                len = v.trim().parse().unwrap();
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0u8; len];
                        r.read_exact(&mut body).unwrap();
                        let text = format!("{{\"n\":{n},\"len\":{len}}}");
                        let close = if n + 1 == per_conn {
                            "connection: close\r\n"
                        } else {
                            ""
                        };
                        // The head and the body in two writes: the client must wait for both.
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{close}\r\n",
                            text.len()
                        );
                        w.write_all(head.as_bytes()).unwrap();
                        w.flush().unwrap();
                        w.write_all(text.as_bytes()).unwrap();
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn connections_are_reused_and_closed_ones_replaced() {
        let addr = server(3);
        let mut c = Client::new(addr, "/v1/decisions", "k", Duration::from_secs(5));
        let mut seen = Vec::new();
        for _ in 0..7 {
            let a = c.post(b"{\"a\":1}").unwrap();
            assert_eq!(a.status, 200);
            seen.push(String::from_utf8(a.body).unwrap());
        }
        // One connection answers 0, 1, 2 and closes; the next one starts again at 0.
        let counts: Vec<&str> = seen.iter().map(|s| &s[5..6]).collect();
        assert_eq!(counts, ["0", "1", "2", "0", "1", "2", "0"], "{seen:?}");
        assert!(seen.iter().all(|s| s.ends_with("\"len\":7}")));
    }

    #[test]
    fn a_refused_connection_is_an_error_that_names_the_address() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut c = Client::new(addr, "/", "k", Duration::from_secs(5));
        let e = c.post(b"").err().unwrap();
        assert!(e.contains(&addr.to_string()), "{e}");
    }

    #[test]
    fn heads_without_a_length_or_chunked_are_errors_that_say_so() {
        let e = parse_head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap_err();
        assert!(e.contains("without a Content-Length"), "{e}");
        let e = parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").unwrap_err();
        assert!(e.contains("chunked"), "{e}");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ncontent-le")
            .unwrap()
            .is_none());
        let h = parse_head(
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.0, h.2, h.3), (503, 2, true));
    }
}
