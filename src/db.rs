//! Database connection and migrations, for both the embedded SQLite default and PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlxSqliteConnector};

/// How hard SQLite works to make a commit durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SqliteSync {
    /// `synchronous=NORMAL` in WAL mode: a commit survives the process being killed at any
    /// instant (the WAL is in the OS page cache), not a power loss. The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit is fsynced; survives power loss too.
    Full,
}

/// The connections a server uses.
#[derive(Clone)]
pub struct Databases {
    /// For reads and single-statement writes.
    pub main: DatabaseConnection,
    /// The document actors' group commits. On SQLite one worker on one connection: SQLite has
    /// one writer at a time, and grouping commits in-process is far cheaper than letting
    /// several connections contend for the write lock (busy waits, sleeps). On PostgreSQL
    /// several workers share the main pool.
    pub committer: crate::store::Committer,
}

/// Connects to `url` and brings the schema up to date.
///
/// SQLite runs in WAL mode with foreign keys enforced and the durability `sync` asks for.
pub async fn open(url: &str, sync: SqliteSync) -> Result<Databases, DbErr> {
    if url.starts_with("sqlite:") {
        let main = sqlite(url, sync, 8).await?;
        Migrator::up(&main, None).await?;
        let committer = crate::store::Committer::start(sqlite(url, sync, 1).await?, 1);
        spawn_checkpointer(main.clone());
        Ok(Databases { main, committer })
    } else {
        let main = connect(url, sync).await?;
        let committer = crate::store::Committer::start(main.clone(), 8);
        Ok(Databases { main, committer })
    }
}

async fn sqlite(
    url: &str,
    sync: SqliteSync,
    connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| DbErr::Custom(format!("invalid SQLite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match sync {
            SqliteSync::Normal => SqliteSynchronous::Normal,
            SqliteSync::Full => SqliteSynchronous::Full,
        })
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Writers never checkpoint (a checkpoint fsyncs, and would stall the commit path);
        // `spawn_checkpointer` does it in the background instead.
        .pragma("wal_autocheckpoint", "0")
        // A large group commit must not spill dirty pages to the WAL before it commits.
        .pragma("cache_size", "-32768");
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        // A connection to a local file cannot have gone away: no ping before every use (a round
        // trip to the connection's worker thread, paid by every group commit and every read).
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)))?;
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Copies the SQLite WAL back into the database file every 200 ms from a reader connection, so
/// that the WAL stays small without the committing connection ever waiting on the fsync.
fn spawn_checkpointer(db: DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    crate::background::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            if let Err(e) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    });
}

/// Connects to `url` (one pool) and brings the schema up to date.
pub async fn connect(url: &str, sync: SqliteSync) -> Result<DatabaseConnection, DbErr> {
    let db = if url.starts_with("sqlite:") {
        sqlite(url, sync, 8).await?
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(32)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        Database::connect(options).await?
    } else {
        return Err(DbErr::Custom(
            "unsupported database URL: expected sqlite://PATH or postgres://…".into(),
        ));
    };
    Migrator::up(&db, None).await?;
    Ok(db)
}
