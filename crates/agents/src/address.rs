//! Where an agent lives ([`Address`]) and what a name in one may be: the vocabulary every
//! other module of the crate speaks, so it depends on nothing of theirs.

use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::Error;

/// Where an agent lives: its class and its name.
///
/// A sub-agent's `name` is its parent's class and name and its own name joined by
/// [`store::SUB_AGENT_SEPARATOR`] (a control character, which no name a client gives may
/// hold), so it is an agent like any other (own database, mailbox, schedules, alarm)
/// that only its parent's address leads to; [`Address::child`], [`Address::parent`] and
/// [`Address::local_name`] build and read that form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    /// The agent's class name, the first segment of its URL.
    pub class: String,
    /// The agent's name within the class (for a sub-agent, with its parents).
    pub name: String,
}

pub(crate) const SEP: char = store::SUB_AGENT_SEPARATOR;

impl Address {
    /// The address of agent `name` of class `class`.
    pub fn new(class: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            name: name.into(),
        }
    }

    /// The address of this agent's sub-agent `class`/`name`.
    pub fn child(&self, class: &str, name: &str) -> Address {
        Address::new(
            class,
            format!("{}{SEP}{}{SEP}{name}", self.class, self.name),
        )
    }

    /// The parent of a sub-agent; `None` for a top-level agent.
    pub fn parent(&self) -> Option<Address> {
        let (class, rest) = self.name.split_once(SEP)?;
        let (name, _) = rest.rsplit_once(SEP)?;
        Some(Address::new(class, name))
    }

    /// The name the agent was given (`this.name`): for a sub-agent, without its parents.
    pub fn local_name(&self) -> &str {
        self.name
            .rsplit_once(SEP)
            .map_or(&self.name, |(_, own)| own)
    }

    /// Whether this is a sub-agent (its name holds its parent's address).
    pub fn is_sub_agent(&self) -> bool {
        self.name.contains(SEP)
    }

    /// What every direct sub-agent's name starts with.
    pub(crate) fn children_prefix(&self) -> String {
        format!("{}{SEP}{}{SEP}", self.class, self.name)
    }

    /// The agents above this one, the top-level agent first, each as `{className, name}`
    /// (`this.parentPath`).
    pub fn parent_path(&self) -> Vec<Value> {
        let mut path = Vec::new();
        let mut at = self.parent();
        while let Some(parent) = at {
            path.push(json!({ "className": parent.class, "name": parent.local_name() }));
            at = parent.parent();
        }
        path.reverse();
        path
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parent() {
            Some(parent) => write!(
                f,
                "{parent}.subAgent({}, \"{}\")",
                self.class,
                self.local_name()
            ),
            None => write!(f, "agents.{}(\"{}\")", self.class, self.name),
        }
    }
}

/// `{class, name}` with the agent's own name, and `parentPath` for a sub-agent: what
/// clients see (state events), never the internal form of a sub-agent's name.
impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let sub = self.is_sub_agent();
        let mut map = serializer.serialize_map(Some(if sub { 3 } else { 2 }))?;
        map.serialize_entry("class", &self.class)?;
        map.serialize_entry("name", self.local_name())?;
        if sub {
            map.serialize_entry("parentPath", &self.parent_path())?;
        }
        map.end()
    }
}

/// Whether `name` may be (a part of) an agent's name: 1 to 256 characters, none a control
/// character (the sub-agent separator is one).
pub(crate) fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "invalid agent name {name:?}: use 1 to 256 characters without control characters"
        )));
    }
    Ok(())
}
