//! `islet doctor`: which OS hardening layers a worker process gets on this machine, and
//! what Linux sandboxes need and get (bubblewrap, namespaces, seccomp, cgroups); and
//! the escape test behind `islet worker --escape-test`, which hardens itself like a worker
//! and then tries to escape with raw syscalls.

use sandbox::harden::{self, HardenReport, LayerStatus};
use serde_json::json;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub(crate) struct DoctorArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    // Hardening happens in a forked child; this process is left as it is.
    let report = tokio::task::spawn_blocking(harden::probe).await?;
    let linux = tokio::task::spawn_blocking(|| linuxbox::probe::probe(Path::new("bwrap"))).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut json = report_json(&report);
        json["linux_sandboxes"] = json!(linux);
        serde_json::to_writer(&mut out, &json)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", table(&report))?;
        write!(out, "\n{}", linux_table(&linux))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn report_json(report: &HardenReport) -> serde_json::Value {
    let layers: Vec<_> = report
        .layers
        .iter()
        .map(|layer| {
            let reason = match &layer.status {
                LayerStatus::Active => None,
                LayerStatus::Unavailable(reason) => Some(reason.as_str()),
            };
            json!({
                "name": layer.name,
                "active": layer.is_active(),
                "reason": reason,
                "detail": layer.detail,
            })
        })
        .collect();
    let policy = harden::seccomp_policy();
    json!({
        "layers": layers,
        "seccomp": {
            "allowed": policy.allowed,
            "conditional": policy.conditional,
            "eperm": policy.eperm,
            "enosys": policy.enosys,
            "default": "kill_process",
        },
    })
}

fn table(report: &HardenReport) -> String {
    let width = report
        .layers
        .iter()
        .map(|l| l.name.len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{:width$}  {:11}  details\n", "layer", "status");
    for layer in &report.layers {
        let (status, note) = match &layer.status {
            LayerStatus::Active => ("active", layer.detail.as_str()),
            LayerStatus::Unavailable(reason) => ("UNAVAILABLE", reason.as_str()),
        };
        text.push_str(&format!("{:width$}  {status:11}  {note}\n", layer.name));
    }
    let active = report.layers.iter().filter(|l| l.is_active()).count();
    text.push_str(&format!(
        "\n{active} of {} layers active for worker processes on this machine.\n",
        report.layers.len()
    ));
    text
}

/// The Linux sandboxes (`linuxbox`): what they need and get here.
fn linux_table(checks: &[linuxbox::probe::Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut text = format!(
        "{:width$}  {:11}  details (Linux sandboxes)\n",
        "check", "status"
    );
    for check in checks {
        let status = if check.ok { "ok" } else { "UNAVAILABLE" };
        text.push_str(&format!(
            "{:width$}  {status:11}  {}\n",
            check.name, check.detail
        ));
    }
    text
}

/// `islet worker --escape-test`: hardens this process with the production configuration, then
/// tries to escape with raw syscalls ([`harden::escape_test`]) and prints one JSON line per
/// attempt: `{"attempt": "...", "blocked": true|false, "errno": n|null}` (blocked = the call
/// failed). The first line is the hardening report. Must run before any thread exists.
pub(crate) fn escape_test() -> ExitCode {
    let (report, attempts) = harden::escape_test(&harden::HardenConfig::default());
    let mut lines = vec![json!({ "harden": report_json(&report)["layers"] })];
    for attempt in attempts {
        lines.push(json!({
            "attempt": attempt.attempt,
            "blocked": attempt.blocked(),
            "errno": attempt.errno,
        }));
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
