//! The sandbox's `/workspace` and the agent's SQLite workspace.

use linuxbox::ExecOptions;

use crate::support::{given_agent_db, given_sandbox};

#[tokio::test]
async fn issue18_python_writes_a_file_into_the_workspace_that_the_store_then_has() {
    let given = given_sandbox().await;
    let mut db = given_agent_db(given.dir.path(), "me");
    db.workspace()
        .write("/data/numbers.csv", b"n\n1\n2\n3\n4\n")
        .unwrap();
    given.sandbox.sync_in(&mut db).unwrap();
    let result = given
        .sandbox
        .run_code(
            "python",
            "import csv, os\n\
             rows = list(csv.DictReader(open('/workspace/data/numbers.csv')))\n\
             total = sum(int(r['n']) ** 2 for r in rows)\n\
             os.makedirs('/workspace/out', exist_ok=True)\n\
             open('/workspace/out/result.txt', 'w').write(f'sum of squares: {total}\\n')\n\
             print(total)",
            ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(result.stdout, "30\n", "{result:?}");
    let report = given.sandbox.sync_out(&mut db).unwrap();
    assert_eq!(report.to_workspace, ["/out/result.txt"]);
    assert!(
        report.to_sandbox.is_empty() && report.skipped.is_empty(),
        "{report:?}"
    );
    assert_eq!(
        db.workspace().read_text("/out/result.txt").unwrap(),
        "sum of squares: 30\n"
    );
}

#[tokio::test]
async fn issue18_a_file_written_through_the_workspace_is_visible_to_the_next_command() {
    let given = given_sandbox().await;
    let mut db = given_agent_db(given.dir.path(), "me");
    db.workspace().write("/notes.txt", b"version 1").unwrap();
    let report = given.sandbox.sync_in(&mut db).unwrap();
    assert_eq!(report.to_sandbox, ["/notes.txt"]);
    assert_eq!(
        given.sh("cat /workspace/notes.txt").await.stdout,
        "version 1"
    );
    // Same size, same (frozen) clock: only the content tells.
    db.workspace().write("/notes.txt", b"version 2").unwrap();
    let report = given.sandbox.sync_in(&mut db).unwrap();
    assert_eq!(report.to_sandbox, ["/notes.txt"]);
    assert_eq!(given.sh("cat notes.txt").await.stdout, "version 2");
    // Nothing changed: nothing copied.
    let report = given.sandbox.sync_in(&mut db).unwrap();
    assert_eq!(report, linuxbox::SyncReport::default());
}

#[tokio::test]
async fn issue18_deletions_sync_both_ways() {
    let given = given_sandbox().await;
    let mut db = given_agent_db(given.dir.path(), "me");
    for path in ["/a.txt", "/dir/b.txt", "/dir/sub/c.txt", "/keep.txt"] {
        db.workspace().write(path, path.as_bytes()).unwrap();
    }
    given.sandbox.sync_in(&mut db).unwrap();
    // The sandbox removes a file and a whole directory.
    assert!(given.sh("rm a.txt && rm -r dir").await.success());
    let report = given.sandbox.sync_out(&mut db).unwrap();
    let mut removed = report.removed_in_workspace.clone();
    removed.sort();
    assert_eq!(
        removed,
        ["/a.txt", "/dir", "/dir/b.txt", "/dir/sub", "/dir/sub/c.txt"]
    );
    let names: Vec<String> = db
        .workspace()
        .list("/")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["keep.txt"]);
    // The workspace removes one; the sandbox loses it at the next sync.
    db.workspace().rm("/keep.txt", false).unwrap();
    let report = given.sandbox.sync_in(&mut db).unwrap();
    assert_eq!(report.removed_in_sandbox, ["/keep.txt"]);
    assert_eq!(given.sh("ls -A /workspace").await.stdout, "");
}

#[tokio::test]
async fn issue18_a_change_on_both_sides_goes_to_the_side_synced_from() {
    let given = given_sandbox().await;
    let mut db = given_agent_db(given.dir.path(), "me");
    db.workspace().write("/both.txt", b"original").unwrap();
    given.sandbox.sync_in(&mut db).unwrap();
    db.workspace()
        .write("/both.txt", b"from the agent")
        .unwrap();
    given
        .sandbox
        .write_file("both.txt", b"from a background process")
        .unwrap();
    given.sandbox.sync_in(&mut db).unwrap();
    assert_eq!(
        given.sandbox.read_file("/workspace/both.txt").unwrap(),
        b"from the agent"
    );
    db.workspace().write("/both.txt", b"agent again").unwrap();
    assert!(given.sh("echo -n command > both.txt").await.success());
    given.sandbox.sync_out(&mut db).unwrap();
    assert_eq!(db.workspace().read_text("/both.txt").unwrap(), "command");
}

#[tokio::test]
async fn issue18_the_file_api_reaches_only_the_workspace() {
    let given = given_sandbox().await;
    given
        .sandbox
        .write_file("/workspace/d/e.txt", b"e")
        .unwrap();
    assert_eq!(given.sandbox.read_file("d/e.txt").unwrap(), b"e");
    let error = given.sandbox.list_files("/workspace/d/e.txt").unwrap_err();
    assert_eq!(error.code(), "INVALID_ARGUMENT", "{error}");
    let entries = given.sandbox.list_files("/workspace").unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].name.as_str(), entries[0].kind), ("d", "dir"));
    let inside = given.sandbox.list_files("/workspace/d").unwrap();
    assert_eq!(
        (inside[0].path.as_str(), inside[0].size),
        ("/workspace/d/e.txt", 1)
    );
    for bad in [
        "/etc/passwd",
        "/workspace/../etc/passwd",
        "../x",
        "/workspacex/y",
    ] {
        let error = given.sandbox.read_file(bad).unwrap_err();
        assert_eq!(error.code(), "INVALID_ARGUMENT", "{bad}: {error}");
    }
    assert_eq!(
        given.sandbox.read_file("missing").unwrap_err().code(),
        "NOT_FOUND"
    );
    // Files written by the host are the sandbox user's.
    assert!(
        given
            .sh("echo more >> d/e.txt && cat d/e.txt")
            .await
            .success()
    );
}
