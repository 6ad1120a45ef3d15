//! Search: relevance on the real specs, speed on Microsoft Graph, edge cases.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use codemode::catalog::search::SearchIndex;
use codemode::catalog::{Catalog, HttpOperation, Target, Tool};
use codemode::openapi;
use serde_json::json;

/// The catalog of `specs/<name>.json.gz`, loaded once per test binary.
pub(crate) fn given_real_catalog(name: &str) -> &'static Catalog {
    static CATALOGS: OnceLock<Mutex<HashMap<String, &'static Catalog>>> = OnceLock::new();
    let catalogs = CATALOGS.get_or_init(Default::default);
    // Loading Graph takes seconds: hold the lock so parallel tests load it once.
    let mut catalogs = catalogs.lock().unwrap_or_else(|e| e.into_inner());
    catalogs.entry(name.to_owned()).or_insert_with(|| {
        let path = format!("{}/../../specs/{name}.json.gz", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(&path).expect("spec file");
        let spec = openapi::parse(&bytes, &path).expect("spec parses");
        Box::leak(Box::new(openapi::catalog(&spec)))
    })
}

fn given_tool(namespace: &str, name: &str, description: &str) -> Tool {
    Tool {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        original_name: name.to_owned(),
        description: description.to_owned(),
        input_schema: json!({"type": "object", "properties": {"owner": {"type": "string"}}}),
        output_schema: None,
        keywords: Vec::new(),
        target: Target::Http(HttpOperation {
            method: "GET".to_owned(),
            path: format!("/{}/{name}", namespace.replace('.', "/")),
            parameters: Vec::new(),
            body: None,
        }),
    }
}

/// A Graph-sized catalog: 11,422 tools over 400 namespaces with overlapping vocabulary.
fn given_big_synthetic_catalog() -> Catalog {
    const NOUNS: &[&str] = &[
        "user",
        "group",
        "message",
        "calendar",
        "event",
        "drive",
        "item",
        "team",
        "channel",
        "device",
        "application",
        "policy",
        "contact",
        "folder",
        "site",
        "list",
        "task",
        "plan",
        "member",
        "owner",
        "attachment",
        "permission",
        "subscription",
        "report",
    ];
    const VERBS: &[&str] = &["list", "get", "create", "update", "delete"];
    let tools = (0..11_422)
        .map(|i| {
            let noun = NOUNS[i % NOUNS.len()];
            let other = NOUNS[(i / NOUNS.len()) % NOUNS.len()];
            let verb = VERBS[i % VERBS.len()];
            given_tool(
                &format!("api.{other}s{}", i % 400),
                &format!("{verb}{}{}{i}", noun[..1].to_uppercase(), &noun[1..]),
                &format!(
                    "{verb} the {noun} of a {other}. Returns the {noun} object with its properties."
                ),
            )
        })
        .collect();
    Catalog {
        title: "Synthetic".to_owned(),
        tools,
    }
}

fn rank_of(catalog: &Catalog, index: &SearchIndex, query: &str, wanted: &str) -> Option<usize> {
    index
        .search(query, 10)
        .iter()
        .position(|hit| {
            let tool = &catalog.tools[hit.tool];
            tool.path() == wanted || tool.original_name == wanted
        })
        .map(|rank| rank + 1)
}

fn assert_top3(catalog: &Catalog, queries: &[(&str, &str)]) {
    let index = SearchIndex::new(catalog);
    for (query, wanted) in queries {
        let rank = rank_of(catalog, &index, query, wanted);
        let top: Vec<String> = index
            .search(query, 3)
            .iter()
            .map(|h| catalog.tools[h.tool].path())
            .collect();
        assert!(
            rank.is_some_and(|r| r <= 3),
            "{query:?}: {wanted} ranked {rank:?}; top 3: {top:?}"
        );
    }
}

