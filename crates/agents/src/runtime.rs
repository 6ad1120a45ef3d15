//! The JavaScript side of an agent (`js/runtime.js`, run as every turn's prelude) and the
//! host functions it calls over the agent's own database, built once per activation and
//! serving the turn running (see `turn.rs`).
//!
//! Translation point: `error::host_error` is where Rust errors become JS exceptions for
//! agent code (`HostError` with the error's `code()`); nothing else builds them.

// Host functions answer with `HostError` by the bindings' contract; boxing it here would
// only be unboxed again at the boundary.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sandbox::{Bindings, HostError};
use serde::Deserialize;
use serde_json::{Value, json};
use store::{AgentDb, ListOptions, When};

// A panic while holding an agent's database happened between statements of an open
// transaction, which the actor rolls back; the connection itself is still usable.
use base::sync::lock;

use crate::address::{Address, check_name};
use crate::error::{Error, host_error};
use crate::host_fns::{WsArgs, bad_input, fetch_refusal, parse, store_error, workspace_op};
use crate::mailbox::Inner;
use crate::turn::{self, Pending, Resume, TurnContext, TurnSlot, outbound, wait_outbound};
use crate::{extensions, isolates};

/// The fibers of the chat loop (`crates/think`), which resumes them itself.
pub(crate) const THINK_FIBER: &str = "think";

#[derive(Deserialize)]
struct SqlArgs {
    query: String,
    #[serde(default)]
    params: Vec<Value>,
}

#[derive(Deserialize)]
struct Key {
    key: String,
}

#[derive(Deserialize)]
struct Keys {
    keys: Vec<String>,
}

#[derive(Deserialize)]
struct Put {
    key: String,
    value: Value,
}

