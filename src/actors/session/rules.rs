//! What a session's outcomes mean, as pure rules (a refused token's close reason, a failed
//! re-verification's verdict, the peer a verified token makes).

use std::sync::Arc;

use actix::prelude::*;

use crate::actors::document::{Kick, Peer};
use crate::actors::outbox::Outbox;
use crate::auth;
use crate::auth::access::Access;
use crate::auth::tokens::VerifiedToken;
use crate::wire::common::{CloseCode, CloseReason};

pub(super) fn reverify_verdict(
    session_id: u64,
    result: Result<(), auth::Error>,
) -> Option<CloseReason> {
    match result {
        Ok(()) => None,
        Err(e @ (auth::Error::Database(_) | auth::Error::Internal(_))) => {
            tracing::warn!(session_id, error = %e, "could not re-verify a session token; will retry");
            None
        }
        Err(e) => Some(close_reason_for(e)),
    }
}

pub(super) fn peer_for(
    id: u64,
    verified: &VerifiedToken,
    outbox: Outbox,
    control: Recipient<Kick>,
) -> Peer {
    Peer {
        session_id: id,
        access: Arc::new(Access::from_grant(&verified.grant)),
        layer: verified.grant.layer.clone(),
        revocation_ids: verified.revocation_ids.clone(),
        outbox,
        control,
        rights: Arc::from(
            serde_json::value::to_raw_value(&serde_json::json!({
                "permissions": verified.grant.permissions,
                "collaboration_permissions": verified.grant.collaboration_permissions,
            }))
            .expect("rights serialise"),
        ),
    }
}

/// The close reason for a refused token. Database and internal errors are logged, never shown
/// to the client.
pub(super) fn close_reason_for(e: auth::Error) -> CloseReason {
    let code = match e {
        auth::Error::Expired => CloseCode::TokenExpired,
        auth::Error::Revoked => CloseCode::TokenRevoked,
        auth::Error::DocumentReplaced => CloseCode::DocumentDeleted,
        auth::Error::Database(_) | auth::Error::Internal(_) => {
            tracing::warn!(error = %e, "could not verify a session token");
            return CloseReason::new(
                CloseCode::Reconnect,
                "the server could not check the token right now; reconnect",
            );
        }
        auth::Error::WrongDocument => {
            return CloseReason::new(
                CloseCode::Unauthorized,
                "wrong_document: the token is for another document than `?document_id=`",
            )
        }
        _ => CloseCode::Unauthorized,
    };
    CloseReason::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverification_closes_for_token_verdicts_and_retries_on_database_trouble() {
        assert!(reverify_verdict(1, Ok(())).is_none());
        let outage = sea_orm::DbErr::Custom("connection refused".into());
        assert!(
            reverify_verdict(1, Err(auth::Error::Database(outage))).is_none(),
            "a database outage keeps the session"
        );
        assert!(reverify_verdict(1, Err(auth::Error::Internal("pool".into()))).is_none());
        for (error, code) in [
            (auth::Error::Expired, CloseCode::TokenExpired),
            (auth::Error::Revoked, CloseCode::TokenRevoked),
            (auth::Error::BadSignature, CloseCode::Unauthorized),
        ] {
            assert_eq!(reverify_verdict(1, Err(error)).map(|r| r.code), Some(code));
        }
    }

    #[test]
    fn a_refused_hello_never_shows_database_error_text() {
        let reason = close_reason_for(auth::Error::Database(sea_orm::DbErr::Custom(
            "password authentication failed for user quire".into(),
        )));
        assert_eq!(reason.code, CloseCode::Reconnect);
        assert!(!reason.text().contains("password"), "{}", reason.text());
        let reason = close_reason_for(auth::Error::WrongDocument);
        assert_eq!(reason.code, CloseCode::Unauthorized);
        assert!(reason.text().starts_with("unauthorized: wrong_document"));
    }
}
