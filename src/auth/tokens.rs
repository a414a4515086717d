//! Biscuit session tokens: minting, verification, offline attenuation and inspection.
//!
//! A token's authority block states who it is for and what it grants, as facts in the vocabulary
//! of [`super::rights`]:
//!
//! ```text
//! document("d1");                      // or app_document("a1") for app-provided documents
//! user("u42"); user_name("Ada"); group("reviewers");
//! layer("d1", "");
//! right("d1", "read-document"); right("d1", "write");
//! collab("d1", "annotations:edit:self");
//! document_created("d1", 1764064800123456);   // the document's created_at, in microseconds
//! expires(2026-11-25T10:00:00Z);
//! check if time($t), $t < 2026-11-25T10:00:00Z;
//! ```
//!
//! Verification has two halves. [`read`] runs no datalog: it holds the token to the bounds of
//! [`super::shape`] (size, blocks, attenuation blocks of bounded checks only) and verifies the
//! signature chain, which yields the revocation ids. [`evaluate`] then runs the authorizer once
//! per candidate right with `resource(<doc>)`, `time(<now>)` and `right_op(<permission>)` or
//! `collab_op(<collaboration permission>)` in scope. A block appended later can only add checks,
//! so an attenuated token can never grant more than its parent: biscuit's guarantee, and ours,
//! since a block stating facts or rules is refused.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{date, fact, int, string};
use biscuit_auth::error::{FailedCheck, Format, Logic, Token as TokenError};
use biscuit_auth::{
    AuthorizerBuilder, AuthorizerLimits, Biscuit, BlockBuilder, PublicKey, UnverifiedBiscuit,
};
use serde::Serialize;

use super::rights::{CollabPermission, Permission};
pub use super::root_key::RootKey;
use super::shape::{self, TokenLimits};
use super::Error;

/// The longest lifetime any token may be given, whatever the configuration: beyond it a
/// lifetime is a mistake (and far enough beyond it, not a representable time).
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// `now + lifetime`, or `None` when the lifetime exceeds [`MAX_LIFETIME`].
pub fn expiry_after(now: SystemTime, lifetime: Duration) -> Option<SystemTime> {
    if lifetime > MAX_LIFETIME {
        return None;
    }
    now.checked_add(lifetime)
}

/// Which document a token is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum DocumentRef {
    /// A document whose bytes Quire stores.
    Managed(String),
    /// A document the application keeps itself; Quire only authorises and meters the session.
    App(String),
}

impl DocumentRef {
    /// The identifier, whichever kind it is.
    pub fn id(&self) -> &str {
        match self {
            DocumentRef::Managed(id) | DocumentRef::App(id) => id,
        }
    }
}

/// Everything a token states about its holder. Used both to mint a token and, after
/// verification, as the holder's effective grant.
#[derive(Debug, Clone, Serialize)]
pub struct Grant {
    pub document: DocumentRef,
    pub user_id: String,
    pub user_name: Option<String>,
    pub layer: String,
    pub default_group: Option<String>,
    pub permissions: Vec<Permission>,
    pub collaboration_permissions: Vec<CollabPermission>,
    /// When the authority block says the token expires. Attenuations may make it shorter:
    /// [`VerifiedToken::expires_at`] is the effective expiry.
    #[serde(skip)]
    pub expires_at: SystemTime,
    /// For a managed document, the `created_at` (microseconds) of the document the token was
    /// minted for. Document ids can be reused after a delete; a token bound to the earlier
    /// document is refused for the later one. `None` for app-provided documents and for tokens
    /// minted by Quire versions that did not bind them.
    #[serde(skip)]
    pub document_created: Option<i64>,
}

/// A freshly minted token.
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    /// Revoking this id revokes the token and every token attenuated from it.
    pub revocation_id: String,
}

/// A token that passed verification, with what it grants right now.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub grant: Grant,
    /// When the token stops being valid: the authority's expiry or an earlier one added by an
    /// attenuation block in the usual `check if time($t), $t < <date>` form. Live sessions
    /// check it on every change (and re-verify the whole token periodically for other forms).
    pub expires_at: SystemTime,
    /// One revocation id per block; revoking any of them revokes this token.
    pub revocation_ids: Vec<String>,
}

