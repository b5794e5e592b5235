//! `GET /openapi.json`: the API described in OpenAPI 3.1, generated from
//! the code (`utoipa`): each handler's `#[utoipa::path]` states its route,
//! parameters, bodies and answers; the types derive their schemas; the
//! router (`http::router`) registers handlers and their descriptions
//! together, so a route cannot exist without its description.
//!
//! What is written here by hand: the document's header, the refusals every
//! authenticated endpoint shares, and the schemas of sealtrail-core's types
//! (core stays free of OpenAPI: it is pure and builds for wasm32). A
//! description of each scoped operation ("Needs the `read` scope") is
//! generated from its security requirement, which `tests/openapi.rs` checks
//! against the `Ctx<scope::…>` in the handler's signature.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use sealtrail_core::event::{EventKind, Outcome};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Required};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToSchema};

/// The document's header; the paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sealtrail",
        version = "1",
        description = "The tamper-evident audit trail for AI agents. Times are microseconds since the Unix epoch; hashes are lowercase hex unless base64 is said. docs/api.md and docs/access.md are the prose reference."
    ),
    servers((url = "http://127.0.0.1:7700")),
    security(("bearer" = [])),
    tags(
        (name = "ingest"),
        (name = "read"),
        (name = "proofs"),
        (name = "tiles"),
        (name = "access"),
        (name = "registry"),
        (name = "operations"),
        (name = "console")
    ),
    components(schemas(
        crate::http::error::Envelope,
        crate::error::ErrorBody,
        EventSchema,
        AgentRecordSchema,
        crate::http::otlp::rpc::Status,
    )),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// The `bearer` security scheme every authenticated operation names.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "stk_<id>_<secret> (people, services), sta_<id>_<secret> (agent keys) or sts_… (session tokens). Owner keys choose a project with the Sealtrail-Project header.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Last touches once every route is in: each scoped operation's
/// description names its scope, and the open operations (`security(())`)
/// need no key at all.
pub fn finish(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
            &mut item.put,
        ]
        .into_iter()
        .flatten()
        {
            describe_scope(op);
            optional_body_is_absent(op);
        }
    }
}

/// An optional body (`Option<T>` in the handler) is described as `T`
/// without `required`: absent is how a request says "none"; a JSON `null`
/// is a bad body, not the same thing.
fn optional_body_is_absent(op: &mut Operation) {
    let Some(body) = op.request_body.as_mut() else {
        return;
    };
    if matches!(body.required, Some(Required::True)) {
        return;
    }
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
        let rest: Vec<&RefOr<Schema>> = one_of.items.iter().filter(|s| !is_null(s)).collect();
        if let [only] = rest.as_slice() {
            content.schema = Some((*only).clone());
        }
    }
}

fn describe_scope(op: &mut Operation) {
    let Some(security) = op.security.as_mut() else {
        return;
    };
    // utoipa keeps a requirement's scheme → scopes map private; its JSON is
    // `[{"bearer": ["read"]}]`, or `[{}]` for `security(())`.
    let Some(requirements) = serde_json::to_value(&*security)
        .ok()
        .and_then(|v| serde_json::from_value::<Vec<serde_json::Map<_, _>>>(v).ok())
    else {
        return;
    };
    if requirements.iter().all(|r| r.is_empty()) {
        security.clear();
        return;
    }
    let needed: Vec<&str> = requirements
        .iter()
        .filter_map(|r| r.get("bearer")?.as_array())
        .flatten()
        .filter_map(|s| s.as_str())
        .collect();
    if let [scope] = needed.as_slice() {
        op.description = Some(format!("Needs the `{scope}` scope (docs/access.md)."));
    }
}

/// The document as served: built on first use, the same for every server
/// in the process.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        super::router::document().to_json().unwrap_or_else(|e| {
            // The document is plain data: failing to encode it is a bug,
            // and the API still works without its description.
            tracing::error!("cannot encode the OpenAPI document: {e}");
            "{}".into()
        })
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "This document",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1"))
)]
pub async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

// Shared answers.

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("Error"))),
        )
        .build()
        .into()
}

const BAD_INPUT: &str = "Bad input; `error.field` names the field";
const UNAUTHORIZED: &str = "Missing, unknown, revoked or expired key (`unauthorized`, `key_revoked`, `key_expired`, `token_expired`)";
const FORBIDDEN: &str =
    "The key lacks the scope this endpoint needs (`forbidden`), or may not act on that project";
const RATE_LIMITED: &str = "Over the key's rate limit (`rate_limited`), with Retry-After";
const UNAVAILABLE: &str = "Overloaded or storage unavailable, with Retry-After";
const NOT_JSON: &str = "The body is not sent as application/json (`unsupported_media_type`)";

/// The refusals every authenticated endpoint may answer with: 400, 401,
/// 403, 429 and 503, in the one error shape.
pub struct Refusals;

impl IntoResponses for Refusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", BAD_INPUT),
            ("401", UNAUTHORIZED),
            ("403", FORBIDDEN),
            ("429", RATE_LIMITED),
            ("503", UNAVAILABLE),
        ]
        .into_iter()
        .map(|(code, text)| (code.to_string(), error_response(text)))
        .collect()
    }
}

/// [`Refusals`] of an endpoint with a JSON body: also 415.
pub struct JsonBodyRefusals;

impl IntoResponses for JsonBodyRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = Refusals::responses();
        r.insert("415".into(), error_response(NOT_JSON));
        r
    }
}

/// The refusals of `POST /v1/events`: a 400 or 403 is either the error
/// shape (the request as a whole) or one result per event (every event
/// refused), plus 413 and 415.
pub struct IngestRefusals;

