//! `islet run`: one execution from a file or stdin.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use anyhow::Context as _;
use codemode::egress::{FetchPolicy, Fetcher, HostRule, InjectedHeader};
use sandbox::process::WorkerConfig;
use sandbox::{Bindings, Execution, Level, Limits, Outcome, Sandbox, SandboxConfig};
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
#[command(after_help = "\
The code may be an async arrow function, a function body using top-level `await` and \
`return`, a bare trailing expression (its value is the result), or `export default async \
function`, optionally wrapped in markdown fences. TypeScript types are stripped.

The code has no network access unless --allow-fetch gives it `fetch` for named hosts; \
requests are sent by islet, which adds --fetch-header credentials the code never sees.

Exit status: 0 when the code returned, 1 when it threw or hit a limit, 2 on usage errors.

Examples:
  echo 'async () => [1,2,3].map(x => x * 2)' | islet run -
  islet run --cpu-ms 100 --json script.ts
  GITHUB_TOKEN=… islet run --allow-fetch GET:api.github.com \\
      --fetch-header 'api.github.com:Authorization=Bearer ${GITHUB_TOKEN}' \\
      script.js
  echo 'import { z } from \"zod\"; z.string().email().parse(\"a@b.co\")' | islet run --allow-npm -")]
pub(crate) struct RunArgs {
    /// File with the code to run, or `-` for standard input.
    file: PathBuf,
    /// Print the whole outcome (result, error, logs, stats) as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Heap limit in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mb: usize,
    /// CPU time limit in milliseconds (time spent running JavaScript).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().cpu_ms)]
    cpu_ms: u64,
    /// Wall time limit in milliseconds (includes waiting for timers and host calls).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().wall_ms)]
    wall_ms: u64,
    /// Stack limit in KiB (bounds recursion depth).
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().stack_bytes >> 10)]
    stack_kb: usize,
    /// Output limit in KiB: the serialised result plus every log line.
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().output_bytes >> 10)]
    output_kb: usize,
    /// Maximum number of host calls.
    #[arg(long, value_name = "N", default_value_t = Limits::default().host_calls)]
    host_calls: u32,
    /// Where the isolate runs: in this process, or in a separate OS-sandboxed worker process.
    #[arg(long, value_enum, default_value_t = Isolation::Inprocess)]
    isolation: Isolation,
    #[command(flatten)]
    fetch: FetchArgs,
    #[command(flatten)]
    browser: BrowserArgs,
    #[command(flatten)]
    npm: NpmArgs,
}

/// The npm rung: shared by `islet run` and `islet mcp openapi|proxy`.
#[derive(clap::Args, Clone, Default)]
#[command(next_help_heading = "npm packages (code may import them only with --allow-npm)")]
pub(crate) struct NpmArgs {
    /// Let code import npm packages: `import { z } from "zod"`, `import _ from
    /// "npm:lodash@4"`, `require("ms")`. Fetched from the registry on first use, checked
    /// against their published integrity, never running install scripts, then cached.
    #[arg(long)]
    pub allow_npm: bool,
    /// The npm registry packages come from.
    #[arg(long, value_name = "URL", default_value = npm::DEFAULT_REGISTRY)]
    pub npm_registry: String,
    /// Packages code may import, comma-separated (`zod,lodash,@scope/*`); their own
    /// dependencies come with them. Default: any package.
    #[arg(long, value_name = "PKG,...", value_delimiter = ',')]
    pub npm_allow: Vec<String>,
    /// Where packages, registry documents and bundles are cached (offline after the
    /// first fetch). Default: `npm` in the data directory (`.islet/npm`).
    #[arg(long, value_name = "DIR")]
    pub npm_cache: Option<PathBuf>,
}

/// The data directory of commands that have none of their own (`islet run`, `islet mcp`).
pub(crate) const DEFAULT_DATA_DIR: &str = ".islet";

