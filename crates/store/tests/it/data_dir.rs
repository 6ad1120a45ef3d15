//! The data directory: the catalog, agent files, alarms, the server token.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use store::{Alarm, DataDir};

use crate::support::{START_MS, given_data_dir};

#[test]
fn open_creates_the_directory_layout() {
    let given = given_data_dir();
    assert!(given.dir.path().join("agents").is_dir());
    assert!(given.dir.path().join("catalog.sqlite").is_file());
    assert_eq!(given.data.root(), given.dir.path());
    assert_eq!(scratch_files(given.dir.path()), Vec::<String>::new());
}

#[test]
fn a_new_agent_is_one_database_in_wal_mode_with_its_log_and_index_and_nothing_else() {
    let given = given_data_dir();
    let mut db = given.data.open_agent("Chat", "alice").unwrap();
    db.kv_put("k", &json!(1)).unwrap();

    let path = given.data.agent_path("Chat", "alice").unwrap();
    let header = std::fs::read(&path).unwrap();
    assert!(header.starts_with(b"SQLite format 3\0"));
    assert_eq!(header[18..20], [2, 2], "file format versions 2 mean WAL");
    assert_eq!(
        file_names(path.parent().unwrap()),
        ["alice.sqlite", "alice.sqlite-shm", "alice.sqlite-wal"]
    );
    assert_eq!(db.integrity_check().unwrap(), "ok");
    drop(db);
    let mut db = given.data.open_existing_agent("Chat", "alice").unwrap();
    assert_eq!(db.kv_get("k").unwrap(), Some(json!(1)));
}

#[test]
fn open_agent_records_the_agent_once_with_its_creation_time() {
    let given = given_data_dir();
    assert!(!given.data.agent_exists("Chat", "alice").unwrap());
    drop(given.data.open_agent("Chat", "alice").unwrap());
    given.clock.advance(1000);
    drop(given.data.open_agent("Chat", "alice").unwrap());

    assert!(given.data.agent_exists("Chat", "alice").unwrap());
    let agents = given.data.list_agents(None, None, 10).unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(
        (
            agents[0].class.as_str(),
            agents[0].name.as_str(),
            agents[0].created_at
        ),
        ("Chat", "alice", START_MS)
    );
}

