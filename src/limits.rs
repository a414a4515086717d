//! The length limits of the identity strings a token or a backend request carries (user id,
//! user name, layer, group), in one place.
//!
//! The database columns that hold them are `VARCHAR` on PostgreSQL, and a value too long for its
//! column fails the whole transaction it is written in. Every entry point — minting over HTTP,
//! `quire token mint`, the REST changes route, and the document actor before a commit — checks
//! these limits with [`check_identity`], so a value the schema cannot hold is refused with the
//! field named, before it reaches the database, on SQLite exactly as on PostgreSQL.

/// Longest layer name, in bytes (`records.layer` is `VARCHAR(128)`).
pub const MAX_LAYER_LEN: usize = 128;
/// Longest user id, user name or group, in bytes (their columns are `VARCHAR(256)`).
pub const MAX_NAME_LEN: usize = 256;

/// A value that breaks a limit: the field and a message a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks one name: at most `max` bytes, no control characters, and not blank unless
/// `allow_empty` (the default layer is `""`).
pub fn check_name(
    field: &'static str,
    value: &str,
    allow_empty: bool,
    max: usize,
) -> Result<(), Violation> {
    let min = if allow_empty { 0 } else { 1 };
    if (!allow_empty && value.trim().is_empty()) || value.len() > max {
        return Err(Violation {
            field,
            message: format!("`{field}` must be {min} to {max} bytes"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(Violation {
            field,
            message: format!("`{field}` must not contain control characters"),
        });
    }
    Ok(())
}

/// Checks the identity a change is made under: the one validator behind the HTTP routes, the
/// CLI and the document actor.
pub fn check_identity(
    user_id: &str,
    user_name: Option<&str>,
    layer: &str,
    group: Option<&str>,
) -> Result<(), Violation> {
    check_name("user_id", user_id, false, MAX_NAME_LEN)?;
    if let Some(name) = user_name {
        check_name("user_name", name, false, MAX_NAME_LEN)?;
    }
    check_name("layer", layer, true, MAX_LAYER_LEN)?;
    if let Some(group) = group {
        check_name("default_group", group, false, MAX_NAME_LEN)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_longer_than_its_column_is_refused_with_the_field_named() {
        let long = "l".repeat(MAX_LAYER_LEN + 1);
        let err = check_identity("u1", None, &long, None).unwrap_err();
        assert_eq!(err.field, "layer");
        assert!(check_identity("u1", None, &"l".repeat(MAX_LAYER_LEN), None).is_ok());
    }

    #[test]
    fn the_default_layer_is_empty_but_a_user_id_may_not_be() {
        assert!(check_identity("u1", None, "", None).is_ok());
        assert_eq!(
            check_identity(" ", None, "", None).unwrap_err().field,
            "user_id"
        );
    }

    #[test]
    fn user_names_are_bounded_and_free_of_control_characters() {
        let long = "n".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            check_identity("u1", Some(&long), "", None)
                .unwrap_err()
                .field,
            "user_name"
        );
        assert_eq!(
            check_identity("u1", Some("a\nb"), "", None)
                .unwrap_err()
                .field,
            "user_name"
        );
        assert_eq!(
            check_identity("u1", None, "", Some(&long))
                .unwrap_err()
                .field,
            "default_group"
        );
    }
}
