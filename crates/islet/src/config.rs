//! `islet.toml`: the settings of `serve`, `mcp openapi` and `mcp proxy` in one file, with
//! precedence flags > environment (`ISLET_*`) > file > defaults; `islet config check` and
//! `islet config show`.
//!
//! A section's keys are its command's long flag names (a positional argument goes by its
//! name), so every flag is a setting and no list of settings is kept twice. Before clap
//! parses the command line, each setting not given as a flag is turned into an argument
//! (in memory: the process's visible argv keeps no secret) after being checked by the
//! flag's own parser, so a wrong value names the file and line. Secrets are references
//! only: `{ env = "NAME" }` or `{ file = "PATH" }`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory as _};

#[derive(clap::Subcommand)]
#[command(after_help = "\
The file (--config FILE, ISLET_CONFIG, or ./islet.toml when it exists) has a section per
command; its keys are the command's long flags, without the dashes:

  log-format = \"json\"
  [serve]
  data = \"/var/lib/islet\"
  listen = \"0.0.0.0:8787\"
  auth-token = { env = \"ISLET_TOKEN\" }     # secrets: { env = \"NAME\" } or { file = \"PATH\" }
  memory = [\"team/alice\"]                  # repeatable flags take arrays
  [mcp.openapi]
  spec = \"specs/github.json.gz\"
  [mcp.proxy]
  config = \"mcp.json\"

A flag on the command line wins over ISLET_<KEY> (e.g. ISLET_CPU_MS=2000; lists
comma-separated), which wins over the file, which wins over the defaults. A flag that reads
its own variable (--auth-token: ISLET_AUTH_TOKEN) uses that one. See examples/islet.toml.

Examples:
  islet config check --config /etc/islet/islet.toml
  ISLET_LISTEN=127.0.0.1:9000 islet config show")]
pub(crate) enum ConfigCommand {
    /// Validate the settings file: keys, types, values and secret references. Exit status 0
    /// when `serve` and `mcp` would accept it.
    Check(ConfigFileArg),
    /// Print the effective settings of `serve`, `mcp openapi` and `mcp proxy` (file,
    /// ISLET_* and defaults; flags are per run), each with where it came from. Secrets masked.
    Show(ConfigFileArg),
}

/// `--config FILE`, on each command that reads settings (not global: `islet tokens` has a
/// `--config` of its own).
#[derive(clap::Args)]
pub(crate) struct ConfigFileArg {
    /// Settings file (default: ./islet.toml when it exists). Flags and ISLET_* variables
    /// override it; see `islet config --help`.
    #[arg(
        long = "config",
        id = "config_file",
        value_name = "FILE",
        env = "ISLET_CONFIG",
        help_heading = "Operations"
    )]
    pub config_file: Option<PathBuf>,
}

/// The file's sections and the subcommand whose flags each sets.
const SECTIONS: [(&str, &[&str]); 3] = [
    ("serve", &["serve"]),
    ("mcp.openapi", &["mcp", "openapi"]),
    ("mcp.proxy", &["mcp", "proxy"]),
];

/// Keys at the top of the file: islet's global flags.
const TOP_KEYS: [&str; 1] = ["log-format"];

/// Arguments that are not settings (help, and the globals the top of the file covers).
const NOT_SETTINGS: [&str; 4] = ["help", "version", "config_file", "log_format"];

/// Settings that hold secrets: given by reference only, masked by `config show`.
/// `cluster` is the PostgreSQL URL, which usually holds a password.
const SECRET_KEYS: [&str; 2] = ["auth-token", "cluster"];

/// Words that make a header (`header = ["Authorization: …"]`) a credential.
const SECRET_HEADER_WORDS: [&str; 6] = [
    "authorization",
    "cookie",
    "token",
    "key",
    "secret",
    "password",
];

const DEFAULT_FILE: &str = "islet.toml";

/// Where a secret's value is.
#[derive(Debug, Clone)]
enum Reference {
    Env(String),
    File(PathBuf),
}

/// One value as the file writes it.
#[derive(Debug, Clone)]
enum Piece {
    Plain(String),
    Ref(Reference),
}

#[derive(Debug, Clone)]
enum FileValue {
    Bool(bool),
    /// A scalar is one piece; an array any number.
    Pieces {
        pieces: Vec<Piece>,
        array: bool,
    },
}

#[derive(Debug, Clone)]
struct FileSetting {
    key: String,
    line: usize,
    value: FileValue,
}