#[test]
fn list_agents_is_ordered_filtered_and_paginated() {
    let given = given_data_dir();
    for (class, name) in [("Chat", "c"), ("Chat", "a"), ("Bot", "z"), ("Chat", "b")] {
        drop(given.data.open_agent(class, name).unwrap());
    }
    let names = |agents: Vec<store::AgentInfo>| -> Vec<String> {
        agents
            .into_iter()
            .map(|a| format!("{}/{}", a.class, a.name))
            .collect()
    };

    assert_eq!(
        names(given.data.list_agents(None, None, 10).unwrap()),
        ["Bot/z", "Chat/a", "Chat/b", "Chat/c"]
    );
    assert_eq!(
        names(given.data.list_agents(None, None, 2).unwrap()),
        ["Bot/z", "Chat/a"]
    );
    assert_eq!(
        names(
            given
                .data
                .list_agents(None, Some(("Chat", "a")), 2)
                .unwrap()
        ),
        ["Chat/b", "Chat/c"]
    );
    assert_eq!(
        names(given.data.list_agents(Some("Chat"), None, 10).unwrap()),
        ["Chat/a", "Chat/b", "Chat/c"]
    );
    assert_eq!(
        names(
            given
                .data
                .list_agents(Some("Chat"), Some(("Chat", "b")), 10)
                .unwrap()
        ),
        ["Chat/c"]
    );
    assert!(
        given
            .data
            .list_agents(Some("Nope"), None, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn odd_names_map_to_distinct_files_inside_the_data_dir() {
    let given = given_data_dir();
    let long = "n".repeat(256);
    let long_variant = format!("{}m", "n".repeat(255));
    let names = [
        "a/b",
        "a%2Fb",
        "..",
        ".",
        ".hidden",
        "a.b",
        "../../escape",
        "ünïcödé 名前",
        "Alice",
        "alice",
        "^alice",
        "with space",
        "~tilde",
        "back\\slash",
        long.as_str(),
        long_variant.as_str(),
    ];
    let agents_dir = given.dir.path().join("agents").canonicalize().unwrap();
    let mut paths = HashSet::new();
    for name in names {
        let path = given.data.agent_path("Chat", name).unwrap();
        let file_name = path.file_name().unwrap().to_str().unwrap();
        assert!(file_name.len() <= 240, "{name:?} → {file_name} is too long");
        let mut db = given.data.open_agent("Chat", name).unwrap();
        db.kv_put("who", &json!(name)).unwrap();
        let canonical = path.canonicalize().unwrap();
        assert!(
            canonical.starts_with(&agents_dir),
            "{name:?} escaped to {canonical:?}"
        );
        assert!(
            paths.insert(canonical),
            "{name:?} collided with another name"
        );
    }
    for name in names {
        let mut db = given.data.open_existing_agent("Chat", name).unwrap();
        assert_eq!(db.kv_get("who").unwrap(), Some(json!(name)), "{name:?}");
    }
    assert_eq!(
        given
            .data
            .list_agents(Some("Chat"), None, 100)
            .unwrap()
            .len(),
        names.len()
    );
}

#[test]
fn invalid_classes_and_names_are_refused() {
    let given = given_data_dir();
    let long_class = "C".repeat(65);
    for class in [
        "",
        "1Chat",
        "Chat-Bot",
        "Chat Bot",
        "Chät",
        long_class.as_str(),
    ] {
        let err = given.data.open_agent(class, "a").unwrap_err();
        assert_eq!(err.code(), "INVALID_NAME", "{class:?}: {err}");
        assert!(err.to_string().contains("JavaScript identifier"), "{err}");
    }
    assert!(given.data.open_agent("$_Chat9", "a").is_ok());
    let long_name = "x".repeat(257);
    for name in ["", "a\nb", "nul\0", long_name.as_str()] {
        let err = given.data.open_agent("Chat", name).unwrap_err();
        assert_eq!(err.code(), "INVALID_NAME", "{name:?}: {err}");
    }
}

#[test]
fn open_existing_agent_does_not_create() {
    let given = given_data_dir();
    let err = given.data.open_existing_agent("Chat", "ghost").unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
    assert!(err.to_string().contains("ghost"), "{err}");
    assert!(!given.data.agent_exists("Chat", "ghost").unwrap());
    assert!(given.data.list_agents(None, None, 10).unwrap().is_empty());

    drop(given.data.open_agent("Chat", "ghost").unwrap());
    assert!(given.data.open_existing_agent("Chat", "ghost").is_ok());
    assert!(given.data.catalog_has_agent("Chat", "ghost").unwrap());
}

#[test]
fn alarms_are_set_replaced_cleared_and_ordered() {
    let given = given_data_dir();
    given.data.set_alarm("Chat", "a", Some(300)).unwrap();
    given.data.set_alarm("Chat", "b", Some(100)).unwrap();
    given.data.set_alarm("Bot", "c", Some(200)).unwrap();
    given.data.set_alarm("Chat", "a", Some(50)).unwrap();
    given.data.set_alarm("Bot", "c", None).unwrap();
    given.data.set_alarm("Bot", "never-set", None).unwrap();

    let alarm = |name: &str, at_ms| Alarm {
        class: "Chat".into(),
        name: name.into(),
        at_ms,
    };
    assert_eq!(
        given.data.alarms().unwrap(),
        [alarm("a", 50), alarm("b", 100)]
    );
}

#[test]
fn auth_token_is_created_once_privately() {
    let given = given_data_dir();
    let (token, created) = given.data.auth_token().unwrap();
    assert!(created);
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    let (again, created_again) = given.data.auth_token().unwrap();
    assert_eq!((again.as_str(), created_again), (token.as_str(), false));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(given.dir.path().join("token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn reopening_keeps_catalog_and_alarms() {
    let mut given = given_data_dir();
    drop(given.data.open_agent("Chat", "alice").unwrap());
    given.data.set_alarm("Chat", "alice", Some(42)).unwrap();
    given.reopen();
    assert_eq!(given.data.list_agents(None, None, 10).unwrap().len(), 1);
    assert_eq!(given.data.alarms().unwrap()[0].at_ms, 42);
}

#[test]
fn concurrent_open_agent_from_many_threads_is_safe() {
    let given = given_data_dir();
    let data: Arc<DataDir> = Arc::new(given.data);
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let data = data.clone();
            std::thread::spawn(move || {
                for index in 0..20 {
                    let mut db = data
                        .open_agent("Chat", &format!("t{thread}-{index}"))
                        .unwrap();
                    db.kv_put("n", &json!(index)).unwrap();
                    // Everyone also opens one shared agent.
                    drop(data.open_agent("Chat", "shared").unwrap());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        data.list_agents(None, None, 1000).unwrap().len(),
        8 * 20 + 1
    );
    let dir = data.agent_path("Chat", "shared").unwrap();
    assert_eq!(scratch_files(dir.parent().unwrap()), Vec::<String>::new());
    let mut shared = data.open_existing_agent("Chat", "shared").unwrap();
    assert_eq!(shared.integrity_check().unwrap(), "ok");
}

/// New agents' databases are copied from an image of the schema (its migrations run once
/// per process, kept in a write-ahead log). Such a database must be the one the migrations
/// make, dated now; and a log cut short (a power loss before it reached the disk) must
/// leave a database whose next opening runs the migrations.
#[test]
fn a_new_agent_copied_from_the_schema_image_is_the_database_its_migrations_make() {
    let given = given_data_dir();
    let mut copied = given.data.open_agent("Chat", "copied").unwrap();
    copied.kv_put("k", &json!(1)).unwrap();
    assert_eq!(copied.integrity_check().unwrap(), "ok");
    drop(copied);

    drop(given.data.open_agent("Chat", "torn").unwrap());
    let torn = given.data.agent_path("Chat", "torn").unwrap();
    let log = torn.with_extension("sqlite-wal");
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes.len() > 4096, "the schema is in the log");
    std::fs::write(&log, &bytes[..bytes.len() / 3]).unwrap();
    std::fs::remove_file(torn.with_extension("sqlite-shm")).unwrap();
    let mut migrated = given.data.open_existing_agent("Chat", "torn").unwrap();
    assert_eq!(migrated.integrity_check().unwrap(), "ok");
    migrated.kv_put("k", &json!(2)).unwrap();
    drop(migrated);

    let described = |name: &str| {
        let path = given.data.agent_path("Chat", name).unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        let rows = |sql: &str| -> Vec<String> {
            let mut statement = conn.prepare(sql).unwrap();
            statement
                .query_map([], |row| row.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        (
            rows(
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY name",
            ),
            rows(
                "SELECT version || ' at ' || applied_at_ms FROM _islet_migrations ORDER BY version",
            ),
            rows("SELECT path || ' ' || mtime_ms FROM _islet_fs_nodes"),
        )
    };
    let (copied, torn) = (described("copied"), described("torn"));
    assert_eq!(copied, torn);
    assert_eq!(copied.1.len(), 5, "{:?}", copied.1);
    assert_eq!(copied.1[0], format!("1 at {START_MS}"));
    assert_eq!(copied.2, [format!("/ {START_MS}")]);
}

fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Files that are neither a database, its log or index, nor a directory or the token.
fn scratch_files(dir: &std::path::Path) -> Vec<String> {
    file_names(dir)
        .into_iter()
        .filter(|name| {
            !(name.ends_with(".sqlite")
                || name.ends_with(".sqlite-wal")
                || name.ends_with(".sqlite-shm")
                || name == "agents"
                || name == "token")
        })
        .collect()
}
