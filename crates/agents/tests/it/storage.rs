//! What agent code reaches through `this`: sql, storage, workspace.

use crate::support::*;
use serde_json::json;

const STORE: &str = r#"
export default class Store extends Agent {
  async sqlRoundTrip() {
    await this.sql`CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)`;
    await this.sql`INSERT INTO t (v) VALUES (${"one"}), (${"two"})`;
    return this.sql`SELECT v FROM t ORDER BY id`;
  }
  async sneak() { return this.sql`SELECT * FROM _islet_kv`; }
  async kv() {
    await this.storage.put("a", { x: 1 });
    await this.storage.put({ b: 2, c: [3] });
    const many = await this.storage.get(["a", "c", "missing"]);
    const listed = await this.storage.list({ prefix: "" });
    const deleted = await this.storage.delete("b");
    return { a: await this.storage.get("a"), many: [...many], listed: [...listed.keys()], deleted, gone: (await this.storage.get("b")) === undefined };
  }
  async files() {
    await this.workspace.write("/docs/a.md", "hello\nworld\n");
    await this.workspace.append("/docs/a.md", "again\n");
    await this.workspace.cp("/docs/a.md", "/docs/b.md");
    await this.workspace.write("/docs/b.md", "hello\nthere\n");
    return {
      text: await this.workspace.read("/docs/a.md"),
      glob: await this.workspace.glob("**/*.md"),
      grep: await this.workspace.grep("hello"),
      diff: await this.workspace.diff("/docs/a.md", "/docs/b.md"),
      list: (await this.workspace.list("/docs")).map((e) => e.name),
    };
  }
  async escape() { return this.workspace.read("../../etc/passwd"); }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn sql_runs_on_the_agents_own_database_but_not_on_islets_tables() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("store.js", STORE)]).await;
    assert_eq!(
        g.call("Store", "s", "sqlRoundTrip", vec![]).await,
        json!([{"v": "one"}, {"v": "two"}])
    );
    let e = g.call_err("Store", "s", "sneak", vec![]).await;
    assert!(e.to_string().contains("_islet_"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_is_a_json_key_value_store() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("store.js", STORE)]).await;
    assert_eq!(
        g.call("Store", "s", "kv", vec![]).await,
        json!({"a": {"x": 1}, "many": [["a", {"x": 1}], ["c", [3]]], "listed": ["a", "b", "c"], "deleted": true, "gone": true})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workspace_is_a_filesystem_in_the_agents_database() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("store.js", STORE)]).await;
    let files = g.call("Store", "s", "files", vec![]).await;
    assert_eq!(files["text"], json!("hello\nworld\nagain\n"));
    assert_eq!(files["glob"], json!(["/docs/a.md", "/docs/b.md"]));
    assert_eq!(files["grep"].as_array().unwrap().len(), 2);
    assert!(
        files["diff"].as_str().unwrap().contains("+there"),
        "{}",
        files["diff"]
    );
    assert_eq!(files["list"], json!(["a.md", "b.md"]));
    let e = g.call_err("Store", "s", "escape", vec![]).await;
    assert!(e.to_string().contains("above the workspace root"), "{e}");
    // The same files, from the host side.
    let text = g
        .host
        .with_db("Store", "s", |db| {
            Ok(db.workspace().read_text("/docs/b.md")?)
        })
        .await
        .unwrap();
    assert_eq!(text, "hello\nthere\n");
}