impl NpmArgs {
    /// The npm rung these flags describe, caching under `data_dir` by default; `None`
    /// without --allow-npm.
    pub(crate) fn npm(&self, data_dir: &std::path::Path) -> anyhow::Result<Option<Arc<npm::Npm>>> {
        if !self.allow_npm {
            anyhow::ensure!(
                self.npm_allow.is_empty(),
                "--npm-allow needs --allow-npm: without it code imports no packages"
            );
            return Ok(None);
        }
        let cache = self
            .npm_cache
            .clone()
            .unwrap_or_else(|| data_dir.join("npm"));
        let mut config = npm::NpmConfig::new(cache);
        config.registry = self.npm_registry.clone();
        config.allow = self.npm_allow.iter().map(|p| p.trim().to_owned()).collect();
        Ok(Some(Arc::new(npm::Npm::new(config)?)))
    }

    /// The npm rung as a capability of `execute`.
    pub(crate) fn capability(
        &self,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Option<Arc<dyn codemode::execute::Capability>>> {
        Ok(self.npm(data_dir)?.map(|npm| {
            Arc::new(npm::NpmCapability::new(npm)) as Arc<dyn codemode::execute::Capability>
        }))
    }
}

/// Agent class modules' package imports on `islet serve`, and those of code agents give at
/// run time (extensions, `this.isolates`, code tools): bundled by the npm rung when
/// --allow-npm is on, refused with what to turn on when it is not.
pub(crate) struct ClassPackages(pub Option<Arc<npm::Npm>>);

impl ClassPackages {
    /// Why `source` cannot have its imports on a server without the npm rung, naming the
    /// first import and the flags; `None` when it imports nothing npm could serve
    /// (relative paths and URLs fall through to the module loader's own error).
    fn refusal(source: &str, runtime_modules: &[&str], who: &str) -> Option<String> {
        let imported = npm::package_imports(source, runtime_modules);
        let first = imported.first()?;
        let mut packages: Vec<&str> = imported
            .iter()
            .filter_map(|i| i.package.as_deref())
            .collect();
        packages.sort_unstable();
        packages.dedup();
        let only = if packages.is_empty() {
            String::new()
        } else {
            format!(
                " (and --npm-allow {} to allow only those)",
                packages.join(",")
            )
        };
        Some(format!(
            "it imports `{}`, which needs the npm rung, but this server does not offer it: \
             start islet serve with --allow-npm{only} to let {who} import npm packages and \
             Node built-ins",
            first.specifier
        ))
    }
}

fn with_packages(
    prepared: Result<Option<npm::Prepared>, npm::Error>,
) -> Result<Option<agents::WithPackages>, String> {
    match prepared {
        Ok(Some(prepared)) => Ok(Some(agents::WithPackages {
            source: prepared.code,
            prelude: prepared.prelude,
            packages: prepared.packages,
            versions: prepared.versions,
        })),
        Ok(None) => Ok(None),
        Err(error) => Err(format!("npm: {error} [code {}]", error.code())),
    }
}

impl agents::ModulePackages for ClassPackages {
    fn prepare<'a>(&'a self, source: &'a str) -> agents::PackagesFuture<'a> {
        Box::pin(async move {
            let Some(npm) = &self.0 else {
                return match Self::refusal(source, agents::RUNTIME_MODULES, "agent classes") {
                    Some(refusal) => Err(refusal),
                    None => Ok(None),
                };
            };
            with_packages(npm.prepare_module(source, agents::RUNTIME_MODULES).await)
        })
    }

    fn prepare_code<'a>(
        &'a self,
        code: &'a str,
        pinned: Option<&'a npm::Versions>,
    ) -> agents::PackagesFuture<'a> {
        Box::pin(async move {
            let Some(npm) = &self.0 else {
                return match Self::refusal(code, &[], "agents' extensions and dynamic isolates") {
                    Some(refusal) => Err(refusal),
                    None => Ok(None),
                };
            };
            with_packages(match pinned {
                Some(pinned) => npm.prepare_pinned(code, pinned).await,
                None => npm.prepare(code).await,
            })
        })
    }

    fn code_imports_note(&self) -> Option<String> {
        self.0.as_deref().map(npm::description)
    }
}

