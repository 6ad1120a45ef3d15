//! The workspace filesystem.

use store::{AgentDb, CHUNK_BYTES, GrepOptions, Kind, Stat};

use crate::support::{START_MS, given_agent};

fn given_files(db: &mut AgentDb, files: &[(&str, &str)]) {
    for (path, content) in files {
        db.workspace().write(path, content.as_bytes()).unwrap();
    }
}

fn names(db: &mut AgentDb, dir: &str) -> Vec<String> {
    db.workspace()
        .list(dir)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

/// Bytes that differ at every position, so misplaced chunks show.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn root_always_exists() {
    let (_given, mut db) = given_agent();
    let mut ws = db.workspace();
    let root = ws.stat("/").unwrap().unwrap();
    assert_eq!((root.kind, root.size), (Kind::Dir, 0));
    assert!(ws.list("/").unwrap().is_empty());
    assert_eq!(ws.rm("/", true).unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(ws.write("/", b"x").unwrap_err().code(), "IS_A_DIRECTORY");
}

#[test]
fn write_creates_parents_and_read_returns_content() {
    let (given, mut db) = given_agent();
    given.clock.advance(7);
    let mut ws = db.workspace();
    let stat = ws.write("notes/2024/jan.md", b"# January\n").unwrap();
    assert_eq!(
        stat,
        Stat {
            path: "/notes/2024/jan.md".into(),
            kind: Kind::File,
            size: 10,
            mtime_ms: START_MS + 7
        }
    );
    assert_eq!(ws.read("/notes/2024/jan.md").unwrap(), b"# January\n");
    assert_eq!(ws.read_text("./notes//2024/jan.md").unwrap(), "# January\n");
    assert_eq!(ws.stat("/notes/2024").unwrap().unwrap().kind, Kind::Dir);

    ws.write("/notes/2024/jan.md", b"short").unwrap();
    assert_eq!(ws.read("/notes/2024/jan.md").unwrap(), b"short");
    assert_eq!(
        ws.write("/notes", b"x").unwrap_err().code(),
        "IS_A_DIRECTORY"
    );
    assert_eq!(ws.read("/notes").unwrap_err().code(), "IS_A_DIRECTORY");
    assert_eq!(ws.read("/missing").unwrap_err().code(), "NOT_FOUND");
    assert_eq!(
        ws.write("/notes/2024/jan.md/x", b"x").unwrap_err().code(),
        "NOT_A_DIRECTORY"
    );
    ws.write("/empty", b"").unwrap();
    assert_eq!(ws.read("/empty").unwrap(), b"");
}

#[test]
fn read_text_refuses_binary() {
    let (_given, mut db) = given_agent();
    let mut ws = db.workspace();
    ws.write("/bin", &[0x66, 0xff, 0x00]).unwrap();
    let err = ws.read_text("/bin").unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("read it as bytes"), "{err}");
}