impl IntoResponses for IngestRefusals {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let either = |description: &str| -> RefOr<Response> {
            let schema = AnyOfBuilder::new()
                .item(Ref::from_schema_name("Error"))
                .item(Ref::from_schema_name("IngestResponse"));
            ResponseBuilder::new()
                .description(description)
                .content("application/json", Content::new(Some(schema)))
                .build()
                .into()
        };
        let mut r = Refusals::responses();
        r.insert(
            "400".into(),
            either("The request as a whole is bad (`error.field` names the field), or every event in it was rejected: then one result per event, each naming its own problem"),
        );
        r.insert(
            "403".into(),
            either("The key lacks the scope this endpoint needs (`forbidden`) or may not act on that project; or every event belongs to an agent or session the key may not write (one result per event, `agent_mismatch`)"),
        );
        r.insert("413".into(), error_response("Body or event too large"));
        r.insert("415".into(), error_response("Unsupported Content-Type"));
        r
    }
}

// Schemas written here: small wire shapes that are no Rust type of ours,
// and sealtrail-core's types.

fn string() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

fn integer() -> Schema {
    ObjectBuilder::new().schema_type(Type::Integer).into()
}

fn object() -> Schema {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

fn any() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .into()
}

fn strings() -> Schema {
    ArrayBuilder::new()
        .items(ObjectBuilder::new().schema_type(Type::String))
        .into()
}

fn one_of(values: &[&str]) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .into()
}

/// Bytes (protobuf, ZIP, tiles).
pub struct Binary;

impl PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("binary".into())))
            .into()
    }
}

impl ToSchema for Binary {}

/// A JSON object whose members are described in prose (docs/api.md).
pub struct AnyObject;

impl PartialSchema for AnyObject {
    fn schema() -> RefOr<Schema> {
        object().into()
    }
}

impl ToSchema for AnyObject {}

/// One event, or an array of them (`POST /v1/events` as JSON).
pub struct EventOrEvents;

impl PartialSchema for EventOrEvents {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name("Event"))
            .item(ArrayBuilder::new().items(Ref::from_schema_name("Event")))
            .into()
    }
}

impl ToSchema for EventOrEvents {}

/// `sealtrail_core::event::Event` (docs/formats.md, DESIGN §2).
pub struct EventSchema;

impl PartialSchema for EventSchema {
    fn schema() -> RefOr<Schema> {
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        let outcomes: Vec<&str> = sealtrail_core::filter::OUTCOMES
            .iter()
            .map(|o: &Outcome| o.as_str())
            .collect();
        let agent = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("id", string())
            .property("name", string())
            .property("version", string())
            .property("instance", string())
            .required("id");
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "docs/formats.md and DESIGN §2; unknown members are refused.",
            ))
            .property("id", string())
            .property("agent", agent)
            .property("session", string())
            .property("parent", string())
            .property("seq", integer())
            .property("kind", one_of(&kinds))
            .property("action", string())
            .property("resource", string())
            .property("outcome", one_of(&outcomes))
            .property("principal", string())
            .property("subjects", strings())
            .property("data_classes", strings())
            .property("model", object())
            .property("tool", object())
            .property("input", any())
            .property("output", any())
            .property("reasoning", any())
            .property("review", object())
            .property("change", object())
            .property("occurred_at", string())
            .property("attributes", object())
            .required("agent")
            .required("kind")
            .into()
    }
}

impl ToSchema for EventSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "Event".into()
    }
}

/// The values of the registry's enums, as their serde names.
pub const RISK_TIERS: [&str; 4] = ["minimal", "limited", "high", "prohibited"];
pub const ANNEX_III: [&str; 8] = [
    "biometrics",
    "critical_infrastructure",
    "education",
    "employment",
    "essential_services",
    "law_enforcement",
    "migration",
    "justice_democracy",
];
pub const AGENT_STATUSES: [&str; 3] = ["active", "suspended", "retired"];

/// `sealtrail_core::registry::AgentRecord` (docs/access.md).
pub struct AgentRecordSchema;

impl PartialSchema for AgentRecordSchema {
    fn schema() -> RefOr<Schema> {
        let closed = || AdditionalProperties::FreeForm(false);
        let scope = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(closed()))
            .property("tools", strings())
            .property("actions", strings())
            .property("resources", strings())
            .property("data_classes", strings());
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(closed()))
            .property("id", string())
            .property("name", string())
            .property("owner", string())
            .property("purpose", string())
            .property("model", string())
            .property("risk_tier", one_of(&RISK_TIERS))
            .property("annex_iii", one_of(&ANNEX_III))
            .property("status", one_of(&AGENT_STATUSES))
            .property("scope", scope)
            .property("created", integer())
            .property("updated", integer())
            .property("version", integer())
            .required("id")
            .into()
    }
}

impl ToSchema for AgentRecordSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "AgentRecord".into()
    }
}

/// A change to an agent (`sealtrail_core::registry::AgentPatch`).
pub struct AgentPatchSchema;

impl PartialSchema for AgentPatchSchema {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Any AgentRecord field but id; null clears an optional text field; scope replaces the whole scope",
            ))
            .into()
    }
}

impl ToSchema for AgentPatchSchema {}

#[cfg(test)]
mod tests {
    use super::*;
    use sealtrail_core::registry::{AgentStatus, AnnexIII, RiskTier};

    /// The enums written out above are the registry's own, every one.
    #[test]
    fn registry_enum_values_are_the_serde_names() {
        for v in RISK_TIERS {
            serde_json::from_value::<RiskTier>(v.into()).expect(v);
        }
        for v in ANNEX_III {
            serde_json::from_value::<AnnexIII>(v.into()).expect(v);
        }
        for v in AGENT_STATUSES {
            serde_json::from_value::<AgentStatus>(v.into()).expect(v);
        }
        assert!(serde_json::from_value::<RiskTier>("other".into()).is_err());
    }
}
