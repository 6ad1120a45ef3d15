//! The npm rung as a capability of Code Mode's `execute`: it binds nothing, and rewrites
//! each program that imports packages (see [`crate::Npm::prepare`]).

use std::sync::Arc;

use codemode::execute::{Capability, PrepareFuture, Prepared, Release};
use sandbox::Bindings;

use crate::Npm;

/// What the `execute` description says when the npm rung is on.
pub const DESCRIPTION: &str = "npm packages: `import { z } from \"zod\"`, `import _ from \"npm:lodash@4\"` or `require(\"ms\")` \
at the top of the program (fetched on first use, then cached); Node built-ins such as `node:crypto` (hashes, random), \
`buffer`, `events`, `path`, `util`, `url` work; `fs`, `net`, `child_process` do not.";

/// [`Npm`] as a rung of `execute`.
#[derive(Debug, Clone)]
pub struct NpmCapability {
    npm: Arc<Npm>,
    description: String,
}

impl NpmCapability {
    /// The rung over `npm`; its description lists the allowed packages, if limited.
    pub fn new(npm: Arc<Npm>) -> Self {
        let description = description(&npm);
        NpmCapability { npm, description }
    }
}

/// [`DESCRIPTION`], and the allowed packages when `npm` allows only some.
pub fn description(npm: &Npm) -> String {
    let allow = &npm.config().allow;
    if allow.is_empty() {
        DESCRIPTION.to_owned()
    } else {
        format!("{DESCRIPTION} Allowed packages: {}.", allow.join(", "))
    }
}

impl Capability for NpmCapability {
    fn description(&self) -> &str {
        &self.description
    }

    fn prelude(&self) -> Option<&str> {
        None
    }

    fn bind(&self, bindings: Bindings) -> (Bindings, Release) {
        (bindings, Box::new(|| Box::pin(async {})))
    }

    fn prepare<'a>(&'a self, code: &'a str) -> PrepareFuture<'a> {
        Box::pin(async move {
            match self.npm.prepare(code).await {
                Ok(Some(prepared)) => Ok(Some(Prepared {
                    preload: Some(prepared.preload()),
                    code: prepared.code,
                    prelude: None,
                })),
                Ok(None) => Ok(None),
                Err(error) => Err(format!("{} [code {}]", error, error.code())),
            }
        })
    }
}
