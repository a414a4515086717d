//! The JSON Schema (draft 2020-12) of the live protocol's messages in both directions, generated
//! from the types in [`super::client`], [`super::server`] and [`super::common`].
//!
//! The schemas come from the same `utoipa::ToSchema` derives as the OpenAPI description of the
//! REST API (OpenAPI 3.1 schema objects are JSON Schema 2020-12), so a type both carry, such as
//! a record or a reject code, has one definition in both. This module gathers them into one
//! standalone document with `$defs`: `ClientMessage` (what a client sends) and `ServerMessage`
//! (what the server sends). It is served at `GET /api/protocol.schema.json` and committed as
//! `docs/protocol.schema.json`, from which the web client's types are generated; a test keeps the
//! committed file equal to [`protocol_schema`] and another validates every frame of a live
//! session against it.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::client::ClientMessage;
use super::server::ServerMessage;

/// Collects the two message unions and, through their references, every type they use.
#[derive(OpenApi)]
#[openapi(components(schemas(ClientMessage, ServerMessage)))]
struct Protocol;

/// The schema document, with its definitions in name order.
pub fn protocol_schema() -> Value {
    let components = Protocol::openapi().components.unwrap_or_default();
    let mut defs = Map::new();
    for (name, schema) in components.schemas {
        // Serialising a schema object cannot fail: it is plain data.
        let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
        relink(&mut value);
        defs.insert(name, value);
    }
    // `ClientMessage::parse` refuses a field the message's type does not have; serde's
    // `deny_unknown_fields` on the enum does not reach the variants' schemas, so say it here.
    if let Some(Value::Array(variants)) = defs
        .get_mut("ClientMessage")
        .and_then(|m| m.get_mut("oneOf"))
    {
        for variant in variants.iter_mut().filter_map(Value::as_object_mut) {
            variant.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Quire live protocol, version 1",
        "description": "Every message of the live protocol (docs/protocol.md): a ClientMessage from client to server, a ServerMessage from server to client. Generated from the server's types (src/wire); do not edit.",
        "anyOf": [
            {"$ref": "#/$defs/ClientMessage"},
            {"$ref": "#/$defs/ServerMessage"}
        ],
        "$defs": defs,
    })
}

/// The schema as served and committed: pretty-printed, with a final newline.
pub fn protocol_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&protocol_schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Points OpenAPI's component references (`#/components/schemas/X`) at this document's
/// definitions (`#/$defs/X`).
fn relink(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    Value::String(r) if key == "$ref" => {
                        if let Some(name) = r.strip_prefix("#/components/schemas/") {
                            *r = format!("#/$defs/{name}");
                        }
                    }
                    _ => relink(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(relink),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of the schema names one of its definitions.
    #[test]
    fn every_reference_resolves() {
        let schema = protocol_schema();
        let text = schema.to_string();
        let defs = schema["$defs"].as_object().unwrap();
        assert!(defs.contains_key("ClientMessage") && defs.contains_key("ServerMessage"));
        for part in text.split("\"$ref\":\"").skip(1) {
            let target = part.split('"').next().unwrap();
            let name = target
                .strip_prefix("#/$defs/")
                .unwrap_or_else(|| panic!("{target}"));
            assert!(defs.contains_key(name), "{target} does not resolve");
        }
    }
}
