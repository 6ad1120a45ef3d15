//! Words: splitting text and identifiers, stop words, a light stemmer, and the general
//! vocabulary of software actions (verbs and what they imply about an operation).

use std::collections::HashMap;
use std::sync::OnceLock;

const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "for",
    "from",
    "in",
    "into",
    "is",
    "it",
    "its",
    "of",
    "on",
    "or",
    "that",
    "the",
    "this",
    "to",
    "with",
    "via",
    "all",
    "any",
    "my",
    "me",
    "i",
    "you",
    "your",
    "we",
    "our",
    "can",
    "do",
    "does",
    "how",
    "which",
    "what",
    "am",
    "im",
    "some",
    "someone",
    "something",
    "their",
    "them",
    "these",
    "those",
    "there",
    "so",
    "too",
    "only",
    "just",
    "else",
    "want",
    "need",
    "like",
    "please",
    "using",
    "use",
    "when",
    "where",
    "will",
    "would",
    "should",
    "could",
    "has",
    "have",
    "had",
    "been",
    "was",
    "were",
    "if",
    "then",
    "than",
    "out",
    "up",
    "about",
    "s",
    "m",
    "t",
];

/// Splits text into lowercase, stemmed ASCII words: on non-alphanumerics, and inside
/// identifiers at camelCase humps (`getHTTPResponse` → get, http, response).
pub(crate) fn tokenize(text: &str, out: &mut Vec<String>) {
    for_each_word(text, |word| push_word(word, out));
}

/// The lowercase words of `text` before stop words and stemming (for the action and shape
/// cues a query's small words carry).
pub(crate) fn raw_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_word(text, |word| out.push(word.to_ascii_lowercase()));
    out
}

fn for_each_word(text: &str, mut f: impl FnMut(&str)) {
    for run in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if run.is_empty() {
            continue;
        }
        let bytes = run.as_bytes();
        let mut start = 0;
        for i in 1..bytes.len() {
            let (prev, cur) = (bytes[i - 1], bytes[i]);
            let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            let hump = (prev.is_ascii_lowercase() || prev.is_ascii_digit())
                && cur.is_ascii_uppercase()
                || prev.is_ascii_uppercase() && cur.is_ascii_uppercase() && next_lower;
            if hump {
                f(&run[start..i]);
                start = i;
            }
        }
        f(&run[start..]);
    }
}

fn push_word(word: &str, out: &mut Vec<String>) {
    let lower = word.to_ascii_lowercase();
    if lower.len() < 2 || STOP_WORDS.contains(&lower.as_str()) {
        return;
    }
    out.push(stem(canonical(&lower)));
}

/// One word as the index spells it (lowercase, canonical, stemmed); `None` for a stop word.
pub(crate) fn term(word: &str) -> Option<String> {
    let mut out = Vec::new();
    push_word(word, &mut out);
    out.pop()
}

/// Spellings of one concept APIs abbreviate differently.
fn canonical(word: &str) -> &str {
    match word {
        "repository" | "repositories" | "repos" => "repo",
        "organization" | "organizations" | "organisation" | "organisations" | "orgs" => "org",
        "configuration" | "configurations" | "configs" => "config",
        "application" | "applications" | "apps" => "app",
        "information" => "info",
        "messages" | "msg" | "msgs" => "message",
        "identifier" | "identifiers" | "ids" => "id",
        "directory" | "directories" | "dirs" => "dir",
        "emails" | "e-mail" => "email",
        "people" | "persons" => "person",
        other => other,
    }
}

/// A light suffix stripper: plurals, `-ing`, `-ed`, and a final `-e`, so that `creates`,
/// `created`, `creating` and `create` meet at `creat`.
pub(crate) fn stem(word: &str) -> String {
    let mut w = word.to_owned();
    if w.chars().any(|c| c.is_ascii_digit()) || w.len() <= 3 {
        return w;
    }
    if let Some(base) = w.strip_suffix("ies")
        && base.len() >= 2
    {
        w = format!("{base}y");
    } else if ["sses", "ches", "shes", "xes", "zes"]
        .iter()
        .any(|s| w.ends_with(s))
    {
        w.truncate(w.len() - 2);
    } else if w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        w.pop();
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
            && base.chars().any(|c| "aeiouy".contains(c))
        {
            w = base.to_owned();
            let b = w.as_bytes();
            let n = b.len();
            if n >= 2 && b[n - 1] == b[n - 2] && !b"aeioulsz".contains(&b[n - 1]) {
                w.pop();
            }
            break;
        }
    }
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    w
}

/// What an operation does to its resource, as HTTP methods and verbs say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Read,
    Create,
    Update,
    Delete,
    /// Any of create, update and delete: a query's verb the thesaurus does not know
    /// ("refund a charge", "star a repo") still asks to change something.
    Change,
}

