//! `islet bench linuxbox`: Linux sandboxes: `true` in a fresh sandbox (start included), in
//! a pre-started one (`Spares`), in a warm one, and the workspace sync of 100 small files.

use super::{machine, percentile};
use linuxbox::{Config, ExecOptions, Linuxbox, Spares};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use store::{DataDir, Env};

#[derive(clap::Args)]
pub(crate) struct LinuxboxArgs {
    /// Timed samples per figure (the median is reported).
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// Files in the workspace for the sync figures.
    #[arg(long, default_value_t = 100)]
    files: usize,
    /// The init executable to start in each sandbox (default: this binary's
    /// `linuxbox-init`), e.g. the small `linuxbox-init` binary of the linuxbox crate.
    #[arg(long)]
    init: Option<std::path::PathBuf>,
    /// Where the sandboxes' `/workspace` copies go (default: /dev/shm when it is a
    /// directory, else the temp dir). The copy is a cache of the SQLite workspace, so a
    /// tmpfs suits it; on this VM's ext4 creating files is slow (see ARCHITECTURE.md).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
}

pub(super) async fn linuxbox(args: LinuxboxArgs) -> anyhow::Result<Value> {
    let parent = args.state_dir.clone().unwrap_or_else(|| {
        let shm = std::path::Path::new("/dev/shm");
        if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    });
    let scratch = super::Scratch::new(&parent, "islet-bench-linuxbox");
    std::fs::create_dir_all(scratch.path())?;
    run(&args, scratch.path()).await
}

