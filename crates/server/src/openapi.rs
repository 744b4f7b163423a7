//! The OpenAPI document of the HTTP API, served at `/api/openapi.json`. It is generated with
//! `utoipa` from the handlers' `#[utoipa::path]` attributes and the types they read and
//! answer with. Types that belong to the engine's crates are described by the schema types
//! below, each built from the engine's own tables (command keys, list columns, vocabularies)
//! so that the document follows them.

use crate::error::{Detail, ErrorBody, ErrorDetail, RejectedRow};
use crate::{api, web};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder,
    Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema, ToResponse, ToSchema};
use vasooli_domain::command::{import_columns, CommandKind, COMMAND_KINDS};
use vasooli_domain::types;
use vasooli_projections::{lists, reports};

/// The name of the bearer token security scheme.
pub const BEARER: &str = "bearer";

/// The kinds `POST /api/v1/import/{kind}` takes.
pub const IMPORT_KINDS: &[&str] = &["offices", "consumers", "bills", "payments", "mobiles"];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vasooli",
        description = "The HTTP API of vasooli, a revenue recovery engine for an electricity \
                       distribution utility: writes that feed its event log, and the lists and \
                       reports computed from it.\n\n\
                       Every `/api/v1/` route needs `Authorization: Bearer TOKEN`; the SMS \
                       gateways' delivery reports (`/sms/dlr/{gateway}`) carry the gateway's \
                       own secret in `X-Dlr-Secret` instead. Checks \
                       answer in the order 401, 403, 400, 422, 404, 409; the first that fails \
                       answers, with the body `{\"error\":{\"code\":\"…\",\"message\":\"…\"}}`. \
                       A write answers only once its events are durable on disk. When the \
                       data directory cannot take it, nothing is recorded and it answers 507 \
                       (`insufficient_storage`: the disk is full) or 503 \
                       (`storage_unavailable`: read-only, denied, failing, or in use); \
                       `/health` then answers 503 `degraded`, and writes resume by themselves \
                       once the disk can take them.",
    ),
    paths(
        api::health,
        api::metrics,
        api::openapi,
        api::commands,
        api::import,
        api::nightly,
        crate::dlr::delivery_report,
        api::defaulters,
        api::worklist,
        api::notices,
        api::me,
        api::consumer,
        api::rankings,
        api::awards,
        api::campaign,
        api::camps,
        web::index,
        web::script,
        web::style,
    ),
    components(
        schemas(
            ErrorBody,
            ErrorDetail,
            Detail,
            RejectedRow,
            api::Health,
            api::WriteReport,
            api::NightlyBody,
            api::NightlyReport,
            crate::dlr::DeliveryReport,
            crate::dlr::DeliveryStatus,
            crate::dlr::DeliveryReportAnswer,
            api::Format,
            api::Me,
            api::Office,
            crate::tokens::Role,
            Command,
            CommandBatch,
            Statement,
            ImportKind,
            WorklistKind,
            PaperWorklistKind,
            Stage,
            RankingLevel,
            OfficeLevel,
            DefaulterRow,
            WorklistRow,
            RankingRow,
            AwardRow,
            CampaignRow,
            ReverifyRow,
            CampaignAnswer,
            CampRow,
        ),
        responses(
            Malformed,
            Unauthorized,
            DlrUnauthorized,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            Unprocessable,
        ),
    ),
    modifiers(&BearerToken, &QueryPatterns),
    tags(
        (name = "system", description = "Open routes: liveness, metrics and this document"),
        (name = "writes", description = "Commands, imports and the nightly run"),
        (name = "reads", description = "The token, an office's lists and a consumer's statement"),
        (name = "reports", description = "Rankings, awards, the mobile campaign and camps"),
        (name = "gateways", description = "Delivery reports from SMS gateways, each authenticated by the gateway's own secret"),
        (name = "page", description = "The officers' web page and its files (open)"),
    ),
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds the bearer token scheme the `/api/v1/` routes name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token made by `vasooli tokens create`; its role and office \
                         decide what it may do",
                    ))
                    .build(),
            ),
        );
    }
}

/// Gives the query parameters that carry text the patterns the server reads them with, so
/// that a client (or a fuzzer) can tell a well-formed value from the document alone.
struct QueryPatterns;

