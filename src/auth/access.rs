//! A session's effective rights in a form checked in constant time per change.
//!
//! The biscuit authorizer runs once per right when a session joins (`tokens::verify`); this
//! turns the result into a table of allowed scopes per (content type, action).

use super::rights::{Action, CollabPermission, ContentType, Permission, Scope};
use super::tokens::Grant;
use crate::wire::common::Kind;

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

    /// Whether the session may see every record, whoever created it: the view right at the
    /// `all` scope on every content type.
    pub fn views_everything(&self) -> bool {
        self.scopes
            .iter()
            .all(|actions| actions[action_index(Action::View)] & ALL != 0)
    }

    /// Whether the session holds `action` on `content` at any scope (e.g. to create a record,
    /// which will be its own).
    pub fn allows_any(&self, content: ContentType, action: Action) -> bool {
        self.scopes[content_index(content)][action_index(action)] != 0
    }
}

#[cfg(test)]
mod tests {
    //! The access rules, one per test: `all` covers every record, `self` the user's own, `group`
    //! those of the user's group (never a record without a group), and nothing else is allowed.

    use std::time::SystemTime;

    use super::*;
    use crate::auth::tokens::DocumentRef;

    fn access(collab: &[&str], permissions: &[Permission], group: Option<&str>) -> Access {
        Access::from_grant(&Grant {
            document: DocumentRef::Managed("d".into()),
            user_id: "me".into(),
            user_name: None,
            layer: "".into(),
            default_group: group.map(str::to_string),
            permissions: permissions.to_vec(),
            collaboration_permissions: collab.iter().map(|c| c.parse().unwrap()).collect(),
            expires_at: SystemTime::now(),
            document_created: None,
        })
    }

    const A: ContentType = ContentType::Annotations;
    const C: ContentType = ContentType::Comments;

    #[test]
    fn views_everything_needs_view_all_on_every_content_type() {
        let all = [
            "annotations:view:all",
            "comments:view:all",
            "form-fields:view:all",
        ];
        assert!(access(&all, &[], None).views_everything());
        assert!(Access::backend("api".into(), None).views_everything());
        for left_out in 0..all.len() {
            let mut some: Vec<&str> = all.to_vec();
            some.remove(left_out);
            assert!(!access(&some, &[], None).views_everything(), "{some:?}");
            some.push(
                [
                    "annotations:view:self",
                    "comments:view:group",
                    "form-fields:view:self",
                ][left_out],
            );
            assert!(!access(&some, &[], None).views_everything(), "{some:?}");
        }
        let edit_all = [
            "annotations:edit:all",
            "comments:view:all",
            "form-fields:view:all",
        ];
        assert!(!access(&edit_all, &[], None).views_everything());
    }

    #[test]
    fn all_scope_covers_every_record() {
        let a = access(&["annotations:edit:all"], &[], None);
        assert!(a.allows(A, Action::Edit, "someone-else", None));
        assert!(a.allows(A, Action::Edit, "me", Some("g")));
    }

    #[test]
    fn self_scope_covers_only_the_users_own_records() {
        let a = access(&["annotations:delete:self"], &[], Some("g"));
        assert!(a.allows(A, Action::Delete, "me", None));
        assert!(!a.allows(A, Action::Delete, "someone-else", Some("g")));
    }

    #[test]
    fn group_scope_covers_records_of_the_users_group_only() {
        let a = access(&["comments:edit:group"], &[], Some("g"));
        assert!(a.allows(C, Action::Edit, "someone-else", Some("g")));
        assert!(!a.allows(C, Action::Edit, "someone-else", Some("other")));
        assert!(!a.allows(C, Action::Edit, "someone-else", None));
    }

    #[test]
    fn a_user_without_a_group_matches_no_group_record() {
        let a = access(&["comments:edit:group"], &[], None);
        assert!(!a.allows(C, Action::Edit, "someone-else", None));
        assert!(!a.allows(C, Action::Edit, "someone-else", Some("g")));
    }

    #[test]
    fn a_right_on_one_content_type_or_action_grants_no_other() {
        let a = access(&["annotations:edit:all"], &[], None);
        assert!(!a.allows(C, Action::Edit, "me", None));
        assert!(!a.allows(A, Action::Delete, "me", None));
        assert!(!a.allows(A, Action::View, "me", None));
        assert!(!a.allows_any(ContentType::FormFields, Action::Fill));
    }

    #[test]
    fn viewing_follows_the_content_type_of_the_kind_and_bookmarks_follow_annotations() {
        let a = access(&["annotations:view:self", "comments:view:all"], &[], None);
        assert!(a.can_view(Kind::Annotation, "me", None));
        assert!(a.can_view(Kind::Bookmark, "me", None));
        assert!(!a.can_view(Kind::Bookmark, "someone-else", None));
        assert!(a.can_view(Kind::Comment, "someone-else", None));
        assert!(!a.can_view(Kind::FormField, "me", None));
    }

    #[test]
    fn creating_needs_the_action_at_any_scope() {
        let a = access(&["annotations:edit:self"], &[], None);
        assert!(a.allows_any(A, Action::Edit));
        assert!(!a.allows_any(C, Action::Reply));
    }

    #[test]
    fn write_is_the_document_permission_and_the_backend_may_do_everything() {
        assert!(access(&[], &[Permission::Write], None).write);
        assert!(!access(&["annotations:edit:all"], &[Permission::ReadDocument], None).write);
        let b = Access::backend("api".into(), None);
        assert!(b.write && b.allows(C, Action::Delete, "anyone", Some("any")));
    }
}
