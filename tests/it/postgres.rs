//! The storage suite against PostgreSQL, and the private-server harness the outage tests rely on.
//! Every test here needs PostgreSQL (see `common::pg`): ignored by a plain `cargo test`, run by
//! `make test`.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

use crate::common::pg::{PrivatePostgres, TempDatabase};
use crate::common::{Options, Server};

#[tokio::test]
#[ignore = "needs PostgreSQL at 127.0.0.1:5432 (make test runs it)"]
async fn storage_round_trip_on_postgres() {
    let db = TempDatabase::create().await;
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

/// The private server stops (refusing connections), starts again on the same port, and keeps
/// what was committed before the stop.
#[tokio::test]
#[ignore = "needs PostgreSQL server binaries under /usr/lib/postgresql (make test runs it)"]
async fn a_private_postgres_stops_and_starts_on_the_same_port_with_its_data() {
    let mut pg = PrivatePostgres::new().await;
    let url = pg.url();
    let db = Database::connect(&url).await.expect("connect");
    db.execute_unprepared("CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('before')")
        .await
        .unwrap();
    db.close().await.unwrap();

    pg.stop().await;
    assert!(pg.pid().is_none());
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", pg.port()))
            .await
            .is_err(),
        "a stopped server refuses connections"
    );

    pg.start().await;
    assert_eq!(pg.url(), url, "same port");
    let db = Database::connect(&url).await.expect("connect after start");
    let row = db
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT v FROM kept",
        ))
        .await
        .unwrap()
        .expect("the row committed before the stop");
    assert_eq!(row.try_get::<String>("", "v").unwrap(), "before");
}