/// A period: a month `YYYY-MM`, a financial year `FYYYYY-YY` whose second year follows the
/// first, or a quarter of one `FYYYYY-YY-Qn`.
pub fn period_pattern() -> String {
    let years: Vec<String> = (0..100)
        .map(|y| format!("{y:02}-{:02}", (y + 1) % 100))
        .collect();
    format!(
        "^([0-9]{{4}}-(0[1-9]|1[0-2])|FY[0-9]{{2}}({})(-Q[1-4])?)$",
        years.join("|")
    )
}

/// An amount in rupees as a query value: digits, at most 2 decimals, optionally negative.
pub const AMOUNT_PATTERN: &str = r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$";

impl Modify for QueryPatterns {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let period = period_pattern();
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let pattern = match parameter.name.as_str() {
                        "period" => period.as_str(),
                        "min_arrears" => AMOUNT_PATTERN,
                        _ => continue,
                    };
                    parameter.schema = Some(string().pattern(Some(pattern)).into());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Error answers
// ---------------------------------------------------------------------------------------------

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
        .into()
}

/// Declares an error answer: a response component with the error body, and the responses
/// entry that refers to it, for a handler's `responses(...)`.
macro_rules! error_answer {
    ($name:ident, $status:literal, $description:literal) => {
        #[doc = $description]
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description))
            }
        }

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([(
                    $status.to_string(),
                    RefOr::Ref(Ref::from_response_name(stringify!($name))),
                )])
            }
        }
    };
}

error_answer!(
    Malformed,
    400,
    "Malformed: a body, query or CSV file that cannot be read, or an unknown key"
);
error_answer!(
    Unauthorized,
    401,
    "No `Authorization: Bearer TOKEN` header, or an unknown or revoked token"
);
error_answer!(
    DlrUnauthorized,
    401,
    "An unknown gateway, or no or a wrong `X-Dlr-Secret` header"
);
error_answer!(Forbidden, 403, "Outside the token's role or office");
error_answer!(
    NotFound,
    404,
    "An unknown office, account or kind (or route)"
);
error_answer!(
    Conflict,
    409,
    "A natural key already used with different content"
);
error_answer!(
    PayloadTooLarge,
    413,
    "The body is larger than the route accepts"
);
error_answer!(
    Unprocessable,
    422,
    "A well-formed value that breaks a rule: a third decimal, a nightly date before the last \
     run's, an action the consumer's state does not allow, a limit above the maximum, a list \
     asked for before the first nightly run"
);

// ---------------------------------------------------------------------------------------------
// Schemas of the engine's types
// ---------------------------------------------------------------------------------------------

