//! The load generator's own HTTP/1.1 client: hyper connections kept in a free list, one
//! request at a time on each.
//!
//! Why not reqwest: the generator shares the machine's two cores with the service it
//! measures, so every microsecond it spends is one the service does not get. Measured from
//! `/proc/PID/stat` at 3,000 requests/s, reqwest's client cost the generator 110–117 µs of
//! CPU per request (its connection pool's checkout and idle bookkeeping, a URL parsed into a
//! URI, a header map built per request, a timer per request for its timeout). This client
//! does only what a load generator needs: take a free connection (or open one), send a
//! prepared request, read the whole answer, give the connection back. BENCHMARKS.md has the
//! before and after.
//!
//! Connections are opened on demand, so a stalled service makes the client open more, as a
//! pool without a limit would, rather than queue requests behind busy connections (the
//! latency is measured from when each request was due either way). At most `keep` idle ones
//! are kept.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

/// A POST target on one host, with the connections to it.
pub(crate) struct Client {
    addr: SocketAddr,
    path: Uri,
    host: HeaderValue,
    auth: HeaderValue,
    keep: usize,
    timeout: Duration,
    free: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

/// An answer: its status and whole body.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Client {
    /// A client posting JSON to `path` on `addr` with `Authorization: Bearer <key>`.
    pub(crate) fn new(
        addr: SocketAddr,
        path: &str,
        key: &str,
        keep: usize,
        timeout: Duration,
    ) -> anyhow::Result<Client> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {key}"))?;
        auth.set_sensitive(true);
        Ok(Client {
            addr,
            path: path.parse()?,
            host: HeaderValue::from_str(&addr.to_string())?,
            auth,
            keep: keep.max(1),
            timeout,
            free: Mutex::new(Vec::with_capacity(keep.max(1))),
        })
    }

    /// Posts `body` and reads the whole answer; an error says what failed (connecting,
    /// sending, reading, or the timeout).
    pub(crate) async fn post(&self, body: Bytes) -> Result<Answer, String> {
        match tokio::time::timeout(self.timeout, self.exchange(body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn exchange(&self, body: Bytes) -> Result<Answer, String> {
        let mut conn = match self.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.path.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        h.insert(AUTHORIZATION, self.auth.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let resp = conn
            .send_request(req)
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        self.give_back(conn).await;
        Ok(Answer { status, body })
    }

    fn take(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(c) = free.pop() {
            if !c.is_closed() {
                return Some(c);
            }
        }
        None
    }

    /// Back to the free list once it can take the next request (a connection the service
    /// closed is dropped).
    async fn give_back(&self, mut conn: SendRequest<Full<Bytes>>) {
        if conn.ready().await.is_err() {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.keep {
            free.push(conn);
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let s = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        s.set_nodelay(true)
            .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.addr))?;
        tokio::spawn(async move {
            // Ends when the service closes the connection or the last handle is dropped.
            let _ = conn.await;
        });
        Ok(send)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers every request on a connection with its count, and
    /// closes each connection after `per_conn` answers.
    async fn server(per_conn: usize) -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    for n in 0..per_conn {
                        // One request: headers, then a content-length body.
                        let body_len = loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                                let len = head
                                    .lines()
                                    .find_map(|l| l.strip_prefix("content-length: "))
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                                    .unwrap_or(0);
                                if buf.len() >= end + 4 + len {
                                    buf.drain(..end + 4 + len);
                                    break len;
                                }
                            }
                            let Ok(k) = s.read(&mut chunk).await else {
                                return;
                            };
                            if k == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..k]);
                        };
                        let text = format!("{{\"n\":{n},\"len\":{body_len}}}");
                        let close = if n + 1 == per_conn {
                            "connection: close\r\n"
                        } else {
                            ""
                        };
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{close}\r\n{text}",
                            text.len()
                        );
                        if s.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn connections_are_reused_and_closed_ones_replaced() {
        let addr = server(3).await;
        let c = Client::new(addr, "/v1/decisions", "k", 4, Duration::from_secs(5)).unwrap();
        let mut seen = Vec::new();
        for _ in 0..7 {
            let a = c.post(Bytes::from_static(b"{\"a\":1}")).await.unwrap();
            assert_eq!(a.status, 200);
            seen.push(String::from_utf8(a.body.to_vec()).unwrap());
        }
        // One connection answers 0, 1, 2 and closes; the next one starts again at 0.
        let counts: Vec<&str> = seen.iter().map(|s| &s[5..6]).collect();
        assert_eq!(counts, ["0", "1", "2", "0", "1", "2", "0"], "{seen:?}");
        assert!(seen.iter().all(|s| s.ends_with("\"len\":7}")));
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_that_names_the_address() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let c = Client::new(addr, "/", "k", 1, Duration::from_secs(5)).unwrap();
        let e = c.post(Bytes::new()).await.err().unwrap();
        assert!(e.contains(&addr.to_string()), "{e}");
    }
}
