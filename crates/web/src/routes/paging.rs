//! `limit` and `offset` of the paged admin lists (audit log, outbox), as sent and as checked.

use slugbase_application::ValidationErrors;
use utoipa::openapi::Required;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// Longest page.
pub(crate) const MAX_PAGE: u32 = 200;
/// Default page.
pub(crate) const DEFAULT_PAGE: u32 = 50;

/// The page `limit` (1–[`MAX_PAGE`], default [`DEFAULT_PAGE`]) and `offset` (default 0) ask
/// for; what is wrong with either goes to `errors` under its name.
pub(crate) fn page(
    limit: Option<String>,
    offset: Option<String>,
    errors: &mut ValidationErrors,
) -> (u32, u64) {
    let limit = match limit.map(|raw| raw.parse::<u32>()) {
        None => DEFAULT_PAGE,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => {
            errors.push("limit", "limit must be a number from 1 to 200");
            DEFAULT_PAGE
        }
    };
    let offset = match offset.map(|raw| raw.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            errors.push("offset", "offset must be a non-negative number");
            0
        }
    };
    (limit, offset)
}

/// An optional query parameter, for the OpenAPI document.
pub(crate) fn query_param(name: &str, description: &str, schema: Object) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// The document's `limit` and `offset`: exactly what [`page`] accepts; `items` names what a
/// page holds ("Events", "Notices").
pub(crate) fn page_params(items: &str) -> [Parameter; 2] {
    let limit = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1u32))
        .maximum(Some(MAX_PAGE))
        .default(Some(DEFAULT_PAGE.into()))
        .build();
    let offset = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0u64))
        .maximum(Some(u64::MAX))
        .default(Some(0.into()))
        .build();
    [
        query_param("limit", "Page size (1–200, default 50).", limit),
        query_param("offset", &format!("{items} to skip, newest first (default 0)."), offset),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_offsets_are_checked_and_defaulted() {
        let mut errors = ValidationErrors::default();
        assert_eq!(page(None, None, &mut errors), (DEFAULT_PAGE, 0));
        assert_eq!(page(Some("200".into()), Some("7".into()), &mut errors), (200, 7));
        assert!(errors.into_result(()).is_ok());
        for (limit, offset) in [("0", "1"), ("201", "-1"), ("x", "y")] {
            let mut errors = ValidationErrors::default();
            let _ = page(Some(limit.into()), Some(offset.into()), &mut errors);
            assert!(errors.into_result(()).is_err(), "{limit} {offset}");
        }
    }
}
