//! Criterion benches for the npm rung (BENCHMARKS.md quotes them):
//!
//! - `execute_baseline` and `execute_zod_cached`: one execution without imports, and one
//!   that imports `zod` (bundle already built and in memory) and parses a value; the
//!   difference is what a cached npm import adds to an execution.
//! - Printed before those (no filter skips them): CPU per execution, and the latency of
//!   executions 15 ms apart with zod's bundle as a preload (evaluated ahead of time,
//!   `Execution::preload`) and as a plain prelude.
//! - `first_install_zod_loopback`: a cold cache (new directory, new `Npm`) resolving,
//!   downloading, checking, unpacking and bundling `zod` from a registry on loopback that
//!   serves the public registry's documents and tarballs.
//!
//! Needs the public npm registry once, to fetch what the loopback registry serves.

#![allow(clippy::print_stderr)]

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use npm::{Npm, NpmConfig};
use sandbox::{Execution, Sandbox, SandboxConfig};

const ZOD_PROGRAM: &str =
    "import { z } from \"zod\";\nz.object({ name: z.string() }).parse({ name: \"Ada\" })";

/// What the loopback registry serves: zod's document (tarball URLs rewritten to it) and
/// the tarball of the version `latest` names.
struct Mirror {
    document: String,
    tarball: Vec<u8>,
    file: String,
}

async fn mirror(port: u16) -> Mirror {
    let client = codemode::egress::tls::client_builder()
        .expect("tls")
        .build()
        .expect("client");
    let document = client
        .get("https://registry.npmjs.org/zod")
        .header("accept", "application/vnd.npm.install-v1+json")
        .send()
        .await
        .expect("the public registry (needed once, to mirror zod)")
        .text()
        .await
        .expect("zod's document");
    let parsed: serde_json::Value = serde_json::from_str(&document).expect("json");
    let latest = parsed["dist-tags"]["latest"]
        .as_str()
        .expect("latest")
        .to_owned();
    let url = parsed["versions"][&latest]["dist"]["tarball"]
        .as_str()
        .expect("tarball")
        .to_owned();
    let tarball = client
        .get(&url)
        .send()
        .await
        .expect("tarball")
        .bytes()
        .await
        .expect("tarball")
        .to_vec();
    let file = url.rsplit('/').next().unwrap_or("zod.tgz").to_owned();
    let document = document.replace(
        "https://registry.npmjs.org/zod/-/",
        &format!("http://127.0.0.1:{port}/zod/-/"),
    );
    Mirror {
        document,
        tarball,
        file,
    }
}

