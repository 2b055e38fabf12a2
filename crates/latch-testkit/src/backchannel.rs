//! [`BackchannelReceiver`]: a tiny HTTP/1.1 server standing in for an application's
//! back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0 §2.5).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const MAX_REQUEST: usize = 1024 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct ReceivedLogout {
    /// `POST`, `GET`, …
    pub method: String,
    /// The request target as sent: path and query, e.g. `/bc`.
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The raw body (chunked transfer coding removed).
    pub body: Vec<u8>,
    /// The body decoded as `application/x-www-form-urlencoded`.
    pub form: Vec<(String, String)>,
    /// The decoded `logout_token` form field, if present.
    pub logout_token: Option<String>,
    /// The status code the receiver answered with.
    pub status: u16,
    /// When the request was complete.
    pub at: Instant,
}

impl ReceivedLogout {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct State {
    attempts: Vec<ReceivedLogout>,
    fail_remaining: usize,
}

/// Listens on `127.0.0.1:<free port>`, answers every request (200, or 500 while
/// [`fail_first`](Self::fail_first) lasts) and records it. Stops listening when dropped.
#[derive(Debug)]
pub struct BackchannelReceiver {
    port: u16,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl BackchannelReceiver {
    /// Binds a free loopback port and starts answering.
    pub async fn start() -> BackchannelReceiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let task = Some(tokio::spawn(serve(listener, state.clone())));
        BackchannelReceiver { port, state, task }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port><path>`, to register as an application's back-channel logout URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers 500 to the next `n` requests, then 200 again.
    pub fn fail_first(&self, n: usize) {
        self.lock().fail_remaining = n;
    }

    /// The POST requests answered with 2xx, i.e. the deliveries that succeeded.
    pub fn received(&self) -> Vec<ReceivedLogout> {
        let state = self.lock();
        let ok = |r: &&ReceivedLogout| r.method == "POST" && (200..300).contains(&r.status);
        state.attempts.iter().filter(ok).cloned().collect()
    }

    /// Every request, including those answered with 500.
    pub fn attempts(&self) -> Vec<ReceivedLogout> {
        self.lock().attempts.clone()
    }

    /// Waits until at least `count` deliveries succeeded and returns them; panics after
    /// `timeout` listing what arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedLogout> {
        if crate::wait_until(timeout, || async { self.received().len() >= count }).await {
            return self.received();
        }
        panic!(
            "expected {count} back-channel deliveries within {timeout:?}; attempts: {:#?}",
            self.attempts()
        );
    }

    /// Stops listening: connections are refused until [`start_again`](Self::start_again).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await; // the listener is closed once the task is dropped
        }
    }

    /// Listens again on the same port, keeping what was recorded.
    pub async fn start_again(&mut self) {
        self.stop().await;
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap_or_else(|e| panic!("rebind 127.0.0.1:{}: {e}", self.port));
        self.task = Some(tokio::spawn(serve(listener, self.state.clone())));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("receiver state lock")
    }
}

impl Drop for BackchannelReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(handle(stream, state.clone()));
    }
}

/// A parsed request: method, target, headers, body.
pub(crate) type RawRequest = (String, String, Vec<(String, String)>, Vec<u8>);

async fn handle(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let request = tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await;
    let status = match request {
        Ok(Ok(Some((method, path, headers, body)))) => {
            let mut state = state.lock().expect("receiver state lock");
            let status = if state.fail_remaining > 0 {
                state.fail_remaining -= 1;
                500
            } else {
                200
            };
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let logout_token = form
                .iter()
                .find(|(k, _)| k == "logout_token")
                .map(|(_, v)| v.clone());
            let at = Instant::now();
            let received = ReceivedLogout {
                method,
                path,
                headers,
                body,
                form,
                logout_token,
                status,
                at,
            };
            state.attempts.push(received);
            status
        }
        Ok(Ok(None)) => return, // closed before sending anything
        _ => 400,
    };
    let reason = match status {
        200 => "OK",
        500 => "Internal Server Error",
        _ => "Bad Request",
    };
    let response =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn invalid(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_owned())
}

/// Reads one HTTP/1.1 request; `None` if the peer closed the connection before a full head.
pub(crate) async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<RawRequest>> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_REQUEST || read_more(stream, &mut buf).await? == 0 {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let (Some(method), Some(path)) = (request_line.next(), request_line.next()) else {
        return Err(invalid("malformed request line"));
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = match header("content-length") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| invalid("bad content-length"))?,
        None => 0,
    };
    let mut body = buf.split_off(head_end + 4);
    let body = loop {
        if chunked {
            if let Some(decoded) = decode_chunked(&body)? {
                break decoded;
            }
        } else if body.len() >= length {
            body.truncate(length);
            break body;
        }
        if body.len() > MAX_REQUEST || read_more(stream, &mut body).await? == 0 {
            return Err(invalid("body shorter than announced"));
        }
    };
    Ok(Some((method.to_owned(), path.to_owned(), headers, body)))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Decodes a chunked body; `Ok(None)` while it is incomplete (trailers are ignored).
fn decode_chunked(mut data: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        if &data[size..size + 2] != b"\r\n" {
            return Err(invalid("chunk longer than its size"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
#[path = "backchannel_tests.rs"]
mod tests;
