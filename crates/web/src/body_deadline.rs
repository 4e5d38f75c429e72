//! A request body must arrive in full within `body_read_timeout` of its head. Without this,
//! a client that announces `Content-Length: 100` and sends 10 bytes holds its connection
//! (and the memory behind it) for as long as it likes: actix times out request heads and
//! idle keep-alive connections, never a body being read.
//!
//! [`limit_body_time`] wraps every request's payload, whatever route reads it, in a stream
//! that fails with [`body_timed_out`] once the deadline passes while it waits for data.
//! The body reader (`extract::body`) turns that failure into 408; a reader that does not
//! know it is overruled here: once the deadline has fired, the response is 408 whatever the
//! handler said. Either way the response says `Connection: close`.
//!
//! The middleware also keeps the payload alive until the response has been sent
//! ([`KeepPayload`]). actix closes the connection after a response whose request body was
//! not read to its end — but only while the body's reader still exists: once it is
//! dropped, a chunked body is drained instead, which waits as long as the client keeps the
//! connection open and sends nothing.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::rt::time::{Instant, Sleep, sleep_until};
use actix_web::web::{Bytes, Data};
use actix_web::{HttpMessage as _, ResponseError as _};
use futures::{FutureExt as _, Stream, StreamExt as _};

use crate::error::ApiError;
use crate::extract::AppState;
use crate::extract::body::body_timed_out;

/// The request's payload, shared by the stream the handler reads and the middleware.
struct Shared {
    payload: Payload,
    timed_out: bool,
}

/// The payload, failing once `deadline` passes while no data is ready.
struct DeadlineStream {
    shared: Rc<RefCell<Shared>>,
    deadline: Instant,
    /// Created on the first wait only: a body that is already there costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Stream for DeadlineStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut shared = this.shared.borrow_mut();
        if shared.timed_out {
            return Poll::Ready(Some(Err(body_timed_out())));
        }
        // Data already received wins over an elapsed deadline.
        if let Poll::Ready(item) = shared.payload.poll_next_unpin(cx) {
            return Poll::Ready(item);
        }
        let deadline = this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        match timer.poll_unpin(cx) {
            Poll::Ready(()) => {
                shared.timed_out = true;
                Poll::Ready(Some(Err(body_timed_out())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Middleware: the body deadline for every route (see the module comment).
pub(crate) async fn limit_body_time<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<KeepPayload>, actix_web::Error> {
    let payload = req.take_payload();
    if matches!(payload, Payload::None) {
        // No body announced: nothing to wait for.
        let res = next.call(req).await?;
        return Ok(res.map_body(|_, body| KeepPayload { body: BoxBody::new(body), payload: None }));
    }
    let timeout = req
        .app_data::<Data<AppState>>()
        .map_or(crate::DEFAULT_BODY_READ_TIMEOUT, |state| state.config.body_read_timeout);
    let shared = Rc::new(RefCell::new(Shared { payload, timed_out: false }));
    let stream = DeadlineStream {
        shared: Rc::clone(&shared),
        deadline: deadline_after(timeout),
        timer: None,
    };
    req.set_payload(Payload::Stream { payload: Box::pin(stream) });
    let res = next.call(req).await?;
    let timed_out = shared.borrow().timed_out;
    let res = if timed_out {
        let (req, _) = res.into_parts();
        ServiceResponse::new(req, ApiError::request_timeout().error_response())
            .map_into_boxed_body()
    } else {
        res.map_into_boxed_body()
    };
    Ok(res.map_body(|_, body| KeepPayload { body, payload: Some(shared) }))
}

/// A response body that holds the request's payload until actix has sent it. actix decides
/// whether to close the connection or drain an unread body when the response body ends;
/// the payload still alive then means "unread", hence closed (see the module comment).
pub(crate) struct KeepPayload {
    body: BoxBody,
    /// Held, not read: dropped with the body.
    payload: Option<Rc<RefCell<Shared>>>,
}

impl MessageBody for KeepPayload {
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

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        match self.payload {
            // Nothing to hold: the body may be taken whole.
            None => self.body.try_into_bytes().map_err(|body| Self { body, payload: None }),
            Some(_) => Err(self),
        }
    }
}

/// Now plus `timeout`, saturating far in the future for absurd values.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(60 * 60 * 24 * 365))
}
