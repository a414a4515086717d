//! Backend token routes (API key): mint session tokens, revoke them, publish the public key.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::{web, HttpResponse};

use super::error::Error;
use super::extract::ApiKey;
use crate::actors::registry::BroadcastRevoked;
use crate::auth::revocations;
use crate::auth::rights::{CollabPermission, Permission};
use crate::auth::tokens::{self, DocumentRef, Grant};
use crate::documents;
use crate::state::AppState;
use crate::wire::rest::{
    GrantView, MintRequest, MintResponse, PublicKeyResponse, RevokeRequest, RevokeResponse,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::post().to(mint))
        .route("/tokens/revoke", web::post().to(revoke))
        .route("/keys/public", web::get().to(public_key));
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        let (document_id, app_document_id) = match &g.document {
            DocumentRef::Managed(id) => (Some(id.clone()), None),
            DocumentRef::App(id) => (None, Some(id.clone())),
        };
        GrantView {
            document_id,
            app_document_id,
            user_id: g.user_id.clone(),
            user_name: g.user_name.clone(),
            layer: g.layer.clone(),
            default_group: g.default_group.clone(),
            permissions: g.permissions.clone(),
            collaboration_permissions: g.collaboration_permissions.clone(),
        }
    }
}

/// `POST /api/sessions`: mints a session token for one user and one document.
#[utoipa::path(post, path = "/api/sessions", tag = "sessions", request_body = MintRequest, responses((status = 201, body = MintResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn mint(
    key: ApiKey,
    state: web::Data<AppState>,
    body: web::Json<MintRequest>,
) -> Result<HttpResponse, Error> {
    let req = body.into_inner();
    let (document, document_created) = match (req.document_id, req.app_document_id) {
        (Some(id), None) => {
            // The token is bound to this document, not to whatever later takes its id.
            let created = documents::get(&state.db, &id).await?.created_at;
            (DocumentRef::Managed(id), Some(created))
        }
        (None, Some(id)) => {
            documents::validate_id(&id)
                .map_err(|e| Error::BadRequest(format!("`app_document_id`: {e}")))?;
            (DocumentRef::App(id), None)
        }
        _ => {
            return Err(Error::BadRequest(
                "give exactly one of `document_id` and `app_document_id`".into(),
            ))
        }
    };
    let layer = req.layer.unwrap_or_default();
    crate::limits::check_identity(
        &req.user_id,
        req.user_name.as_deref(),
        &layer,
        req.default_group.as_deref(),
    )
    .map_err(|v| Error::BadRequest(v.message))?;
    let permissions = Permission::parse_list(&req.permissions).map_err(Error::BadRequest)?;
    if permissions.is_empty() {
        return Err(Error::BadRequest(
            "`permissions` must name at least one permission".into(),
        ));
    }
    let collaboration_permissions =
        CollabPermission::parse_list(req.collaboration_permissions.as_deref().unwrap_or_default())
            .map_err(Error::BadRequest)?;
    let max = state.limits.max_token_lifetime;
    let lifetime = req
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(state.limits.default_token_lifetime);
    let expires_at = (!lifetime.is_zero() && lifetime <= max)
        .then(|| tokens::expiry_after(SystemTime::now(), lifetime))
        .flatten()
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "`expires_in` must be between 1 and {} seconds (the server's maximum token \
                 lifetime)",
                max.as_secs().min(tokens::MAX_LIFETIME.as_secs())
            ))
        })?;
    let grant = Grant {
        document,
        user_id: req.user_id,
        user_name: req.user_name,
        layer,
        default_group: req.default_group,
        permissions,
        collaboration_permissions,
        expires_at,
        document_created,
    };
    let minted = tokens::mint(&state.root_key, &grant)?;
    // Show the grant as the token states it (with `write`'s implied full access spelled out).
    let verified = tokens::verify(state.root_key.public(), &minted.token, SystemTime::now())?;
    let _ = crate::audit::record(
        &state.db,
        crate::audit::Event {
            document_id: Some(grant.document.id().to_string()),
            kind: "token.mint",
            actor: key.actor(),
            detail: serde_json::json!({
                "user_id": grant.user_id,
                "layer": grant.layer,
                "permissions": grant.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "expires_at": tokens::rfc3339(grant.expires_at),
                "revocation_id": minted.revocation_id,
            }),
        },
    )
    .await;
    Ok(HttpResponse::Created().json(MintResponse {
        token: minted.token,
        expires_at: tokens::rfc3339(grant.expires_at),
        revocation_id: minted.revocation_id,
        grant: GrantView::from(&verified.grant),
    }))
}

/// `POST /api/tokens/revoke`. Revoking a token revokes its last block: that token and every token
/// attenuated from it. Revoking a minted token's `revocation_id` revokes all of its descendants.
#[utoipa::path(post, path = "/api/tokens/revoke", tag = "sessions", request_body = RevokeRequest, responses((status = 200, body = RevokeResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn revoke(
    key: ApiKey,
    state: web::Data<AppState>,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, Error> {
    let id = match (&body.token, &body.revocation_id) {
        (Some(token), None) => tokens::last_revocation_id(state.root_key.public(), token)?,
        (None, Some(id)) => {
            if id.is_empty() || id.len() > 256 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::BadRequest(
                    "`revocation_id` must be the hex id returned at minting".into(),
                ));
            }
            id.to_ascii_lowercase()
        }
        _ => {
            return Err(Error::BadRequest(
                "give exactly one of `token` and `revocation_id`".into(),
            ))
        }
    };
    revocations::revoke(&state.db, &id).await?;
    let ids = Arc::new(HashSet::from([id.clone()]));
    // Cached verifications of the token (and its descendants) are forgotten on this node now,
    // on the others when the hint reaches them.
    state.authenticator.forget_revoked(&ids);
    // Live sessions holding the token (or one attenuated from it) are closed now.
    state.registry.do_send(BroadcastRevoked(ids));
    // And on the other nodes, through the bus.
    let hint = crate::bus::Hint::Revoked {
        r: vec![id.clone()],
    };
    if let Err(e) = state.bus.publish(hint).await {
        tracing::warn!(error = %e, revocation_id = %id, "other nodes were not told of a revocation");
    }
    tracing::info!(revocation_id = %id, "token revoked");
    let _ = crate::audit::record(
        &state.db,
        crate::audit::Event {
            document_id: None,
            kind: "token.revoke",
            actor: key.actor(),
            detail: serde_json::json!({ "revocation_id": id }),
        },
    )
    .await;
    if let Err(e) = crate::webhooks::enqueue(
        &state.db,
        "token.revoked",
        None,
        serde_json::json!({ "revocation_id": id }),
    )
    .await
    {
        tracing::error!(error = %e, "queueing a webhook event failed");
    }
    Ok(HttpResponse::Ok().json(RevokeResponse { revoked: id }))
}

/// `GET /api/keys/public`: the root public key, to verify and attenuate tokens offline.
#[utoipa::path(get, path = "/api/keys/public", tag = "sessions", responses((status = 200, body = PublicKeyResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn public_key(_key: ApiKey, state: web::Data<AppState>) -> HttpResponse {
    let key = state.root_key.public();
    HttpResponse::Ok().json(PublicKeyResponse {
        algorithm: "ed25519",
        public_key: key.to_string(),
        public_key_hex: key.to_bytes_hex(),
    })
}