impl VerifiedToken {
    /// The id of the authority block: the one minted by Quire, used to meter usage.
    pub fn root_revocation_id(&self) -> &str {
        &self.revocation_ids[0]
    }

    /// Whether the token grants `permission`.
    pub fn has(&self, permission: Permission) -> bool {
        self.grant.permissions.contains(&permission)
    }
}

/// Mints a token for `grant`. Without explicit collaboration permissions, `write` is spelled
/// out as full access and a read-only grant as viewing everything, so an attenuation can narrow
/// either.
pub fn mint(root: &RootKey, grant: &Grant) -> Result<Minted, Error> {
    let doc = grant.document.id();
    let mut b = Biscuit::builder();
    let mut add = |f| -> Result<(), Error> {
        b = std::mem::take(&mut b).fact(f).map_err(internal)?;
        Ok(())
    };
    match &grant.document {
        DocumentRef::Managed(id) => add(fact("document", &[string(id)]))?,
        DocumentRef::App(id) => add(fact("app_document", &[string(id)]))?,
    }
    add(fact("user", &[string(&grant.user_id)]))?;
    if let Some(name) = &grant.user_name {
        add(fact("user_name", &[string(name)]))?;
    }
    if let Some(group) = &grant.default_group {
        add(fact("group", &[string(group)]))?;
    }
    add(fact("layer", &[string(doc), string(&grant.layer)]))?;
    for p in &grant.permissions {
        add(fact("right", &[string(doc), string(p.as_str())]))?;
    }
    // Without explicit collaboration permissions, `write` means full access to every record
    // and a read-only session still sees every record.
    let collab = match (
        grant.collaboration_permissions.is_empty(),
        grant.permissions.contains(&Permission::Write),
    ) {
        (true, true) => CollabPermission::full_access(),
        (true, false) => CollabPermission::view_all(),
        (false, _) => grant.collaboration_permissions.clone(),
    };
    for c in &collab {
        add(fact("collab", &[string(doc), string(&c.to_string())]))?;
    }
    if let Some(created) = grant.document_created {
        add(fact("document_created", &[string(doc), int(created)]))?;
    }
    add(fact("expires", &[date(&grant.expires_at)]))?;
    let mut params = HashMap::new();
    params.insert("exp".to_string(), date(&grant.expires_at));
    b = b
        .code_with_params("check if time($t), $t < {exp};", params, HashMap::new())
        .map_err(internal)?;
    let token = b.build(root.keypair()).map_err(internal)?;
    Ok(Minted {
        revocation_id: hex::encode(&token.revocation_identifiers()[0]),
        token: token.to_base64().map_err(internal)?,
    })
}

/// What a holder may append to narrow a token offline (`quire token attenuate`).
#[derive(Debug, Clone, Default)]
pub struct Narrowing {
    /// Keep only these document permissions.
    pub permissions: Option<Vec<Permission>>,
    /// Keep only these collaboration permissions.
    pub collaboration_permissions: Option<Vec<CollabPermission>>,
    /// Expire no later than this.
    pub expires_at: Option<SystemTime>,
    /// Be valid only if the token's layer is this one.
    pub layer: Option<String>,
}

/// The datalog of the block that [`attenuate`] appends; public so the README and other biscuit
/// implementations can produce the same block.
pub fn narrowing_block(n: &Narrowing) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("strings always serialise");
    let mut code = String::new();
    if let Some(perms) = &n.permissions {
        let set: Vec<String> = perms.iter().map(|p| quote(p.as_str())).collect();
        code += &format!(
            "check if right_op($r), [{}].contains($r) or collab_op($c);\n",
            set.join(", ")
        );
    }
    if let Some(collab) = &n.collaboration_permissions {
        let set: Vec<String> = collab.iter().map(|c| quote(&c.to_string())).collect();
        code += &format!(
            "check if collab_op($c), [{}].contains($c) or right_op($r);\n",
            set.join(", ")
        );
    }
    if let Some(at) = n.expires_at {
        code += &format!("check if time($t), $t < {};\n", rfc3339(at));
    }
    if let Some(layer) = &n.layer {
        code += &format!("check if layer($d, {});\n", quote(layer));
    }
    code
}

