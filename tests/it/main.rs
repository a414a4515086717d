//! Quire's integration tests: one binary (links once), a module per area. Every test starts the
//! real server as a child process on an ephemeral port with a temporary data dir.

mod common;

mod api_keys;
mod assets;
mod bench;
mod cli_data_dir;
mod client;
mod commit_path;
mod cors;
mod documents;
mod exchange;
mod health;
mod history;
mod history_retention;
mod live;
mod live_rights;
mod live_robustness;
mod live_sessions;
mod metrics;
mod openapi;
mod outage;
mod pdf_export;
mod postgres;
mod s3;
mod scale;
mod snapshots;
mod storage;
mod testdata;
mod token_limits;
mod tokens;
mod uploads;
mod usage;
mod webhooks;
mod wire_schema;
mod ws_limits;
mod ws_upgrade;
