//! The Linux sandbox from outside: commands, limits, escape attempts, background
//! processes, files and the workspace sync. Every test starts real sandboxes (bubblewrap
//! must be installed; `.ci/run` installs it).

mod escape;
mod exec;
mod nonroot;
mod processes;
mod service;
mod support;
mod workspace;
