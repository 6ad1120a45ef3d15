//! Turn transactions, durability across reopen, and the agent's own SQL.

use serde_json::{Value, json};
use store::{AgentDb, When};

use crate::support::{given_agent, given_data_dir};

fn given_table(db: &mut AgentDb) {
    db.sql(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, meta TEXT, score REAL)",
        &[],
    )
    .unwrap();
}

fn count_notes(db: &mut AgentDb) -> Value {
    db.sql("SELECT count(*) AS n FROM notes", &[]).unwrap().rows[0]["n"].clone()
}

#[test]
fn commit_keeps_a_turns_writes() {
    let (_given, mut db) = given_agent();
    given_table(&mut db);
    db.begin().unwrap();
    assert!(db.in_transaction());
    db.kv_put("k", &json!(1)).unwrap();
    db.set_state(&json!({"step": 1})).unwrap();
    db.sql("INSERT INTO notes (title) VALUES ('kept')", &[])
        .unwrap();
    db.workspace().write("/a.txt", b"kept").unwrap();
    db.schedule(When::DelayMs(10), "tick", &Value::Null)
        .unwrap();
    db.commit().unwrap();
    assert!(!db.in_transaction());

    assert_eq!(db.kv_get("k").unwrap(), Some(json!(1)));
    assert_eq!(db.state().unwrap(), Some(json!({"step": 1})));
    assert_eq!(count_notes(&mut db), json!(1));
    assert_eq!(db.workspace().read("/a.txt").unwrap(), b"kept");
    assert_eq!(db.schedules().unwrap().len(), 1);
}

#[test]
fn rollback_discards_a_turns_writes() {
    let (_given, mut db) = given_agent();
    given_table(&mut db);
    db.kv_put("k", &json!("before")).unwrap();
    db.begin().unwrap();
    db.kv_put("k", &json!("during")).unwrap();
    db.kv_put("other", &json!(2)).unwrap();
    db.set_state(&json!("during")).unwrap();
    db.sql("INSERT INTO notes (title) VALUES ('gone')", &[])
        .unwrap();
    db.workspace().write("/dir/a.txt", b"gone").unwrap();
    db.schedule(When::DelayMs(10), "tick", &Value::Null)
        .unwrap();
    db.rollback().unwrap();
    assert!(!db.in_transaction());

    assert_eq!(db.kv_get("k").unwrap(), Some(json!("before")));
    assert_eq!(db.kv_get("other").unwrap(), None);
    assert_eq!(db.state().unwrap(), None);
    assert_eq!(count_notes(&mut db), json!(0));
    assert!(!db.workspace().exists("/dir").unwrap());
    assert!(db.schedules().unwrap().is_empty());
}

#[test]
fn transaction_misuse_is_reported() {
    let (_given, mut db) = given_agent();
    assert_eq!(db.commit().unwrap_err().code(), "INVALID_STATE");
    db.rollback().unwrap();
    db.begin().unwrap();
    let err = db.begin().unwrap_err();
    assert_eq!(err.code(), "INVALID_STATE");
    assert!(err.to_string().contains("commit or roll it back"), "{err}");
    db.commit().unwrap();
}

