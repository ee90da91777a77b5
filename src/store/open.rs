//! Opening the store file: folder creation, connection settings, migrations.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode};

use super::error::{StoreError, StoreErrorKind};
use super::liveness;
use super::schema;

/// How long a connection waits for another writer's lock before giving up. Batches are small
/// (milliseconds), so this is only reached when another process is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Page size of new store files, in bytes.
const PAGE_SIZE: i64 = 16 * 1024;

/// Opens (creating if needed) the store at `path` and brings its schema up to date.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    create_parent_dir(path)?;
    let mut conn =
        Connection::open(path).map_err(|e| StoreError::sqlite(path, "opening the database", e))?;
    configure(&conn, path)?;
    schema::migrate(&mut conn, path)?;
    liveness::sweep(&conn, super::now_unix())?;
    Ok(conn)
}

/// Opens an existing store for reading. A store that is current is opened read-only, so a
/// store on a read-only disk, or one the reader may not write, can be read (a read-only
/// open of a WAL file still needs its `-shm` file; where that cannot be made either, the
/// file is read as immutable). A store whose schema is older is opened as `open` does, to
/// migrate it first, and so is one holding runs whose writer died (to mark them
/// interrupted) when it can be written.
pub fn open_read(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::new(
            StoreErrorKind::CannotCreate,
            path,
            "no run store here (run a suite first)",
        ));
    }
    let conn = match read_only(path, "mode=ro") {
        Ok(conn) => conn,
        // No -shm to share and none can be made: nobody can be writing this store.
        Err(_) => read_only(path, "immutable=1")?,
    };
    if schema::needs_migration(&conn, path)? {
        drop(conn);
        return open(path);
    }
    if !liveness::gone_runs(&conn)?.is_empty() {
        // Runs whose writer died are marked interrupted by a writable open; a store that
        // cannot be written is read as it is.
        if let Ok(writable) = open(path) {
            return Ok(writable);
        }
    }
    Ok(conn)
}

fn read_only(path: &Path, mode: &str) -> Result<Connection, StoreError> {
    use rusqlite::OpenFlags;
    let fail = |e| StoreError::sqlite(path, "opening the database for reading", e);
    let uri = format!("file:{}?{mode}", uri_path(path));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(uri, flags).map_err(fail)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
    // The first read: a file that is not a database, or a -shm that cannot be opened,
    // fails here rather than on the caller's first query.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(fail)?;
    Ok(conn)
}

/// `path` for a `file:` URI: the characters URIs reserve percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{byte:02X}")),
            _ => out.push(byte as char),
        }
    }
    out
}

fn create_parent_dir(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            let detail = format!("cannot create the folder {}: {e}", dir.display());
            StoreError::new(StoreErrorKind::CannotCreate, path, detail)
        }),
        _ => Ok(()),
    }
}

/// Connection settings. Setting the journal mode is also the first read of the file, so a
/// file that is not a database fails there, with a "not a database" error.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let fail = |e| StoreError::sqlite(path, "configuring the connection", e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
    // Only takes effect on a new, empty file (before WAL mode fixes it). Rows are written
    // in bulk and read back a run at a time, so big pages suit them: measured, 16 KiB
    // pages cut the writer's CPU per stored row by a fifth against SQLite's 4 KiB.
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(fail)?;
    enable_wal(conn).map_err(fail)?;
    // NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(fail)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(fail)?;
    Ok(())
}