/// Whether code gets `fetch`, and for which hosts: shared by `islet run`, `islet mcp
/// openapi` and `islet mcp proxy`. Without `--allow-fetch`, `fetch` is not defined.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Fetch (the code gets `fetch` only with --allow-fetch)")]
pub(crate) struct FetchArgs {
    /// Let the code fetch from HOST: `api.example.com`, `*.example.com` (its subdomains),
    /// `HOST:PORT`, or an origin (`https://api.example.com`). Methods before a colon allow
    /// only those: `GET,HEAD:api.example.com`. Repeatable.
    #[arg(long = "allow-fetch", value_name = "[METHODS:]HOST")]
    pub allow_fetch: Vec<String>,
    /// Header islet adds to every fetch to HOST (a host as in --allow-fetch), its value
    /// read from the environment: 'HOST:NAME=${VAR}', e.g.
    /// 'api.example.com:Authorization=Bearer ${API_TOKEN}' in single quotes. The code never
    /// sees the value: it is scrubbed from responses and errors. Repeatable.
    #[arg(long = "fetch-header", value_name = "HOST:NAME=${VAR}")]
    pub fetch_headers: Vec<String>,
    /// Let fetch reach loopback, private (RFC 1918) and link-local addresses, such as a
    /// service on 127.0.0.1. Off by default: internal services and cloud metadata live
    /// there.
    #[arg(long)]
    pub allow_private_fetch: bool,
}

/// The browser rung: shared by `islet run`, `islet mcp openapi|proxy` and `islet serve`.
#[derive(clap::Args, Clone, Default)]
#[command(next_help_heading = "Browser (the code gets `browser` only with --browser)")]
pub(crate) struct BrowserArgs {
    /// Give code a `browser`: headless Chromium (started on first use) with quick actions
    /// (markdown, scrape, screenshot, pdf…) and a page API. Pages load only the hosts
    /// --allow-fetch names, each request checked by islet.
    #[arg(long)]
    pub browser: bool,
    /// The Chromium program (default: `chromium`, or a Chrome, found on PATH).
    #[arg(long, value_name = "PATH", requires = "browser")]
    pub chromium: Option<PathBuf>,
    /// Drive the browser already running at this DevTools WebSocket URL
    /// (`ws://127.0.0.1:9222/devtools/browser/…`) instead of starting one.
    #[arg(
        long,
        value_name = "WS_URL",
        requires = "browser",
        conflicts_with = "chromium"
    )]
    pub cdp_url: Option<String>,
}

impl BrowserArgs {
    /// The browser these flags describe (not started yet); `None` without --browser.
    pub(crate) fn browser(&self) -> anyhow::Result<Option<Arc<browser::Browser>>> {
        if !self.browser {
            return Ok(None);
        }
        let browser = browser::Browser::new(browser::BrowserConfig {
            chromium: self.chromium.clone(),
            cdp_url: self.cdp_url.clone(),
            ..browser::BrowserConfig::default()
        });
        browser.check()?;
        Ok(Some(browser))
    }

    /// The browser as a rung of `execute`, its pages under `fetcher`'s policy (none: every
    /// host refused), and the browser to shut down when the server stops.
    pub(crate) fn capability(
        &self,
        fetcher: Option<&Arc<Fetcher>>,
    ) -> anyhow::Result<Option<BrowserRung>> {
        let Some(browser) = self.browser()? else {
            return Ok(None);
        };
        let capability = Arc::new(browser::BrowserCapability::new(
            Arc::clone(&browser),
            page_fetcher(fetcher)?,
        ));
        Ok(Some((browser, capability)))
    }
}

/// The browser (to shut down when the server stops) and the rung `execute` gets over it.
pub(crate) type BrowserRung = (
    Arc<browser::Browser>,
    Arc<dyn codemode::execute::Capability>,
);

/// What pages may load: the `fetch` policy, or nothing when code has no `fetch`.
pub(crate) fn page_fetcher(fetcher: Option<&Arc<Fetcher>>) -> anyhow::Result<Arc<Fetcher>> {
    Ok(match fetcher {
        Some(fetcher) => Arc::clone(fetcher),
        None => Arc::new(Fetcher::new(FetchPolicy {
            allow_private_hint: Some(
                "run islet with --allow-fetch HOST --allow-private-fetch".to_owned(),
            ),
            ..FetchPolicy::default()
        })?),
    })
}

