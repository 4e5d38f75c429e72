//! HTTP/1.1 bytes over a plain socket, for what an HTTP client will not send: a head or a
//! body that stops arriving, conflicting framing, bad header bytes. The response is read
//! up to the server closing the connection.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Far above every timeout a test configures: only a server that never answers (or never
/// closes) fails it.
pub const GENEROUS: Duration = Duration::from_secs(20);

/// A response read up to the server closing the connection.
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl RawResponse {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Connects to `base` (`http://host:port`), sends `bytes`, then nothing more; the stream
/// stays open for the test to send more or to read.
///
/// # Panics
/// When the server cannot be reached.
pub async fn send(base: &str, bytes: &[u8]) -> TcpStream {
    let mut stream =
        TcpStream::connect(base.trim_start_matches("http://")).await.expect("a connection");
    stream.write_all(bytes).await.expect("the request is sent");
    stream.flush().await.expect("the request is sent");
    stream
}

/// Reads until the server closes the connection (a reset after a response counts as
/// closed), within [`GENEROUS`], and parses the response.
///
/// # Panics
/// When the connection is neither answered nor closed in time, or the answer is no HTTP
/// response.
pub async fn read_until_closed<R: AsyncRead + Unpin>(stream: &mut R) -> RawResponse {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(GENEROUS, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => {
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    assert!(
        read.as_ref().is_ok_and(Result::is_ok),
        "no answer and no close ({read:?}); received {:?}",
        String::from_utf8_lossy(&raw)
    );
    parse(&raw)
}

/// Reads one response (its head and a `Content-Length` body) and leaves the connection open,
/// within [`GENEROUS`].
///
/// # Panics
/// When no complete response arrives in time.
pub async fn read_response<R: AsyncRead + Unpin>(stream: &mut R) -> RawResponse {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(GENEROUS, async {
        let mut byte = [0u8; 1];
        loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse(&raw[..end + 4]);
                let length: usize =
                    head.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                if raw.len() >= end + 4 + length {
                    return Ok(());
                }
            }
            // One byte at a time: nothing of a next response is consumed.
            match stream.read(&mut byte).await {
                Ok(0) => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
                Ok(_) => raw.push(byte[0]),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    assert!(
        read.as_ref().is_ok_and(Result::is_ok),
        "no complete response ({read:?}); received {:?}",
        String::from_utf8_lossy(&raw)
    );
    parse(&raw)
}

/// [`send`], then [`read_until_closed`].
pub async fn exchange(base: &str, bytes: &[u8]) -> RawResponse {
    read_until_closed(&mut send(base, bytes).await).await
}

fn parse(raw: &[u8]) -> RawResponse {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {text:?}"));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse { status, headers, body: body.to_owned() }
}