/// Appends a narrowing block to `token` without needing any key: anyone holding a token can do
/// this and hand the result on.
pub fn attenuate(token: &str, n: &Narrowing) -> Result<String, Error> {
    let parsed = UnverifiedBiscuit::from_base64(token.trim()).map_err(classify_format)?;
    let block = BlockBuilder::new()
        .code(narrowing_block(n))
        .map_err(internal)?;
    parsed
        .append(block)
        .map_err(internal)?
        .to_base64()
        .map_err(internal)
}

/// A human-readable dump of every block; verifies the signature chain when `public` is given.
pub fn inspect(token: &str, public: Option<PublicKey>) -> Result<String, Error> {
    let token = token.trim();
    match public {
        Some(key) => {
            let t = Biscuit::from_base64(token, key).map_err(classify_format)?;
            Ok(format!("signature: valid\n{}", t.print()))
        }
        None => {
            let t = UnverifiedBiscuit::from_base64(token).map_err(classify_format)?;
            let mut out = String::from("signature: not checked (no public key given)\n");
            for i in 0..t.block_count() {
                let source = t.print_block_source(i).map_err(internal)?;
                out += &format!("block {i}:\n{source}\n");
            }
            Ok(out)
        }
    }
}

/// A token whose structure is within [`shape`]'s bounds and whose signature chain verifies, not
/// yet evaluated: what [`read`] returns and [`evaluate`] takes. Its revocation ids are known
/// without any datalog, so a revoked token is refused before evaluation.
pub struct Checked {
    biscuit: Biscuit,
    /// One revocation id per block, hex-encoded.
    pub revocation_ids: Vec<String>,
}

/// The first half of verification, with no datalog: refuses a token outside `limits` or the
/// structural bounds of [`shape`], then verifies the signature chain against `public`.
pub fn read(public: PublicKey, token: &str, limits: &TokenLimits) -> Result<Checked, Error> {
    let bytes = shape::check(token.trim(), limits)?;
    let biscuit = Biscuit::from(&bytes, public).map_err(classify_format)?;
    let revocation_ids = biscuit
        .revocation_identifiers()
        .iter()
        .map(hex::encode)
        .collect();
    Ok(Checked {
        biscuit,
        revocation_ids,
    })
}

/// Verifies `token` against the root public key at time `now` and computes its effective grant,
/// within the default limits. Revocation is not checked here: it needs the database (see
/// `auth::Authenticator`, which also runs this off the async workers).
pub fn verify(public: PublicKey, token: &str, now: SystemTime) -> Result<VerifiedToken, Error> {
    evaluate(read(public, token, &TokenLimits::default())?, now)
}

/// The second half of verification: runs the authorizer (once per right the authority block
/// states, or once for a token with no attenuation) at time `now`.
pub fn evaluate(checked: Checked, now: SystemTime) -> Result<VerifiedToken, Error> {
    let Checked {
        biscuit,
        revocation_ids,
    } = checked;
    let claims = read_claims(&biscuit)?;
    let doc = claims.document.id().to_string();

    let (permissions, collaboration_permissions) = if biscuit.block_count() == 1 {
        // Only Quire's own authority block: its one check is the expiry, and every right it
        // states is granted. One run instead of one per right.
        if !check_op(&biscuit, &doc, now, None)? {
            return Err(Error::RightMissing(
                "the token grants no rights on its document".into(),
            ));
        }
        (
            claims.permissions.clone(),
            claims.collaboration_permissions.clone(),
        )
    } else {
        let mut permissions = Vec::new();
        for p in &claims.permissions {
            if check_op(&biscuit, &doc, now, Some(("right_op", p.as_str())))? {
                permissions.push(*p);
            }
        }
        let mut collaboration_permissions = Vec::new();
        for c in &claims.collaboration_permissions {
            if check_op(&biscuit, &doc, now, Some(("collab_op", &c.to_string())))? {
                collaboration_permissions.push(*c);
            }
        }
        (permissions, collaboration_permissions)
    };
    if permissions.is_empty() && collaboration_permissions.is_empty() {
        // Nothing is granted. Say why if a check that is not about a single right failed.
        return Err(Error::RightMissing(
            "the token grants no rights on its document".into(),
        ));
    }
    let expires_at = (1..biscuit.block_count())
        .filter_map(|i| biscuit.print_block_source(i).ok())
        .flat_map(|source| expiries_in(&source))
        .fold(claims.expires_at, SystemTime::min);
    Ok(VerifiedToken {
        expires_at,
        grant: Grant {
            permissions,
            collaboration_permissions,
            ..claims
        },
        revocation_ids,
    })
}