async fn serve_mirror() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mirror = Arc::new(mirror(port).await);
    let router = Router::new()
        .route(
            "/zod",
            get(|State(m): State<Arc<Mirror>>| async move { m.document.clone() }),
        )
        .route(
            "/zod/-/{file}",
            get(
                |State(m): State<Arc<Mirror>>, Path(file): Path<String>| async move {
                    if file == m.file {
                        m.tarball.clone().into_response()
                    } else {
                        axum::http::StatusCode::NOT_FOUND.into_response()
                    }
                },
            ),
        )
        .with_state(mirror);
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    format!("http://127.0.0.1:{port}")
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let registry = runtime.block_on(serve_mirror());
    let sandbox = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");

    let warm = tempfile::tempdir().expect("tempdir");
    let npm = {
        let mut config = NpmConfig::new(warm.path());
        config.registry = registry.clone();
        Npm::new(config).expect("npm")
    };
    let prepared = runtime
        .block_on(npm.prepare(ZOD_PROGRAM))
        .expect("zod bundles")
        .expect("imports");
    eprintln!(
        "zod bundle: {} KiB, packages {:?}",
        prepared.prelude.len() >> 10,
        prepared.packages
    );

    // Wall times swing with whatever else the machine runs; CPU time per execution (the
    // process's, over many runs) is what BENCHMARKS.md quotes for the import overhead.
    let per_run_cpu = |code: &str, prelude: Option<Arc<str>>| {
        let runs = 500;
        let before = process_cpu();
        for _ in 0..runs {
            let mut execution = Execution::new(code);
            execution.prelude = prelude.clone();
            let outcome = runtime.block_on(sandbox.execute(execution));
            assert!(outcome.is_ok(), "{:?}", outcome.error);
        }
        (process_cpu() - before) / runs
    };
    let baseline = per_run_cpu("({ name: String(\"Ada\") })", None);
    let prelude_only = per_run_cpu("1", Some(Arc::clone(&prepared.prelude)));
    let zod = per_run_cpu(&prepared.code, Some(Arc::clone(&prepared.prelude)));
    let import_only = per_run_cpu(
        "__islet_npm.import(\"zod\"); 1",
        Some(Arc::clone(&prepared.prelude)),
    );
    eprintln!(
        "CPU per execution: baseline {baseline:?}, zod bundle loaded {prelude_only:?}, zod imported {import_only:?}, imported and used {zod:?}: a cached zod import adds {:?}",
        zod.saturating_sub(baseline)
    );

    // What a caller waits for when executions come as an agent's do, with time between
    // them (the model writes the next program): the host prepares (an in-memory hit) and
    // runs each. With the preload (`Execution::preload`), the executor has evaluated zod's
    // bundle and import ahead, in the gap; its CPU is still spent, after each reply.
    let spaced = |program: &str, as_preload: bool| {
        let runs = 200;
        let mut walls = Vec::with_capacity(runs);
        let cpu_before = process_cpu();
        for _ in 0..runs {
            std::thread::sleep(std::time::Duration::from_millis(15));
            let started = std::time::Instant::now();
            let outcome = runtime.block_on(async {
                let execution = match npm.prepare(program).await.expect("prepare") {
                    // As hosts run it: the bundle and imports as the preload.
                    Some(prepared) if as_preload => {
                        Execution::new(prepared.code.clone()).preload(prepared.preload())
                    }
                    // As before the preload: the bundle as a prelude, the imports in the
                    // program.
                    Some(prepared) => Execution::new(prepared.code).prelude(prepared.prelude),
                    None => Execution::new(program),
                };
                sandbox.execute(execution).await
            });
            walls.push(started.elapsed());
            assert!(outcome.is_ok(), "{:?}", outcome.error);
        }
        walls.sort();
        (walls[runs / 2], (process_cpu() - cpu_before) / runs as u32)
    };
    // What an executor thread keeps for the next execution: the heap the preload holds
    // shows as the difference of a cold run's peak and a warmed one's.
    {
        let prepared = runtime
            .block_on(npm.prepare(ZOD_PROGRAM))
            .expect("prepare")
            .expect("imports");
        let one = Sandbox::new(SandboxConfig { threads: 1 }).expect("sandbox");
        let peak = || {
            let execution = Execution::new(prepared.code.clone()).preload(prepared.preload());
            runtime.block_on(one.execute(execution)).stats.memory_bytes
        };
        let (cold, warmed) = (peak(), peak());
        eprintln!(
            "Heap peak of a zod execution: {} KiB evaluating the preload itself, {} KiB warmed up: a warmed isolate holds about {} KiB",
            cold >> 10,
            warmed >> 10,
            cold.saturating_sub(warmed) >> 10
        );
    }
    let (plain, plain_cpu) = spaced("({ name: String(\"Ada\") })", false);
    let (cold, cold_cpu) = spaced(ZOD_PROGRAM, false);
    let (preloaded, preloaded_cpu) = spaced(ZOD_PROGRAM, true);
    eprintln!(
        "Executions 15 ms apart, wall p50 (CPU per execution): without imports {plain:?} ({plain_cpu:?}); zod, bundle as prelude {cold:?} ({cold_cpu:?}); zod as preload, evaluated ahead {preloaded:?} ({preloaded_cpu:?}): a cached zod import adds {:?} to the execution's latency as a preload, {:?} as a prelude",
        preloaded.saturating_sub(plain),
        cold.saturating_sub(plain)
    );

    c.bench_function("execute_baseline", |b| {
        b.to_async(&runtime)
            .iter(|| sandbox.execute(Execution::new("({ name: String(\"Ada\") })")))
    });
    c.bench_function("execute_zod_prelude_only", |b| {
        b.to_async(&runtime)
            .iter(|| sandbox.execute(Execution::new("1").prelude(Arc::clone(&prepared.prelude))))
    });
    c.bench_function("execute_zod_cached", |b| {
        b.to_async(&runtime).iter(|| async {
            // What a host does per execution: prepare (an in-memory hit) and run.
            let prepared = npm
                .prepare(ZOD_PROGRAM)
                .await
                .expect("prepare")
                .expect("imports");
            let outcome = sandbox
                .execute(Execution::new(prepared.code.clone()).preload(prepared.preload()))
                .await;
            assert!(outcome.is_ok(), "{:?}", outcome.error);
        })
    });

    let mut group = c.benchmark_group("install");
    group.sample_size(10);
    group.bench_function("first_install_zod_loopback", |b| {
        b.to_async(&runtime).iter(|| async {
            let cold = tempfile::tempdir().expect("tempdir");
            let mut config = NpmConfig::new(cold.path());
            config.registry = registry.clone();
            let npm = Npm::new(config).expect("npm");
            npm.prepare(ZOD_PROGRAM)
                .await
                .expect("prepare")
                .expect("imports");
        })
    });
    group.finish();
}

/// User + system CPU time of this process (all its threads) so far, from /proc: clock
/// ticks of 10 ms, so the runs above are many.
fn process_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15: indexes 11 and 12 after the name.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    std::time::Duration::from_millis(ticks * 10)
}

criterion_group!(npm_rung, benches);
criterion_main!(npm_rung);