#[test]
fn github_queries_find_the_operation() {
    assert_top3(
        given_real_catalog("github"),
        &[
            ("list issues for a repo", "api.issues.listForRepo"),
            ("create a pull request", "api.pulls.create"),
            ("get repository", "api.repos.get"),
            ("merge a pull request", "api.pulls.merge"),
            ("add labels to an issue", "api.issues.addLabels"),
            ("list workflow runs", "api.actions.listWorkflowRuns"),
            ("get the contents of a file", "api.repos.getContent"),
            ("issues/list-for-repo", "api.issues.listForRepo"),
            ("GET /repos/{owner}/{repo}/issues", "api.issues.listForRepo"),
        ],
    );
}

#[test]
fn slack_stripe_and_graph_queries_find_the_operation() {
    assert_top3(
        given_real_catalog("slack"),
        &[
            ("send message to channel", "chat_postMessage"),
            ("upload file", "files_upload"),
            ("set channel topic", "conversations_setTopic"),
        ],
    );
    assert_top3(
        given_real_catalog("stripe"),
        &[
            ("create customer", "PostCustomers"),
            ("create payment intent", "PostPaymentIntents"),
            ("list invoices", "GetInvoices"),
        ],
    );
    assert_top3(
        given_real_catalog("msgraph-v1"),
        &[
            ("list users", "users.user.ListUser"),
            ("send mail", "me.sendMail"),
            ("users.user.ListUser", "users.user.ListUser"),
        ],
    );
}

/// Every query of the mix answers with at most ten tools, and with at least one where the
/// catalog has the words. How fast is measured by `islet bench openapi` (search p50 per
/// spec, BENCHMARKS.md), not here: a timed test fails on a loaded machine without telling
/// anything about the code.
fn assert_answers(index: &SearchIndex, queries: &[&str], each_has_a_hit: bool) {
    for query in queries {
        let hits = index.search(query, 10);
        assert!(hits.len() <= 10, "{query:?}: {} hits", hits.len());
        assert!(!each_has_a_hit || !hits.is_empty(), "{query:?}: no hit");
    }
}

const GRAPH_QUERIES: &[&str] = &[
    "list users",
    "send mail",
    "create event in calendar",
    "get user manager",
    "list group members",
    "upload file to onedrive",
    "delete a message",
    "update user",
    "list teams channels",
    "reset password",
    "get sign in logs",
    "add member to group",
];

#[test]
fn graph_search_answers_the_query_mix() {
    let index = SearchIndex::new(given_real_catalog("msgraph-v1"));
    assert_answers(&index, GRAPH_QUERIES, true);
}

#[test]
fn synthetic_graph_sized_search_answers_the_query_mix() {
    let catalog = given_big_synthetic_catalog();
    let index = SearchIndex::new(&catalog);
    assert_answers(&index, GRAPH_QUERIES, false);
    let tool = &catalog.tools[1234];
    assert_top3(&catalog, &[(tool.name.as_str(), tool.path().as_str())]);
}

#[test]
fn exact_names_rank_first() {
    let catalog = Catalog {
        title: String::new(),
        tools: vec![
            given_tool("api.repos", "get", "Get a repository."),
            given_tool("api.repos", "getReadme", "Get a repository README."),
            given_tool("api.issues", "get", "Get an issue."),
        ],
    };
    let index = SearchIndex::new(&catalog);
    let hits = index.search("api.issues.get", 3);
    assert_eq!(hits[0].tool, 2);
    let hits = index.search("repos.getReadme", 3);
    assert_eq!(hits[0].tool, 1);
}

#[test]
fn results_are_ranked_limited_and_deterministic() {
    let catalog = given_big_synthetic_catalog();
    let index = SearchIndex::new(&catalog);
    let first = index.search("list the users of a group", 25);
    assert_eq!(first.len(), 25);
    assert!(first.windows(2).all(|w| w[0].score >= w[1].score));
    // Equal scores keep catalog order.
    assert!(
        first
            .windows(2)
            .all(|w| w[0].score > w[1].score || w[0].tool < w[1].tool)
    );
    assert_eq!(index.search("list the users of a group", 25), first);
    assert_eq!(index.search("list the users of a group", 3), first[..3]);
}