/// WAL mode: readers (the CLI, a notebook) never block the writer and vice versa.
/// Switching a fresh file to WAL needs an exclusive lock, and SQLite answers "database is
/// locked" at once, without its busy handler, while another connection holds any lock
/// (e.g. a second process opening the same new file). So retry until the busy timeout.
fn enable_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let result: rusqlite::Result<String> =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0));
        match result {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other.map(drop),
        }
    }
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TestDir;

    #[test]
    fn open_creates_folders_file_and_wal_mode() {
        let dir = TestDir::new("open-creates");
        let path = dir.path().join("a").join("b").join("trialrun.db");
        let conn = open(&path).unwrap();
        assert!(path.is_file());
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "synchronous=NORMAL");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::LATEST_VERSION);
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, PAGE_SIZE);
    }

    #[test]
    fn open_read_reads_a_current_store_without_writing_it() {
        let dir = TestDir::new("open-read");
        let path = dir.path().join("trialrun.db");
        drop(open(&path).unwrap());
        let before = std::fs::read(&path).unwrap();
        let conn = open_read(&path).unwrap();
        let runs: i64 = conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(runs, 0);
        let write = conn.execute("DELETE FROM runs", []);
        assert!(write.is_err(), "a read-only connection refuses writes");
        drop(conn);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn open_read_migrates_an_old_store_and_refuses_a_missing_one() {
        let dir = TestDir::new("open-read-old");
        let path = dir.path().join("trialrun.db");
        let err = open_read(&path).unwrap_err();
        assert!(err.to_string().contains("no run store here"), "{err}");
        assert!(!path.exists());
        // An empty file as a fresh open leaves it before migrating: version 0.
        drop(Connection::open(&path).unwrap());
        let conn = open_read(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::LATEST_VERSION);
    }

    #[test]
    fn an_existing_store_keeps_its_page_size() {
        let dir = TestDir::new("page-size");
        let path = dir.path().join("trialrun.db");
        let old = Connection::open(&path).unwrap();
        // As an earlier trialrun made it: 4 KiB pages, WAL mode, no tables yet.
        old.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
            .unwrap();
        drop(old);
        let conn = open(&path).unwrap();
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, 4096);
    }

    #[test]
    fn reopening_runs_no_migration_twice() {
        let dir = TestDir::new("reopen");
        let path = dir.path().join("trialrun.db");
        let tables = |conn: &Connection| -> Vec<String> {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_schema ORDER BY name")
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        let first = tables(&open(&path).unwrap());
        let conn = open(&path).unwrap();
        let second = tables(&open(&path).unwrap());
        assert_eq!(first, second);
        assert!(first.contains(&"runs".to_string()));
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::LATEST_VERSION);
    }

    #[test]
    fn newer_schema_is_refused_naming_the_file() {
        let dir = TestDir::new("newer");
        let path = dir.path().join("trialrun.db");
        open(&path)
            .unwrap()
            .pragma_update(None, "user_version", schema::LATEST_VERSION + 1)
            .unwrap();
        let err = open(&path).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::NewerSchema);
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("newer trialrun"), "{message}");
    }

    #[test]
    fn garbage_file_is_reported_as_corrupted_naming_the_file() {
        let dir = TestDir::new("garbage");
        let path = dir.path().join("trialrun.db");
        std::fs::write(&path, pseudo_random_bytes(8192)).unwrap();
        let err = open(&path).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        let expected = format!(
            "{} is not a trialrun run store or is corrupted: ",
            path.display()
        );
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn another_applications_database_is_refused() {
        let dir = TestDir::new("foreign");
        let path = dir.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE notes (body TEXT)")
            .unwrap();
        let err = open(&path).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert!(
            err.to_string().contains("no trialrun schema version"),
            "{err}"
        );
    }

    #[test]
    fn folder_that_cannot_be_created_is_reported() {
        let dir = TestDir::new("cannot-create");
        let blocker = dir.path().join("a-file");
        std::fs::write(&blocker, b"not a folder").unwrap();
        let path = blocker.join("trialrun.db");
        let err = open(&path).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::CannotCreate, "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_folder_in_place_of_the_file_is_reported() {
        let dir = TestDir::new("dir-as-file");
        let path = dir.path().join("trialrun.db");
        std::fs::create_dir(&path).unwrap();
        let err = open(&path).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::CannotCreate, "{err}");
    }

    /// xorshift64: enough to make bytes that are certainly not an SQLite header.
    fn pseudo_random_bytes(len: usize) -> Vec<u8> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }
}
