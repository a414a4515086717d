//! What a session token may look like, checked before any datalog runs.
//!
//! Biscuit lets anyone holding a token append a block, and bounds evaluation only between
//! rounds: one appended block whose rules or checks join many facts can burn seconds of CPU in a
//! single round. So Quire reads the token's structure first (the protobuf biscuit itself decodes,
//! no evaluation) and refuses, with a stable reason, anything outside these bounds:
//!
//! - the token text is at most [`TokenLimits::max_bytes`] long (4 KiB unless configured);
//! - it has at most [`MAX_BLOCKS`] blocks (the authority block and up to seven attenuations);
//! - every attenuation block is made of checks only: no facts, no rules. That is what
//!   `quire token attenuate` and every biscuit library's attenuation write, and it keeps the
//!   facts a check can join to the authority block's (a few dozen) and the authorizer's own;
//! - an attenuation block has at most [`MAX_CHECKS_PER_BLOCK`] checks, a check at most
//!   [`MAX_PREDICATES_PER_CHECK`] predicates and [`MAX_OPS_PER_CHECK`] expression operations
//!   (over all its `or` alternatives), and no regular expression, closure (`.all`, `.any`) or
//!   external function;
//! - the work the checks can cause, counted as the fact combinations each alternative can
//!   enumerate (the product of the sizes of the relations it names) times its expression size,
//!   summed over every check, is at most [`MAX_CHECK_WORK`] per authorizer run.
//!
//! Those bounds make one verification cost well under a few milliseconds whatever a token holder
//! appends. The numbers are in docs/api.md.

use std::collections::HashMap;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::format::schema;
use prost::Message as _;

use super::Error;

/// The default for [`TokenLimits::max_bytes`] (`--max-token-bytes`).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 4096;
/// Most blocks a token may have: the authority block and seven attenuations.
pub const MAX_BLOCKS: usize = 8;
/// Most checks in one attenuation block.
pub const MAX_CHECKS_PER_BLOCK: usize = 16;
/// Most predicates in one check, over all its alternatives.
pub const MAX_PREDICATES_PER_CHECK: usize = 4;
/// Most expression operations in one check, over all its alternatives.
pub const MAX_OPS_PER_CHECK: usize = 64;
/// Most work the checks of a token may cause in one authorizer run (see [`check`]).
pub const MAX_CHECK_WORK: u64 = 1024;

/// The configurable bounds on a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimits {
    /// Longest token text accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for TokenLimits {
    fn default() -> Self {
        TokenLimits {
            max_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// The facts the authorizer itself adds to every run, by name and arity: one each.
const AUTHORIZER_FACTS: [(&str, usize); 4] = [
    ("resource", 1),
    ("time", 1),
    ("right_op", 1),
    ("collab_op", 1),
];

/// Base64url as biscuit writes it; padding optional, as biscuit's own decoder accepts both.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checks `token` against every bound above and returns its bytes, for biscuit to verify the
/// signature of. Nothing here evaluates datalog, and nothing here trusts the token yet: a
/// forged authority block only changes which refusal comes first.
pub fn check(token: &str, limits: &TokenLimits) -> Result<Vec<u8>, Error> {
    if token.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: token.len(),
            max: limits.max_bytes,
        });
    }
    let bytes = BASE64
        .decode(token)
        .map_err(|e| Error::Malformed(format!("not base64url: {e}")))?;
    let container = schema::Biscuit::decode(&bytes[..])
        .map_err(|_| Error::Malformed("not a biscuit token".into()))?;
    let count = 1 + container.blocks.len();
    if count > MAX_BLOCKS {
        return Err(Error::TooManyBlocks {
            count,
            max: MAX_BLOCKS,
        });
    }
    let decode = |data: &[u8], what: &str| {
        schema::Block::decode(data).map_err(|_| Error::Malformed(format!("{what} is not a block")))
    };
    let authority = decode(&container.authority.block, "the authority block")?;
    // The symbols every block without an external signature shares, in biscuit's order.
    let mut shared = authority.symbols.clone();
    let mut blocks = Vec::with_capacity(container.blocks.len());
    for (i, signed) in container.blocks.iter().enumerate() {
        let block = decode(&signed.block, &format!("block {}", i + 1))?;
        if signed.external_signature.is_none() {
            shared.extend(block.symbols.iter().cloned());
        }
        blocks.push((signed.external_signature.is_some(), block));
    }
    let shared = symbols(shared)?;

    let sizes = relation_sizes(&authority, &shared);
    let mut work: u64 = 0;
    for (i, (external, block)) in blocks.iter().enumerate() {
        let index = i + 1;
        let own;
        let table = if *external {
            own = symbols(block.symbols.clone())?;
            &own
        } else {
            &shared
        };
        work = work.saturating_add(check_block(index, block, table, &sizes)?);
        if work > MAX_CHECK_WORK {
            return Err(Error::TooComplex(format!(
                "its checks could enumerate more than {MAX_CHECK_WORK} fact combinations per \
                 evaluation (a check joins relations with many facts, or there are many checks)"
            )));
        }
    }
    Ok(bytes)
}

