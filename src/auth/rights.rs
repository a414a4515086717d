//! The rights vocabulary of session tokens.
//!
//! Quire speaks Nutrient Document Engine's vocabulary so backends written for it port over:
//! document-level `permissions` and record-level `collaboration_permissions` of the form
//! `<content-type>:<action>:<scope>`. This module only parses and prints that vocabulary; deciding
//! which of them a presented token actually grants is `tokens::verify`'s job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A document-level permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// Open the document: fetch its bytes for viewing and read its records.
    ReadDocument,
    /// Change records (annotations, comments, form values, bookmarks).
    Write,
    /// Download the original PDF as a file (`?download=true` on the client document route).
    Download,
}

impl Permission {
    /// Every permission, in a stable order; `all` expands to this.
    pub const ALL: [Permission; 3] = [
        Permission::ReadDocument,
        Permission::Write,
        Permission::Download,
    ];

    /// The wire name, as used in requests and in token facts.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadDocument => "read-document",
            Permission::Write => "write",
            Permission::Download => "download",
        }
    }

    /// Parses a list of permission names, expanding `all`; rejects unknown names with the name.
    pub fn parse_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<Permission>, String> {
        let mut out = Vec::new();
        for name in names {
            match name.as_ref() {
                "all" => out.extend(Permission::ALL),
                other => out.push(other.parse()?),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!("unknown permission `{s}` (expected read-document, write, download or all)")
            })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of record a collaboration permission is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContentType {
    Annotations,
    Comments,
    FormFields,
}

/// What a collaboration permission lets the user do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// See records of this type.
    View,
    /// Create records, and modify existing ones within the scope.
    Edit,
    /// Delete records within the scope.
    Delete,
    /// Fill in form-field values (form fields only).
    Fill,
    /// Reply in comment threads within the scope (comments only).
    Reply,
}

/// Whose records a collaboration permission applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Every record.
    All,
    /// Records created by the same group as the user's `default_group`.
    Group,
    /// Records created by the user.
    Own,
}

/// One `<content-type>:<action>:<scope>` collaboration permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollabPermission {
    pub content: ContentType,
    pub action: Action,
    pub scope: Scope,
}

impl ContentType {
    const ALL: [ContentType; 3] = [
        ContentType::Annotations,
        ContentType::Comments,
        ContentType::FormFields,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ContentType::Annotations => "annotations",
            ContentType::Comments => "comments",
            ContentType::FormFields => "form-fields",
        }
    }

    /// The actions that mean something for this content type.
    fn actions(self) -> &'static [Action] {
        match self {
            ContentType::Annotations => &[Action::View, Action::Edit, Action::Delete],
            ContentType::Comments => &[Action::View, Action::Edit, Action::Delete, Action::Reply],
            ContentType::FormFields => &[Action::View, Action::Edit, Action::Delete, Action::Fill],
        }
    }
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::Fill => "fill",
            Action::Reply => "reply",
        }
    }
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::All => "all",
            Scope::Group => "group",
            Scope::Own => "self",
        }
    }
}

impl CollabPermission {
    /// Full access to every record: what `write` means when a token names no collaboration
    /// permissions. Tokens spell this set out in full so an attenuation can narrow it.
    pub fn full_access() -> Vec<CollabPermission> {
        ContentType::ALL
            .into_iter()
            .flat_map(|content| {
                content
                    .actions()
                    .iter()
                    .map(move |&action| CollabPermission {
                        content,
                        action,
                        scope: Scope::All,
                    })
            })
            .collect()
    }

    /// Seeing every record: what a session without `write` and without explicit collaboration
    /// permissions gets.
    pub fn view_all() -> Vec<CollabPermission> {
        ContentType::ALL
            .into_iter()
            .map(|content| CollabPermission {
                content,
                action: Action::View,
                scope: Scope::All,
            })
            .collect()
    }

    /// Parses a list, rejecting the first unknown entry with a message naming it.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<CollabPermission>, String> {
        let mut out = items
            .iter()
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<CollabPermission>, String>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}

impl FromStr for CollabPermission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "unknown collaboration permission `{s}` (expected <content-type>:<action>:<scope>, \
                 content types annotations, comments, form-fields; actions view, edit, delete, \
                 fill (form-fields), reply (comments); scopes all, group, self)"
            )
        };
        let mut parts = s.split(':');
        let (Some(c), Some(a), Some(sc), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let content = ContentType::ALL
            .into_iter()
            .find(|x| x.as_str() == c)
            .ok_or_else(bad)?;
        let action = *content
            .actions()
            .iter()
            .find(|x| x.as_str() == a)
            .ok_or_else(bad)?;
        let scope = [Scope::All, Scope::Group, Scope::Own]
            .into_iter()
            .find(|x| x.as_str() == sc)
            .ok_or_else(bad)?;
        Ok(CollabPermission {
            content,
            action,
            scope,
        })
    }
}

impl fmt::Display for CollabPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.content.as_str(),
            self.action.as_str(),
            self.scope.as_str()
        )
    }
}

impl Serialize for CollabPermission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collaboration_permissions_round_trip() {
        for p in CollabPermission::full_access() {
            assert_eq!(p.to_string().parse::<CollabPermission>().unwrap(), p);
        }
        let p: CollabPermission = "annotations:edit:self".parse().unwrap();
        assert_eq!(p.scope, Scope::Own);
    }

    #[test]
    fn unknown_rights_are_rejected_with_their_name() {
        assert!(Permission::parse_list(&["read", "write"])
            .unwrap_err()
            .contains("`read`"));
        assert!("annotations:fill:all".parse::<CollabPermission>().is_err());
        assert!("comments:reply".parse::<CollabPermission>().is_err());
        assert!("comments:reply:all:x".parse::<CollabPermission>().is_err());
    }

    #[test]
    fn all_expands_to_every_permission() {
        assert_eq!(
            Permission::parse_list(&["all", "write"]).unwrap(),
            Permission::ALL.to_vec()
        );
    }
}