/// A parsed settings file: its settings by section ("" for the top).
#[derive(Debug)]
struct ConfigFile {
    path: PathBuf,
    sections: BTreeMap<&'static str, Vec<FileSetting>>,
}

/// Where an effective setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Flag,
    Env(String),
    File(usize),
    Default,
    Unset,
}

/// One setting after precedence: the arguments it becomes (`None`: clap already has it
/// from the command line or its own variable, or the default applies).
struct Resolved {
    key: String,
    source: Source,
    secret: bool,
    /// Values for display (secrets masked) and for injection.
    shown: String,
    inject: Option<Vec<OsString>>,
    positional: bool,
}

/// How a flag takes values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Flag,
    Single,
    List,
}

fn shape(arg: &clap::Arg) -> Option<Shape> {
    match arg.get_action() {
        ArgAction::SetTrue => Some(Shape::Flag),
        ArgAction::Set => Some(Shape::Single),
        ArgAction::Append => Some(Shape::List),
        _ => None,
    }
}

fn key_of(arg: &clap::Arg) -> String {
    arg.get_long()
        .map_or_else(|| arg.get_id().as_str().to_owned(), str::to_owned)
}

/// The arguments of `path`'s subcommand that are settings.
fn settings_of(root: &clap::Command, path: &[&str]) -> Vec<clap::Arg> {
    let mut command = root;
    for name in path {
        match command.find_subcommand(name) {
            Some(sub) => command = sub,
            None => return Vec::new(),
        }
    }
    command
        .get_arguments()
        .filter(|a| !NOT_SETTINGS.contains(&a.get_id().as_str()) && shape(a).is_some())
        .cloned()
        .collect()
}

fn root_command() -> clap::Command {
    let mut command = crate::Cli::command();
    command.build();
    command
}

/// The command line with the settings from the environment and the file added where no
/// flag gives them. Other commands, `--help`, and command lines clap rejects pass
/// through unchanged (clap then says what is wrong).
pub(crate) fn apply(argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    // Workers start often and read no settings: skip building the whole CLI for them.
    if argv
        .get(1)
        .is_some_and(|a| a == "worker" || a == "linuxbox-init")
    {
        return Ok(argv);
    }
    let root = root_command();
    // Positionals the file may give are optional here, so the parse that finds which
    // flags were given does not stop at them.
    let lenient = crate::Cli::command().mut_subcommand("mcp", |mcp| {
        mcp.mut_subcommand("openapi", |c| c.mut_arg("spec", |a| a.required(false)))
            .mut_subcommand("proxy", |c| c.mut_arg("config", |a| a.required(false)))
    });
    let Ok(matches) = lenient.try_get_matches_from(&argv) else {
        return Ok(argv);
    };
    let (section, sub_matches) = match matches.subcommand() {
        Some(("serve", m)) => ("serve", m),
        Some(("mcp", m)) => match m.subcommand() {
            Some(("openapi", m)) => ("mcp.openapi", m),
            Some(("proxy", m)) => ("mcp.proxy", m),
            _ => return Ok(argv),
        },
        _ => return Ok(argv),
    };
    let given = config_file(sub_matches);
    let file = load(given.map(PathBuf::as_path))?;
    let path = SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, path)| *path)
        .unwrap_or_default();
    let mut resolved = resolve(
        &settings_of(&root, path),
        file.as_ref(),
        section,
        &[sub_matches],
    );
    let top: Vec<clap::Arg> = root
        .get_arguments()
        .filter(|a| a.get_id().as_str() == "log_format")
        .cloned()
        .collect();
    // A global flag may stand before or after the subcommand.
    resolved.extend(resolve(&top, file.as_ref(), "", &[&matches, sub_matches]));
    let resolved = collect_errors(resolved, file.as_ref())?;
    let mut argv = argv;
    // Options first, then positionals: options are written `--key=value`, so nothing
    // after them is taken as their value.
    let (positional, options): (Vec<_>, Vec<_>) = resolved
        .into_iter()
        .filter_map(|r| r.inject.map(|args| (r.positional, args)))
        .partition(|(positional, _)| *positional);
    for (_, args) in options.into_iter().chain(positional) {
        argv.extend(args);
    }
    Ok(argv)
}

/// `--config FILE` (or ISLET_CONFIG), wherever the global flag was given.
fn config_file(matches: &ArgMatches) -> Option<&PathBuf> {
    matches.try_get_one::<PathBuf>("config_file").ok().flatten()
}