impl Action {
    /// The action an HTTP method performs by convention.
    pub(crate) fn of_method(method: &str) -> Option<Action> {
        match method {
            "GET" | "HEAD" => Some(Action::Read),
            "POST" => Some(Action::Create),
            "PUT" | "PATCH" => Some(Action::Update),
            "DELETE" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// Groups of words people use interchangeably for one software action or concept, with the
/// action the verbs imply. General English and REST vocabulary only: nothing here names a
/// particular API's resources.
const THESAURUS: &[(Option<Action>, &[&str])] = &[
    (
        Some(Action::Delete),
        &[
            "delete", "remove", "destroy", "kill", "erase", "drop", "purge", "discard", "unset",
        ],
    ),
    (
        Some(Action::Read),
        &[
            "get", "retrieve", "fetch", "read", "show", "view", "display", "see", "describe",
            "inspect", "lookup", "download", "export", "check",
        ],
    ),
    (
        Some(Action::Read),
        &["list", "enumerate", "browse", "show", "view", "display"],
    ),
    (
        Some(Action::Read),
        &["search", "find", "query", "lookup", "filter", "look"],
    ),
    (
        Some(Action::Create),
        &[
            "create", "add", "new", "make", "insert", "register", "post", "put",
        ],
    ),
    (
        Some(Action::Update),
        &[
            "update", "edit", "change", "modify", "set", "alter", "patch", "rename", "replace",
        ],
    ),
    (Some(Action::Create), &["send", "post", "deliver", "submit"]),
    (
        None,
        &[
            "start", "begin", "launch", "trigger", "run", "dispatch", "open",
        ],
    ),
    (None, &["stop", "cancel", "halt", "abort", "terminate"]),
    (None, &["copy", "duplicate", "clone"]),
    (None, &["move", "transfer"]),
    (None, &["attach", "link", "connect", "associate", "bind"]),
    (
        None,
        &["detach", "unlink", "disconnect", "dissociate", "unbind"],
    ),
    (None, &["reply", "respond", "answer"]),
    (None, &["invite", "add"]),
    (None, &["email", "mail", "message"]),
    (None, &["person", "user", "member", "who"]),
    (None, &["picture", "photo", "image", "avatar"]),
    (None, &["settings", "config", "preferences", "options"]),
    (None, &["latest", "newest", "recent", "last"]),
    (None, &["login", "signin", "authenticate"]),
    (None, &["count", "number", "total"]),
    // Chat, calendar, mail and version-control nouns that products name differently.
    (None, &["channel", "conversation"]),
    (None, &["workspace", "team"]),
    (None, &["meeting", "event", "appointment"]),
    (None, &["inbox", "mailbox"]),
    (None, &["branch", "ref", "reference"]),
    (None, &["away", "presence", "availability"]),
    // What a download or upload moves is a resource's content.
    (None, &["download", "upload", "content"]),
    (None, &["access", "permission"]),
    (None, &["grant", "give", "allow"]),
];

/// Abbreviations a query may use for words an API spells out.
const ABBREVIATIONS: &[(&str, &[&str])] = &[
    ("pr", &["pull", "request"]),
    ("prs", &["pull", "request"]),
    ("mr", &["merge", "request"]),
    ("dm", &["direct", "message"]),
    ("dms", &["direct", "message"]),
    ("env", &["environment"]),
    ("db", &["database"]),
    ("qty", &["quantity"]),
];

/// The words an abbreviation in a query stands for (`pr` → pull, request).
pub(crate) fn expansion(word: &str) -> Option<&'static [&'static str]> {
    ABBREVIATIONS
        .iter()
        .find(|(abbreviation, _)| *abbreviation == word)
        .map(|(_, words)| *words)
}

/// Verbs that undo each other: a query asking for one is not answered by the other
/// ("start a conversation" is not "close a conversation"). `un…` verbs are opposites too.
const OPPOSITES: &[(&[&str], &[&str])] = &[
    (
        &[
            "start", "begin", "open", "launch", "enable", "activate", "resume",
        ],
        &[
            "stop",
            "end",
            "close",
            "pause",
            "disable",
            "deactivate",
            "halt",
            "suspend",
        ],
    ),
    (
        &[
            "add", "insert", "attach", "invite", "join", "include", "create",
        ],
        &["remove", "delete", "detach", "kick", "leave", "exclude"],
    ),
    (
        &["accept", "approve", "allow", "grant"],
        &["decline", "reject", "deny", "revoke", "dismiss"],
    ),
    (&["upload"], &["download"]),
    (&["encrypt"], &["decrypt"]),
    (&["lock"], &["unlock"]),
    (&["archive"], &["restore", "unarchive"]),
];

/// The stemmed verbs that undo `verb` (a stemmed verb): `clos` for `open`, `unarchiv`
/// for `archiv`.
pub(crate) fn opposites_of(verb: &str) -> Vec<String> {
    static PAIRS: OnceLock<Vec<(Vec<String>, Vec<String>)>> = OnceLock::new();
    let pairs = PAIRS.get_or_init(|| {
        let stems = |words: &[&str]| words.iter().map(|w| stem(w)).collect::<Vec<_>>();
        OPPOSITES
            .iter()
            .map(|(one, other)| (stems(one), stems(other)))
            .collect()
    });
    let mut found = vec![format!("un{verb}")];
    if let Some(rest) = verb.strip_prefix("un")
        && rest.len() >= 3
    {
        found.push(rest.to_owned());
    }
    for (one, other) in pairs {
        if one.iter().any(|w| w == verb) {
            found.extend(other.iter().cloned());
        }
        if other.iter().any(|w| w == verb) {
            found.extend(one.iter().cloned());
        }
    }
    found.retain(|w| w != verb);
    found
}

/// Whether two stemmed verbs undo each other.
#[cfg(test)]
fn opposite(a: &str, b: &str) -> bool {
    opposites_of(a).iter().any(|w| w == b)
}

struct Thesaurus {
    /// Term → the other terms of its groups.
    related: HashMap<String, Vec<String>>,
    /// Term → the action its verb implies.
    actions: HashMap<String, Action>,
}

fn thesaurus() -> &'static Thesaurus {
    static THESAURUS_INDEX: OnceLock<Thesaurus> = OnceLock::new();
    THESAURUS_INDEX.get_or_init(|| {
        let mut related: HashMap<String, Vec<String>> = HashMap::new();
        let mut actions = HashMap::new();
        for (action, words) in THESAURUS {
            let terms: Vec<String> = words.iter().map(|w| stem(canonical(w))).collect();
            for term in &terms {
                if let Some(action) = action {
                    actions.entry(term.clone()).or_insert(*action);
                }
                let entry = related.entry(term.clone()).or_default();
                for other in &terms {
                    if other != term && !entry.contains(other) {
                        entry.push(other.clone());
                    }
                }
            }
        }
        Thesaurus { related, actions }
    })
}

/// Terms used interchangeably with `term` (a stemmed word).
pub(crate) fn synonyms(term: &str) -> &'static [String] {
    thesaurus().related.get(term).map_or(&[], Vec::as_slice)
}