async fn run(args: &LinuxboxArgs, dir: &std::path::Path) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}, state in {}", dir.display());
    let init = match &args.init {
        Some(path) => vec![path.into()],
        None => vec![std::env::current_exe()?.into(), "linuxbox-init".into()],
    };
    let config = Config::new(init, dir.join("box"));
    let options = ExecOptions::default;

    // Baselines timed in the same run, so the figures can be read as ratios on a shared
    // machine: a plain fork/exec of `true`, and bubblewrap's minimal sandbox around it.
    eprintln!(
        "baselines: {} × spawn `true`, bare bubblewrap…",
        args.samples
    );
    let mut spawn_true = spawn_times(
        args.samples,
        &mut std::process::Command::new("/usr/bin/true"),
    )?;
    let mut bare_bwrap = spawn_times(
        args.samples,
        std::process::Command::new("bwrap").args([
            "--unshare-all",
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "/usr/bin/true",
        ]),
    )?;

    eprintln!("fresh: {} × start a sandbox and exec `true`…", args.samples);
    let mut fresh = Vec::with_capacity(args.samples);
    let mut stop = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let t = Instant::now();
        let sandbox = Linuxbox::start(config.clone()).await?;
        let result = sandbox.exec_argv(&["true"], options()).await?;
        fresh.push(t.elapsed());
        anyhow::ensure!(result.success(), "`true` failed: {result:?}");
        let t = Instant::now();
        sandbox.shutdown().await;
        stop.push(t.elapsed());
    }

    // Fresh sandboxes from a pool started ahead (`Spares`), with a pause after each so
    // the background refill is done: the case of an agent whose sandbox was prepared.
    let spare_samples = args.samples.min(50);
    eprintln!("spares: {spare_samples} × take a pre-started sandbox and exec `true`…");
    let spares = Spares::new(config.clone(), 2).await?;
    let mut from_spares = Vec::with_capacity(spare_samples);
    for _ in 0..spare_samples {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let sandbox = spares.take().await?;
        let result = sandbox.exec_argv(&["true"], options()).await?;
        from_spares.push(t.elapsed());
        anyhow::ensure!(result.success(), "`true` failed: {result:?}");
        sandbox.shutdown().await;
    }
    drop(spares);

    let sandbox = Linuxbox::start(config.clone()).await?;
    let capabilities = sandbox.capabilities();
    eprintln!("warm: {} × exec `true` in one sandbox…", args.samples);
    let warm_argv = timed(args.samples, || async {
        let result = sandbox.exec_argv(&["true"], options()).await?;
        anyhow::ensure!(result.success(), "{result:?}");
        Ok(())
    })
    .await?;
    let warm_shell = timed(args.samples, || async {
        let result = sandbox.exec("true", options()).await?;
        anyhow::ensure!(result.success(), "{result:?}");
        Ok(())
    })
    .await?;

    eprintln!("sync: {} files of 200 bytes…", args.files);
    let data = DataDir::open(dir.join("data"), Env::default())?;
    let mut db = data.open_agent("Bench", "sync")?;
    for i in 0..args.files {
        db.workspace()
            .write(&format!("/src/file{i:03}.txt"), &[b'x'; 200])?;
    }
    // The first sync of a sandbox copies every file; a median over fresh sandboxes.
    let mut first_copy = Vec::new();
    for _ in 0..10 {
        let other = Linuxbox::start(config.clone()).await?;
        // Let its start-up finish: measured is the copy, not CPU shared with bubblewrap.
        other.exec_argv(&["true"], options()).await?;
        let t = Instant::now();
        let first = other.sync_in(&mut db)?;
        first_copy.push(t.elapsed());
        anyhow::ensure!(first.to_sandbox.len() == args.files, "{first:?}");
        other.shutdown().await;
    }
    sandbox.sync_in(&mut db)?;
    // Unchanged: the common case before and after a command that wrote nothing.
    let mut unchanged = Vec::with_capacity(args.samples);
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..args.samples {
        let t = Instant::now();
        let report = sandbox.sync_in(&mut db)?;
        unchanged.push(t.elapsed());
        anyhow::ensure!(report.to_sandbox.is_empty(), "{report:?}");
    }
    let mut out_all = Vec::new();
    for round in 0..20 {
        let result = sandbox
            .exec(
                &format!("for f in src/*.txt; do echo {round} >> $f; done"),
                options(),
            )
            .await?;
        anyhow::ensure!(result.success(), "{result:?}");
        let t = Instant::now();
        let report = sandbox.sync_out(&mut db)?;
        out_all.push(t.elapsed());
        anyhow::ensure!(report.to_workspace.len() == args.files, "{report:?}");
    }
    sandbox.shutdown().await;

    // What an agent's command costs (`this.sandbox.exec`, `POST …/sandbox/exec`, less the
    // agent host's own trip): `Sandboxes::call` with the workspace of `files` files synced
    // in before and out after, in a warm sandbox.
    eprintln!(
        "agent path: {} × exec `true` with the workspace synced around it…",
        args.samples
    );
    let agent_db = std::sync::Mutex::new(data.open_agent("Bench", "agent")?);
    for i in 0..args.files {
        base::sync::lock(&agent_db)
            .workspace()
            .write(&format!("/src/file{i:03}.txt"), &[b'x'; 200])?;
    }
    let sandboxes = linuxbox::Sandboxes::new(config.clone());
    let sync = |sandbox: std::sync::Arc<Linuxbox>, prefer: linuxbox::Prefer| {
        let db = &agent_db;
        async move {
            let mut db = base::sync::lock(db);
            match prefer {
                linuxbox::Prefer::Workspace => sandbox.sync_in(&mut db),
                linuxbox::Prefer::Sandbox => sandbox.sync_out(&mut db),
            }
        }
    };
    let exec_true = || json!({ "command": "true" });
    sandboxes
        .call("Bench/agent", None, "exec", exec_true(), &sync)
        .await?;
    let mut agent_exec = timed(args.samples, || async {
        let result = sandboxes
            .call("Bench/agent", None, "exec", exec_true(), &sync)
            .await?;
        anyhow::ensure!(result["exitCode"] == json!(0), "{result}");
        Ok(())
    })
    .await?;
    sandboxes.release("Bench/agent");

    let ms = |us: f64| (us / 100.0).round() / 10.0;
    let fresh_p50 = ms(percentile(&mut fresh, 50.0));
    Ok(json!({
        "bench": "linuxbox",
        "machine": machine,
        "sandbox": capabilities,
        "state_dir": dir,
        "baseline_spawn_true_p50_ms": ms(percentile(&mut spawn_true, 50.0)),
        "baseline_bare_bwrap_true_p50_ms": ms(percentile(&mut bare_bwrap, 50.0)),
        "fresh_exec_true_p50_ms": fresh_p50,
        "fresh_exec_true_p90_ms": ms(percentile(&mut fresh, 90.0)),
        "shutdown_p50_ms": ms(percentile(&mut stop, 50.0)),
        "fresh_from_spares_exec_true_p50_ms": ms(percentile(&mut from_spares, 50.0)),
        "warm_exec_true_p50_ms": ms(percentile(&mut warm_argv.clone(), 50.0)),
        "warm_exec_sh_c_true_p50_ms": ms(percentile(&mut warm_shell.clone(), 50.0)),
        "sync_in_first_copy_p50_ms": ms(percentile(&mut first_copy, 50.0)),
        "sync_unchanged_p50_ms": ms(percentile(&mut unchanged, 50.0)),
        "sync_out_all_changed_p50_ms": ms(percentile(&mut out_all, 50.0)),
        "agent_exec_sh_c_true_synced_p50_ms": ms(percentile(&mut agent_exec, 50.0)),
        "files": args.files,
        "targets": {
            "fresh_exec_true_p50_ms": 15,
            "warm_exec_true_p50_ms": 5,
            "sync_100_files_ms": 20,
        },
    }))
}

async fn timed<F, Fut>(samples: usize, mut f: F) -> anyhow::Result<Vec<Duration>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..10 {
        f().await?;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    Ok(times)
}

fn spawn_times(
    samples: usize,
    command: &mut std::process::Command,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let status = command.status()?;
        times.push(t.elapsed());
        anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    }
    Ok(times)
}
