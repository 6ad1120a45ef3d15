//! `islet bench browser`: the browser rung on a page served on loopback: the first quick
//! action (Chromium started), warm quick actions each in a fresh execution and browser
//! context (as `execute` runs them), and the memory the browser holds.

use super::{machine, percentile};
use codemode::egress::{FetchPolicy, Fetcher, HostRule};
use sandbox::{Bindings, Execution, Sandbox, SandboxConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub(crate) struct BrowserArgs {
    /// Timed executions per quick action (the median is reported).
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// The Chromium program (default: `chromium`, or a Chrome, on PATH).
    #[arg(long, value_name = "PATH")]
    chromium: Option<std::path::PathBuf>,
}

/// A page with some structure: headings, paragraphs, a list, links and a table.
fn page() -> String {
    let mut html = String::from("<html><head><title>Bench</title></head><body><h1>Bench</h1>");
    for i in 0..20 {
        html.push_str(&format!(
            "<h2>Section {i}</h2><p>Paragraph {i} with <a href=\"/p/{i}\">a link</a> and \
             <b>bold</b> text.</p><ul><li>one</li><li>two</li></ul>"
        ));
    }
    html.push_str("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>");
    html.push_str("</body></html>");
    html
}

pub(super) async fn browser(args: BrowserArgs) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");
    let html = page();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}/");

    let fetcher = Arc::new(Fetcher::new(FetchPolicy {
        allowed_hosts: vec![HostRule::new(addr.to_string())],
        allow_private: true,
        ..FetchPolicy::default()
    })?);
    let chromium = browser::Browser::new(browser::BrowserConfig {
        chromium: args.chromium.clone(),
        ..browser::BrowserConfig::default()
    });
    chromium.check()?;
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 })?;
    let run = |code: String| {
        let (bindings, used) = browser::bind(Bindings::new(), &chromium, Arc::clone(&fetcher));
        let sandbox = &sandbox;
        async move {
            let started = Instant::now();
            let outcome = sandbox
                .execute(
                    Execution::new(code)
                        .bindings(bindings)
                        .prelude(browser::PRELUDE),
                )
                .await;
            used.close().await;
            let took = started.elapsed();
            match outcome.error {
                Some(e) => Err(anyhow::anyhow!("the bench's program failed: {}", e.message)),
                None => Ok(took),
            }
        }
    };

    eprintln!("cold: start Chromium and load the page as markdown…");
    let cold = run(format!("return await browser.markdown('{url}')")).await?;
    let mut figures = serde_json::Map::new();
    for (name, code) in [
        (
            "markdown",
            format!("return await browser.markdown('{url}')"),
        ),
        ("links", format!("return await browser.links('{url}')")),
        (
            "scrape",
            format!("return await browser.scrape('{url}', ['h2', 'td'])"),
        ),
        (
            "screenshot",
            format!("return (await browser.screenshot('{url}')).bytes"),
        ),
    ] {
        eprintln!("warm: {} × browser.{name}(page)…", args.samples);
        let mut samples: Vec<Duration> = Vec::with_capacity(args.samples);
        for _ in 0..args.samples {
            samples.push(run(code.clone()).await?);
        }
        figures.insert(
            format!("{name}_ms"),
            json!({
                "p50": ms(percentile(&mut samples, 50.0)),
                "p95": ms(percentile(&mut samples, 95.0)),
            }),
        );
    }
    // What the warm browser holds between executions (no context open).
    let processes = chromium_pids();
    let memory = chromium_pss_kib(&processes);
    chromium.shutdown().await;
    Ok(json!({
        "machine": machine,
        "measures": "each sample is one execute program in a fresh browser context: \
                     open a page on a loopback server, run the quick action, close the \
                     context; every page request goes through islet's egress fetcher",
        "samples": args.samples,
        "cold_first_markdown_ms": ms(cold.as_secs_f64() * 1e6),
        "warm": figures,
        "browser_memory_pss_mib": memory.map(|kib| (kib as f64 / 102.4).round() / 10.0),
        "browser_processes": processes.len(),
    }))
}

/// Microseconds as milliseconds to a tenth.
fn ms(micros: f64) -> f64 {
    (micros / 100.0).round() / 10.0
}

/// Chromium processes islet started (their command lines name islet's profile directory).
fn chromium_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("islet-chromium"))
                .unwrap_or(false)
        })
        .collect()
}

/// The proportional set size of `pids` (shared pages split between them), in KiB; `None`
/// when /proc says nothing of any.
fn chromium_pss_kib(pids: &[u32]) -> Option<u64> {
    let sizes: Vec<u64> = pids
        .iter()
        .filter_map(|pid| {
            let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            rollup
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}
