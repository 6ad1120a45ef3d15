//! `--otlp-endpoint`: every span islet logs at info level (http_request, agent_call,
//! think_turn, think_step, think_tool_call, …) also goes to an OpenTelemetry collector over
//! OTLP/HTTP (protobuf, `POST URL/v1/traces`), with its parent, as service `islet`.
//!
//! Spans are batched by the SDK's batch processor on a thread of its own, so a request
//! never waits for the collector: when its queue is full, spans are dropped, not awaited.
//! A collector that is down is logged once (and once more when it is back), not per batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// A collector slower than this fails the batch (which is dropped) instead of holding up
/// the ones behind it.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The tracer provider exporting to `endpoint` (the collector's base URL, e.g.
/// `http://127.0.0.1:4318`). Shut it down before exiting: that sends what is still queued.
pub(crate) fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let base = endpoint.trim_end_matches('/');
    let url: reqwest::Url = base
        .parse()
        .with_context(|| format!("--otlp-endpoint {endpoint}: not a URL"))?;
    anyhow::ensure!(
        matches!(url.scheme(), "http" | "https"),
        "--otlp-endpoint {endpoint}: OTLP/HTTP needs an http:// or https:// URL (e.g. http://127.0.0.1:4318)"
    );
    let client = codemode::egress::tls::client_builder()
        .map_err(anyhow::Error::msg)?
        .timeout(EXPORT_TIMEOUT)
        .build()
        .context("cannot build the OTLP HTTP client")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-export")
        .enable_all()
        .build()
        .context("cannot start the OTLP export runtime")?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OnRuntime { client, runtime })
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .with_context(|| format!("--otlp-endpoint {endpoint}: cannot build the OTLP exporter"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("islet")
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(LogOnce {
            inner: exporter,
            endpoint: base.to_owned(),
            failing: AtomicBool::new(false),
        })
        .with_resource(resource)
        .build())
}

/// The OTLP exporter, logging the first failure of a run of failed exports (and the
/// recovery), so a collector that is down costs one log line, not one per batch.
#[derive(Debug)]
struct LogOnce {
    inner: opentelemetry_otlp::SpanExporter,
    endpoint: String,
    failing: AtomicBool,
}

impl SpanExporter for LogOnce {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        match &result {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => tracing::warn!(
                "cannot export spans to the OTLP collector at {}: {e} (spans are dropped \
                 until it answers; logged once)",
                self.endpoint
            ),
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => tracing::warn!(
                "exporting spans to the OTLP collector at {} again",
                self.endpoint
            ),
            _ => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// islet's HTTP client on a one-thread runtime of its own: the batch processor drives
/// exports from a plain thread (no reactor), so each request is handed to this runtime.
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for OnRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnRuntime")
    }
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
