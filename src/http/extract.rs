//! Authorisation: middleware that authenticates a scope's requests before anything else runs,
//! and the extractor types that prove it happened. A handler that takes [`ApiKey`] or
//! [`ClientSession`] cannot be reached without a valid credential of that kind.

use std::future::{ready, Ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::error::Error;
use crate::auth::{self, api_keys, tokens};
use crate::state::AppState;

fn bearer(req: &HttpRequest, what: &'static str) -> Result<String, Error> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(auth::Error::MissingCredentials(what))?;
    let value = header
        .to_str()
        .map_err(|_| auth::Error::MissingCredentials(what))?;
    let (scheme, credential) = value
        .split_once(' ')
        .ok_or(auth::Error::MissingCredentials(what))?;
    if !scheme.eq_ignore_ascii_case("bearer") || credential.trim().is_empty() {
        return Err(auth::Error::MissingCredentials(what).into());
    }
    Ok(credential.trim().to_string())
}

fn state(req: &HttpRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>()
        .expect("AppState is registered by app::build")
        .clone()
}

/// Proof that the request carried a valid backend API key, put in the request's extensions by
/// [`require_api_key`].
#[derive(Clone)]
pub struct ApiKey(pub api_keys::KeyId);

impl ApiKey {
    /// The audit log's actor for this call.
    pub fn actor(&self) -> String {
        self.0.actor()
    }
}

/// Middleware for backend scopes: authenticates the API key before any extractor runs, so an
/// unauthenticated request is refused with 401 whatever else is wrong with it.
pub async fn require_api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = state(req.request());
    let key = bearer(req.request(), "api key")?;
    let id = api_keys::authenticate(&state.db, state.bootstrap_key_hash.as_ref(), &key)
        .await
        .map_err(Error::from)?;
    req.extensions_mut().insert(ApiKey(id));
    next.call(req).await
}

impl FromRequest for ApiKey {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Fails closed: a route outside a `require_api_key` scope is unreachable.
        ready(
            req.extensions()
                .get::<ApiKey>()
                .cloned()
                .ok_or(auth::Error::MissingCredentials("api key").into()),
        )
    }
}

/// A verified, unrevoked session token and what it grants, put in the request's extensions by
/// [`require_session`].
pub struct ClientSession(pub tokens::VerifiedToken);

impl ClientSession {
    /// The token's managed document, for a client route that needs `right`: refused when the
    /// query names another document (`?document_id=`), when the right is missing, or when the
    /// token is for an app-provided document (which has no `what` on Quire).
    pub fn managed_document(
        &self,
        expected: Option<&str>,
        right: crate::auth::rights::Permission,
        what: &str,
    ) -> Result<&str, Error> {
        let grant = &self.0.grant;
        if expected.is_some_and(|d| d != grant.document.id()) {
            return Err(auth::Error::WrongDocument.into());
        }
        if !self.0.has(right) {
            return Err(
                auth::Error::RightMissing(format!("`{}` is required", right.as_str())).into(),
            );
        }
        match &grant.document {
            tokens::DocumentRef::Managed(id) => Ok(id),
            tokens::DocumentRef::App(_) => Err(Error::NoDocumentBytes(format!(
                "app-provided documents have no {what} on Quire"
            ))),
        }
    }
}

/// Middleware for the client scope: verifies the session token before any extractor runs.
pub async fn require_session(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = state(req.request());
    let token = bearer(req.request(), "session token")?;
    let verified = state
        .authenticator()
        .session(&token)
        .await
        .map_err(Error::from)?;
    req.extensions_mut().insert(verified);
    next.call(req).await
}

impl FromRequest for ClientSession {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<tokens::VerifiedToken>()
                .cloned()
                .map(ClientSession)
                .ok_or(auth::Error::MissingCredentials("session token").into()),
        )
    }
}