/// `fetch` as a rung of `execute` (`islet serve`'s /mcp and chat agents), described to the
/// model with the hosts it may reach.
#[derive(Debug)]
pub(crate) struct FetchCapability {
    fetcher: Arc<Fetcher>,
    description: String,
}

impl FetchCapability {
    pub(crate) fn new(fetcher: Arc<Fetcher>, args: &FetchArgs) -> Self {
        let description = format!(
            "`fetch(url, init)` (the Fetch API) reaches only these hosts: {}.",
            args.allow_fetch.join(", ")
        );
        FetchCapability {
            fetcher,
            description,
        }
    }
}

impl codemode::execute::Capability for FetchCapability {
    fn description(&self) -> &str {
        &self.description
    }

    fn prelude(&self) -> Option<&str> {
        None
    }

    fn bind(&self, bindings: Bindings) -> (Bindings, codemode::execute::Release) {
        let bindings = codemode::egress::with_fetch(bindings, Arc::clone(&self.fetcher));
        (bindings, Box::new(|| Box::pin(async {})))
    }
}

/// Methods `--allow-fetch` recognises before a colon (anything else is part of the host).
const FETCH_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl FetchArgs {
    /// The fetcher these flags describe; `None` when they offer no fetch.
    pub(crate) fn fetcher(&self) -> anyhow::Result<Option<Arc<Fetcher>>> {
        if self.allow_fetch.is_empty() {
            anyhow::ensure!(
                self.fetch_headers.is_empty(),
                "--fetch-header needs --allow-fetch HOST: without it the code has no fetch"
            );
            anyhow::ensure!(
                !self.allow_private_fetch,
                "--allow-private-fetch needs --allow-fetch HOST: without it the code has no fetch"
            );
            return Ok(None);
        }
        let mut policy = FetchPolicy {
            allow_private: self.allow_private_fetch,
            // Every command that offers fetch has the flag (`FetchArgs` is shared).
            allow_private_hint: Some(
                "run islet with --allow-private-fetch to allow them".to_owned(),
            ),
            ..FetchPolicy::default()
        };
        for text in &self.allow_fetch {
            policy.allowed_hosts.push(allow_rule(text)?);
        }
        for text in &self.fetch_headers {
            policy
                .inject_headers
                .push(injected_header("--fetch-header", text)?);
        }
        Ok(Some(Arc::new(Fetcher::new(policy)?)))
    }

    /// `bindings` plus `fetch` when the flags offer it.
    pub(crate) fn bind(fetcher: Option<&Arc<Fetcher>>, bindings: Bindings) -> Bindings {
        match fetcher {
            Some(fetcher) => codemode::egress::with_fetch(bindings, Arc::clone(fetcher)),
            None => bindings,
        }
    }
}

/// `--allow-fetch [METHODS:]HOST`.
fn allow_rule(text: &str) -> anyhow::Result<HostRule> {
    let text = text.trim();
    let (methods, host) = match text.split_once(':') {
        Some((prefix, host))
            if prefix.split(',').all(|m| {
                FETCH_METHODS
                    .iter()
                    .any(|known| known.eq_ignore_ascii_case(m.trim()))
            }) =>
        {
            (Some(prefix.split(',').map(str::trim)), host.trim())
        }
        _ => (None, text),
    };
    codemode::egress::check_host_pattern(host)
        .map_err(|e| anyhow::anyhow!("--allow-fetch: {e}"))?;
    let rule = HostRule::new(host);
    Ok(match methods {
        Some(methods) => rule.methods(methods),
        None => rule,
    })
}