/// Declares a schema type whose schema `$schema` builds.
macro_rules! schema_type {
    ($(#[$meta:meta])* $name:ident => $schema:expr) => {
        $(#[$meta])*
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn date() -> ObjectBuilder {
    string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
}

/// An amount in rupees.
fn money() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
        .description(Some(
            "Rupees: a string such as `700.00`, or a number with at most 2 decimals",
        ))
}

fn one_of_strings<'a>(description: &str, values: impl IntoIterator<Item = &'a str>) -> Schema {
    string()
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

/// A list row: every column a string, or null where the CSV field is empty.
fn row(description: &str, columns: &[&str]) -> Schema {
    let mut object = ObjectBuilder::new()
        .description(Some(description))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for column in columns {
        object = object
            .property(
                *column,
                ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
            )
            .required(*column);
    }
    object.into()
}

/// The schema of one key of a command of type `command`.
fn command_key(command: &str, key: &str) -> RefOr<Schema> {
    let vocabulary = |values: Vec<&'static str>| string().enum_values(Some(values)).into();
    match key {
        "level" => vocabulary(types::Level::ALL.iter().map(|v| v.as_str()).collect()),
        "category" if command == "register_grievance" => vocabulary(
            types::GrievanceCategory::ALL
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        "category" => vocabulary(types::Category::ALL.iter().map(|v| v.as_str()).collect()),
        "language" => vocabulary(types::Language::ALL.iter().map(|v| v.as_str()).collect()),
        "channel" => vocabulary(types::Channel::ALL.iter().map(|v| v.as_str()).collect()),
        "source" => vocabulary(
            types::MobileSource::ALL
                .iter()
                .map(|v| v.as_str())
                .collect(),
        ),
        "mode" => vocabulary(types::NoticeMode::ALL.iter().map(|v| v.as_str()).collect()),
        "amount" | "new_amount" | "deposit" => money().into(),
        "load_kw" => ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
            .description(Some("Kilowatts, at most 3 decimals"))
            .into(),
        "period" => string()
            .description(Some("The billing month, `YYYY-MM`"))
            .into(),
        "installments" => ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .property("due_on", date())
                    .required("due_on")
                    .property("amount", money())
                    .required("amount")
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .into(),
        // A JSON list, or the designations in one text separated by `;` (as a CSV cell).
        "officers_present" => OneOfBuilder::new()
            .item(ArrayBuilder::new().items(string()))
            .item(string().description(Some("Designations separated by `;`")))
            .description(Some("Designations of the officers present"))
            .into(),
        key if key == "on" || key.ends_with("_on") => date().into(),
        // Text; a number is read as its text (`"account_no": 1001`).
        _ => ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
            .into(),
    }
}

/// A required key's schema: a plain text one may not be empty (a number is never empty).
fn required_key(command: &str, key: &str) -> RefOr<Schema> {
    match command_key(command, key) {
        RefOr::T(Schema::Object(mut object))
            if matches!(&object.schema_type, SchemaType::Array(types) if types.contains(&Type::String))
                && object.enum_values.is_none()
                && object.format.is_none() =>
        {
            object.min_length = Some(1);
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// An optional key's schema: its value, or null.
fn optional_key(command: &str, key: &str) -> RefOr<Schema> {
    match command_key(command, key) {
        RefOr::T(Schema::Object(mut object)) => {
            let mut types = match &object.schema_type {
                SchemaType::Type(t) => vec![t.clone()],
                SchemaType::Array(list) => list.clone(),
                SchemaType::AnyValue => return RefOr::T(Schema::Object(object)),
            };
            if !types.contains(&Type::Null) {
                types.push(Type::Null);
            }
            object.schema_type = SchemaType::from_iter(types);
            if let Some(values) = object.enum_values.as_mut() {
                values.push(serde_json::Value::Null);
            }
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// One command type's object: `type`, then the type's own keys (`?` marks optional ones),
/// with the kind's example.
fn command(kind: &CommandKind) -> Schema {
    let (command, keys) = (kind.name, kind.keys);
    let example: Option<serde_json::Value> = serde_json::from_str(kind.example).ok();
    let mut object = ObjectBuilder::new()
        .title(Some(command))
        .examples(example)
        .property("type", string().enum_values(Some([command])))
        .required("type")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for key in keys {
        let name = key.trim_end_matches('?');
        if key.ends_with('?') {
            // An optional key may be empty or null, which both mean absent.
            object = object.property(name, optional_key(command, name));
        } else {
            object = object
                .property(name, required_key(command, name))
                .required(name);
        }
    }
    object.into()
}

schema_type!(
    /// A command: `type` names it and the other keys are exactly the type's own.
    Command => COMMAND_KINDS
        .iter()
        .fold(
            OneOfBuilder::new().description(Some(
                "A command: `type` names it, the other keys are exactly the type's own; \
                 unknown keys are rejected. Each command is checked against the state it \
                 would change.",
            )),
            |one_of, kind| one_of.item(command(kind)),
        )
);

schema_type!(
    /// The body of `POST /api/v1/commands`.
    CommandBatch => OneOfBuilder::new()
        .description(Some("One command, or an array of commands applied all or nothing"))
        .item(Ref::from_schema_name(Command::name()))
        .item(ArrayBuilder::new().items(Ref::from_schema_name(Command::name())))
);

schema_type!(
    /// A consumer's statement.
    Statement => ObjectBuilder::new().description(Some(
        "A consumer's ledger as of the last nightly run (before any, as of today): charges \
         with their unpaid parts, credits, overdue arrears, days overdue, aging bucket, stage, \
         holds, notices and SMS",
    ))
);

schema_type!(
    /// What an import's CSV file holds, with its columns.
    ImportKind => {
        let columns: Vec<String> = IMPORT_KINDS
            .iter()
            .map(|kind| {
                format!("`{kind}`: {}", import_columns(kind).unwrap_or_default().join(","))
            })
            .collect();
        one_of_strings(
            &format!("What the CSV file holds; its columns: {}", columns.join("; ")),
            IMPORT_KINDS.iter().copied(),
        )
    }
);

schema_type!(
    /// A worklist.
    WorklistKind => one_of_strings(
        "A worklist: the consumers due for one recovery action",
        types::WorklistKind::ALL.iter().map(|k| k.as_str()),
    )
);

schema_type!(
    /// A worklist whose consumers get a paper.
    PaperWorklistKind => one_of_strings(
        "A worklist whose consumers each get a paper (a notice or an order)",
        types::WorklistKind::ALL
            .iter()
            .filter(|k| vasooli_projections::documents::DocumentKind::for_worklist(**k).is_some())
            .map(|k| k.as_str()),
    )
);

schema_type!(
    /// A stage of the recovery ladder.
    Stage => one_of_strings(
        "Where a consumer stands on the recovery ladder",
        types::Stage::ALL.iter().map(|s| s.as_str()),
    )
);

schema_type!(
    /// The office levels the rankings rank.
    RankingLevel => one_of_strings(
        "The level of the offices ranked",
        types::Level::ALL
            .iter()
            .filter(|l| **l != types::Level::Zone)
            .map(|l| l.as_str()),
    )
);

schema_type!(
    /// A level of the office tree.
    OfficeLevel => one_of_strings(
        "A level of the office tree, top down",
        types::Level::ALL.iter().map(|l| l.as_str()),
    )
);

schema_type!(
    /// A row of the defaulter list.
    DefaulterRow => row(
        "A consumer with overdue arrears; the CSV has the same columns in this order",
        lists::DEFAULTER_COLUMNS,
    )
);

schema_type!(
    /// A row of a worklist.
    WorklistRow => row(
        "A consumer due for the worklist's action; the CSV has the same columns in this order",
        &api::worklist_columns(),
    )
);

schema_type!(
    /// A row of the rankings.
    RankingRow => row(
        "An office's rank and its measures for the period; the CSV has the same columns in \
         this order",
        reports::RankingRow::COLUMNS,
    )
);

schema_type!(
    /// A row of the awards.
    AwardRow => row(
        "An award for the period; the CSV has the same columns in this order",
        reports::AwardRow::COLUMNS,
    )
);

schema_type!(
    /// A row of the campaign report.
    CampaignRow => row(
        "A subdivision's mobile coverage; the CSV has the same columns in this order",
        reports::CampaignRow::COLUMNS,
    )
);

schema_type!(
    /// A row of the campaign report's numbers to verify again.
    ReverifyRow => row(
        "An active consumer whose current number's last 3 or more SMS delivery reports all \
         said undelivered; the CSV has the same columns in this order",
        reports::ReverifyRow::COLUMNS,
    )
);

schema_type!(
    /// The campaign report: coverage rows, or with `reverify=true` the numbers to verify.
    /// `anyOf`, not `oneOf`: an empty list is either.
    CampaignAnswer => AnyOfBuilder::new()
        .description(Some(
            "Coverage rows, a row per subdivision; with `reverify=true`, the consumers whose \
             number keeps failing",
        ))
        .item(ArrayBuilder::new().items(Ref::from_schema_name("CampaignRow")))
        .item(ArrayBuilder::new().items(Ref::from_schema_name("ReverifyRow")))
);

schema_type!(
    /// A row of the camp report.
    CampRow => row(
        "A subdivision's camps and grievances for the period; the CSV has the same columns in \
         this order",
        reports::CampRow::COLUMNS,
    )
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use vasooli_domain::command::import_command_type;

    fn doc() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn an_empty_campaign_report_matches_its_schema() {
        // `oneOf` two arrays refused `[]`, which matches both.
        let answer = &doc()["components"]["schemas"]["CampaignAnswer"];
        assert!(answer.get("oneOf").is_none(), "{answer}");
        assert_eq!(
            answer["anyOf"].as_array().map(Vec::len),
            Some(2),
            "{answer}"
        );
    }

    #[test]
    fn the_period_pattern_matches_what_the_server_reads() {
        let pattern = period_pattern();
        for period in [
            "2026-10",
            "FY2026-27",
            "FY2099-00",
            "FY2026-27-Q4",
            "2026-13",
            "FY2026-28",
            "FY2026-27-Q5",
            "26-10",
            "",
        ] {
            let read = period.parse::<vasooli_domain::period::Period>().is_ok();
            // The pattern is a plain alternation; check it by hand for these cases.
            let month = period.len() == 7
                && period.as_bytes()[4] == b'-'
                && matches!(
                    &period[5..],
                    "01" | "02"
                        | "03"
                        | "04"
                        | "05"
                        | "06"
                        | "07"
                        | "08"
                        | "09"
                        | "10"
                        | "11"
                        | "12"
                );
            let fy = period.starts_with("FY") && period.len() >= 9 && {
                let pair = &period[4..9];
                pattern.contains(pair)
                    && (period.len() == 9 || matches!(&period[9..], "-Q1" | "-Q2" | "-Q3" | "-Q4"))
            };
            assert_eq!(read, month || fy, "{period}");
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn operations_under_api_v1_need_the_bearer_token_and_the_others_do_not() {
        let doc = doc();
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let security = &op["security"];
                if path.starts_with("/api/v1/") {
                    assert_eq!(
                        security,
                        &serde_json::json!([{ BEARER: [] }]),
                        "{method} {path}"
                    );
                    assert!(op["responses"]["401"].is_object(), "{method} {path}");
                } else {
                    assert!(security.is_null(), "{method} {path}");
                }
                assert!(op["responses"]["200"].is_object(), "{method} {path}");
                assert!(op["summary"].is_string(), "{method} {path}");
            }
        }
    }

    // Property order is checked on the schema objects: a `Value` would sort the keys.

    fn object(schema: &RefOr<Schema>) -> &utoipa::openapi::schema::Object {
        match schema {
            RefOr::T(Schema::Object(object)) => object,
            _ => panic!("not an object schema"),
        }
    }

    fn component(name: &str) -> RefOr<Schema> {
        document().components.unwrap().schemas.remove(name).unwrap()
    }

    fn property_names(object: &utoipa::openapi::schema::Object) -> Vec<&str> {
        object.properties.keys().map(String::as_str).collect()
    }

    #[test]
    fn list_rows_have_the_list_columns_in_order() {
        let worklist = api::worklist_columns();
        for (name, columns) in [
            ("DefaulterRow", lists::DEFAULTER_COLUMNS),
            ("WorklistRow", worklist.as_slice()),
            ("RankingRow", reports::RankingRow::COLUMNS),
            ("AwardRow", reports::AwardRow::COLUMNS),
            ("CampaignRow", reports::CampaignRow::COLUMNS),
            ("CampRow", reports::CampRow::COLUMNS),
        ] {
            let row = component(name);
            assert_eq!(property_names(object(&row)), columns, "{name}");
            assert_eq!(object(&row).required, columns, "{name}");
        }
    }

    #[test]
    fn the_command_schema_has_every_command_type_with_its_keys() {
        let RefOr::T(Schema::OneOf(commands)) = component("Command") else {
            panic!("Command is not a oneOf");
        };
        assert_eq!(commands.items.len(), COMMAND_KINDS.len());
        for (variant, kind) in commands.items.iter().zip(COMMAND_KINDS) {
            let (name, keys) = (kind.name, kind.keys);
            let variant = object(variant);
            let example: Value = serde_json::from_str(kind.example).unwrap();
            assert_eq!(variant.examples, vec![example], "{name}");
            let kind = object(&variant.properties["type"]);
            assert_eq!(
                kind.enum_values,
                Some(vec![Value::String(name.to_string())])
            );
            let mut expected = vec!["type"];
            expected.extend(keys.iter().map(|k| k.trim_end_matches('?')));
            assert_eq!(property_names(variant), expected, "{name}");
            let mut expected = vec!["type"];
            expected.extend(keys.iter().filter(|k| !k.ends_with('?')));
            assert_eq!(variant.required, expected, "{name}");
        }
    }

    #[test]
    fn import_kinds_are_the_kinds_the_import_route_reads() {
        for kind in IMPORT_KINDS {
            assert!(import_command_type(kind).is_some(), "{kind}");
            assert!(import_columns(kind).is_some(), "{kind}");
        }
        assert!(import_command_type("widgets").is_none());
    }

    #[test]
    fn list_limits_are_the_server_limits() {
        let doc = doc();
        let op = &doc["paths"]["/api/v1/offices/{code}/defaulters"]["get"];
        let limit = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["maximum"], api::LIST_LIMIT_MAX);
        assert_eq!(limit["schema"]["default"], api::LIST_LIMIT_DEFAULT);
    }
}