/// The stored pieces of a file, read from the database file directly (the store's own
/// SQL fence keeps `this.sql` out of `_islet_` tables): (idx, rowid, length).
fn chunks(given: &crate::support::Given, path: &str) -> Vec<(i64, i64, i64)> {
    let file = given.data.agent_path("Chat", "alice").unwrap();
    let conn = rusqlite::Connection::open(file).unwrap();
    let mut select = conn
        .prepare(
            "SELECT idx, rowid, length(data) FROM _islet_fs_chunks WHERE path = ?1 ORDER BY idx",
        )
        .unwrap();
    select
        .query_map([path], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_large_file_spans_chunks() {
    let (given, mut db) = given_agent();
    let content = pattern(1 << 20);
    db.workspace().write("/big.bin", &content).unwrap();
    assert_eq!(db.workspace().read("/big.bin").unwrap(), content);
    let stored = chunks(&given, "/big.bin");
    assert_eq!(stored.len(), (1 << 20) / CHUNK_BYTES);
    assert!(stored.iter().all(|&(_, _, len)| len == CHUNK_BYTES as i64));
    db.workspace().write("/big.bin", b"small").unwrap();
    assert_eq!(chunks(&given, "/big.bin").len(), 1);
}

#[test]
fn append_fills_the_last_chunk_then_adds_new_ones() {
    let (given, mut db) = given_agent();
    let first = pattern(2 * CHUNK_BYTES - 10);
    let second: Vec<u8> = pattern(CHUNK_BYTES + 30).into_iter().rev().collect();
    db.workspace().append("/log.bin", &first).unwrap();
    let before = chunks(&given, "/log.bin");
    let stat = db.workspace().append("/log.bin", &second).unwrap();
    let after = chunks(&given, "/log.bin");
    // The full first chunk is untouched, the partial one filled in place, then new chunks.
    assert_eq!(
        after[..2].iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        before.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>()
    );
    assert_eq!(
        after.iter().map(|c| c.2).collect::<Vec<_>>(),
        [
            CHUNK_BYTES as i64,
            CHUNK_BYTES as i64,
            CHUNK_BYTES as i64,
            20
        ]
    );
    let mut ws = db.workspace();
    assert_eq!(stat.size as usize, first.len() + second.len());
    let mut expected = first.clone();
    expected.extend_from_slice(&second);
    assert_eq!(ws.read("/log.bin").unwrap(), expected);

    // Exactly at a boundary, then a tiny append.
    ws.write("/edge", &pattern(CHUNK_BYTES)).unwrap();
    ws.append("/edge", b"!").unwrap();
    let mut expected = pattern(CHUNK_BYTES);
    expected.push(b'!');
    assert_eq!(ws.read("/edge").unwrap(), expected);

    ws.append("/dir/new.txt", b"created").unwrap();
    assert_eq!(ws.read_text("/dir/new.txt").unwrap(), "created");
    ws.append("/dir/new.txt", b"").unwrap();
    assert_eq!(
        ws.append("/dir", b"x").unwrap_err().code(),
        "IS_A_DIRECTORY"
    );
}

#[test]
fn files_over_the_cap_are_refused() {
    let (_given, mut db) = given_agent();
    let mut ws = db.workspace();
    let big = vec![0u8; store::MAX_FILE_BYTES];
    ws.write("/max", &big).unwrap();
    assert_eq!(ws.append("/max", b"x").unwrap_err().code(), "TOO_LARGE");
    let too_big = vec![0u8; store::MAX_FILE_BYTES + 1];
    assert_eq!(ws.write("/over", &too_big).unwrap_err().code(), "TOO_LARGE");
    assert!(!ws.exists("/over").unwrap());
}

#[test]
fn mkdir_list_stat_exists() {
    let (_given, mut db) = given_agent();
    {
        let mut ws = db.workspace();
        assert_eq!(ws.mkdir("/a/b", false).unwrap_err().code(), "NOT_FOUND");
        ws.mkdir("/a/b/c", true).unwrap();
        ws.mkdir("/a/b/c", true).unwrap();
        assert_eq!(
            ws.mkdir("/a/b/c", false).unwrap_err().code(),
            "ALREADY_EXISTS"
        );
        ws.mkdir("/a/x", false).unwrap();
        ws.write("/a/file.txt", b"12345").unwrap();
        assert_eq!(
            ws.mkdir("/a/file.txt", true).unwrap_err().code(),
            "ALREADY_EXISTS"
        );
        assert_eq!(
            ws.mkdir("/a/file.txt/d", true).unwrap_err().code(),
            "NOT_A_DIRECTORY"
        );
    }
    assert_eq!(names(&mut db, "/a"), ["b", "file.txt", "x"]);
    let mut ws = db.workspace();
    let entries = ws.list("/a/").unwrap();
    assert_eq!(entries[1].path, "/a/file.txt");
    assert_eq!((entries[1].kind, entries[1].size), (Kind::File, 5));
    assert_eq!(
        ws.list("/a/file.txt").unwrap_err().code(),
        "NOT_A_DIRECTORY"
    );
    assert_eq!(ws.list("/nope").unwrap_err().code(), "NOT_FOUND");
    assert!(ws.exists("/a/b/c").unwrap());
    assert!(!ws.exists("/a/b/d").unwrap());
    assert_eq!(ws.stat("/nope").unwrap(), None);
}

#[test]
fn mv_moves_files_and_whole_directories() {
    let (_given, mut db) = given_agent();
    given_files(
        &mut db,
        &[
            ("/src/a.txt", "A"),
            ("/src/sub/b.txt", "B"),
            ("/other.txt", "O"),
        ],
    );
    db.workspace()
        .write("/src/sub/big", &pattern(3 * CHUNK_BYTES))
        .unwrap();
    let mut ws = db.workspace();

    ws.mv("/src", "/dst/moved").unwrap();
    assert!(!ws.exists("/src").unwrap());
    assert_eq!(ws.read_text("/dst/moved/a.txt").unwrap(), "A");
    assert_eq!(ws.read_text("/dst/moved/sub/b.txt").unwrap(), "B");
    assert_eq!(
        ws.read("/dst/moved/sub/big").unwrap(),
        pattern(3 * CHUNK_BYTES)
    );
    assert_eq!(
        ws.list("/dst/moved")
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect::<Vec<_>>(),
        ["a.txt", "sub"]
    );

    // A file replaces an existing file; a directory target is refused.
    ws.mv("/other.txt", "/dst/moved/a.txt").unwrap();
    assert_eq!(ws.read_text("/dst/moved/a.txt").unwrap(), "O");
    assert!(!ws.exists("/other.txt").unwrap());
    let err = ws.mv("/dst/moved/a.txt", "/dst/moved/sub").unwrap_err();
    assert_eq!(err.code(), "ALREADY_EXISTS");
    let err = ws.mv("/dst", "/dst/moved/inside").unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("inside the source"), "{err}");
    assert_eq!(ws.mv("/", "/x").unwrap_err().code(), "INVALID_ARGUMENT");
    assert_eq!(ws.mv("/missing", "/x").unwrap_err().code(), "NOT_FOUND");
    ws.mv("/dst", "/dst").unwrap();
    // A sibling sharing the prefix is untouched by a directory move.
    ws.write("/dst2/keep", b"k").unwrap();
    ws.mv("/dst", "/final").unwrap();
    assert_eq!(ws.read_text("/dst2/keep").unwrap(), "k");
    assert_eq!(ws.read_text("/final/moved/a.txt").unwrap(), "O");
}

#[test]
fn cp_copies_files_and_directories_recursively() {
    let (given, mut db) = given_agent();
    given_files(&mut db, &[("/src/a.txt", "A"), ("/src/sub/b.txt", "B")]);
    db.workspace()
        .write("/src/big", &pattern(2 * CHUNK_BYTES + 1))
        .unwrap();
    given.clock.advance(100);
    let mut ws = db.workspace();

    ws.cp("/src/a.txt", "/copy.txt", false).unwrap();
    assert_eq!(ws.read_text("/copy.txt").unwrap(), "A");
    assert_eq!(
        ws.stat("/copy.txt").unwrap().unwrap().mtime_ms,
        START_MS + 100
    );
    assert_eq!(
        ws.cp("/src", "/dst", false).unwrap_err().code(),
        "IS_A_DIRECTORY"
    );
    ws.cp("/src", "/dst", true).unwrap();
    assert_eq!(ws.read_text("/dst/sub/b.txt").unwrap(), "B");
    assert_eq!(ws.read("/dst/big").unwrap(), pattern(2 * CHUNK_BYTES + 1));
    // The source is unchanged and independent of the copy.
    ws.write("/dst/a.txt", b"changed").unwrap();
    assert_eq!(ws.read_text("/src/a.txt").unwrap(), "A");
    assert_eq!(
        ws.cp("/src", "/dst", true).unwrap_err().code(),
        "ALREADY_EXISTS"
    );
    assert_eq!(
        ws.cp("/src", "/src/inner", true).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
    ws.cp("/src/sub/b.txt", "/copy.txt", false).unwrap();
    assert_eq!(ws.read_text("/copy.txt").unwrap(), "B");
}

#[test]
fn rm_removes_files_and_directories() {
    let (_given, mut db) = given_agent();
    given_files(
        &mut db,
        &[("/d/a", "1"), ("/d/e/b", "2"), ("/d2/c", "3"), ("/f", "4")],
    );
    let mut ws = db.workspace();
    assert_eq!(ws.rm("/f", false).unwrap(), 1);
    assert_eq!(ws.rm("/f", false).unwrap_err().code(), "NOT_FOUND");
    let err = ws.rm("/d", false).unwrap_err();
    assert_eq!(err.code(), "DIRECTORY_NOT_EMPTY");
    assert!(err.to_string().contains("recursive"), "{err}");
    assert_eq!(ws.rm("/d", true).unwrap(), 4);
    assert!(!ws.exists("/d/e/b").unwrap());
    assert_eq!(ws.read_text("/d2/c").unwrap(), "3");
    ws.mkdir("/empty", false).unwrap();
    assert_eq!(ws.rm("/empty", false).unwrap(), 1);
}

#[test]
fn glob_matches_wildcards_and_any_depth() {
    let (_given, mut db) = given_agent();
    given_files(
        &mut db,
        &[
            ("/README.md", ""),
            ("/docs/a.md", ""),
            ("/docs/b.txt", ""),
            ("/docs/deep/c.md", ""),
            ("/docs/deep/er/d.md", ""),
            ("/src/x1.rs", ""),
            ("/src/x2.rs", ""),
            ("/src/y3.rs", ""),
        ],
    );
    let mut ws = db.workspace();
    assert_eq!(
        ws.glob("**/*.md").unwrap(),
        [
            "/README.md",
            "/docs/a.md",
            "/docs/deep/c.md",
            "/docs/deep/er/d.md"
        ]
    );
    assert_eq!(
        ws.glob("/docs/*").unwrap(),
        ["/docs/a.md", "/docs/b.txt", "/docs/deep"]
    );
    assert_eq!(
        ws.glob("docs/**/*.md").unwrap(),
        ["/docs/a.md", "/docs/deep/c.md", "/docs/deep/er/d.md"]
    );
    assert_eq!(ws.glob("/docs/**").unwrap().len(), 6);
    assert_eq!(ws.glob("/src/x?.rs").unwrap(), ["/src/x1.rs", "/src/x2.rs"]);
    assert_eq!(
        ws.glob("/src/[xy][13].rs").unwrap(),
        ["/src/x1.rs", "/src/y3.rs"]
    );
    assert_eq!(ws.glob("/src/[!x]*").unwrap(), ["/src/y3.rs"]);
    assert_eq!(
        ws.glob("/src/x[1-2].rs").unwrap(),
        ["/src/x1.rs", "/src/x2.rs"]
    );
    assert_eq!(ws.glob("/docs/a.md").unwrap(), ["/docs/a.md"]);
    assert!(ws.glob("/docs/none.md").unwrap().is_empty());
    assert!(ws.glob("/nowhere/**").unwrap().is_empty());
    assert_eq!(ws.glob("/src/[x").unwrap_err().code(), "INVALID_ARGUMENT");
}

#[test]
fn grep_searches_text_files_with_filters() {
    let (_given, mut db) = given_agent();
    given_files(
        &mut db,
        &[
            ("/notes/a.md", "TODO: one\nnothing here\ntodo: two"),
            ("/notes/b.txt", "TODO: txt"),
            ("/src/main.rs", "// TODO: code"),
        ],
    );
    db.workspace()
        .write("/notes/bin.md", b"TODO\0binary")
        .unwrap();
    let mut ws = db.workspace();

    let all = ws.grep("TODO", &GrepOptions::default()).unwrap();
    let found: Vec<(String, usize)> = all.iter().map(|m| (m.path.clone(), m.line)).collect();
    assert_eq!(
        found,
        [
            ("/notes/a.md".into(), 1),
            ("/notes/b.txt".into(), 1),
            ("/src/main.rs".into(), 1)
        ]
    );
    assert_eq!(all[0].text, "TODO: one");

    let opts: GrepOptions = serde_json::from_value(
        serde_json::json!({"path": "/notes", "glob": "*.md", "ignoreCase": true}),
    )
    .unwrap();
    let md: Vec<usize> = ws
        .grep("todo", &opts)
        .unwrap()
        .iter()
        .map(|m| m.line)
        .collect();
    assert_eq!(md, [1, 3]);

    let opts = GrepOptions {
        glob: Some("src/**".into()),
        ..Default::default()
    };
    assert_eq!(ws.grep("TODO", &opts).unwrap()[0].path, "/src/main.rs");
    let opts = GrepOptions {
        max_matches: Some(2),
        ..Default::default()
    };
    assert_eq!(ws.grep("TODO", &opts).unwrap().len(), 2);
    let opts = GrepOptions {
        path: Some("/notes/a.md".into()),
        ..Default::default()
    };
    assert_eq!(ws.grep("two", &opts).unwrap()[0].line, 3);
    assert_eq!(
        ws.grep("(", &GrepOptions::default()).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn diff_shows_unified_changes() {
    let (_given, mut db) = given_agent();
    given_files(
        &mut db,
        &[
            ("/a.txt", "one\ntwo\nthree\n"),
            ("/b.txt", "one\n2\nthree\n"),
        ],
    );
    let mut ws = db.workspace();
    assert_eq!(
        ws.diff("/a.txt", "b.txt").unwrap(),
        "--- /a.txt\n+++ /b.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
    );
    assert_eq!(ws.diff("/a.txt", "/a.txt").unwrap(), "");
    assert_eq!(
        ws.diff_text("/a.txt", "one\ntwo\nthree\nfour\n").unwrap(),
        "--- /a.txt\n+++ /a.txt\n@@ -1,3 +1,4 @@\n one\n two\n three\n+four\n"
    );
    assert_eq!(
        ws.diff_text("/new.txt", "hello\n").unwrap(),
        "--- /new.txt\n+++ /new.txt\n@@ -0,0 +1 @@\n+hello\n"
    );
    assert_eq!(
        ws.diff("/a.txt", "/missing").unwrap_err().code(),
        "NOT_FOUND"
    );
}

#[test]
fn bad_paths_are_refused() {
    let (_given, mut db) = given_agent();
    let mut ws = db.workspace();
    let long_component = format!("/{}", "c".repeat(256));
    let long_path = "/d".repeat(2049);
    for (path, says) in [
        ("../x", "above the workspace root"),
        ("/a/../../x", "above the workspace root"),
        ("a\0b", "control characters"),
        ("a\nb", "control characters"),
        ("", "empty"),
        (long_component.as_str(), "255-byte"),
        (long_path.as_str(), "4096-byte"),
    ] {
        let err = ws.write(path, b"x").unwrap_err();
        assert_eq!(err.code(), "INVALID_PATH", "{path:?}: {err}");
        assert!(err.to_string().contains(says), "{path:?}: {err}");
    }
    // `..` inside the workspace is fine.
    ws.write("/a/b/../c.txt", b"x").unwrap();
    assert!(ws.exists("/a/c.txt").unwrap());
    assert!(!ws.exists("/a/b").unwrap());
    assert_eq!(ws.stat("/a/./c.txt/").unwrap().unwrap().path, "/a/c.txt");
}

#[test]
fn workspace_writes_keep_the_database_sound() {
    let (_given, mut db) = given_agent();
    given_files(&mut db, &[("/x/y", "1")]);
    db.workspace().mv("/x", "/z").unwrap();
    db.workspace().cp("/z", "/w", true).unwrap();
    db.workspace().rm("/z", true).unwrap();
    assert_eq!(db.integrity_check().unwrap(), "ok");
}
