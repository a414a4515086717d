//! Revoked token ids. Biscuit gives each block a revocation id; a token is revoked when any of its
//! blocks' ids is in this table, so revoking a minted token's id also revokes every token
//! attenuated from it.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use crate::entities::revocation;
use crate::time_util::now_micros;

use super::Error;

/// Records `id` as revoked. Revoking twice is not an error.
pub async fn revoke(db: &DatabaseConnection, id: &str) -> Result<(), Error> {
    revocation::Entity::insert(revocation::ActiveModel {
        revocation_id: Set(id.to_string()),
        revoked_at: Set(now_micros()),
    })
    .on_conflict(
        OnConflict::column(revocation::Column::RevocationId)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(db)
    .await?;
    Ok(())
}

/// Whether any of `ids` has been revoked.
pub async fn any_revoked(db: &DatabaseConnection, ids: &[String]) -> Result<bool, Error> {
    let n = revocation::Entity::find()
        .filter(revocation::Column::RevocationId.is_in(ids.iter().cloned()))
        .count(db)
        .await?;
    Ok(n > 0)
}
