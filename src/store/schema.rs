//! The database file: connection settings and forward-only schema migrations.
//!
//! Inputs: the path of `events.db`. Outputs: a writer connection (WAL, `synchronous=NORMAL`,
//! foreign keys on, schema migrated to [`SCHEMA_VERSION`]) or a read-only connection for
//! queries. The schema version lives in `PRAGMA user_version`; each migration runs in its own
//! transaction together with the version bump, so a crash leaves the file at one version or the
//! next, never in between.
//!
//! Failure: a database written by a newer build (a version above [`SCHEMA_VERSION`]) is refused
//! rather than guessed at; SQLite errors name the file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// How long a statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations in order: entry `i` takes the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: events, the zones they entered.
    "CREATE TABLE events (
        id            TEXT PRIMARY KEY NOT NULL,
        camera        TEXT NOT NULL,
        label         TEXT NOT NULL,
        track_id      INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms  INTEGER NOT NULL,
        best_score    REAL NOT NULL,
        ended         INTEGER NOT NULL DEFAULT 0 CHECK (ended IN (0, 1)),
        has_snapshot  INTEGER NOT NULL DEFAULT 0 CHECK (has_snapshot IN (0, 1)),
        snapshot      TEXT,
        crop          TEXT,
        snapshot_bytes INTEGER NOT NULL DEFAULT 0,
        json          TEXT NOT NULL,
        updated_ms    INTEGER NOT NULL
    );
    CREATE INDEX events_by_time ON events (first_seen_ms DESC, id DESC);
    CREATE INDEX events_by_camera ON events (camera, first_seen_ms DESC, id DESC);
    CREATE INDEX events_by_label ON events (label, first_seen_ms DESC, id DESC);
    CREATE INDEX events_by_end ON events (ended, last_seen_ms);
    CREATE TABLE event_zones (
        event_id TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        zone     TEXT NOT NULL,
        PRIMARY KEY (event_id, zone)
    ) WITHOUT ROWID;
    CREATE INDEX event_zones_by_zone ON event_zones (zone, event_id);",
    // 2: the outbox of the webhook and MQTT sinks (`crate::sinks::outbox`), written in the
    // same transaction as the change; `counters.change` numbers every stored change, never
    // reused (not even when events are deleted), which gives each message its stable id.
    "CREATE TABLE counters (
        name  TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('change', 0);
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        sink            TEXT NOT NULL,
        message_id      TEXT NOT NULL,
        event_id        TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('new', 'update', 'end')),
        payload         TEXT NOT NULL,
        created_ms      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        state           TEXT NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'dead')),
        last_error      TEXT,
        delivered_ms    INTEGER,
        UNIQUE (sink, message_id)
    );
    CREATE INDEX outbox_due ON outbox (sink, state, next_attempt_ms);",
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Opens (creating if needed) the database for the one writer and migrates it.
pub fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let err = StoreError::sqlite(path);
    let mut conn = Connection::open(path).map_err(&err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
    // Takes effect only on a database with no tables yet; later pages freed by deletes are
    // returned to the file system by `PRAGMA incremental_vacuum` after retention.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
        .map_err(&err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(&err)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(&err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens the database read-only for queries. WAL lets it read while the writer writes.
pub fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let err = StoreError::sqlite(path);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(&err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&err)?;
    let version = user_version(&conn, path)?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    Ok(conn)
}

fn user_version(conn: &Connection, path: &Path) -> Result<u32, StoreError> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(StoreError::sqlite(path))
}

/// Applies the migrations the file has not seen yet, each in its own transaction.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let err = StoreError::sqlite(path);
    let found = user_version(conn, path)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction().map_err(&err)?;
        tx.execute_batch(sql).map_err(&err)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        tracing::info!(path = %path.display(), version = i + 1, "store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_wal_the_schema_and_its_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.db");
        let conn = open_writer(&path).expect("opens");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .expect("sync");
        assert_eq!(sync, 1, "NORMAL");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .expect("fk");
        assert_eq!(fk, 1);
        assert_eq!(user_version(&conn, &path).expect("version"), SCHEMA_VERSION);
        drop(conn);
        // Reopening runs no migration twice.
        let conn = open_writer(&path).expect("reopens");
        assert_eq!(user_version(&conn, &path).expect("version"), SCHEMA_VERSION);
        open_reader(&path).expect("a reader opens");
    }

    #[test]
    fn a_version_1_file_is_migrated_forward_and_keeps_its_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.db");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(MIGRATIONS[0]).expect("version 1 schema");
            conn.pragma_update(None, "user_version", 1)
                .expect("version");
            conn.execute(
                "INSERT INTO events (id, camera, label, track_id, first_seen_ms, last_seen_ms,
                 best_score, json, updated_ms) VALUES ('a-cam-1', 'cam', 'car', 1, 1, 2, 0.5,
                 '{}', 3)",
                [],
            )
            .expect("an event of version 1");
        }
        let conn = open_writer(&path).expect("migrates");
        assert_eq!(user_version(&conn, &path).expect("version"), SCHEMA_VERSION);
        let id: String = conn
            .query_row("SELECT id FROM events", [], |r| r.get(0))
            .expect("the event is still there");
        assert_eq!(id, "a-cam-1");
        let outbox: i64 = conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
            .expect("the outbox exists");
        assert_eq!(outbox, 0);
    }

    #[test]
    fn a_newer_schema_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("events.db");
        let conn = open_writer(&path).expect("opens");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        drop(conn);
        let e = open_writer(&path).expect_err("newer schema");
        assert!(matches!(e, StoreError::SchemaVersion { .. }), "{e}");
        assert!(e.to_string().contains("events.db"), "{e}");
    }
}
