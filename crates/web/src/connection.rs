//! Every request head on a connection, not only the first, must arrive in time; and the
//! answers actix-http writes by itself carry the contract's JSON error shape (`docs/api.md`
//! § Conventions).
//!
//! actix-http's `client_request_timeout` covers a connection's first request head only:
//! once a response has gone out, its keep-alive timer stops at the first byte of the next
//! request, and nothing limits how long the rest of that head may take. One complete
//! request, then the next head one line a second, held a connection (and one of
//! `server.max_connections`) for as long as the client liked.
//!
//! [`Connection`] wraps each accepted socket and keeps that deadline itself. It cannot
//! parse HTTP (actix-http does), so it learns where requests begin and end from the
//! requests themselves ([`track_requests`], the outermost middleware, through the
//! connection's [`Watch`]):
//!
//! - a new connection must deliver its first head within `header_read_timeout` of being
//!   accepted (what actix's own timer did; that timer is switched off);
//! - after a response has been sent, the connection is idle (actix's keep-alive timer,
//!   `server.keep_alive_timeout_secs`, closes it); the first byte that arrives starts the
//!   next head's `header_read_timeout`;
//! - the head is complete when its request reaches the service; from there the body has
//!   `body_read_timeout` (the `body_deadline` middleware) and the handler as long as it
//!   takes.
//!
//! A head that misses its deadline gets 408 `REQUEST_TIMEOUT` in the error shape, written
//! here, and the connection is closed.
//!
//! Between requests, whatever the stack writes is an answer of actix-http's own (400 for a
//! head that does not parse, 431 for one too large, 500 when it fails itself): those come
//! with an empty body. [`Connection`] replaces each with the same status in the error
//! shape, and the connection is closed as actix closes it.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::rt::time::{Instant, Sleep, sleep_until};
use actix_web::web::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::ErrorBody;

/// Where a connection is between its requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Between requests, nothing received yet: actix's keep-alive timer runs.
    Idle,
    /// A request head is arriving and must be complete by this instant.
    Head(Instant),
    /// A request reached the service: its body and handler have their own limits.
    Request,
    /// The response's body has been handed to actix, which is still writing it out; idle
    /// once it is flushed.
    Ending,
}

/// A connection's phase, shared by the socket wrapper and the requests it carries (as
/// connection data, see [`Connection::watch`]).
#[derive(Clone, Debug)]
pub(crate) struct Watch(Rc<Cell<Phase>>);

impl Watch {
    /// A request's head has been read in full: it reached the service.
    fn head_arrived(&self) {
        self.0.set(Phase::Request);
    }

    /// The response has been handed to actix in full.
    fn response_ending(&self) {
        if self.0.get() == Phase::Request {
            self.0.set(Phase::Ending);
        }
    }
}

/// An accepted socket, with the request-head deadline and the reshaping of actix-http's own
/// error answers (see the module comment).
pub(crate) struct Connection {
    io: TcpStream,
    watch: Watch,
    head_timeout: Duration,
    /// Fires at the deadline of the head being read.
    timer: Pin<Box<Sleep>>,
    /// The last write did not go through (the client does not read): nothing of ours may
    /// be written in between.
    write_blocked: bool,
    /// Our answer in place of one actix-http wrote itself, and how much of it is sent; the
    /// rest of actix's answer is swallowed.
    replacement: Option<(Vec<u8>, usize)>,
    /// The head deadline passed: the connection is being closed.
    timed_out: bool,
}

impl Connection {
    /// Wraps a socket just accepted: its first head is due within `head_timeout`.
    pub(crate) fn new(io: TcpStream, head_timeout: Duration) -> Self {
        let deadline = deadline_after(head_timeout);
        Self {
            io,
            watch: Watch(Rc::new(Cell::new(Phase::Head(deadline)))),
            head_timeout,
            timer: Box::pin(sleep_until(deadline)),
            write_blocked: false,
            replacement: None,
            timed_out: false,
        }
    }

    /// The handle the connection's requests report through.
    pub(crate) fn watch(&self) -> Watch {
        self.watch.clone()
    }