/// `--fetch-header 'HOST:NAME=${VAR}'` (or `flag`'s, e.g. `--linux-sandbox-header`): the
/// value comes from the environment, so the
/// secret is never on a command line (where every user of the machine can read it).
pub(crate) fn injected_header(flag: &str, text: &str) -> anyhow::Result<InjectedHeader> {
    let usage = "write it as 'HOST:NAME=${VAR}' (single quotes, so the shell leaves ${VAR} to islet), \
                 e.g. 'api.example.com:Authorization=Bearer ${API_TOKEN}'";
    let Some((target, template)) = text.split_once('=') else {
        anyhow::bail!("{flag} `{text}`: {usage}");
    };
    let Some((host, name)) = target.rsplit_once(':') else {
        anyhow::bail!("{flag} `{target}=…`: no HOST before the header name; {usage}");
    };
    let (host, name) = (host.trim(), name.trim());
    codemode::egress::check_host_pattern(host)
        .map_err(|e| anyhow::anyhow!("{flag} {target}: {e}"))?;
    // Not quoting the value in these messages: if the shell expanded it, it is the secret.
    anyhow::ensure!(
        template.contains("${"),
        "{flag} {target}: the value must come from an environment variable; {usage}"
    );
    let value = codemode::mcp::config::expand(template, &|var| std::env::var(var).ok())
        .map_err(|e| anyhow::anyhow!("{flag} {target}: {e}"))?;
    anyhow::ensure!(
        !value.trim().is_empty(),
        "{flag} {target}: the value is empty (is the environment variable set?)"
    );
    Ok(InjectedHeader {
        host: host.to_owned(),
        name: name.to_owned(),
        value,
    })
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Isolation {
    /// In this process (fastest start; the library's default).
    Inprocess,
    /// In an `islet worker` process, hardened by the OS sandbox (servers' default).
    Process,
}

impl Isolation {
    /// A sandbox of this kind; `workers` applies to process isolation (0: one per core).
    pub(crate) fn sandbox(self, workers: usize) -> anyhow::Result<Sandbox> {
        Ok(match self {
            Isolation::Inprocess => Sandbox::new(SandboxConfig {
                threads: workers.max(1),
            })?,
            Isolation::Process => {
                let mut config = worker_config()?;
                config.workers = workers;
                Sandbox::with_workers(config)?
            }
        })
    }

    /// A sandbox of this kind for a server: one executor thread or worker per core.
    /// The sandbox of a server whose isolates run `executors` at once (threads in this
    /// process, or spread over one worker process per core).
    pub(crate) fn server_sandbox(self, executors: usize) -> anyhow::Result<Sandbox> {
        let executors = executors.max(1);
        Ok(match self {
            Isolation::Inprocess => Sandbox::new(SandboxConfig { threads: executors })?,
            Isolation::Process => {
                let mut config = worker_config()?;
                let workers = cores().min(executors);
                config.workers = workers;
                config.executors_per_worker = executors.div_ceil(workers);
                Sandbox::with_workers(config)?
            }
        })
    }
}

/// Isolates a server runs at once by default: 4 per core, at least 8. An agent waiting on
/// another agent's reply (a sub-agent, an agent call) holds one for the wait, so a chain of
/// nested calls needs one per level; waiting ones cost a thread and an idle engine, no CPU.
pub(crate) fn default_executors() -> usize {
    (cores() * 4).max(8)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Worker processes are this binary's `islet worker`.
pub(crate) fn worker_config() -> anyhow::Result<WorkerConfig> {
    Ok(WorkerConfig::new(
        std::env::current_exe()?,
        vec!["worker".to_owned()],
    ))
}

impl RunArgs {
    fn limits(&self) -> anyhow::Result<Limits> {
        anyhow::ensure!(self.memory_mb > 0, "--memory-mb must be at least 1");
        anyhow::ensure!(
            self.stack_kb > 0 && self.stack_kb << 10 <= Limits::MAX_STACK_BYTES,
            "--stack-kb must be between 1 and {}",
            Limits::MAX_STACK_BYTES >> 10
        );
        Ok(Limits {
            memory_bytes: self.memory_mb << 20,
            cpu_ms: self.cpu_ms,
            wall_ms: self.wall_ms,
            stack_bytes: self.stack_kb << 10,
            output_bytes: self.output_kb << 10,
            host_calls: self.host_calls,
        })
    }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let limits = args.limits()?;
    let code = if args.file.as_os_str() == "-" {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .context("reading the code from standard input")?;
        code
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("reading {}", args.file.display()))?
    };
    let fetcher = args.fetch.fetcher()?;
    let bindings = FetchArgs::bind(fetcher.as_ref(), Bindings::new());
    let browser = args.browser.browser()?;
    let mut execution = Execution::new(code).limits(limits);
    let mut used_browser = None;
    execution.bindings = match &browser {
        Some(chromium) => {
            let (bindings, used) =
                browser::bind(bindings, chromium, page_fetcher(fetcher.as_ref())?);
            execution.prelude = Some(browser::PRELUDE.into());
            used_browser = Some(used);
            bindings
        }
        None => bindings,
    };
    let npm = args.npm.npm(std::path::Path::new(DEFAULT_DATA_DIR))?;
    let prepared = match &npm {
        Some(npm) => npm.prepare(&execution.code).await,
        None => Ok(None),
    };
    let outcome = match prepared {
        Err(error) => {
            // The program did not run: its imports were refused. Reported like a
            // program's error, so scripts see one shape.
            let mut failure = sandbox::JsError::new("NpmError", error.to_string());
            failure.code = Some(error.code().to_owned());
            Outcome {
                result: None,
                error: Some(failure),
                logs: Vec::new(),
                stats: Default::default(),
            }
        }
        Ok(prepared) => {
            if let Some(prepared) = prepared {
                execution.preload = Some(prepared.preload());
                execution.code = prepared.code;
            }
            let sandbox = args.isolation.sandbox(1)?;
            sandbox.execute(execution).await
        }
    };
    if let Some(used) = used_browser {
        used.close().await;
    }
    if let Some(chromium) = &browser {
        chromium.shutdown().await;
    }
    let status = print_outcome(&outcome, args.json);
    if browser.is_some()
        && fetcher.is_none()
        && outcome
            .error
            .as_ref()
            .is_some_and(|e| e.code.as_deref() == Some("HOST_NOT_ALLOWED"))
    {
        eprintln!(
            "hint: browser pages load only the hosts --allow-fetch names (see islet run --help)"
        );
    }
    if npm.is_none()
        && outcome.error.as_ref().is_some_and(|e| {
            e.message.starts_with("import is not available")
                || (e.name == "ReferenceError" && e.message.contains("require"))
        })
    {
        eprintln!("hint: code imports npm packages only with --allow-npm (see islet run --help)");
    }
    if fetcher.is_none()
        && outcome
            .error
            .as_ref()
            .is_some_and(|e| e.name == "ReferenceError" && e.message.contains("fetch"))
    {
        eprintln!("hint: `fetch` is available only with --allow-fetch HOST (see islet run --help)");
    }
    Ok(status)
}

/// Prints an outcome the way `islet run` does; the exit code says whether it succeeded.
/// Guest text reaches a terminal with its control characters escaped, so code cannot move
/// the cursor, rewrite earlier lines or send terminal commands; JSON stays valid JSON.
pub(crate) fn print_outcome(outcome: &Outcome, json: bool) -> ExitCode {
    let terminal = std::io::stderr().is_terminal();
    let shown = |text: &str| -> String {
        if terminal {
            escape_controls(text).into_owned()
        } else {
            text.to_owned()
        }
    };
    if json {
        println!(
            "{}",
            escape_json_controls(&serde_json::to_string_pretty(outcome).unwrap_or_default())
        );
    } else {
        for log in &outcome.logs {
            let text = shown(&log.text);
            match log.level {
                Level::Log | Level::Info => eprintln!("{text}"),
                Level::Warn => eprintln!("warn: {text}"),
                Level::Error => eprintln!("error: {text}"),
                Level::Debug => eprintln!("debug: {text}"),
            }
        }
        if let Some(result) = &outcome.result {
            println!("{}", escape_json_controls(&result.to_string()));
        }
        if let Some(error) = &outcome.error {
            eprintln!("{}", shown(&error.to_string()));
            if let Some(stack) = &error.stack {
                eprintln!("{}", shown(stack));
            }
        }
    }
    if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Control characters other than newline and tab as visible escapes (`\x1b`, `\u{9b}`).
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_escaped_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !is_escaped_control(c) => out.push(c),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_escaped_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// JSON text with DEL and the C1 controls (which JSON allows raw, and some terminals obey)
/// written as `\u00XX`: the same JSON value, safe on a terminal. (Serialisers already
/// escape the C0 controls.)
pub(crate) fn escape_json_controls(json: &str) -> std::borrow::Cow<'_, str> {
    let c1 = |c: char| ('\u{7f}'..='\u{9f}').contains(&c);
    if !json.chars().any(c1) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if c1(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}