/// The action a stemmed verb implies (`remov` → delete).
pub(crate) fn action_of(term: &str) -> Option<Action> {
    thesaurus().actions.get(term).copied()
}

/// Words that open a modifier of the thing asked for ("in my inbox", "from the
/// directory", "to a channel"). `of` is not one: "the funds of a payment intent" names the
/// resource after it.
const PREPOSITIONS: &[&str] = &[
    "in", "from", "to", "on", "at", "across", "for", "with", "into", "within", "inside", "by",
    "via", "onto", "under", "between", "among", "without",
];

/// Weight of a word in a modifier phrase relative to one naming the action or the thing.
pub(crate) const MODIFIER_WEIGHT: f32 = 0.6;

/// Per query term (as [`term`] spells it): its weight by role. Words before the first
/// preposition name the action and its object (1.0); words after it qualify them.
pub(crate) fn roles(raw: &[String]) -> HashMap<String, f32> {
    let mut weights = HashMap::new();
    let mut weight = 1.0;
    for word in raw {
        if PREPOSITIONS.contains(&word.as_str()) {
            weight = MODIFIER_WEIGHT;
            continue;
        }
        if let Some(t) = term(word) {
            weights.entry(t).or_insert(weight);
        }
    }
    weights
}

/// Per query term from a word written as several (`SharePoint`, `OneDrive`): its share of
/// that word's weight, so one product name does not count as two things asked for.
pub(crate) fn part_weights(text: &str) -> HashMap<String, f32> {
    let mut weights = HashMap::new();
    for run in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut parts = Vec::new();
        for_each_word(run, |word| parts.extend(term(word)));
        if parts.len() > 1 {
            let share = 1.0 / parts.len() as f32;
            for part in parts {
                weights.entry(part).or_insert(share);
            }
        }
    }
    weights
}

/// Words that follow an imperative verb: "refund *a* charge", "fork *someone's* repo".
const DETERMINERS: &[&str] = &[
    "a", "an", "the", "my", "me", "our", "us", "your", "his", "her", "their", "this", "that",
    "these", "those", "some", "someone", "somebody", "every", "each", "new",
];