    /// The head deadline passed: answer 408 if the socket takes it at once, then fail the
    /// read so actix drops the connection.
    fn time_out(&mut self) -> Poll<io::Result<()>> {
        if !self.timed_out {
            self.timed_out = true;
            tracing::debug!("a request head did not arrive in time; connection closed");
            if !self.write_blocked && self.replacement.is_none() {
                // Read what the client sent meanwhile, so closing is a FIN, not a reset
                // that could destroy the answer before the client reads it.
                let mut scratch = [0u8; 1024];
                while matches!(self.io.try_read(&mut scratch), Ok(n) if n > 0) {}
                let answer = stack_answer(StatusCode::REQUEST_TIMEOUT);
                // Best effort: a fresh socket's send buffer takes a few hundred bytes.
                let _ = self.io.try_write(&answer);
            }
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request head did not arrive in time",
        )))
    }

    /// Sends what is left of the replacement answer.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((bytes, sent)) = &mut self.replacement {
            while *sent < bytes.len() {
                let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *sent += n;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.timed_out {
            return this.time_out();
        }
        if let Phase::Head(deadline) = this.watch.0.get()
            && Instant::now() >= deadline
        {
            return this.time_out();
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        match (&read, this.watch.0.get()) {
            (Poll::Ready(Ok(())), Phase::Idle) if buf.filled().len() > before => {
                // The first byte of the next request: its head is due in head_timeout.
                this.watch.0.set(Phase::Head(deadline_after(this.head_timeout)));
            }
            (Poll::Pending, Phase::Head(deadline)) => {
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_ready() {
                    return this.time_out();
                }
            }
            _ => {}
        }
        read
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacement.is_none()
            && matches!(this.watch.0.get(), Phase::Idle | Phase::Head(_))
            && let Some(status) = stack_error_status(buf)
        {
            // No request is being answered: this is actix-http's own, empty-bodied answer.
            this.replacement = Some((stack_answer(status), 0));
        }
        if this.replacement.is_some() {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        this.write_blocked = written.is_pending();
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        // actix flushes only once its buffer is written: the response is out.
        if this.watch.0.get() == Phase::Ending {
            this.watch.0.set(Phase::Idle);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_replacement(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// The status of an error response at the start of `buf`, if that is what it holds.
fn stack_error_status(buf: &[u8]) -> Option<StatusCode> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ").or_else(|| buf.strip_prefix(b"HTTP/1.0 "))?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !matches!(digits[0], b'4' | b'5') {
        return None;
    }
    StatusCode::from_bytes(digits).ok()
}

/// A complete response for an answer of the HTTP stack's own, in the error shape, that
/// closes the connection.
fn stack_answer(status: StatusCode) -> Vec<u8> {
    let (reason, message) = match status.as_u16() {
        400 => ("MALFORMED_REQUEST", "The request is not valid HTTP/1.1; the connection is closed"),
        408 => {
            ("REQUEST_TIMEOUT", "The request head did not arrive in time; the connection is closed")
        }
        431 => (
            "HEADERS_TOO_LARGE",
            "The request head is too large or has too many headers; the connection is closed",
        ),
        _ if status.is_server_error() => {
            ("INTERNAL_ERROR", "The request failed; the connection is closed")
        }
        _ => ("REQUEST_FAILED", "The request failed; the connection is closed"),
    };
    let phrase = status.canonical_reason().unwrap_or("Error");
    let body = ErrorBody {
        error: phrase.to_owned(),
        message: message.to_owned(),
        code: status.as_u16(),
        reason: reason.to_owned(),
        details: Vec::new(),
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n\
         referrer-policy: no-referrer\r\n\r\n",
        status.as_u16(),
        json.len()
    )
    .into_bytes();
    out.extend_from_slice(&json);
    out
}

/// Now plus `timeout`, saturating far in the future for absurd values.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}

/// Middleware (outermost): tells the connection when a request's head has arrived and when
/// its response has been handed over (see the module comment). Without a [`Watch`] (the
/// handler tests' server) it only passes requests on.
pub(crate) async fn track_requests<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<Tracked>, actix_web::Error> {
    let watch = req.conn_data::<Watch>().cloned();
    if let Some(watch) = &watch {
        watch.head_arrived();
    }
    match next.call(req).await {
        Ok(res) => Ok(res.map_body(|_, body| Tracked {
            body: BoxBody::new(body),
            _ending: watch.map(ResponseEnding),
        })),
        Err(error) => {
            // actix answers the error right away, in one piece.
            if let Some(watch) = &watch {
                watch.response_ending();
            }
            Err(error)
        }
    }
}

/// Marks the response handed over when dropped (actix drops a body once it has taken its
/// last bytes).
struct ResponseEnding(Watch);

impl Drop for ResponseEnding {
    fn drop(&mut self) {
        self.0.response_ending();
    }
}

/// A response body that tells its connection when it has been taken in full.
pub(crate) struct Tracked {
    body: BoxBody,
    _ending: Option<ResponseEnding>,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_error_statuses_at_the_start_of_a_write_count_as_the_stacks_answers() {
        assert_eq!(
            stack_error_status(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(
            stack_error_status(b"HTTP/1.1 400 Bad Request\r\n"),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(stack_error_status(b"HTTP/1.1 100 Continue\r\n\r\n"), None);
        assert_eq!(stack_error_status(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(stack_error_status(b"{\"HTTP/1.1 400"), None);
        assert_eq!(stack_error_status(b"HTTP/1.1 4"), None);
    }

    #[test]
    fn the_stacks_answers_carry_the_seed_shape_and_close_the_connection() {
        let raw =
            String::from_utf8(stack_answer(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["code"], 431);
        assert_eq!(json["error"], "Request Header Fields Too Large");
        assert_eq!(json["reason"], "HEADERS_TOO_LARGE");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}
