//! Every table of an agent's database, as the migrations that create them, in one place:
//! the modules over them (`kv`, `schedules`, `workspace`, `sessions`, `fibers`) borrow the
//! database; the database knows only their tables.

/// Agent schema versions; see [`crate::sqlite::migrate`]. `$NOW_MS` is replaced by the time the
/// migration runs. Every internal table starts with `_islet_`, the prefix `this.sql` may
/// not touch.
pub(super) const AGENT_MIGRATIONS: &[&str] = &[
    INITIAL_SCHEMA,
    SESSIONS_SCHEMA,
    FIBERS_SCHEMA,
    EXTENSIONS_SCHEMA,
    DELEGATIONS_SCHEMA,
];

/// Version 1: key-value storage, state, schedules, the workspace.
const INITIAL_SCHEMA: &str = "CREATE TABLE _islet_kv (
         key TEXT PRIMARY KEY,
         value TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE _islet_state (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         value TEXT NOT NULL
     );
     CREATE TABLE _islet_schedules (
         id TEXT NOT NULL UNIQUE,
         method TEXT NOT NULL,
         payload TEXT NOT NULL,
         kind TEXT NOT NULL CHECK (kind IN ('delayed', 'scheduled', 'cron')),
         cron TEXT,
         next_at_ms INTEGER NOT NULL,
         created_at_ms INTEGER NOT NULL
     );
     CREATE INDEX _islet_schedules_by_time ON _islet_schedules (next_at_ms);
     CREATE TABLE _islet_fs_nodes (
         path TEXT PRIMARY KEY,
         parent TEXT,
         kind TEXT NOT NULL CHECK (kind IN ('file', 'dir')),
         size INTEGER NOT NULL DEFAULT 0,
         mtime_ms INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX _islet_fs_nodes_by_parent ON _islet_fs_nodes (parent, path);
     -- Not WITHOUT ROWID: rows of up to 64 KiB belong in a rowid table's overflow pages.
     CREATE TABLE _islet_fs_chunks (
         path TEXT NOT NULL REFERENCES _islet_fs_nodes (path)
             ON DELETE CASCADE ON UPDATE CASCADE,
         idx INTEGER NOT NULL,
         data BLOB NOT NULL,
         PRIMARY KEY (path, idx)
     );
     INSERT INTO _islet_fs_nodes (path, parent, kind, size, mtime_ms)
         VALUES ('/', NULL, 'dir', 0, $NOW_MS);";

/// Sessions, messages, their search index and compaction overlays (schema version 2).
const SESSIONS_SCHEMA: &str = "
CREATE TABLE _islet_sessions (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    leaf_seq INTEGER,
    message_count INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    forked_from_session TEXT,
    forked_from_message TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX _islet_sessions_by_update ON _islet_sessions (updated_at_ms, id);
-- `seq` is the message id (see `message_id`); AUTOINCREMENT so that an id is never given
-- twice, even after the newest messages were deleted with their session.
CREATE TABLE _islet_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES _islet_sessions (id) ON DELETE CASCADE,
    parent_seq INTEGER,
    depth INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content TEXT NOT NULL,
    text TEXT NOT NULL,
    model TEXT,
    tokens_in INTEGER,
    tokens_out INTEGER,
    tool_calls TEXT,
    tool_results TEXT,
    created_at_ms INTEGER NOT NULL
);
-- A session's messages in id order (an index entry ends with the rowid), for histories.
CREATE INDEX _islet_messages_by_session ON _islet_messages (session_id);
CREATE INDEX _islet_messages_by_parent ON _islet_messages (session_id, parent_seq, seq);
-- External content (the text is stored once, in `_islet_messages`); with secure-delete a
-- deleted session's words leave the index at once.
CREATE VIRTUAL TABLE _islet_messages_fts USING fts5(
    text, content = '_islet_messages', content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO _islet_messages_fts (_islet_messages_fts, rank) VALUES ('secure-delete', 1);
CREATE TRIGGER _islet_messages_ai AFTER INSERT ON _islet_messages BEGIN
    INSERT INTO _islet_messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER _islet_messages_ad AFTER DELETE ON _islet_messages BEGIN
    INSERT INTO _islet_messages_fts (_islet_messages_fts, rowid, text)
        VALUES ('delete', old.seq, old.text);
END;
CREATE TABLE _islet_compactions (
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL REFERENCES _islet_sessions (id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    summary TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX _islet_compactions_by_session ON _islet_compactions (session_id);
";

/// Extensions (schema version 4): every version installed (approved or waiting for a
/// person's approval), and per extension the active version and whether it is enabled.
const EXTENSIONS_SCHEMA: &str = "
CREATE TABLE _islet_extensions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    manifest TEXT NOT NULL,
    -- 0: asks for more than the operator's policy; waits for a person's approval.
    approved INTEGER NOT NULL CHECK (approved IN (0, 1)),
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
CREATE TABLE _islet_extension_heads (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1))
) WITHOUT ROWID;
";

/// Fibers, their checkpoints and their stream buffers (schema version 3).
const FIBERS_SCHEMA: &str = "
CREATE TABLE _islet_fibers (
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    session_id TEXT REFERENCES _islet_sessions (id) ON DELETE SET NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    stash TEXT,
    result TEXT,
    error TEXT,
    recoveries INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX _islet_fibers_by_status ON _islet_fibers (status, updated_at_ms);
CREATE INDEX _islet_fibers_by_session ON _islet_fibers (session_id);
CREATE TABLE _islet_fiber_checkpoints (
    fiber_id TEXT NOT NULL REFERENCES _islet_fibers (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('step_started', 'step_finished', 'tool_call', 'tool_result')),
    step INTEGER NOT NULL,
    call_id TEXT,
    outcome TEXT CHECK (outcome IN ('ok', 'error', 'interrupted')),
    data TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (fiber_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX _islet_fiber_checkpoints_by_call
    ON _islet_fiber_checkpoints (fiber_id, call_id, kind) WHERE call_id IS NOT NULL;
CREATE TABLE _islet_stream_chunks (
    fiber_id TEXT NOT NULL REFERENCES _islet_fibers (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    chunk TEXT NOT NULL,
    PRIMARY KEY (fiber_id, seq)
) WITHOUT ROWID;
";

/// Detached delegations of a chat agent to its child agents (schema version 5).
const DELEGATIONS_SCHEMA: &str = "
CREATE TABLE _islet_delegations (
    id TEXT PRIMARY KEY,
    tool TEXT NOT NULL,
    child_class TEXT NOT NULL,
    child_name TEXT NOT NULL,
    session_id TEXT NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('running', 'completed', 'failed', 'timed_out', 'interrupted')),
    result TEXT,
    error TEXT,
    on_done TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX _islet_delegations_by_time ON _islet_delegations (created_at_ms);
CREATE INDEX _islet_delegations_running ON _islet_delegations (status) WHERE status = 'running';
";
