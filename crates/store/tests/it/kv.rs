//! Key-value storage and state.

use serde_json::{Map, Value, json};
use store::{AgentDb, ListOptions};

use crate::support::given_agent;

fn given_keys(db: &mut AgentDb, keys: &[&str]) {
    for (index, key) in keys.iter().enumerate() {
        db.kv_put(key, &json!(index)).unwrap();
    }
}

fn keys(entries: Vec<(String, Value)>) -> Vec<String> {
    entries.into_iter().map(|(key, _)| key).collect()
}

#[test]
fn put_get_delete() {
    let (_given, mut db) = given_agent();
    assert_eq!(db.kv_get("a").unwrap(), None);
    db.kv_put("a", &json!({"nested": [1, "two", null]}))
        .unwrap();
    assert_eq!(
        db.kv_get("a").unwrap(),
        Some(json!({"nested": [1, "two", null]}))
    );
    db.kv_put("a", &json!("replaced")).unwrap();
    assert_eq!(db.kv_get("a").unwrap(), Some(json!("replaced")));
    assert!(db.kv_delete("a").unwrap());
    assert!(!db.kv_delete("a").unwrap());
    assert_eq!(db.kv_get("a").unwrap(), None);
}

#[test]
fn many_variants() {
    let (_given, mut db) = given_agent();
    let mut entries = Map::new();
    entries.insert("x".into(), json!(1));
    entries.insert("y".into(), json!(2));
    entries.insert("z".into(), json!(3));
    db.kv_put_many(&entries).unwrap();

    let found = db
        .kv_get_many(&["z".into(), "missing".into(), "x".into()])
        .unwrap();
    assert_eq!(Value::Object(found.clone()), json!({"z": 3, "x": 1}));
    assert_eq!(found.keys().collect::<Vec<_>>(), ["z", "x"]);

    assert_eq!(
        db.kv_delete_many(&["x".into(), "missing".into(), "y".into()])
            .unwrap(),
        2
    );
    assert_eq!(keys(db.kv_list(&ListOptions::default()).unwrap()), ["z"]);
}

#[test]
fn put_many_is_all_or_nothing() {
    let (_given, mut db) = given_agent();
    let mut entries = Map::new();
    entries.insert("good".into(), json!(1));
    entries.insert(String::new(), json!(2));
    let err = db.kv_put_many(&entries).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert_eq!(db.kv_get("good").unwrap(), None);
}

#[test]
fn bad_keys_and_values_are_refused() {
    let (_given, mut db) = given_agent();
    assert_eq!(
        db.kv_put("", &json!(1)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let long = "k".repeat(2049);
    assert_eq!(
        db.kv_put(&long, &json!(1)).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    let huge = json!("v".repeat(16 << 20));
    assert_eq!(db.kv_put("k", &huge).unwrap_err().code(), "TOO_LARGE");
}

#[test]
fn list_orders_and_filters() {
    let (_given, mut db) = given_agent();
    given_keys(&mut db, &["b/2", "a", "b/1", "b", "c", "b/3", "bz"]);
    let list = |db: &mut AgentDb, opts: Value| -> Vec<String> {
        let opts: ListOptions = serde_json::from_value(opts).unwrap();
        keys(db.kv_list(&opts).unwrap())
    };

    assert_eq!(
        list(&mut db, json!({})),
        ["a", "b", "b/1", "b/2", "b/3", "bz", "c"]
    );
    assert_eq!(
        list(&mut db, json!({"prefix": "b/"})),
        ["b/1", "b/2", "b/3"]
    );
    assert_eq!(
        list(
            &mut db,
            json!({"prefix": "b/", "reverse": true, "limit": 2})
        ),
        ["b/3", "b/2"]
    );
    assert_eq!(
        list(&mut db, json!({"start": "b", "end": "b/3"})),
        ["b", "b/1", "b/2"]
    );
    assert_eq!(
        list(&mut db, json!({"startAfter": "b/1", "limit": 2})),
        ["b/2", "b/3"]
    );
    assert_eq!(
        list(&mut db, json!({"prefix": "b", "start": "b/2"})),
        ["b/2", "b/3", "bz"]
    );
    assert_eq!(
        list(&mut db, json!({"prefix": "b", "end": "b/2"})),
        ["b", "b/1"]
    );
    assert_eq!(list(&mut db, json!({"reverse": true, "limit": 1})), ["c"]);
    assert_eq!(
        list(&mut db, json!({"prefix": "nope"})),
        Vec::<String>::new()
    );
    // Options the store does not use (Cloudflare's allowConcurrency) are ignored.
    assert_eq!(
        list(&mut db, json!({"limit": 1, "allowConcurrency": true})),
        ["a"]
    );

    let values = db
        .kv_list(&ListOptions {
            prefix: Some("c".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(values, [("c".to_string(), json!(4))]);
}

#[test]
fn list_prefix_handles_unicode() {
    let (_given, mut db) = given_agent();
    given_keys(&mut db, &["é", "éa", "é\u{10FFFF}", "ê", "e"]);
    let opts = ListOptions {
        prefix: Some("é".into()),
        ..Default::default()
    };
    assert_eq!(keys(db.kv_list(&opts).unwrap()), ["é", "éa", "é\u{10FFFF}"]);
}

#[test]
fn delete_all_clears_keys_only() {
    let (_given, mut db) = given_agent();
    given_keys(&mut db, &["a", "b"]);
    db.set_state(&json!(1)).unwrap();
    db.kv_delete_all().unwrap();
    assert!(db.kv_list(&ListOptions::default()).unwrap().is_empty());
    assert_eq!(db.state().unwrap(), Some(json!(1)));
}

#[test]
fn state_is_one_json_value() {
    let (_given, mut db) = given_agent();
    assert_eq!(db.state().unwrap(), None);
    db.set_state(&json!({"count": 1})).unwrap();
    db.set_state(&json!({"count": 2})).unwrap();
    assert_eq!(db.state().unwrap(), Some(json!({"count": 2})));
    db.set_state(&Value::Null).unwrap();
    assert_eq!(db.state().unwrap(), Some(Value::Null));
}