fn limits() -> AuthorizerLimits {
    // The default 1 ms budget is wall-clock time: too tight for unoptimised builds and for a
    // loaded server, where a legitimate token would fail as if malicious. Fact and iteration
    // limits, which bound what an attenuation block can make the evaluator do, stay at their
    // defaults.
    AuthorizerLimits {
        max_time: Duration::from_millis(500),
        ..AuthorizerLimits::default()
    }
}

/// Runs one authorizer for one operation (or, with `None`, just the token's checks). `Ok(false)`
/// means that right is not granted; errors that void the whole token (expired, wrong document)
/// are returned as such.
fn check_op(
    token: &Biscuit,
    doc: &str,
    now: SystemTime,
    op: Option<(&str, &str)>,
) -> Result<bool, Error> {
    let builder = AuthorizerBuilder::new()
        .set_limits(limits())
        .fact(fact("resource", &[string(doc)]))
        .and_then(|b| b.fact(fact("time", &[date(&now)])));
    // With an operation, allow only if the authority grants it; without, just run the checks.
    let builder = match op {
        Some((kind, op)) => builder
            .and_then(|b| b.fact(fact(kind, &[string(op)])))
            .and_then(|b| b.policy("allow if resource($d), right_op($r), right($d, $r)"))
            .and_then(|b| b.policy("allow if resource($d), collab_op($c), collab($d, $c)")),
        None => builder.and_then(|b| b.policy("allow if true")),
    };
    let mut authorizer = builder.and_then(|b| b.build(token)).map_err(internal)?;
    match authorizer.authorize() {
        Ok(_) => Ok(true),
        Err(TokenError::FailedLogic(Logic::Unauthorized { checks, .. }))
        | Err(TokenError::FailedLogic(Logic::NoMatchingPolicy { checks })) => {
            for check in &checks {
                let rule = match check {
                    FailedCheck::Block(b) => &b.rule,
                    FailedCheck::Authorizer(a) => &a.rule,
                };
                if rule.contains("time(") {
                    return Err(Error::Expired);
                }
                if rule.contains("resource(") {
                    return Err(Error::WrongDocument);
                }
            }
            Ok(false)
        }
        Err(TokenError::RunLimit(_)) => Err(Error::Malformed(
            "the token's datalog exceeds the evaluation limits".into(),
        )),
        Err(e) => Err(Error::Malformed(format!(
            "the token cannot be evaluated: {e}"
        ))),
    }
}

