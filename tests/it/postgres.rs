//! The storage suite against PostgreSQL (127.0.0.1:5432, user `postgres`, trust auth). Each run
//! creates its own database and drops it afterwards.

use sea_orm::{ConnectionTrait, Database};

use crate::common::{Options, Server};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database, dropped on drop.
struct TempDatabase {
    name: String,
}

impl TempDatabase {
    async fn create() -> Option<TempDatabase> {
        let admin = match Database::connect(ADMIN_URL).await {
            Ok(db) => db,
            Err(e) if std::env::var_os("CI").is_none() => {
                eprintln!("SKIPPED: PostgreSQL at 127.0.0.1:5432 is not answering ({e}); PostgreSQL tests did not run");
                return None;
            }
            Err(e) => panic!("PostgreSQL at 127.0.0.1:5432 is required in CI: {e}"),
        };
        let name = format!("quire_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        Some(TempDatabase { name })
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside the test's runtime; use a small one of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(admin) = Database::connect(ADMIN_URL).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn storage_round_trip_on_postgres() {
    let Some(db) = TempDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        database_url: Some(db.url()),
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let server = Server::start_with(options.clone()).await;
    crate::storage::round_trip(&server).await;

    // State survives a restart on the same database.
    let status = server.stop();
    assert!(status.success(), "graceful shutdown on SIGTERM: {status:?}");
    let again = Server::start_with(options).await;
    let res = again
        .backend(reqwest::Method::GET, "/api/documents")
        .send()
        .await
        .unwrap();
    let list = crate::common::expect_json(res, reqwest::StatusCode::OK).await;
    assert_eq!(list["documents"].as_array().unwrap().len(), 3);
}