/// The action a query asks for: its first verb the thesaurus knows, else, when it opens
/// with a verb followed by a determiner ("close an issue"), a change of some kind.
pub(crate) fn query_action(raw: &[String]) -> Option<Action> {
    if let Some(action) = raw
        .iter()
        .filter_map(|w| term(w))
        .find_map(|t| action_of(&t))
    {
        return Some(action);
    }
    match raw {
        [verb, next, ..] if DETERMINERS.contains(&next.as_str()) && term(verb).is_some() => {
            Some(Action::Change)
        }
        _ => None,
    }
}

/// Whether the query's raw words ask for one item (`by id`, `a single`) or for many
/// (`list`, `all`, `every`): `Some(true)` for one, `Some(false)` for many.
pub(crate) fn wants_one(raw: &[String]) -> Option<bool> {
    let mut one = false;
    let mut many = false;
    for word in raw {
        match word.as_str() {
            "id" | "identifier" | "single" | "specific" | "particular" | "individual" => one = true,
            "list" | "all" | "every" | "each" | "enumerate" | "browse" => many = true,
            // "who starred this", "who is in this channel": the people, a list.
            "who" => many = true,
            _ => {}
        }
    }
    // The object's number: "show open pull requests" asks for many.
    let object = raw
        .iter()
        .skip_while(|w| term(w).and_then(|t| action_of(&t)).is_none())
        .skip(1)
        .take_while(|w| !PREPOSITIONS.contains(&w.as_str()));
    for word in object {
        match word.as_str() {
            "a" | "an" | "one" => one = true,
            w if is_plural(w) => many = true,
            _ => {}
        }
    }
    match (one, many) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

fn is_plural(word: &str) -> bool {
    word.len() > 3
        && word.ends_with('s')
        && !["ss", "us", "is", "ous"].iter().any(|s| word.ends_with(s))
        && !STOP_WORDS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        tokenize(text, &mut out);
        out
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(words("listForRepo"), ["list", "repo"]);
        assert_eq!(words("issues/list-for-repo"), ["issu", "list", "repo"]);
        assert_eq!(words("getHTTPResponse"), ["get", "http", "respons"]);
        assert_eq!(words("chat.postMessage"), ["chat", "post", "messag"]);
        assert_eq!(
            words("PostCustomersCustomer"),
            ["post", "customer", "customer"]
        );
        assert_eq!(
            words("users.user.ListUser"),
            ["user", "user", "list", "user"]
        );
        assert_eq!(words("/repos/{owner}/{repo}"), ["repo", "owner", "repo"]);
        assert_eq!(words("oauth2 v1.0 é"), ["oauth2", "v1"]);
    }

    #[test]
    fn stemming_meets_verb_forms_and_plurals() {
        for (a, b) in [
            ("create", "creates"),
            ("create", "created"),
            ("create", "creating"),
            ("issue", "issues"),
            ("policy", "policies"),
            ("address", "addresses"),
            ("list", "listing"),
            ("run", "running"),
            ("message", "messages"),
            ("send", "sends"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} vs {b}");
        }
        assert_eq!(stem("status"), "status");
        assert_eq!(stem("analysis"), "analysis");
        assert_eq!(stem("access"), "access");
    }

    #[test]
    fn issue14_opposite_verbs_and_abbreviations() {
        assert!(opposite(&stem("open"), &stem("close")));
        assert!(opposite(&stem("closes"), &stem("opening")));
        assert!(opposite(&stem("archive"), &stem("unarchive")));
        assert!(opposite(&stem("add"), &stem("remove")));
        assert!(!opposite(&stem("open"), &stem("open")));
        assert!(!opposite(&stem("open"), &stem("list")));
        assert_eq!(expansion("pr"), Some(&["pull", "request"][..]));
        assert_eq!(expansion("issue"), None);
        assert_eq!(wants_one(&raw_words("who starred this repo")), Some(false));
    }

    #[test]
    fn issue14_a_word_written_as_several_shares_its_weight() {
        let weights = part_weights("list SharePoint sites");
        assert_eq!(weights.get(&stem("share")), Some(&0.5));
        assert_eq!(weights.get("point"), Some(&0.5));
        assert_eq!(weights.get("list"), None);
        assert_eq!(weights.get(&stem("sites")), None);
    }

    #[test]
    fn verbs_imply_actions_and_meet_their_synonyms() {
        assert_eq!(action_of(&stem("kill")), Some(Action::Delete));
        assert_eq!(action_of(&stem("retrieve")), Some(Action::Read));
        assert_eq!(action_of(&stem("modify")), Some(Action::Update));
        assert!(synonyms(&stem("remove")).contains(&stem("delete")));
        assert!(synonyms(&stem("email")).contains(&stem("mail")));
        assert_eq!(
            wants_one(&raw_words("retrieve a customer by id")),
            Some(true)
        );
        assert_eq!(wants_one(&raw_words("list all invoices")), Some(false));
    }
}
