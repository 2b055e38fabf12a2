//! [`SmtpReceiver`]: a small SMTP server on loopback (RFC 5321: `EHLO`/`HELO`, `MAIL`, `RCPT`,
//! `DATA`, `RSET`, `NOOP`, `QUIT`; no `STARTTLS`, no `AUTH`) that keeps every message it accepts,
//! so that end-to-end tests hold a real SMTP conversation with the server and read the links out of
//! the mail it sends.
//!
//! [`ReceivedMail::text`] decodes what a mailer typically sends (quoted-printable or base64 parts
//! of a `multipart/alternative`), and [`ReceivedMail::link`] finds a URL in it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The largest message accepted (the `SIZE` announced in `EHLO`).
const MAX_MESSAGE: usize = 1024 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One accepted message.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message as sent after `DATA` (headers and body), dot-unstuffed, CRLF line ends.
    pub data: String,
    /// When `DATA` ended.
    pub at: Instant,
}

impl ReceivedMail {
    /// The first value of header `name` (case-insensitive; folded lines joined).
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(head_of(&self.data), name)
    }

    /// The decoded `Subject` (RFC 2047 encoded words in UTF-8, `B` or `Q`).
    pub fn subject(&self) -> Option<String> {
        self.header("subject").map(|s| decode_words(&s))
    }

    /// Every text part, decoded (quoted-printable, base64 or plain), in order, joined by blank
    /// lines: `text/plain` and `text/html` alike.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        collect_text(&self.data, &mut out);
        out.join("\n\n")
    }

    /// The first URL in [`text`](Self::text) that starts with `prefix` (up to whitespace, a quote,
    /// `<` or `>`), with `&amp;` turned back into `&`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(prefix)?;
        let rest = &text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .unwrap_or(rest.len());
        Some(rest[..end].replace("&amp;", "&"))
    }
}

#[derive(Debug, Default)]
struct State {
    mail: Vec<ReceivedMail>,
    /// Answer the next N `RCPT TO` with a temporary failure (`451`).
    defer_remaining: usize,
}

