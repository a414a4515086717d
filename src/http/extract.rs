//! Request extractors that carry authorisation: a handler that takes [`ApiKey`] or
//! [`ClientSession`] cannot be reached without a valid credential of that kind.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use super::error::Error;
use crate::auth::{self, api_keys, revocations, tokens};
use crate::state::AppState;

fn bearer(req: &HttpRequest, what: &'static str) -> Result<String, Error> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(auth::Error::MissingCredentials(what))?;
    let value = header.to_str().map_err(|_| auth::Error::MissingCredentials(what))?;
    let (scheme, credential) = value.split_once(' ').ok_or(auth::Error::MissingCredentials(what))?;
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

/// Proof that the request carried a valid backend API key.
pub struct ApiKey;

impl FromRequest for ApiKey {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let key = bearer(req, "api key");
        Box::pin(async move {
            api_keys::authenticate(&state.db, state.bootstrap_key_hash.as_ref(), &key?).await?;
            Ok(ApiKey)
        })
    }
}

/// A verified, unrevoked session token and what it grants.
pub struct ClientSession(pub tokens::VerifiedToken);

impl FromRequest for ClientSession {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = state(req);
        let token = bearer(req, "session token");
        Box::pin(async move {
            let verified = authenticate_session(&state, &token?).await?;
            Ok(ClientSession(verified))
        })
    }
}

/// Verifies a session token's signature, expiry and rights, then its revocation status.
pub async fn authenticate_session(state: &AppState, token: &str) -> Result<tokens::VerifiedToken, Error> {
    let verified = tokens::verify(state.root_key.public(), token, SystemTime::now())?;
    if revocations::any_revoked(&state.db, &verified.revocation_ids).await? {
        return Err(auth::Error::Revoked.into());
    }
    Ok(verified)
}