#[test]
fn a_statement_that_ends_the_turn_fails_the_turn() {
    let (_given, mut db) = given_agent();
    db.sql("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[])
        .unwrap();
    db.sql("INSERT INTO t VALUES (1)", &[]).unwrap();
    db.begin().unwrap();
    db.kv_put("k", &json!(1)).unwrap();
    let err = db
        .sql("INSERT OR ROLLBACK INTO t VALUES (1)", &[])
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_STATE", "{err}");
    // Later writes must not silently commit on their own.
    assert_eq!(
        db.kv_put("k", &json!(2)).unwrap_err().code(),
        "INVALID_STATE"
    );
    assert_eq!(db.commit().unwrap_err().code(), "INVALID_STATE");
    db.rollback().unwrap();
    assert_eq!(db.kv_get("k").unwrap(), None);
}

#[test]
fn reopening_after_drop_keeps_everything() {
    let mut given = given_data_dir();
    {
        let mut db = given.data.open_agent("Chat", "alice").unwrap();
        given_table(&mut db);
        db.begin().unwrap();
        db.kv_put("k", &json!([1, 2])).unwrap();
        db.set_state(&json!({"n": 1})).unwrap();
        db.sql("INSERT INTO notes (title) VALUES (?)", &[json!("x")])
            .unwrap();
        db.workspace()
            .write("/big.bin", &vec![7u8; 200_000])
            .unwrap();
        db.schedule(When::Cron("0 * * * *".into()), "hourly", &json!({"a": 1}))
            .unwrap();
        db.commit().unwrap();
    }
    given.reopen();
    let mut db = given.data.open_existing_agent("Chat", "alice").unwrap();
    assert_eq!(db.kv_get("k").unwrap(), Some(json!([1, 2])));
    assert_eq!(db.state().unwrap(), Some(json!({"n": 1})));
    assert_eq!(count_notes(&mut db), json!(1));
    assert_eq!(db.workspace().read("/big.bin").unwrap(), vec![7u8; 200_000]);
    let schedules = db.schedules().unwrap();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].payload, json!({"a": 1}));
    assert_eq!(db.integrity_check().unwrap(), "ok");
}

#[test]
fn sql_binds_params_and_returns_rows() {
    let (_given, mut db) = given_agent();
    given_table(&mut db);
    let insert = db
        .sql(
            "INSERT INTO notes (title, meta, score) VALUES (?, ?, ?)",
            &[json!("first"), json!({"tags": ["a"]}), json!(1.5)],
        )
        .unwrap();
    assert_eq!((insert.rows_written, insert.last_insert_rowid), (1, 1));
    assert!(insert.columns.is_empty() && insert.rows.is_empty());
    db.sql(
        "INSERT INTO notes (title, meta, score) VALUES (?, ?, ?)",
        &[json!("second"), Value::Null, json!(true)],
    )
    .unwrap();

    let select = db
        .sql(
            "SELECT id, title, meta, score, x'00ff' AS bytes FROM notes WHERE id >= ? ORDER BY id",
            &[json!(1)],
        )
        .unwrap();
    assert_eq!(select.columns, ["id", "title", "meta", "score", "bytes"]);
    assert_eq!(
        Value::Array(select.rows.into_iter().map(Value::Object).collect()),
        json!([
            {"id": 1, "title": "first", "meta": "{\"tags\":[\"a\"]}", "score": 1.5, "bytes": [0, 255]},
            {"id": 2, "title": "second", "meta": null, "score": 1.0, "bytes": [0, 255]},
        ])
    );

    let update = db.sql("UPDATE notes SET score = 0", &[]).unwrap();
    assert_eq!(update.rows_written, 2);
    let json_query = db
        .sql(
            "SELECT json_extract(meta, '$.tags[0]') AS tag FROM notes WHERE id = 1",
            &[],
        )
        .unwrap();
    assert_eq!(json_query.rows[0]["tag"], json!("a"));
}

#[test]
fn sql_allows_ddl_and_schema_pragmas() {
    let (_given, mut db) = given_agent();
    given_table(&mut db);
    db.sql("CREATE INDEX notes_by_title ON notes (title)", &[])
        .unwrap();
    db.sql("ALTER TABLE notes ADD COLUMN extra TEXT", &[])
        .unwrap();
    let info = db.sql("PRAGMA table_info(notes)", &[]).unwrap();
    let columns: Vec<&Value> = info.rows.iter().map(|row| &row["name"]).collect();
    assert_eq!(
        columns,
        [
            &json!("id"),
            &json!("title"),
            &json!("meta"),
            &json!("score"),
            &json!("extra")
        ]
    );
    db.sql("DROP TABLE notes", &[]).unwrap();
}