#[test]
fn prefix_and_synonyms_widen_recall() {
    let catalog = Catalog {
        title: String::new(),
        tools: vec![
            given_tool("api.auth", "revokeToken", "Revoke an authentication token."),
            given_tool("api.repos", "delete", "Delete a repository."),
            given_tool("api.labels", "addLabel", "Add a label."),
        ],
    };
    let index = SearchIndex::new(&catalog);
    assert_eq!(index.search("authent", 1)[0].tool, 0);
    assert_eq!(index.search("remove repository", 1)[0].tool, 1);
    assert_eq!(index.search("create label", 1)[0].tool, 2);
}

#[test]
fn degenerate_queries_and_catalogs() {
    let empty = SearchIndex::new(&Catalog::default());
    assert!(empty.search("anything", 10).is_empty());
    let catalog = given_big_synthetic_catalog();
    let index = SearchIndex::new(&catalog);
    for query in [
        "",
        "   ",
        "the a of",
        "ñandú 日本語",
        "zzzzqqq",
        "/{}/",
        &"x".repeat(10_000),
    ] {
        let _ = index.search(query, 10);
    }
    assert!(index.search("", 10).is_empty());
    assert!(index.search("list users", 0).is_empty());
    assert!(index.search("zzzzqqq", 10).is_empty());
    let many = "user ".repeat(1_000);
    assert_eq!(index.search(&many, 5).len(), 5);
}

/// An HTTP operation with a method, path and input schema of its own.
fn given_operation(
    method: &str,
    path: &str,
    name: &str,
    description: &str,
    input_schema: serde_json::Value,
) -> Tool {
    Tool {
        namespace: "api".to_owned(),
        name: name.to_owned(),
        original_name: name.to_owned(),
        description: description.to_owned(),
        input_schema,
        output_schema: None,
        keywords: Vec::new(),
        target: Target::Http(HttpOperation {
            method: method.to_owned(),
            path: path.to_owned(),
            parameters: Vec::new(),
            body: None,
        }),
    }
}

fn no_input() -> serde_json::Value {
    json!({"type": "object", "properties": {}})
}

fn top(catalog: &Catalog, index: &SearchIndex, query: &str) -> String {
    let hits = index.search(query, 5);
    let tool = &catalog.tools[hits.first().expect("a result").tool];
    tool.name.clone()
}

#[test]
fn issue13_retrieve_a_customer_by_id_ranks_the_customer_in_the_top_3() {
    let catalog = given_real_catalog("stripe");
    assert_top3(
        catalog,
        &[
            ("retrieve a customer by id", "GetCustomersCustomer"),
            ("get an invoice by its id", "GetInvoicesInvoice"),
        ],
    );
}

#[test]
fn id_in_the_query_asks_for_one_item_instead_of_matching_every_id_parameter() {
    let catalog = Catalog {
        title: String::new(),
        tools: vec![
            given_operation(
                "GET",
                "/customers/{customer}/tax_ids/{id}",
                "getCustomerTaxId",
                "Retrieve a tax ID of a customer.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/customers/{customer}/cards/{id}",
                "getCustomerCard",
                "Retrieve a card of a customer.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/customers",
                "listCustomers",
                "List all customers.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/customers/{customer}",
                "getCustomer",
                "Retrieve a customer.",
                no_input(),
            ),
        ],
    };
    let index = SearchIndex::new(&catalog);
    assert_eq!(
        top(&catalog, &index, "retrieve a customer by id"),
        "getCustomer"
    );
    assert_eq!(top(&catalog, &index, "list all customers"), "listCustomers");
}