#[derive(Deserialize)]
struct PutMany {
    entries: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct StateArgs {
    state: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleArgs {
    delay_ms: Option<i64>,
    at_ms: Option<i64>,
    cron: Option<String>,
    method: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct FiberStart {
    name: String,
}

#[derive(Deserialize)]
struct FiberStash {
    id: String,
    #[serde(default)]
    data: Value,
}

#[derive(Deserialize)]
struct FiberEnd {
    id: String,
    #[serde(default)]
    result: Value,
    error: Option<String>,
}

/// Makes the turn's writes so far durable and goes on in a new transaction: `runFiber`
/// and `ctx.stash` are checkpoints that survive a crash of the rest of the turn.
fn checkpoint_turn(db: &mut AgentDb) -> Result<(), HostError> {
    db.commit().map_err(store_error)?;
    db.begin().map_err(store_error)
}

#[derive(Deserialize)]
struct SandboxArgs {
    op: String,
    #[serde(default)]
    args: Value,
}

#[derive(Deserialize)]
struct RpcArgs {
    name: String,
    #[serde(default)]
    args: Vec<Value>,
}

/// A schedule as agent code (`this.schedule()`, `getSchedules()`, a callback's second
/// argument) and HTTP clients (`GET …/schedules`) see it, one shape for both:
/// `{id, callback, payload, type: "delayed"|"scheduled"|"cron", time, cron?}`, `time` in
/// seconds since the Unix epoch (as Cloudflare's Agents SDK has it).
pub fn schedule_view(s: &store::Schedule) -> Value {
    let mut view = json!({
        "id": s.id,
        "callback": s.method,
        "payload": s.payload,
        "type": s.kind.as_str(),
        "time": s.next_at_ms.div_euclid(1000),
    });
    if let Some(cron) = &s.cron {
        view["cron"] = json!(cron);
    }
    view
}

/// The host functions of an agent's turns, built when it activates: each serves the turn
/// in `slot` when it is called.
pub(crate) fn agent_bindings(slot: &Arc<TurnSlot>, host: &Arc<Inner>, class: &str) -> Bindings {
    let mut b = Bindings::new();
    let mut db_fn = |name: &str, f: fn(&TurnContext, Value) -> Result<Value, HostError>| {
        let slot = Arc::clone(slot);
        b.insert(
            "__agent",
            name,
            Arc::new(move |args| {
                let result = slot.current().and_then(|ctx| f(&ctx, args));
                Box::pin(async move { result })
            }),
        );
    };
    db_fn("sql", |ctx, args| {
        let a: SqlArgs = parse("this.sql", args)?;
        let outcome = lock(&ctx.db)
            .sql(&a.query, &a.params)
            .map_err(store_error)?;
        serde_json::to_value(outcome).map_err(|e| bad_input("this.sql", e))
    });
    db_fn("kvGet", |ctx, args| {
        let a: Key = parse("storage.get", args)?;
        Ok(match lock(&ctx.db).kv_get(&a.key).map_err(store_error)? {
            Some(value) => json!({ "found": true, "value": value }),
            None => json!({ "found": false }),
        })
    });
    db_fn("kvGetMany", |ctx, args| {
        let a: Keys = parse("storage.get", args)?;
        Ok(Value::Object(
            lock(&ctx.db).kv_get_many(&a.keys).map_err(store_error)?,
        ))
    });
    db_fn("kvPut", |ctx, args| {
        let a: Put = parse("storage.put", args)?;
        lock(&ctx.db)
            .kv_put(&a.key, &a.value)
            .map_err(store_error)?;
        Ok(Value::Null)
    });
    db_fn("kvPutMany", |ctx, args| {
        let a: PutMany = parse("storage.put", args)?;
        lock(&ctx.db).kv_put_many(&a.entries).map_err(store_error)?;
        Ok(Value::Null)
    });
    db_fn("kvDelete", |ctx, args| {
        let a: Key = parse("storage.delete", args)?;
        Ok(json!(lock(&ctx.db).kv_delete(&a.key).map_err(store_error)?))
    });
    db_fn("kvDeleteMany", |ctx, args| {
        let a: Keys = parse("storage.delete", args)?;
        Ok(json!(
            lock(&ctx.db).kv_delete_many(&a.keys).map_err(store_error)?
        ))
    });
    db_fn("kvList", |ctx, args| {
        let options: ListOptions = parse("storage.list", args)?;
        let entries = lock(&ctx.db).kv_list(&options).map_err(store_error)?;
        Ok(Value::Array(
            entries.into_iter().map(|(k, v)| json!([k, v])).collect(),
        ))
    });
    db_fn("kvDeleteAll", |ctx, _| {
        lock(&ctx.db).kv_delete_all().map_err(store_error)?;
        Ok(Value::Null)
    });
    db_fn("fiberStart", |ctx, args| {
        let a: FiberStart = parse("runFiber", args)?;
        if a.name.is_empty() || a.name.len() > 200 || a.name == THINK_FIBER {
            return Err(bad_input(
                "runFiber",
                format!("the name is 1 to 200 characters, not {THINK_FIBER:?} (the chat loop's)"),
            ));
        }
        ctx.fibers_touched.store(true, Ordering::SeqCst);
        // Wake the agent at the next start if this process ends mid-fiber (the alarm index
        // may run early, never late): its activation recovers the fiber, and the alarm
        // it finds syncs the index to its exact next schedule.
        if let Some(host) = ctx.host.upgrade() {
            let now = host.data.env().now_ms();
            host.data
                .set_alarm(&ctx.address.class, &ctx.address.name, Some(now))
                .map_err(store_error)?;
        }
        let mut db = lock(&ctx.db);
        let fiber = db.fibers().start(&a.name, None).map_err(store_error)?;
        checkpoint_turn(&mut db)?;
        Ok(json!({ "id": fiber.id }))
    });
    db_fn("fiberStash", |ctx, args| {
        let a: FiberStash = parse("ctx.stash", args)?;
        let mut db = lock(&ctx.db);
        db.fibers().stash(&a.id, &a.data).map_err(store_error)?;
        checkpoint_turn(&mut db)?;
        Ok(Value::Null)
    });
    db_fn("fiberEnd", |ctx, args| {
        let a: FiberEnd = parse("runFiber", args)?;
        ctx.fibers_touched.store(true, Ordering::SeqCst);
        let mut db = lock(&ctx.db);
        match a.error {
            // Committed with the turn: if the turn fails after this, the fiber is left
            // running and is recovered (its work since the last stash was rolled back).
            None => {
                db.fibers()
                    .complete(&a.id, &a.result)
                    .map_err(store_error)?;
            }
            // The fiber's writes since its last checkpoint are undone, its failure kept.
            Some(error) => {
                db.rollback().map_err(store_error)?;
                db.begin().map_err(store_error)?;
                db.fibers().fail(&a.id, &error).map_err(store_error)?;
            }
        }
        Ok(Value::Null)
    });
    db_fn("setState", |ctx, args| {
        let a: StateArgs = parse("setState", args)?;
        lock(&ctx.db).set_state(&a.state).map_err(store_error)?;
        *lock(&ctx.new_state) = Some(a.state.clone());
        Ok(a.state)
    });
    db_fn("schedule", |ctx, args| {
        let a: ScheduleArgs = parse("schedule", args)?;
        let when = match (a.delay_ms, a.at_ms, a.cron) {
            (Some(ms), None, None) if ms >= 0 => When::DelayMs(ms),
            (Some(_), None, None) => {
                return Err(bad_input("schedule", "the delay must not be negative"));
            }
            (None, Some(at), None) => When::AtMs(at),
            (None, None, Some(cron)) => When::Cron(cron),
            _ => {
                return Err(bad_input(
                    "schedule",
                    "give seconds from now (number), a Date, or a cron string",
                ));
            }
        };
        if let Some(host) = ctx.host.upgrade() {
            let class = host
                .classes
                .get(&ctx.address.class)
                .map_err(|e| host_error(&e))?;
            if !class.has_any_method(&a.method) {
                return Err(bad_input(
                    "schedule",
                    format!(
                        "`{}` is not a method of {}; its methods are: {}",
                        a.method,
                        class.name,
                        class.all_methods.join(", ")
                    ),
                ));
            }
        }
        let schedule = lock(&ctx.db)
            .schedule(when, &a.method, &a.payload)
            .map_err(store_error)?;
        Ok(schedule_view(&schedule))
    });
    db_fn("schedules", |ctx, _| {
        let list = lock(&ctx.db).schedules().map_err(store_error)?;
        Ok(Value::Array(list.iter().map(schedule_view).collect()))
    });
    db_fn("getSchedule", |ctx, args| {
        let a: Id = parse("getSchedule", args)?;
        let s = lock(&ctx.db).get_schedule(&a.id).map_err(store_error)?;
        Ok(s.as_ref().map_or(Value::Null, schedule_view))
    });
    db_fn("cancelSchedule", |ctx, args| {
        let a: Id = parse("cancelSchedule", args)?;
        Ok(json!(
            lock(&ctx.db).cancel_schedule(&a.id).map_err(store_error)?
        ))
    });
    db_fn("ws", |ctx, args| {
        let a: WsArgs = parse("workspace", args)?;
        workspace_op(&mut lock(&ctx.db), a)
    });
    let turn = Arc::clone(slot);
    b.insert(
        "__agent",
        "sandbox",
        Arc::new(move |args| {
            let ctx = turn.current();
            Box::pin(async move {
                let ctx = ctx?;
                sandbox_op(&ctx, args).await
            })
        }),
    );
    let (fetch_namespace, fetch_name) = sandbox::FETCH_BINDING;
    b.insert(fetch_namespace, fetch_name, fetch_refusal());
    bind_agents(&mut b, host, Some(Arc::clone(slot)));
    bind_sub_agents(&mut b, slot);
    bind_isolates(&mut b, slot);
    // Blocking: `createCodeTool` builds its description at once, not in a promise. Asked
    // only when a code tool is made, not on every activation.
    let packages = host.config.packages.clone();
    b = b.blocking_function("__agent", "codeToolImports", move |_| {
        let note = packages.as_ref().and_then(|p| p.code_imports_note());
        Ok(note.map_or(Value::Null, Value::String))
    });
    for (namespace, name, f) in host.config.bindings.iter() {
        b.insert(namespace, name, Arc::clone(f));
    }
    if let Some(own) = host.config.class_bindings.get(class) {
        for (namespace, name, f) in own.iter() {
            b.insert(namespace, name, Arc::clone(f));
        }
    }
    b
}

#[derive(Deserialize)]
struct SubArgs {
    class: String,
    name: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct SubListArgs {
    class: Option<String>,
}

#[derive(Deserialize)]
struct SubCallArgs {
    /// The sub-agent's class and name; absent: the parent.
    to: Option<SubTarget>,
    method: String,
    #[serde(default)]
    args: Vec<Value>,
}

#[derive(Deserialize)]
struct SubTarget {
    class: String,
    name: String,
}

/// Host functions given an async closure over the turn and the host.
fn async_fn<F, Fut>(b: &mut Bindings, slot: &Arc<TurnSlot>, name: &str, f: F)
where
    F: Fn(Arc<TurnContext>, Arc<Inner>, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HostError>> + Send + 'static,
{
    let slot = Arc::clone(slot);
    let f = Arc::new(f);
    b.insert(
        "__agent",
        name,
        Arc::new(move |args| {
            let (ctx, f) = (slot.current(), Arc::clone(&f));
            Box::pin(async move {
                let ctx = ctx?;
                let host = ctx
                    .host
                    .upgrade()
                    .ok_or_else(|| host_error(&Error::ShuttingDown))?;
                f(ctx, host, args).await
            })
        }),
    );
}

/// The sub-agent of the turn's agent that `class`/`name` name, both checked.
fn child_of(
    ctx: &TurnContext,
    host: &Inner,
    class: &str,
    name: &str,
    function: &str,
) -> Result<Address, HostError> {
    host.classes.get(class).map_err(|e| host_error(&e))?;
    check_name(name).map_err(|e| bad_input(function, e))?;
    Ok(ctx.address.child(class, name))
}

/// `this.subAgent()`, `listSubAgents()`, `hasSubAgent()`, `deleteSubAgent()`,
/// `abortSubAgent()`, calls to sub-agents and `this.parentAgent()`, and `rpcResume`
/// (the way back from a re-entered call).
fn bind_sub_agents(b: &mut Bindings, ctx: &Arc<TurnSlot>) {
    async_fn(b, ctx, "subAgent", |ctx, host, args| async move {
        let a: SubArgs = parse("subAgent(Class, name)", args)?;
        let child = child_of(&ctx, &host, &a.class, &a.name, "subAgent(Class, name)")?;
        // An existing child may be busy waiting on this very turn: no message to its
        // mailbox then (it would wait behind that), only for a new one, to create it.
        let known = host
            .data
            .catalog_has_agent(&child.class, &child.name)
            .map_err(store_error)?;
        if !known {
            Inner::new_or_existing_db_at(&host, child, |_| Ok(()))
                .await
                .map_err(|e| host_error(&e))?;
        }
        Ok(Value::Null)
    });
    async_fn(b, ctx, "subCall", |ctx, host, args| async move {
        let a: SubCallArgs = parse("sub-agent call", args)?;
        let target = match &a.to {
            Some(t) => child_of(&ctx, &host, &t.class, &t.name, "subAgent(Class, name)")?,
            None => ctx.address.parent().ok_or_else(|| {
                bad_input(
                    "parentAgent()",
                    format!(
                        "{} is not a sub-agent, so it has no parent agent",
                        ctx.address
                    ),
                )
            })?,
        };
        outbound(Some(ctx), host, target, a.method, a.args).await
    });
    async_fn(b, ctx, "subList", |ctx, host, args| async move {
        let a: SubListArgs = parse("listSubAgents(Class?)", args)?;
        if let Some(class) = &a.class {
            host.classes.get(class).map_err(|e| host_error(&e))?;
        }
        let list = host
            .data
            .list_agents_under(&ctx.address.children_prefix(), a.class.as_deref())
            .map_err(store_error)?;
        Ok(Value::Array(
            list.into_iter()
                .map(|info| {
                    let own = Address::new(&info.class, info.name);
                    json!({ "className": info.class, "name": own.local_name(), "createdAt": info.created_at })
                })
                .collect(),
        ))
    });
    async_fn(b, ctx, "subHas", |ctx, host, args| async move {
        let a: SubArgs = parse("hasSubAgent(Class, name)", args)?;
        let child = child_of(&ctx, &host, &a.class, &a.name, "hasSubAgent(Class, name)")?;
        let known = host
            .data
            .catalog_has_agent(&child.class, &child.name)
            .map_err(store_error)?;
        Ok(json!(known))
    });
    async_fn(b, ctx, "subDelete", |ctx, host, args| async move {
        let a: SubArgs = parse("deleteSubAgent(Class, name)", args)?;
        let child = child_of(
            &ctx,
            &host,
            &a.class,
            &a.name,
            "deleteSubAgent(Class, name)",
        )?;
        let existed = Inner::delete_tree(host, child)
            .await
            .map_err(|e| host_error(&e))?;
        Ok(json!(existed))
    });
    async_fn(b, ctx, "subAbort", |ctx, host, args| async move {
        let a: SubArgs = parse("abortSubAgent(Class, name, reason?)", args)?;
        let child = child_of(
            &ctx,
            &host,
            &a.class,
            &a.name,
            "abortSubAgent(Class, name, reason?)",
        )?;
        let reason = a
            .reason
            .unwrap_or_else(|| format!("aborted by {}", ctx.address));
        Ok(json!(host.abort(&child, &reason)))
    });
    async_fn(b, ctx, "rpcResume", |ctx, host, args| async move {
        let a: Resume = parse("rpcResume", args)?;
        turn::resume(ctx, host, a).await
    });
}

/// `this.isolates.run/load/get` and a loaded module's calls (see `isolates.rs`).
fn bind_isolates(b: &mut Bindings, ctx: &Arc<TurnSlot>) {
    async_fn(b, ctx, "isolateRun", |ctx, host, args| async move {
        let a: isolates::RunArgs = parse("isolates.run(code, options)", args)?;
        let (reentry, reply) = isolates::run(&ctx, &host, a).await?;
        wait_outbound(Some(ctx), host, Pending::new(reentry, reply)).await
    });
    async_fn(b, ctx, "isolateLoad", |ctx, host, args| async move {
        let a: isolates::LoadArgs = parse("isolates.load(id, code, options)", args)?;
        isolates::load(&ctx, &host, a).await
    });
    async_fn(b, ctx, "isolateCall", |ctx, host, args| async move {
        let a: isolates::CallArgs = parse("a loaded isolate's call", args)?;
        let (reentry, reply) = isolates::call(&ctx, &host, a)?;
        wait_outbound(Some(ctx), host, Pending::new(reentry, reply)).await
    });
    async_fn(b, ctx, "isolateGet", |ctx, host, args| async move {
        let a: Id = parse("isolates.get(id)", args)?;
        Ok(isolates::exports(&ctx, &host, &a.id))
    });
    async_fn(b, ctx, "extInstall", |ctx, host, args| async move {
        let a: extensions::InstallArgs = parse(
            "extensions.install({ name, source, description, permissions })",
            args,
        )?;
        extensions::install(ctx, host, a).await
    });
    async_fn(b, ctx, "extCall", |ctx, host, args| async move {
        let a: extensions::CallArgs = parse("extensions.call(name, tool, input)", args)?;
        let (reentry, reply) = extensions::call(&ctx, &host, a).await?;
        wait_outbound(Some(ctx), host, Pending::new(reentry, reply)).await
    });
    db_ext(b, ctx, "extList", |db, _| {
        serde_json::to_value(db.extensions().list().map_err(store_error)?)
            .map_err(|e| bad_input("extensions.list", e))
    });
    db_ext(b, ctx, "extEnable", |db, args| {
        let a: ExtEnable = parse("extensions.enable(name)", args)?;
        Ok(json!(
            db.extensions()
                .set_enabled(&a.name, a.enabled)
                .map_err(store_error)?
        ))
    });
    db_ext(b, ctx, "extRollback", |db, args| {
        let a: ExtRollback = parse("extensions.rollback(name, version)", args)?;
        db.extensions()
            .rollback(&a.name, a.version)
            .map_err(store_error)?;
        Ok(Value::Null)
    });
    db_ext(b, ctx, "delegations", |db, args| {
        let a: DelegationsArgs = parse("delegations.list(limit) / delegations.get(id)", args)?;
        let found = match a.id {
            Some(id) => db.delegations().get(&id).map(|d| json!(d)),
            None => db
                .delegations()
                .list(a.limit.unwrap_or(50))
                .map(|d| json!(d)),
        };
        found.map_err(store_error)
    });
    db_ext(b, ctx, "extDelete", |db, args| {
        let a: Name = parse("extensions.delete(name)", args)?;
        Ok(json!(db.extensions().delete(&a.name).map_err(store_error)?))
    });
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegationsArgs {
    id: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct ExtEnable {
    name: String,
    enabled: bool,
}

#[derive(Deserialize)]
struct ExtRollback {
    name: String,
    version: i64,
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

/// `this.sandbox.<op>(…)`: one operation of the agent's Linux sandbox, synced with the
/// turn's own database.
async fn sandbox_op(ctx: &TurnContext, args: Value) -> Result<Value, HostError> {
    let a: SandboxArgs = parse("this.sandbox", args)?;
    let host = ctx
        .host
        .upgrade()
        .ok_or_else(|| host_error(&Error::ShuttingDown))?;
    let class = host
        .classes
        .get(&ctx.address.class)
        .map_err(|e| host_error(&e))?;
    let sandboxes = host.config.sandboxes.clone();
    if let Some(refusal) =
        crate::linux::refusal(&class.name, class.sandbox.as_ref(), sandboxes.is_some())
    {
        return Err(refusal);
    }
    let (Some(sandboxes), Some(settings)) = (sandboxes, class.sandbox.clone()) else {
        return Err(host_error(&Error::ShuttingDown));
    };
    let access = crate::linux::AgentDbAccess::turn(Arc::clone(&ctx.db));
    sandboxes
        .call(&ctx.address, &settings, a.op, a.args, access)
        .await
}

/// A synchronous host function over the turn's database.
fn db_ext(
    b: &mut Bindings,
    slot: &Arc<TurnSlot>,
    name: &str,
    f: fn(&mut AgentDb, Value) -> Result<Value, HostError>,
) {
    let slot = Arc::clone(slot);
    b.insert(
        "__agent",
        name,
        Arc::new(move |args| {
            let result = slot.current().and_then(|ctx| f(&mut lock(&ctx.db), args));
            Box::pin(async move { result })
        }),
    );
}

/// `agents.<Class>.<method>({name, args})` for every class (the prelude adds the
/// `agents.Class("name").method(...)` form), answering `{ok}` or `{reenter}` (see
/// [`outbound`]), and `__isletSub.call({path, method, args})` for sub-agents
/// (`agents.Class("name").subAgent("Child", "name")`), which must exist. Calls from an
/// agent's turn (`turn`) carry its chain of waiting agents.
pub(crate) fn bind_agents(b: &mut Bindings, host: &Arc<Inner>, turn: Option<Arc<TurnSlot>>) {
    let current =
        |turn: &Option<Arc<TurnSlot>>| turn.as_ref().map(|slot| slot.current()).transpose();
    for class in host.classes.iter() {
        for method in &class.methods {
            let host = Arc::downgrade(host);
            let turn = turn.clone();
            let (class_name, method_name) = (class.name.clone(), method.clone());
            b.insert(
                &format!("agents.{}", class.name),
                method,
                Arc::new(move |args| {
                    let host = host.clone();
                    let ctx = current(&turn);
                    let class = class_name.clone();
                    let method = method_name.clone();
                    Box::pin(async move {
                        let ctx = ctx?;
                        let a: RpcArgs = parse(&format!("agents.{class}(name).{method}"), args)?;
                        let host = host
                            .upgrade()
                            .ok_or_else(|| host_error(&Error::ShuttingDown))?;
                        check_name(&a.name).map_err(|e| host_error(&e))?;
                        outbound(ctx, host, Address::new(class, a.name), method, a.args).await
                    })
                }),
            );
        }
    }
    let weak = Arc::downgrade(host);
    b.insert(
        "__isletSub",
        "call",
        Arc::new(move |args| {
            let host = weak.clone();
            let ctx = current(&turn);
            Box::pin(async move {
                let ctx = ctx?;
                let a: PathCall = parse("subAgent(Class, name)", args)?;
                let host = host
                    .upgrade()
                    .ok_or_else(|| host_error(&Error::ShuttingDown))?;
                let path: Vec<(String, String)> =
                    a.path.into_iter().map(|t| (t.class, t.name)).collect();
                let target = host.resolve(&path).map_err(|e| host_error(&e))?;
                outbound(ctx, host, target, a.method, a.args).await
            })
        }),
    );
}

#[derive(Deserialize)]
struct PathCall {
    path: Vec<SubTarget>,
    method: String,
    #[serde(default)]
    args: Vec<Value>,
}
