//! The request and response bodies of the REST API (docs/api.md), beside the live protocol's
//! messages so that every type on the wire is in one place. The handlers in `crate::http` build
//! and read these; their `ToSchema` derives are the OpenAPI description's components
//! (`/api/openapi.json`, `docs/openapi.json`), from which the web client's REST types are
//! generated.

use serde::{Deserialize, Serialize};

use super::client::ChangeRequest;
use super::server::Outcome;
use crate::auth::rights::{CollabPermission, Permission};
use crate::exchange::geometry::PageGeometry;
use crate::exchange::instant_json;
use crate::exchange::layers::LayerSummary;

// Errors.

/// The error body of every route (also the OpenAPI schema `ErrorBody`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong, for people.
    pub message: String,
    /// Stable machine-readable code (docs/api.md, Errors).
    pub code: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// Where to read about the code.
    pub link: String,
}

// Documents (backend).

/// A document's metadata as the API returns it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentInfo {
    pub id: String,
    #[schema(required = true)]
    pub title: Option<String>,
    pub byte_size: i64,
    pub sha256: String,
    pub page_count: i32,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /api/documents`: one page of documents, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DocumentList {
    pub documents: Vec<DocumentInfo>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// The upload's answer when it imported the PDF's annotations too.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadedWithAnnotations {
    #[serde(flatten)]
    pub document: DocumentInfo,
    /// The import's report (docs/exchange.md), or why it was refused.
    #[schema(value_type = Object)]
    pub annotations_import: serde_json::Value,
}

// Records (backend writes).

/// `POST /api/documents/{id}/changes` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangesBody {
    #[serde(default)]
    pub layer: String,
    /// Recorded as the author (and creator of new records); default `backend`.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    /// Changes as in docs/protocol.md (`client_id`, `op`, `kind`, `id`, `base_rev`, `content`).
    pub changes: Vec<ChangeRequest>,
}

/// `POST /api/documents/{id}/changes` answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangesResponse {
    /// One `ack` or `reject` per change, as in docs/protocol.md.
    pub results: Vec<Outcome>,
}

// Audit history.

/// `GET /api/documents/{id}/history`: one page of the audit log, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryResponse<'a> {
    pub document_id: &'a str,
    pub events: Vec<EntryView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next: Option<i64>,
}

// Live sessions.

/// The schema of [`LiveSession::node`]: one of two strings.
fn node_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["this", "other"]))
        .build()
}

/// One live session of a document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveSession {
    /// The session id its peers see in presence messages.
    pub session_id: String,
    pub user_id: String,
    #[schema(required = true)]
    pub user_name: Option<String>,
    /// The session's layer; `null` for sessions on other nodes (they announce no layer).
    #[schema(required = true)]
    pub layer: Option<String>,
    /// `this` for this node, `other` for a session another node announced.
    #[schema(schema_with = node_schema)]
    pub node: &'static str,
}

/// `GET /api/documents/{id}/sessions`: who is on the document now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsResponse {
    pub document_id: String,
    pub sessions: Vec<LiveSession>,
}

// Session tokens.

/// `POST /api/sessions` body, in Nutrient Document Engine's vocabulary.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    pub document_id: Option<String>,
    pub app_document_id: Option<String>,
    pub user_id: String,
    pub user_name: Option<String>,
    pub layer: Option<String>,
    pub permissions: Vec<String>,
    pub collaboration_permissions: Option<Vec<String>>,
    pub default_group: Option<String>,
    /// Seconds until the token expires; defaults to the server's default lifetime.
    pub expires_in: Option<u64>,
}

/// `POST /api/sessions` response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MintResponse {
    pub token: String,
    pub expires_at: String,
    /// Revoke this id to revoke the token and every token attenuated from it.
    pub revocation_id: String,
    #[serde(flatten)]
    pub grant: GrantView,
}

/// A grant as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantView {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub document_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub app_document_id: Option<String>,
    pub user_id: String,
    #[schema(required = true)]
    pub user_name: Option<String>,
    pub layer: String,
    #[schema(required = true)]
    pub default_group: Option<String>,
    /// Permission names (docs/api.md, Rights).
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
    #[schema(value_type = Vec<String>)]
    pub collaboration_permissions: Vec<CollabPermission>,
}

/// `POST /api/tokens/revoke` body: the token itself or a revocation id.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub token: Option<String>,
    pub revocation_id: Option<String>,
}

/// `POST /api/tokens/revoke` answer: the revocation id now revoked.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RevokeResponse {
    pub revoked: String,
}

/// `GET /api/keys/public`: the key session tokens are signed with, for offline checks.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicKeyResponse {
    pub algorithm: &'static str,
    /// `ed25519/<hex>`: the form biscuit libraries and the biscuit CLI accept.
    pub public_key: String,
    /// The raw key bytes, hex-encoded.
    pub public_key_hex: String,
}

// Client session.

/// `GET /api/client/session`: who the token is for and what it grants now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    #[serde(flatten)]
    pub grant: GrantView,
    pub expires_at: String,
    #[schema(required = true)]
    pub page_count: Option<i32>,
}

// Usage.

/// `GET /api/usage`: session opens per document and UTC day.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageResponse {
    pub usage: Vec<DailyUsage>,
    pub total_opens: i64,
}

// Webhooks.

/// `POST /api/webhooks` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub url: String,
}

/// A registered webhook endpoint and how far its deliveries have come.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    /// Present only in the registration's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub secret: Option<String>,
    pub created_by: String,
    pub created_at: String,
    /// The id of the last event delivered.
    pub delivered_through: i64,
    /// Failed attempts at the next event.
    pub failures: i32,
    pub next_attempt_at: String,
}

/// `GET /api/webhooks`: every registered endpoint.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<EndpointView>,
}

/// One delivery attempt of a webhook event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub id: i64,
    /// The `webhook-id` sent.
    pub webhook_id: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
    pub delivered: bool,
}

/// `GET /api/webhooks/{id}/attempts`: one page of delivery attempts, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptsResponse {
    pub attempts: Vec<AttemptView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next: Option<i64>,
}

// Exchange (docs/exchange.md).

/// `GET /api/documents/{id}/pages`: every page's boxes and rotation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PagesResponse {
    pub document_id: String,
    pub pages: Vec<PageGeometry>,
}

/// The answer to an import refused item by item (422 `import_rejected`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct RejectedImport {
    pub message: String,
    pub code: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub link: &'static str,
    pub rejected: Vec<instant_json::Rejected>,
}

// Layers.

/// `GET /api/documents/{id}/layers`: the document's layers with their record counts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LayersResponse {
    pub document_id: String,
    pub layers: Vec<LayerSummary>,
}

/// `POST …/layers/copy` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyBody {
    pub from: String,
    #[serde(default)]
    pub to: String,
}

// History and usage.

/// One entry as the history API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_kind: Option<String>,
    /// The record's content after a create or update.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub content: Option<Box<serde_json::value::RawValue>>,
    /// What an event other than a record change was about.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Box<serde_json::value::RawValue>>,
}

/// Opens of one document on one UTC day.
// Also the row type of the usage aggregation query (`crate::usage::aggregate`), which reads
// it straight from the database.
#[derive(Debug, Serialize, sea_orm::FromQueryResult, utoipa::ToSchema)]
pub struct DailyUsage {
    pub day: String,
    pub document_id: Option<String>,
    pub app_document_id: Option<String>,
    pub opens: i64,
    pub unique_users: i64,
}
