//! Quire: a self-hosted, real-time collaboration engine for PDF documents.
//!
//! The binary (`src/main.rs`) parses the command line and calls into this library; the
//! integration tests start the same binary. See `DESIGN.md` in the repository for the architecture.

pub mod actors;
pub mod app;
pub mod audit;
pub mod auth;
pub mod background;
pub mod blobs;
pub mod bus;
pub mod config;
pub mod db;
pub mod documents;
pub mod entities;
pub mod exchange;
pub mod fsutil;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod pdf;
pub mod records;
pub mod spool;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod time_util;
pub mod usage;
pub mod webhooks;
pub mod wire;