#[test]
fn compound_words_meet_their_parts_both_ways() {
    let catalog = Catalog {
        title: String::new(),
        tools: vec![
            given_operation(
                "POST",
                "/issues/{issue}/worklog",
                "addWorklog",
                "Adds a worklog to an issue.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/work/items",
                "listWork",
                "List work items.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/work/queue",
                "getWork",
                "Get the work queue.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/audit/log",
                "getLog",
                "Get the audit log.",
                no_input(),
            ),
            given_operation(
                "GET",
                "/app/log",
                "getAppLog",
                "Read the app log.",
                no_input(),
            ),
            given_operation(
                "POST",
                "/hooks",
                "createWebHook",
                "Create a web hook for a repository.",
                no_input(),
            ),
        ],
    };
    let index = SearchIndex::new(&catalog);
    assert_eq!(top(&catalog, &index, "log work on an issue"), "addWorklog");
    assert_eq!(top(&catalog, &index, "add a webhook"), "createWebHook");
}

#[test]
fn verbs_imply_the_method_when_the_text_does_not_say_them() {
    let catalog = Catalog {
        title: String::new(),
        tools: vec![
            given_operation(
                "GET",
                "/sessions/{id}",
                "getSession",
                "Get a session.",
                no_input(),
            ),
            given_operation(
                "POST",
                "/sessions",
                "startSession",
                "Start a session.",
                no_input(),
            ),
            given_operation(
                "DELETE",
                "/sessions/{id}",
                "endSession",
                "Terminate a session.",
                no_input(),
            ),
            given_operation(
                "PATCH",
                "/sessions/{id}",
                "patchSession",
                "Change a session's settings.",
                no_input(),
            ),
        ],
    };
    let index = SearchIndex::new(&catalog);
    assert_eq!(top(&catalog, &index, "kill a session"), "endSession");
    assert_eq!(top(&catalog, &index, "fetch a session"), "getSession");
    assert_eq!(top(&catalog, &index, "modify a session"), "patchSession");
    // A verb the thesaurus does not know still asks to change something, not to read.
    assert_ne!(top(&catalog, &index, "renew the session"), "getSession");
}

#[test]
fn synonyms_and_camel_case_find_graph_send_mail() {
    assert_top3(
        given_real_catalog("msgraph-v1"),
        &[("send an email", "me.sendMail")],
    );
    assert_top3(
        given_real_catalog("github"),
        &[("remove a label from an issue", "api.issues.removeLabel")],
    );
}

#[test]
fn actions_hidden_in_an_enum_and_deep_in_the_description_are_found() {
    let long = format!(
        "Performs an action on a ticket. {} Use it to escalate a ticket to the second line.",
        "The request body says which action, and each has its own fields. ".repeat(10)
    );
    let catalog = Catalog {
        title: String::new(),
        tools: vec![
            given_operation(
                "POST",
                "/tickets/{id}/actions",
                "ticketAction",
                "Performs an action on a ticket.",
                json!({"type": "object", "properties": {
                    "type": {"type": "string", "enum": ["assign", "merge", "snooze"]}
                }}),
            ),
            given_operation(
                "GET",
                "/tickets/{id}",
                "getTicket",
                "Get a ticket.",
                no_input(),
            ),
            given_operation(
                "POST",
                "/tickets",
                "createTicket",
                "Create a ticket.",
                no_input(),
            ),
        ],
    };
    let index = SearchIndex::new(&catalog);
    assert_eq!(top(&catalog, &index, "snooze a ticket"), "ticketAction");

    let mut with_details = catalog.clone();
    with_details.tools[0].keywords.push(long);
    let index = SearchIndex::new(&with_details);
    assert_eq!(
        top(&with_details, &index, "escalate a ticket"),
        "ticketAction"
    );
}

