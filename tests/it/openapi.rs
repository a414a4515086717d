//! The OpenAPI description at `/api/openapi.json`: served without credentials, every `$ref`
//! resolves, and the API docs (docs/api.md, docs/exchange.md) document exactly the operations it
//! lists.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::common::Server;

/// Every `"$ref"` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// `METHOD /path` of every operation heading (`### \`GET /api/…\` · …`), table row or bold
/// bullet in the API docs: docs/api.md and the page it sends readers to for a whole area
/// (docs/exchange.md).
fn documented() -> BTreeSet<String> {
    let text: String = ["api.md", "exchange.md"]
        .iter()
        .map(|page| {
            std::fs::read_to_string(format!("{}/docs/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        })
        .collect();
    let mut ops = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("### ") || l.starts_with("| `") || l.starts_with("- **"))
    {
        for part in line.split('`').skip(1).step_by(2) {
            let Some((method, path)) = part.split_once(' ') else {
                continue;
            };
            if !matches!(method, "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE") {
                continue;
            }
            let path = path.split(['?', ' ']).next().unwrap();
            ops.insert(format!("{method} {path}"));
        }
    }
    ops
}

#[tokio::test]
async fn the_openapi_description_is_served_resolves_and_matches_the_api_docs() {
    let server = Server::start().await;
    let res = server
        .http
        .get(server.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let spec: Value = res.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));

    let mut listed = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.insert(format!("{} {path}", method.to_uppercase()));
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}"));
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    for (name, _) in [("api_key", ()), ("session_token", ())] {
        assert_eq!(
            spec["components"]["securitySchemes"][name]["scheme"],
            "bearer"
        );
    }
    let documented = documented();
    let missing: Vec<_> = listed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "in the OpenAPI description but not in the API docs: {missing:?}; \
         in the API docs but not in the description: {extra:?}"
    );
}