fn assert_sql_refused(db: &mut AgentDb, query: &str, says: &str) {
    let err = db.sql(query, &[]).unwrap_err();
    assert_eq!(err.code(), "SQL", "{query}: {err}");
    assert!(err.to_string().contains(says), "{query}: {err}");
}

#[test]
fn sql_cannot_touch_internal_tables() {
    let (_given, mut db) = given_agent();
    db.kv_put("secret", &json!(1)).unwrap();
    assert_sql_refused(
        &mut db,
        "SELECT * FROM _islet_kv",
        "`_islet_kv` is internal",
    );
    assert_sql_refused(&mut db, "select key from _ISLET_KV", "is internal");
    assert_sql_refused(
        &mut db,
        "INSERT INTO _islet_state VALUES (1, '1')",
        "_islet_state",
    );
    assert_sql_refused(&mut db, "DELETE FROM _islet_fs_nodes", "_islet_fs_nodes");
    assert_sql_refused(
        &mut db,
        "UPDATE _islet_schedules SET method = 'x'",
        "_islet_schedules",
    );
    assert_sql_refused(&mut db, "DROP TABLE _islet_kv", "_islet_kv");
    assert_sql_refused(&mut db, "CREATE TABLE _islet_mine (x)", "_islet_mine");
    // SQLite checks a view's body when it is used, not when it is created.
    db.sql("CREATE VIEW v AS SELECT * FROM _islet_kv", &[])
        .unwrap();
    assert_sql_refused(&mut db, "SELECT * FROM v", "_islet_kv");
    assert_sql_refused(&mut db, "PRAGMA table_info(_islet_kv)", "_islet_kv");
    assert_sql_refused(
        &mut db,
        "CREATE TRIGGER t AFTER INSERT ON _islet_kv BEGIN SELECT 1; END",
        "_islet_kv",
    );

    // A trigger on the agent's own table cannot reach internal tables either.
    db.sql("CREATE TABLE mine (x)", &[]).unwrap();
    let created = db.sql(
        "CREATE TRIGGER sneaky AFTER INSERT ON mine BEGIN DELETE FROM _islet_kv; END",
        &[],
    );
    let fired = db.sql("INSERT INTO mine VALUES (1)", &[]);
    assert!(created.is_err() || fired.is_err());
    assert_eq!(db.kv_get("secret").unwrap(), Some(json!(1)));
}

#[test]
fn sql_refuses_what_reaches_outside_the_database_or_the_turn() {
    let (_given, mut db) = given_agent();
    assert_sql_refused(&mut db, "ATTACH DATABASE '/tmp/x.db' AS x", "ATTACH");
    assert_sql_refused(&mut db, "DETACH DATABASE x", "DETACH");
    assert_sql_refused(
        &mut db,
        "PRAGMA journal_mode = DELETE",
        "PRAGMA journal_mode",
    );
    assert_sql_refused(&mut db, "PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys");
    assert_sql_refused(&mut db, "BEGIN", "already one transaction");
    assert_sql_refused(&mut db, "COMMIT", "already one transaction");
    assert_sql_refused(&mut db, "SAVEPOINT s", "already one transaction");
    assert_sql_refused(&mut db, "/* hi */ VACUUM", "VACUUM");
    assert_sql_refused(&mut db, "VACUUM INTO '/tmp/copy.db'", "VACUUM");
    assert_sql_refused(&mut db, "SELECT load_extension('x')", "load_extension");
    assert_sql_refused(&mut db, "ALTER TABLE mine RENAME TO _islet_kv2", "reserved");
}

