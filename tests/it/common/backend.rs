//! One test, every database backend: the live suites run on SQLite and on PostgreSQL, since a
//! promise that holds on one may break on the other (column limits, transaction behaviour).
//!
//! Write the test as `async fn name(backend: Backend)`, build its servers from
//! `backend.options()`, and list it in [`on_both_backends!`], which generates `name::sqlite` and
//! `name::postgres`. The PostgreSQL variant is ignored by a plain `cargo test` and run by
//! `make test` (see `common::pg`).

use super::pg::TempDatabase;
use super::{Options, Server};

/// The database a test's servers use. Keep it alive for the whole test: a PostgreSQL database is
/// dropped with it.
pub enum Backend {
    /// The embedded default: a SQLite file in the server's data dir.
    Sqlite,
    /// A fresh database on the shared server at 127.0.0.1:5432.
    Postgres(TempDatabase),
}

impl Backend {
    pub fn sqlite() -> Backend {
        Backend::Sqlite
    }

    /// A fresh PostgreSQL database; panics (fails the test) when the server does not answer.
    pub async fn postgres() -> Backend {
        Backend::Postgres(TempDatabase::create().await)
    }

    /// Options for a server on this backend; extend them with `..backend.options()`.
    pub fn options(&self) -> Options {
        match self {
            Backend::Sqlite => Options::default(),
            Backend::Postgres(db) => Options {
                database_url: Some(db.url()),
                ..Options::default()
            },
        }
    }

    /// A URL to reach `server`'s database directly, as another writer (another node, an
    /// operator) would.
    pub fn database_url(&self, server: &Server) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", server.data_dir.join("quire.db").display()),
            Backend::Postgres(db) => db.url(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }
}

/// Generates, for each `async fn name(backend: Backend)` listed, a module `name` with the tests
/// `sqlite` and `postgres` (the latter ignored unless run by `make test`, which has PostgreSQL).
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test($crate::common::backend::Backend::sqlite()).await
            }

            #[tokio::test]
            #[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
            async fn postgres() {
                super::$test($crate::common::backend::Backend::postgres().await).await
            }
        }
    )+};
}
pub(crate) use on_both_backends;