/// Reads the authority block's facts into a `Grant` (before any attenuation is applied).
fn read_claims(token: &Biscuit) -> Result<Grant, Error> {
    let mut authorizer = AuthorizerBuilder::new()
        .set_limits(limits())
        .build(token)
        .map_err(|e| Error::Malformed(format!("the token cannot be evaluated: {e}")))?;
    let mut strings = |rule: &str| -> Result<Vec<String>, Error> {
        let rows: Vec<(String,)> = authorizer
            .query(rule)
            .map_err(|e| Error::Malformed(e.to_string()))?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    };
    let managed = strings("data($d) <- document($d)")?;
    let app = strings("data($d) <- app_document($d)")?;
    let document = match (managed.as_slice(), app.as_slice()) {
        ([d], []) => DocumentRef::Managed(d.clone()),
        ([], [d]) => DocumentRef::App(d.clone()),
        _ => {
            return Err(Error::Malformed(
                "the token must name exactly one document".into(),
            ))
        }
    };
    let one = |v: Vec<String>, what: &str| -> Result<String, Error> {
        match <[String; 1]>::try_from(v) {
            Ok([s]) => Ok(s),
            Err(_) => Err(Error::Malformed(format!(
                "the token must name exactly one {what}"
            ))),
        }
    };
    let user_id = one(strings("data($u) <- user($u)")?, "user")?;
    let user_name = strings("data($u) <- user_name($u)")?.into_iter().next();
    let default_group = strings("data($g) <- group($g)")?.into_iter().next();
    let layer = one(
        strings(&format!(
            "data($l) <- layer({}, $l)",
            serde_json::json!(document.id())
        ))?,
        "layer",
    )?;
    // Datalog returns facts in no particular order; sort so every listing is stable.
    let mut permissions: Vec<Permission> = strings(&format!(
        "data($r) <- right({}, $r)",
        serde_json::json!(document.id())
    ))?
    .iter()
    .filter_map(|r| r.parse().ok())
    .collect();
    permissions.sort();
    let mut collaboration_permissions: Vec<CollabPermission> = strings(&format!(
        "data($c) <- collab({}, $c)",
        serde_json::json!(document.id())
    ))?
    .iter()
    .filter_map(|c| c.parse().ok())
    .collect();
    collaboration_permissions.sort();
    let expiries: Vec<(SystemTime,)> = authorizer
        .query("data($t) <- expires($t)")
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let [(expires_at,)] = expiries.as_slice() else {
        return Err(Error::Malformed(
            "the token must state exactly one expiry".into(),
        ));
    };
    let created: Vec<(i64,)> = authorizer
        .query(
            format!(
                "data($c) <- document_created({}, $c)",
                serde_json::json!(document.id())
            )
            .as_str(),
        )
        .map_err(|e| Error::Malformed(e.to_string()))?;
    let document_created = match (&document, created.as_slice()) {
        (DocumentRef::Managed(_), [(c,)]) => Some(*c),
        (_, []) => None,
        _ => {
            return Err(Error::Malformed(
                "the token must state at most one document incarnation".into(),
            ))
        }
    };
    Ok(Grant {
        document,
        user_id,
        user_name,
        layer,
        default_group,
        permissions,
        collaboration_permissions,
        expires_at: *expires_at,
        document_created,
    })
}

/// Maps a parse or signature failure to the reason a client is told.
fn classify_format(e: TokenError) -> Error {
    match e {
        TokenError::Format(Format::Signature(_))
        | TokenError::Format(Format::UnknownPublicKey)
        | TokenError::Format(Format::SealedSignature) => Error::BadSignature,
        TokenError::Format(f) => Error::Malformed(f.to_string()),
        TokenError::Base64(b) => Error::Malformed(format!("not base64url: {b}")),
        other => Error::Malformed(other.to_string()),
    }
}

fn internal(e: TokenError) -> Error {
    Error::Internal(e.to_string())
}

/// Formats a time as RFC 3339, the date syntax biscuit's datalog uses.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The revocation id of `token`'s last block: revoking it revokes that token and everything
/// attenuated from it, but not its parent. The signature must verify.
pub fn last_revocation_id(public: PublicKey, token: &str) -> Result<String, Error> {
    let biscuit = Biscuit::from_base64(token.trim(), public).map_err(classify_format)?;
    biscuit
        .revocation_identifiers()
        .last()
        .map(hex::encode)
        .ok_or_else(|| Error::Malformed("the token has no blocks".into()))
}

/// The dates that checks on `time` in `source` require the time to be before (`< date` or
/// `<= date`), one per check line.
fn expiries_in(source: &str) -> Vec<SystemTime> {
    use time::format_description::well_known::Rfc3339;
    source
        .lines()
        .filter(|line| line.contains("time("))
        .flat_map(|line| {
            line.split('<')
                .skip(1)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|after| {
            let candidate = after.trim_start_matches('=').trim_start();
            let end = candidate
                .find([',', ';', ' ', ')'])
                .unwrap_or(candidate.len());
            time::OffsetDateTime::parse(&candidate[..end], &Rfc3339)
                .ok()
                .map(SystemTime::from)
        })
        .collect()
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