#[test]
fn sql_runs_exactly_one_statement() {
    let (_given, mut db) = given_agent();
    db.sql("CREATE TABLE t (x)", &[]).unwrap();
    assert_sql_refused(
        &mut db,
        "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)",
        "exactly one statement",
    );
    assert_eq!(
        db.sql("SELECT count(*) AS n FROM t", &[]).unwrap().rows[0]["n"],
        json!(0)
    );
    // A trailing semicolon or comment is still one statement.
    db.sql("INSERT INTO t VALUES (1); -- done", &[]).unwrap();
    assert_sql_refused(&mut db, "  -- nothing", "empty");
    assert_sql_refused(&mut db, "SELEC 1", "syntax error");
    let err = db.sql("SELECT ?, ?", &[json!(1)]).unwrap_err();
    assert_eq!(err.code(), "SQL");
    assert!(err.to_string().contains("2 parameter(s) but 1"), "{err}");
}

#[test]
fn sql_results_are_capped() {
    let (_given, mut db) = given_agent();
    let err = db
        .sql(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100001)
             SELECT x FROM c",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code(), "TOO_LARGE");
    assert!(err.to_string().contains("LIMIT"), "{err}");
}

#[test]
fn integrity_check_is_ok_for_a_fresh_database() {
    let (_given, mut db) = given_agent();
    assert_eq!(db.integrity_check().unwrap(), "ok");
    assert_eq!((db.class(), db.name()), ("Chat", "alice"));
}

#[test]
fn runaway_sql_is_stopped() {
    let (_given, mut db) = given_agent();
    db.set_sql_time_limit(std::time::Duration::from_millis(20));
    let err = db
        .sql(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
            &[],
        )
        .unwrap_err();
    assert_eq!(err.code(), "SQL");
    assert!(err.to_string().contains("ran longer than 20 ms"), "{err}");
    // The connection is fine afterwards, and internal statements are not limited.
    db.kv_put("k", &json!(1)).unwrap();
    assert_eq!(
        db.sql("SELECT 1 AS one", &[]).unwrap().rows[0]["one"],
        json!(1)
    );
}

#[test]
fn handles_are_shareable_across_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<AgentDb>();
    send_sync::<store::DataDir>();
}

/// The console's SQL browser: the agent's own tables only, pages of rows, names that are
/// not its tables refused (never run), and the connection writable again afterwards.
#[test]
fn issue20_own_tables_are_browsed_read_only_by_quoted_name() {
    let (_given, mut db) = given_agent();
    // islet's own tables (state, kv) exist once used; they are never listed.
    db.set_state(&json!({ "x": 1 })).unwrap();
    db.sql(r#"CREATE TABLE "we""ird; name" (a INTEGER, b TEXT)"#, &[])
        .unwrap();
    for i in 0..7 {
        db.sql(
            r#"INSERT INTO "we""ird; name" (a, b) VALUES (?, ?)"#,
            &[json!(i), json!(format!("row {i}"))],
        )
        .unwrap();
    }
    given_table(&mut db);
    let tables = db.own_tables().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["notes", "we\"ird; name"]);
    assert_eq!(
        (tables[1].rows, tables[1].columns.as_slice()),
        (7, &["a".to_owned(), "b".to_owned()][..])
    );

    let page = db.table_rows("we\"ird; name", 3, 5).unwrap();
    assert_eq!(page.columns, ["a", "b"]);
    let a: Vec<&Value> = page.rows.iter().map(|r| &r["a"]).collect();
    assert_eq!(a, [&json!(5), &json!(6)]);
    for not_mine in [
        "_islet_kv",
        "sqlite_schema",
        "notes; DROP TABLE notes",
        "NOTES",
    ] {
        let error = db.table_rows(not_mine, 10, 0).unwrap_err();
        assert!(
            matches!(error, store::Error::NotFound(_)),
            "{not_mine}: {error}"
        );
    }
    // Still writable: query_only was switched off again, after a refusal too.
    db.sql("INSERT INTO notes (title) VALUES ('after')", &[])
        .unwrap();
    assert_eq!(count_notes(&mut db), json!(1));
}
