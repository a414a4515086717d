//! A session's effective rights in a form checked in constant time per change.
//!
//! The biscuit authorizer runs once per right when a session joins (`tokens::verify`); this
//! turns the result into a table of allowed scopes per (content type, action).

use super::rights::{Action, CollabPermission, ContentType, Permission, Scope};
use super::tokens::Grant;
use crate::protocol::Kind;

const ACTIONS: usize = 5;
const CONTENTS: usize = 3;

/// Bit per scope.
const OWN: u8 = 1;
const GROUP: u8 = 2;
const ALL: u8 = 4;

/// What one session may do, per record.
#[derive(Debug, Clone)]
pub struct Access {
    pub user_id: String,
    pub user_name: Option<String>,
    pub group: Option<String>,
    pub write: bool,
    scopes: [[u8; ACTIONS]; CONTENTS],
}

fn content_index(c: ContentType) -> usize {
    match c {
        ContentType::Annotations => 0,
        ContentType::Comments => 1,
        ContentType::FormFields => 2,
    }
}

fn action_index(a: Action) -> usize {
    match a {
        Action::View => 0,
        Action::Edit => 1,
        Action::Delete => 2,
        Action::Fill => 3,
        Action::Reply => 4,
    }
}

fn scope_bit(s: Scope) -> u8 {
    match s {
        Scope::Own => OWN,
        Scope::Group => GROUP,
        Scope::All => ALL,
    }
}

/// Which collaboration content type governs a record kind. Bookmarks follow annotations.
pub fn content_of(kind: Kind) -> ContentType {
    match kind {
        Kind::Annotation | Kind::Bookmark => ContentType::Annotations,
        Kind::Comment => ContentType::Comments,
        Kind::FormField => ContentType::FormFields,
    }
}

impl Access {
    /// The rights of a verified token.
    pub fn from_grant(grant: &Grant) -> Access {
        let mut scopes = [[0u8; ACTIONS]; CONTENTS];
        for CollabPermission {
            content,
            action,
            scope,
        } in &grant.collaboration_permissions
        {
            scopes[content_index(*content)][action_index(*action)] |= scope_bit(*scope);
        }
        Access {
            user_id: grant.user_id.clone(),
            user_name: grant.user_name.clone(),
            group: grant.default_group.clone(),
            write: grant.permissions.contains(&Permission::Write),
            scopes,
        }
    }

    /// Full access, for changes made by the application's backend through the REST API.
    pub fn backend(user_id: String, user_name: Option<String>) -> Access {
        Access {
            user_id,
            user_name,
            group: None,
            write: true,
            scopes: [[ALL; ACTIONS]; CONTENTS],
        }
    }

    /// Whether `action` on `content` is allowed for a record created by `creator` in `group`.
    pub fn allows(
        &self,
        content: ContentType,
        action: Action,
        creator: &str,
        group: Option<&str>,
    ) -> bool {
        let bits = self.scopes[content_index(content)][action_index(action)];
        bits & ALL != 0
            || (bits & OWN != 0 && creator == self.user_id)
            || (bits & GROUP != 0 && group.is_some() && group == self.group.as_deref())
    }

    /// Whether the session may see a record.
    pub fn can_view(&self, kind: Kind, creator: &str, group: Option<&str>) -> bool {
        self.allows(content_of(kind), Action::View, creator, group)
    }

    /// Whether the session holds `action` on `content` at any scope (e.g. to create a record,
    /// which will be its own).
    pub fn allows_any(&self, content: ContentType, action: Action) -> bool {
        self.scopes[content_index(content)][action_index(action)] != 0
    }
}
