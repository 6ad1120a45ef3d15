//! Criterion benches for the isolate: creation, and a trivial execution with 20 bindings
//! through the public API. `islet bench isolate` reports the figures BENCHMARKS.md quotes.

#![allow(clippy::print_stderr)]

use criterion::{Criterion, criterion_group, criterion_main};
use sandbox::bench::Engine;
use sandbox::{Bindings, Execution, HostFn, Sandbox, SandboxConfig};
use std::sync::Arc;

fn twenty_bindings() -> Bindings {
    let mut bindings = Bindings::new();
    for ns in ["users", "repos", "issues", "orders", "files"] {
        for name in ["get", "list", "create", "remove"] {
            let f: HostFn = Arc::new(|args| Box::pin(async move { Ok(args) }));
            bindings.insert(&format!("api.{ns}"), name, f);
        }
    }
    bindings
}

fn benches(c: &mut Criterion) {
    eprintln!(
        "machine: {} cores; measuring fresh-isolate executions",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let engine = Engine::new().expect("engine");
    c.bench_function("isolate_create", |b| {
        b.iter(|| {
            let isolate = engine.isolate().expect("isolate");
            drop(isolate);
            engine.collect_garbage();
        })
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let sandbox = Sandbox::new(SandboxConfig { threads: 2 }).expect("sandbox");
    let bindings = twenty_bindings();
    c.bench_function("execute_trivial_20_bindings", |b| {
        b.to_async(&runtime).iter(|| {
            sandbox.execute(
                Execution::new("async () => [1, 2, 3].map(x => x * 2)").bindings(bindings.clone()),
            )
        })
    });
    c.bench_function("execute_one_host_call", |b| {
        b.to_async(&runtime).iter(|| {
            sandbox.execute(
                Execution::new("async () => await api.users.get({ id: 1 })")
                    .bindings(bindings.clone()),
            )
        })
    });
}

criterion_group!(isolate, benches);
criterion_main!(isolate);
