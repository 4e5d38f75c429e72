//! OpenTelemetry traces over OTLP/HTTP (the `otlp` feature; `[traces]` in the settings).
//!
//! Spans, not events: every `tracing` span at the log filter's level (a request, the use
//! case it runs) becomes an OpenTelemetry span, batched and posted as protobuf to
//! `<traces.otlp_endpoint>/v1/traces` from the batch processor's own thread. Log lines stay
//! in the log: they are not copied into the spans, so a trace carries timings, routes and
//! statuses, and whatever a span's own fields say (a use case's `user.id`), nothing more.
//!
//! A request joins its caller's trace when it carries a W3C `traceparent`
//! ([`W3cTraceContext`]); its trace id is then recorded on the request span, which every
//! JSON log line within it shows.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::{Layer as _, Registry};

use crate::config::TracesSettings;
use crate::telemetry::TracesLayer;

/// The span exporter of a serving process; [`TraceExport::shutdown`] sends what is left.
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Exports to the collector `settings` name, or `None` when traces are off.
    ///
    /// # Errors
    /// When the exporter cannot be built (an endpoint that does not parse).
    pub fn start(settings: &TracesSettings) -> anyhow::Result<Option<Self>> {
        let Some(endpoint) = settings.endpoint() else {
            return Ok(None);
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .build()
            .context("cannot set up the OTLP trace exporter (traces.otlp_endpoint)")?;
        let sampler =
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(sampler)
            .with_resource(
                Resource::builder()
                    .with_service_name(settings.service_name.trim().to_owned())
                    .with_attribute(opentelemetry::KeyValue::new(
                        "service.version",
                        env!("CARGO_PKG_VERSION"),
                    ))
                    .build(),
            )
            .build();
        Ok(Some(Self { provider }))
    }

    /// The layer that turns spans (only spans: events stay in the log) into exported ones.
    #[must_use]
    pub fn layer(&self) -> TracesLayer {
        tracing_opentelemetry::layer::<Registry>()
            .with_tracer(self.provider.tracer("slugbase"))
            .with_location(false)
            .with_threads(false)
            .with_filter(filter_fn(|meta| meta.is_span()))
            .boxed()
    }

    /// Sends the spans not yet sent and stops the exporter (blocking: call it off the async
    /// workers).
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "trace export did not finish cleanly at shutdown");
        }
    }
}

/// W3C Trace Context for requests: a valid `traceparent` makes the request span its
/// child (and its sampling decision the request's); anything else starts a new trace.
#[derive(Debug, Default)]
pub struct W3cTraceContext {
    propagator: TraceContextPropagator,
}

impl W3cTraceContext {
    /// The request tracing the web layer calls for each request.
    #[must_use]
    pub fn shared() -> Arc<dyn slugbase_web::RequestTracing> {
        Arc::new(Self::default())
    }
}

impl slugbase_web::RequestTracing for W3cTraceContext {
    fn join(&self, span: &tracing::Span, headers: &HeaderMap) -> Option<String> {
        let parent = self.propagator.extract(&Headers(headers));
        if parent.span().span_context().is_valid() {
            // Refused only without the exporter's layer, when there is no trace to join.
            span.set_parent(parent).ok()?;
        }
        let context = span.context();
        let ours = context.span().span_context().clone();
        ours.is_valid().then(|| ours.trace_id().to_string())
    }
}

/// A request's headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(actix_web::http::header::HeaderName::as_str).collect()
    }
}
