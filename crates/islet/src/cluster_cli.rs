//! `islet cluster status`: what the cluster's database says about its nodes and agents.

use std::process::ExitCode;

use anyhow::Context as _;

/// Cluster mode's operations.
#[derive(clap::Subcommand)]
pub(crate) enum ClusterCommand {
    /// Nodes (heartbeat age, agents held), agents' leases (holder, epoch, age) and the
    /// replication log not yet folded into snapshots.
    Status(StatusArgs),
}

#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    /// The cluster's PostgreSQL database (as given to `islet serve --cluster`).
    #[arg(
        long = "cluster",
        value_name = "URL",
        env = "ISLET_CLUSTER",
        hide_env_values = true
    )]
    url: String,
    /// Print the status as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn cluster(command: ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::Status(args) => status(args).await,
    }
}

#[allow(clippy::print_stdout, reason = "the command's output")]
async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let status = ::cluster::Cluster::status_of(&args.url)
        .await
        .context("cannot read the cluster's status")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<24} {:>8} {:>14} {:>16}",
        "NODE", "ADVERTISE", "AGENTS", "HEARTBEAT AGE", "UNSNAPSHOTTED"
    );
    for node in &status.nodes {
        println!(
            "{:<20} {:<24} {:>8} {:>12.1} s {:>16}",
            node.node_id,
            node.advertise,
            node.agents,
            node.heartbeat_age_ms as f64 / 1000.0,
            format!("{} B", node.log_bytes)
        );
    }
    println!();
    println!(
        "{:<40} {:<20} {:>6} {:>12} {:>14} {:>16}",
        "AGENT", "NODE", "EPOCH", "LEASE AGE", "EXPIRES IN", "UNSNAPSHOTTED"
    );
    for lease in &status.leases {
        println!(
            "{:<40} {:<20} {:>6} {:>10.1} s {:>12.1} s {:>16}",
            lease.agent,
            lease.node_id,
            lease.epoch,
            lease.age_ms as f64 / 1000.0,
            lease.expires_in_ms as f64 / 1000.0,
            format!("{} B", lease.log_bytes)
        );
    }
    println!();
    println!(
        "{} agents; replication log not yet in snapshots: {} segments, {} bytes (what a takeover \
         replays; appends are synchronous, so no acknowledged write lags)",
        status.agents, status.log_segments, status.log_bytes
    );
    Ok(ExitCode::SUCCESS)
}