fn symbols(list: Vec<String>) -> Result<SymbolTable, Error> {
    SymbolTable::from(list)
        .map_err(|_| Error::Malformed("the token's symbol table is invalid".into()))
}

/// How many facts each (name, arity) relation holds in an authorizer run: the authority block's
/// facts and the authorizer's own. Attenuation blocks add none (they may only hold checks).
fn relation_sizes(authority: &schema::Block, table: &SymbolTable) -> HashMap<(String, usize), u64> {
    let mut sizes: HashMap<(String, usize), u64> = HashMap::new();
    for fact in &authority.facts {
        let p = &fact.predicate;
        if let Some(name) = table.get_symbol(p.name) {
            *sizes.entry((name.to_string(), p.terms.len())).or_default() += 1;
        }
    }
    for (name, arity) in AUTHORIZER_FACTS {
        *sizes.entry((name.to_string(), arity)).or_default() += 1;
    }
    sizes
}

/// Refuses an attenuation block that holds anything but bounded checks; returns the work its
/// checks can cause in one run.
fn check_block(
    index: usize,
    block: &schema::Block,
    table: &SymbolTable,
    sizes: &HashMap<(String, usize), u64>,
) -> Result<u64, Error> {
    if !block.facts.is_empty() || !block.rules.is_empty() {
        return Err(Error::BlockNotAllowed(format!(
            "block {index} states {} fact(s) and {} rule(s); attenuation blocks may hold checks \
             only",
            block.facts.len(),
            block.rules.len()
        )));
    }
    if block.checks.len() > MAX_CHECKS_PER_BLOCK {
        return Err(Error::TooComplex(format!(
            "block {index} has {} checks; at most {MAX_CHECKS_PER_BLOCK} are allowed",
            block.checks.len()
        )));
    }
    let mut work: u64 = 0;
    for check in &block.checks {
        let predicates: usize = check.queries.iter().map(|q| q.body.len()).sum();
        if predicates > MAX_PREDICATES_PER_CHECK {
            return Err(Error::TooComplex(format!(
                "a check in block {index} names {predicates} predicates; at most \
                 {MAX_PREDICATES_PER_CHECK} are allowed"
            )));
        }
        let mut ops = 0;
        for query in &check.queries {
            let mut query_ops = 0;
            for expression in &query.expressions {
                query_ops += count_ops(index, &expression.ops)?;
            }
            ops += query_ops;
            let combinations = query
                .body
                .iter()
                .map(|p| {
                    table
                        .get_symbol(p.name)
                        .and_then(|name| sizes.get(&(name.to_string(), p.terms.len())))
                        .copied()
                        .unwrap_or(0)
                })
                .fold(1u64, u64::saturating_mul)
                .max(1);
            work = work.saturating_add(combinations.saturating_mul(1 + query_ops as u64));
        }
        if ops > MAX_OPS_PER_CHECK {
            return Err(Error::TooComplex(format!(
                "a check in block {index} has {ops} expression operations; at most \
                 {MAX_OPS_PER_CHECK} are allowed"
            )));
        }
    }
    Ok(work)
}

/// Counts expression operations, refusing those whose cost is not bounded by the count:
/// regular expressions (compiled on every evaluation), closures (`.all`, `.any`, which iterate)
/// and external functions (none are defined).
fn count_ops(index: usize, ops: &[schema::Op]) -> Result<usize, Error> {
    use schema::op::Content;
    use schema::op_binary::Kind as B;
    use schema::op_unary::Kind as U;
    let refuse = |what: &str| {
        Err(Error::TooComplex(format!(
            "a check in block {index} uses {what}, which attenuation checks may not use"
        )))
    };
    for op in ops {
        match &op.content {
            Some(Content::Closure(_)) => return refuse("a closure"),
            Some(Content::Binary(b)) => match B::from_i32(b.kind) {
                Some(B::Regex) => return refuse("a regular expression (`.matches`)"),
                Some(B::All | B::Any) => return refuse("a closure (`.all` or `.any`)"),
                Some(B::Ffi) | None => return refuse("an external or unknown function"),
                Some(_) => {}
            },
            Some(Content::Unary(u)) => match U::from_i32(u.kind) {
                Some(U::Ffi) | None => return refuse("an external or unknown function"),
                Some(_) => {}
            },
            Some(Content::Value(_)) | None => {}
        }
    }
    Ok(ops.len())
}
