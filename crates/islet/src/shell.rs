//! `islet completions SHELL` and `islet man`: generated from the CLI definition itself, so
//! they never drift from the flags `islet --help` shows.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory as _;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  islet completions bash > ~/.local/share/bash-completion/completions/islet
  islet completions zsh > ~/.zfunc/_islet       # with fpath+=(~/.zfunc) in ~/.zshrc
  islet completions fish > ~/.config/fish/completions/islet.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  islet man | man -l -
  islet man > /usr/local/share/man/man1/islet.1")]
pub(crate) struct ManArgs {}

pub(crate) fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = crate::Cli::command();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "islet", &mut out);
    write_stdout(&out)
}

/// One roff page for `islet` with a section per subcommand (hidden ones left out), so a
/// single `man islet` shows everything.
pub(crate) fn man(_args: &ManArgs) -> anyhow::Result<ExitCode> {
    let command = crate::Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut out)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_subcommand(
            &mut out,
            &command,
            sub,
            &format!("islet {}", sub.get_name()),
        )?;
    }
    write_stdout(&out)
}

fn render_subcommand(
    out: &mut Vec<u8>,
    root: &clap::Command,
    sub: &clap::Command,
    path: &str,
) -> anyhow::Result<()> {
    // A section per subcommand: its synopsis, description and options, as `--help` shows
    // them. The root's version keeps clap_mangen from printing an empty one.
    let page = sub
        .clone()
        .name(path.to_owned())
        .version(root.get_version().unwrap_or_default().to_owned());
    let man = clap_mangen::Man::new(page);
    writeln!(out, ".SH \"{}\"", path.to_uppercase())?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    if sub.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(out)?;
    }
    if sub.get_after_help().is_some() || sub.get_after_long_help().is_some() {
        man.render_extra_section(out)?;
    }
    for child in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
        render_subcommand(out, root, child, &format!("{path} {}", child.get_name()))?;
    }
    Ok(())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // `islet man | head` closes the pipe early: not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