/// Turns per-setting results into settings, or one error listing every problem.
fn collect_errors(
    results: Vec<Result<Resolved, String>>,
    file: Option<&ConfigFile>,
) -> anyhow::Result<Vec<Resolved>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(r) => ok.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        return Ok(ok);
    }
    let mut message = String::new();
    if let Some(file) = file {
        let _ = write!(message, "invalid settings ({}):", file.path.display());
    } else {
        message.push_str("invalid settings:");
    }
    for e in errors {
        let _ = write!(message, "\n  {e}");
    }
    anyhow::bail!(message)
}

/// The file `--config` names, else ./islet.toml when it exists.
fn load(given: Option<&Path>) -> anyhow::Result<Option<ConfigFile>> {
    let path = match given {
        Some(path) => path.to_owned(),
        None => {
            let default = PathBuf::from(DEFAULT_FILE);
            if !default.is_file() {
                return Ok(None);
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read the settings file {} (from --config or ISLET_CONFIG)",
            path.display()
        )
    })?;
    parse(&path, &text).map(Some)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

type DeValue<'i> = toml::de::DeValue<'i>;
type DeTable<'i> = toml::de::DeTable<'i>;

fn parse(path: &Path, text: &str) -> anyhow::Result<ConfigFile> {
    let root = toml::de::DeTable::parse(text)
        .map_err(|e| anyhow::anyhow!("{}: not valid TOML: {e}", path.display()))?;
    let root_commands = root_command();
    let at = |offset: usize| format!("{}:{}", path.display(), line_of(text, offset));
    let mut errors = Vec::new();
    let mut sections: BTreeMap<&'static str, Vec<FileSetting>> = BTreeMap::new();
    let valid_top = || {
        let mut keys: Vec<&str> = TOP_KEYS.to_vec();
        keys.extend(SECTIONS.iter().map(|(name, _)| *name));
        keys.iter()
            .map(|k| {
                if k.contains('.') || *k == "serve" {
                    format!("[{k}]")
                } else {
                    (*k).to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Top-level: the global keys and the section tables.
    let mut tables: Vec<(&'static str, &DeTable<'_>)> = Vec::new();
    for (key, value) in root.get_ref().iter() {
        let name = key.get_ref().as_ref();
        let offset = key.span().start;
        match (name, value.get_ref()) {
            ("serve", DeValue::Table(t)) => tables.push(("serve", t)),
            ("mcp", DeValue::Table(mcp)) => {
                for (sub, value) in mcp.iter() {
                    match (sub.get_ref().as_ref(), value.get_ref()) {
                        ("openapi", DeValue::Table(t)) => tables.push(("mcp.openapi", t)),
                        ("proxy", DeValue::Table(t)) => tables.push(("mcp.proxy", t)),
                        (other, _) => errors.push(format!(
                            "{}: unknown key `mcp.{other}`; the mcp sections are [mcp.openapi] and [mcp.proxy]",
                            at(sub.span().start)
                        )),
                    }
                }
            }
            ("serve" | "mcp", _) => errors.push(format!(
                "{}: `{name}` must be a table ([{name}…] section)",
                at(offset)
            )),
            (top, value) if TOP_KEYS.contains(&top) => match file_value(top, value) {
                Ok(v) => sections.entry("").or_default().push(FileSetting {
                    key: top.to_owned(),
                    line: line_of(text, offset),
                    value: v,
                }),
                Err(e) => errors.push(format!("{}: {e}", at(offset))),
            },
            (other, _) => errors.push(format!(
                "{}: unknown key `{other}`; valid at the top: {}",
                at(offset),
                valid_top()
            )),
        }
    }
    for (section, table) in tables {
        let path_of = SECTIONS
            .iter()
            .find(|(name, _)| *name == section)
            .map(|(_, p)| *p)
            .unwrap_or_default();
        let args = settings_of(&root_commands, path_of);
        let valid: Vec<String> = args.iter().map(key_of).collect();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let offset = key.span().start;
            if !valid.iter().any(|k| k == name) {
                errors.push(format!(
                    "{}: unknown key `{name}` in [{section}]; valid keys: {}",
                    at(offset),
                    valid.join(", ")
                ));
                continue;
            }
            match file_value(name, value.get_ref()) {
                Ok(v) => sections.entry(section).or_default().push(FileSetting {
                    key: name.to_owned(),
                    line: line_of(text, offset),
                    value: v,
                }),
                Err(e) => errors.push(format!("{}: {e}", at(offset))),
            }
        }
    }
    if !errors.is_empty() {
        anyhow::bail!(
            "invalid settings ({}):\n  {}",
            path.display(),
            errors.join("\n  ")
        );
    }
    Ok(ConfigFile {
        path: path.to_owned(),
        sections,
    })
}

/// A TOML value as a setting: scalars, arrays of scalars, `{ env = … }` / `{ file = … }`.
fn file_value(key: &str, value: &DeValue<'_>) -> Result<FileValue, String> {
    match value {
        DeValue::Boolean(b) => Ok(FileValue::Bool(*b)),
        DeValue::Array(items) => {
            let mut pieces = Vec::new();
            for item in items.iter() {
                pieces.push(piece(key, item.get_ref())?);
            }
            Ok(FileValue::Pieces {
                pieces,
                array: true,
            })
        }
        other => Ok(FileValue::Pieces {
            pieces: vec![piece(key, other)?],
            array: false,
        }),
    }
}

fn piece(key: &str, value: &DeValue<'_>) -> Result<Piece, String> {
    match value {
        DeValue::String(s) => Ok(Piece::Plain(s.as_ref().to_owned())),
        DeValue::Integer(i) => Ok(Piece::Plain(i.to_string())),
        DeValue::Float(f) => Ok(Piece::Plain(f.to_string())),
        DeValue::Boolean(b) => Ok(Piece::Plain(b.to_string())),
        DeValue::Table(t) => {
            let entries: Vec<(&str, &DeValue<'_>)> = t
                .iter()
                .map(|(k, v)| (k.get_ref().as_ref(), v.get_ref()))
                .collect();
            match entries.as_slice() {
                [("env", DeValue::String(name))] => {
                    Ok(Piece::Ref(Reference::Env(name.as_ref().to_owned())))
                }
                [("file", DeValue::String(path))] => {
                    Ok(Piece::Ref(Reference::File(PathBuf::from(path.as_ref()))))
                }
                _ => Err(format!(
                    "`{key}`: a table here must be {{ env = \"NAME\" }} or {{ file = \"PATH\" }} (a reference to a secret)"
                )),
            }
        }
        DeValue::Array(_) => Err(format!("`{key}`: arrays of arrays are not settings")),
        DeValue::Datetime(_) => Err(format!("`{key}`: a date is not a valid value here")),
    }
}

fn env_name(key: &str) -> String {
    format!("ISLET_{}", key.to_uppercase().replace('-', "_"))
}

fn is_secret(key: &str, value: &str) -> bool {
    if SECRET_KEYS.contains(&key) {
        return true;
    }
    // An API header given inline is fine unless it is a credential.
    key == "header"
        && value.split_once(':').is_some_and(|(name, _)| {
            let name = name.to_ascii_lowercase();
            SECRET_HEADER_WORDS.iter().any(|w| name.contains(w))
        })
}

/// Effective settings of `args` in `section` (`""`: the top): per setting its source, and
/// the arguments to add when the command line does not give it.
fn resolve(
    args: &[clap::Arg],
    file: Option<&ConfigFile>,
    section: &str,
    matches: &[&ArgMatches],
) -> Vec<Result<Resolved, String>> {
    let in_file = file.and_then(|f| f.sections.get(section));
    args.iter()
        .map(|arg| resolve_one(arg, file, in_file, matches))
        .collect()
}

fn resolve_one(
    arg: &clap::Arg,
    file: Option<&ConfigFile>,
    in_file: Option<&Vec<FileSetting>>,
    matches: &[&ArgMatches],
) -> Result<Resolved, String> {
    let key = key_of(arg);
    let id = arg.get_id().as_str();
    let shape = shape(arg).unwrap_or(Shape::Single);
    let secret_key = SECRET_KEYS.contains(&key.as_str());
    let positional = arg.is_positional();
    let resolved = |source, shown: String, inject| Resolved {
        key: key.clone(),
        source,
        secret: secret_key,
        shown,
        inject,
        positional,
    };
    if matches
        .iter()
        .any(|m| m.value_source(id) == Some(ValueSource::CommandLine))
    {
        return Ok(resolved(Source::Flag, "(given as a flag)".to_owned(), None));
    }
    // A flag that reads its own variable: clap applies it, above the file.
    if let Some(var) = arg.get_env() {
        let var = var.to_string_lossy().into_owned();
        if let Ok(value) = std::env::var(&var) {
            let shown = if secret_key { mask() } else { quote(&value) };
            return Ok(resolved(Source::Env(var), shown, None));
        }
    } else {
        let var = env_name(&key);
        if let Ok(raw) = std::env::var(&var) {
            let values: Vec<String> = match shape {
                Shape::Flag => match raw.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => vec![String::new()],
                    "" | "0" | "false" | "no" | "off" => Vec::new(),
                    _ => return Err(format!("{var}={raw}: use true or false")),
                },
                Shape::List => raw
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                Shape::Single => vec![raw.clone()],
            };
            for value in values.iter().filter(|_| shape != Shape::Flag) {
                check(arg, value).map_err(|e| format!("{var}: {e}"))?;
            }
            let shown = show(shape, &values, secret_key);
            return Ok(resolved(
                Source::Env(var),
                shown,
                Some(arguments(arg, shape, &values)),
            ));
        }
    }
    if let Some(setting) = in_file.and_then(|s| s.iter().find(|s| s.key == key)) {
        let file = file.map(|f| f.path.clone()).unwrap_or_default();
        let at = format!("{}:{}", file.display(), setting.line);
        let values = file_values(arg, shape, setting).map_err(|e| format!("{at}: {e}"))?;
        for value in values.iter().filter(|_| shape != Shape::Flag) {
            check(arg, value).map_err(|e| format!("{at}: `{key}`: {e}"))?;
        }
        let secret = secret_key || values.iter().any(|v| is_secret(&key, v));
        let shown = show(shape, &values, secret);
        return Ok(Resolved {
            key: key.clone(),
            source: Source::File(setting.line),
            secret,
            shown,
            inject: Some(arguments(arg, shape, &values)),
            positional,
        });
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if shape == Shape::Flag {
        return Ok(resolved(Source::Default, "false".to_owned(), None));
    }
    if defaults.is_empty() {
        return Ok(resolved(Source::Unset, String::new(), None));
    }
    Ok(resolved(
        Source::Default,
        show(shape, &defaults, false),
        None,
    ))
}

/// The values a file setting gives, references resolved, checked against the flag's shape
/// and the rule that secrets are never inline.
fn file_values(
    arg: &clap::Arg,
    shape: Shape,
    setting: &FileSetting,
) -> Result<Vec<String>, String> {
    let key = &setting.key;
    let (pieces, array) = match (&setting.value, shape) {
        (FileValue::Bool(true), Shape::Flag) => return Ok(vec![String::new()]),
        (FileValue::Bool(false), Shape::Flag) => return Ok(Vec::new()),
        (_, Shape::Flag) => return Err(format!("`{key}` is a switch: write true or false")),
        (FileValue::Bool(b), _) => {
            return Err(format!("`{key}` = {b}: expected {}", expected(arg, shape)));
        }
        (FileValue::Pieces { pieces, array }, _) => (pieces, *array),
    };
    if array && shape == Shape::Single {
        return Err(format!(
            "`{key}` takes one value, not an array: expected {}",
            expected(arg, shape)
        ));
    }
    let mut values = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Plain(value) => {
                if is_secret(key, value) {
                    return Err(format!(
                        "`{key}` is a secret: never write it in the file; give {{ env = \"NAME\" }} or {{ file = \"PATH\" }}"
                    ));
                }
                values.push(value.clone());
            }
            Piece::Ref(Reference::Env(name)) => {
                let value = std::env::var(name).map_err(|_| {
                    format!("`{key}` = {{ env = \"{name}\" }}: the environment variable {name} is not set")
                })?;
                values.push(value);
            }
            Piece::Ref(Reference::File(path)) => {
                // Relative to the working directory, like every path in the file (and
                // every path a flag takes).
                let value = std::fs::read_to_string(path).map_err(|e| {
                    format!(
                        "`{key}` = {{ file = \"{}\" }}: cannot read it: {e}",
                        path.display()
                    )
                })?;
                values.push(value.trim_end_matches(['\n', '\r']).to_owned());
            }
        }
    }
    Ok(values)
}

fn expected(arg: &clap::Arg, shape: Shape) -> String {
    let name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map_or_else(|| "a value".to_owned(), |n| n.to_string());
    match shape {
        Shape::List => format!("an array of {name}"),
        _ => name,
    }
}

/// Checks `value` with the flag's own parser (numbers, addresses, enums).
fn check(arg: &clap::Arg, value: &str) -> Result<(), String> {
    let probe = arg.clone().env(None).required(false).global(false);
    let argv = match arg.get_long() {
        Some(long) => vec![format!("--{long}={value}")],
        None => vec![value.to_owned()],
    };
    clap::Command::new("islet")
        .no_binary_name(true)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(probe)
        .try_get_matches_from(argv)
        .map(|_| ())
        .map_err(|e| {
            // clap's message on one line, without its pointer to --help (of a command
            // that is not the one being run).
            e.to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .map(|l| l.strip_prefix("error: ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// The arguments that give `values` to `arg`.
fn arguments(arg: &clap::Arg, shape: Shape, values: &[String]) -> Vec<OsString> {
    match (arg.get_long(), shape) {
        (Some(long), Shape::Flag) => values.iter().map(|_| format!("--{long}").into()).collect(),
        (Some(long), _) => values
            .iter()
            .map(|v| format!("--{long}={v}").into())
            .collect(),
        (None, _) => values.iter().map(OsString::from).collect(),
    }
}

fn mask() -> String {
    "\"********\"".to_owned()
}

fn quote(value: &str) -> String {
    // TOML basic strings escape like JSON's.
    serde_json::Value::String(value.to_owned()).to_string()
}

fn show(shape: Shape, values: &[String], secret: bool) -> String {
    let one = |v: &String| if secret { mask() } else { quote(v) };
    match shape {
        Shape::Flag => (!values.is_empty()).to_string(),
        Shape::Single => values.first().map(one).unwrap_or_default(),
        Shape::List => format!(
            "[{}]",
            values.iter().map(one).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// `islet config check|show`.
pub(crate) fn config(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    let given = match &command {
        ConfigCommand::Check(arg) | ConfigCommand::Show(arg) => arg.config_file.clone(),
    };
    let file = load(given.as_deref())?;
    let root = root_command();
    let mut report = String::new();
    let mut results = Vec::new();
    let top: Vec<clap::Arg> = root
        .get_arguments()
        .filter(|a| a.get_id().as_str() == "log_format")
        .cloned()
        .collect();
    let mut sections = vec![("", resolve(&top, file.as_ref(), "", &[]))];
    for (section, path) in SECTIONS {
        let resolved = resolve(&settings_of(&root, path), file.as_ref(), section, &[]);
        sections.push((section, resolved));
    }
    for (section, resolved) in sections {
        let resolved = match collect_errors(resolved, file.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                results.push(e);
                continue;
            }
        };
        if !section.is_empty() {
            let _ = writeln!(report, "\n[{section}]");
        }
        for r in resolved {
            let source = match &r.source {
                Source::Flag => "flag".to_owned(),
                Source::Env(var) => format!("environment {var}"),
                Source::File(line) => format!(
                    "{}:{line}",
                    file.as_ref()
                        .map_or_else(String::new, |f| f.path.display().to_string())
                ),
                Source::Default => "default".to_owned(),
                Source::Unset => "not set".to_owned(),
            };
            if r.source == Source::Unset {
                let _ = writeln!(report, "# {} = …  # {source}", r.key);
            } else if r.secret {
                let _ = writeln!(
                    report,
                    "{} = {}  # {source} (secret, masked)",
                    r.key, r.shown
                );
            } else {
                let _ = writeln!(report, "{} = {}  # {source}", r.key, r.shown);
            }
        }
    }
    if let Some(error) = results.into_iter().next() {
        return Err(error);
    }
    let mut out = String::new();
    match command {
        ConfigCommand::Check(_) => match &file {
            Some(file) => {
                let count: usize = file.sections.values().map(Vec::len).sum();
                let _ = writeln!(out, "{}: ok ({count} settings)", file.path.display());
            }
            None => anyhow::bail!(
                "no settings file to check: pass --config FILE (or set ISLET_CONFIG), or create ./{DEFAULT_FILE}"
            ),
        },
        ConfigCommand::Show(_) => {
            let _ = writeln!(
                out,
                "# effective settings: {}; flags given to a command override these",
                file.as_ref().map_or_else(
                    || "no settings file".to_owned(),
                    |f| format!("file {}", f.path.display())
                )
            );
            out.push_str(&report);
        }
    }
    say(&out);
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::print_stdout)]
fn say(text: &str) {
    print!("{text}");
}