#[test]
fn full_descriptions_reach_the_index_from_a_spec() {
    let spec = json!({
        "openapi": "3.0.0",
        "info": {"title": "Tickets", "version": "1"},
        "paths": {
            "/tickets/{id}/actions": {"post": {
                "operationId": "ticketAction",
                "summary": "Act on a ticket",
                "description": format!("{}\n\nEscalating a ticket sends it to the second line.", "Long text. ".repeat(60)),
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}}
            }},
            "/tickets/{id}": {"get": {
                "operationId": "getTicket",
                "summary": "Get a ticket",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}}
            }}
        }
    });
    let spec = openapi::parse(spec.to_string().as_bytes(), "tickets.json").expect("spec parses");
    let catalog = openapi::catalog(&spec);
    let action = catalog
        .tools
        .iter()
        .find(|t| t.original_name == "ticketAction")
        .expect("the action");
    assert!(
        !action.description.contains("Escalating"),
        "shown description stays short"
    );
    let index = SearchIndex::new(&catalog);
    assert_eq!(top(&catalog, &index, "escalate a ticket"), "ticketAction");
}

#[test]
fn a_query_with_unknown_words_falls_back_with_a_hint() {
    let catalog = given_real_catalog("stripe");
    let index = SearchIndex::new(catalog);
    // Misspelled: read as the nearest word, and the note says so.
    let ranking = index.rank("retrieve a custmer", 5);
    assert!(
        ranking
            .hits
            .iter()
            .any(|h| catalog.tools[h.tool].original_name == "GetCustomersCustomer"),
        "{:?}",
        ranking.hits
    );
    let note = ranking.note.expect("a note");
    assert!(
        note.contains("\"custmer\"") && note.contains("spelling"),
        "{note}"
    );
    // Nothing like any word: no results, and a note naming the word and what to do.
    let ranking = index.rank("zzzzqqq", 5);
    assert!(ranking.hits.is_empty());
    let note = ranking.note.expect("a note");
    assert!(
        note.contains("\"zzzzqqq\"") && note.contains("`code`"),
        "{note}"
    );
    // All words known: no note.
    assert_eq!(index.rank("list invoices", 5).note, None);
}

#[test]
fn explanations_name_the_terms_fields_and_factors_of_a_score() {
    let catalog = given_real_catalog("stripe");
    let index = SearchIndex::new(catalog);
    let explained = index.explain("remove a coupon", 3);
    let hits = index.search("remove a coupon", 3);
    assert_eq!(explained.iter().map(|(h, _)| *h).collect::<Vec<_>>(), hits);
    let (hit, why) = &explained[0];
    assert_eq!(catalog.tools[hit.tool].original_name, "DeleteCouponsCoupon");
    let coupon = why
        .contributions
        .iter()
        .find(|c| c.word == "coupon")
        .expect("coupon contributes");
    assert!(coupon.fields.contains(&"summary"), "{why}");
    let remove = why
        .contributions
        .iter()
        .find(|c| c.word == "remov")
        .expect("remove contributes");
    assert_eq!(remove.term, "delet");
    assert_eq!(remove.variant, codemode::catalog::search::Variant::Synonym);
    assert!(why.action > 1.0, "{why}");
    let text = why.to_string();
    assert!(
        text.contains("remov→delet (synonym)") && text.contains("×action"),
        "{text}"
    );
    // The parts multiply back to the score.
    let sum: f32 = why.contributions.iter().map(|c| c.points).sum();
    let product = sum * why.coverage * why.fit * why.action * why.shape;
    assert!(
        (product - hit.score).abs() < 1e-3 * hit.score,
        "{product} vs {}",
        hit.score
    );
}

/// A word that ends a longer name after a prefix that is no word (`permalink`) finds it:
/// the link to a message is `chat.getPermalink`, not `rtm.connect`.
#[test]
fn issue14_a_word_at_the_end_of_a_longer_name_finds_it() {
    let catalog = given_real_catalog("slack");
    let index = SearchIndex::new(catalog);
    for query in ["get a link to a message", "link to a specific message"] {
        assert_eq!(
            rank_of(catalog, &index, query, "api.chat.getPermalink"),
            Some(1),
            "{query}: {}",
            top(catalog, &index, query)
        );
    }
}