/// Listens on `127.0.0.1:<port>` and accepts every message (unless told to defer some). Stops
/// listening when dropped.
#[derive(Debug)]
pub struct SmtpReceiver {
    port: u16,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpReceiver {
    /// Binds a free loopback port and starts answering.
    pub async fn start() -> SmtpReceiver {
        Self::start_on(0).await
    }

    /// Binds this loopback port (0: a free one): a receiver that comes back on the port of one
    /// that was dropped, for tests of mail queued while the SMTP server was down.
    pub async fn start_on(port: u16) -> SmtpReceiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the SMTP receiver on loopback");
        let port = listener.local_addr().expect("local address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let task = Some(tokio::spawn(serve(listener, state.clone())));
        SmtpReceiver { port, state, task }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:<port>`, for `LATCH_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.state.lock().expect("receiver state").mail.clone()
    }

    /// The messages sent to `address` (case-insensitive), oldest first.
    pub fn messages_to(&self, address: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Answers the next `n` recipients with `451` (a temporary failure the sender must retry).
    pub fn defer_next(&self, n: usize) {
        self.state.lock().expect("receiver state").defer_remaining = n;
    }

    /// Waits until `n` messages have reached `address`; panics with what arrived after `timeout`.
    pub async fn wait_for(&self, address: &str, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages_to(address);
            if got.len() >= n {
                return got;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {n} message(s) to {address} within {timeout:?}, got {}: {:?}",
                    got.len(),
                    self.messages()
                        .iter()
                        .map(|m| (m.to.clone(), m.subject()))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                sessions.spawn(session(stream, state.clone()));
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
}

/// Reads one CRLF (or LF) terminated line, without its end; `None` at EOF, on a too-long line or
/// after the idle timeout.
async fn read_line(reader: &mut BufReader<TcpStream>, buf: &mut Vec<u8>) -> Option<String> {
    buf.clear();
    let n = tokio::time::timeout(IDLE_TIMEOUT, reader.read_until(b'\n', buf))
        .await
        .ok()?
        .ok()?;
    if n == 0 || buf.len() > MAX_MESSAGE {
        return None;
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Some(String::from_utf8_lossy(buf).into_owned())
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    if reply(&mut reader, "220 latch-testkit ESMTP ready")
        .await
        .is_err()
    {
        return;
    }
    while let Some(line) = read_line(&mut reader, &mut buf).await {
        let upper = line.to_ascii_uppercase();
        let answer = if upper.starts_with("EHLO") {
            format!("250-latch-testkit\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE {MAX_MESSAGE}")
        } else if upper.starts_with("HELO") {
            "250 latch-testkit".to_owned()
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(address(&line["MAIL FROM:".len()..]));
            to.clear();
            "250 OK".to_owned()
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                "503 MAIL first".to_owned()
            } else {
                let deferred = {
                    let mut s = state.lock().expect("receiver state");
                    let d = s.defer_remaining > 0;
                    s.defer_remaining = s.defer_remaining.saturating_sub(1);
                    d
                };
                if deferred {
                    "451 Try again later".to_owned()
                } else {
                    to.push(address(&line["RCPT TO:".len()..]));
                    "250 OK".to_owned()
                }
            }
        } else if upper == "DATA" {
            if from.is_none() || to.is_empty() {
                "503 RCPT first".to_owned()
            } else {
                if reply(&mut reader, "354 End data with <CR><LF>.<CR><LF>")
                    .await
                    .is_err()
                {
                    return;
                }
                let Some(data) = read_data(&mut reader, &mut buf).await else {
                    return;
                };
                state
                    .lock()
                    .expect("receiver state")
                    .mail
                    .push(ReceivedMail {
                        from: from.take().unwrap_or_default(),
                        to: std::mem::take(&mut to),
                        data,
                        at: Instant::now(),
                    });
                "250 OK queued".to_owned()
            }
        } else if upper == "RSET" {
            from = None;
            to.clear();
            "250 OK".to_owned()
        } else if upper == "NOOP" {
            "250 OK".to_owned()
        } else if upper == "QUIT" {
            let _ = reply(&mut reader, "221 Bye").await;
            return;
        } else {
            "502 Command not implemented".to_owned()
        };
        if reply(&mut reader, &answer).await.is_err() {
            return;
        }
    }
}

async fn reply(reader: &mut BufReader<TcpStream>, text: &str) -> std::io::Result<()> {
    let stream = reader.get_mut();
    stream.write_all(text.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

/// `<a@b>` (with optional parameters after it) → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

/// The message after `DATA`, up to the line holding a single dot; dot-unstuffed (RFC 5321 4.5.2).
async fn read_data(reader: &mut BufReader<TcpStream>, buf: &mut Vec<u8>) -> Option<String> {
    let mut data = String::new();
    loop {
        let line = read_line(reader, buf).await?;
        if line == "." {
            return Some(data);
        }
        let line = line.strip_prefix('.').unwrap_or(&line);
        data.push_str(line);
        data.push_str("\r\n");
        if data.len() > MAX_MESSAGE {
            return None;
        }
    }
}

/// The header block of a message or MIME part (up to the first blank line).
fn head_of(part: &str) -> &str {
    let part = part.trim_start_matches(['\r', '\n']);
    match part.find("\r\n\r\n") {
        Some(i) => &part[..i],
        None => part,
    }
}

fn body_of(part: &str) -> &str {
    let part = part.trim_start_matches(['\r', '\n']);
    match part.find("\r\n\r\n") {
        Some(i) => &part[i + 4..],
        None => "",
    }
}

fn header_of(head: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value
}

/// A parameter of a header value: `boundary` of `multipart/alternative; boundary="x"`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn collect_text(part: &str, out: &mut Vec<String>) {
    let head = head_of(part);
    let content_type = header_of(head, "content-type").unwrap_or_else(|| "text/plain".to_owned());
    let body = body_of(part);
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let Some(boundary) = parameter(&content_type, "boundary") else {
            return;
        };
        let delimiter = format!("--{boundary}");
        for piece in body.split(delimiter.as_str()).skip(1) {
            if piece.starts_with("--") {
                break;
            }
            collect_text(piece, out);
        }
        return;
    }
    if !content_type.to_ascii_lowercase().starts_with("text/") {
        return;
    }
    let encoding = header_of(head, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
        _ => body.to_owned(),
    };
    out.push(decoded.replace("\r\n", "\n"));
}

/// RFC 2045 6.7: `=XX` bytes and `=` soft line breaks.
fn decode_quoted_printable(body: &str) -> String {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if bytes[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(hex) = bytes.get(i + 1..i + 3)
                && let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(hex), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 2047 encoded words (`=?UTF-8?B?…?=`, `=?UTF-8?Q?…?=`) in a header value.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let Some(end) = rest[start + 2..].find("?=").map(|e| start + 2 + e) else {
            break;
        };
        let word = &rest[start + 2..end];
        let mut fields = word.splitn(3, '?');
        let (_charset, kind, text) = (fields.next(), fields.next(), fields.next());
        let decoded = match (kind.map(str::to_ascii_uppercase).as_deref(), text) {
            (Some("B"), Some(t)) => base64::engine::general_purpose::STANDARD
                .decode(t)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok(),
            (Some("Q"), Some(t)) => Some(decode_quoted_printable(&t.replace('_', " "))),
            _ => None,
        };
        let between = &rest[..start];
        // Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
        if !between.trim().is_empty() || out.is_empty() {
            out.push_str(between);
        }
        match decoded {
            Some(d) => out.push_str(&d),
            None => out.push_str(&rest[start..end + 2]),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Speaks SMTP line by line; returns every reply line the server sent.
    async fn converse(port: u16, lines: &[&str]) -> Vec<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 8192];
        let mut read_reply = async |stream: &mut TcpStream, replies: &mut Vec<String>| {
            let mut text = String::new();
            // A reply ends with a line whose code is followed by a space.
            loop {
                let n = stream.read(&mut buf).await.expect("read");
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                let last = text.trim_end().lines().last().unwrap_or("").to_owned();
                if n == 0 || (last.len() >= 4 && &last[3..4] == " ") {
                    break;
                }
            }
            replies.extend(text.lines().map(str::to_owned));
        };
        read_reply(&mut stream, &mut replies).await;
        for line in lines {
            stream
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .expect("write");
            read_reply(&mut stream, &mut replies).await;
        }
        replies
    }

    const MESSAGE: &str = "From: Latch <noreply@example.com>\r\n\
To: ada@example.com\r\n\
Subject: =?utf-8?b?UmVzZXQgeW91ciBwYXNzd29yZCDigJQgQWNtZQ==?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Open http://127.0.0.1:8080/password/reset?token=3Dabc&next=3D=\r\n\
1 within 30 minutes.\r\n\
..a line that began with a dot\r\n\
--b1\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PGEgaHJlZj0iaHR0cDovL3gvP2E9MSZhbXA7Yj0yIj54PC9hPg==\r\n\
--b1--\r\n\
.";

    #[tokio::test]
    async fn a_conversation_delivers_a_decodable_message() {
        let rx = SmtpReceiver::start().await;
        let replies = converse(
            rx.port(),
            &[
                "EHLO client",
                "MAIL FROM:<noreply@example.com> SIZE=100",
                "RCPT TO:<Ada@Example.com>",
                "DATA",
                MESSAGE,
                "QUIT",
            ],
        )
        .await;
        assert!(replies[0].starts_with("220 "), "{replies:?}");
        assert!(replies.iter().any(|r| r.starts_with("354 ")), "{replies:?}");
        assert!(
            replies.iter().any(|r| r.starts_with("250 OK queued")),
            "{replies:?}"
        );
        let mail = rx
            .wait_for("ada@example.com", 1, Duration::from_secs(2))
            .await;
        let mail = &mail[0];
        assert_eq!(mail.from, "noreply@example.com");
        assert_eq!(
            mail.subject().as_deref(),
            Some("Reset your password — Acme")
        );
        let text = mail.text();
        assert!(text.contains(".a line that began with a dot"), "{text}");
        assert_eq!(
            mail.link("http://127.0.0.1:8080/password/reset").as_deref(),
            Some("http://127.0.0.1:8080/password/reset?token=abc&next=1")
        );
        assert_eq!(mail.link("http://x/").as_deref(), Some("http://x/?a=1&b=2"));
    }

    #[tokio::test]
    async fn deferred_recipients_get_a_temporary_failure_and_nothing_is_kept() {
        let rx = SmtpReceiver::start().await;
        rx.defer_next(1);
        let replies = converse(
            rx.port(),
            &[
                "HELO client",
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<b@example.com>",
                "DATA",
                "QUIT",
            ],
        )
        .await;
        assert!(replies.iter().any(|r| r.starts_with("451 ")), "{replies:?}");
        assert!(replies.iter().any(|r| r.starts_with("503 ")), "{replies:?}");
        assert!(rx.messages().is_empty());
    }
}
