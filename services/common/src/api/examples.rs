//! Examples for the `/api/v1` bodies, attached by schema name: a service
//! names one example (and what a success answer of it means) per type, and
//! every request body or 2xx response of that type shows it, as do the
//! pages (`Page_<Type>`) and plain lists of it. Kept apart from the types so
//! the examples of a service sit in one place; the coverage test
//! (tests/e2e/openapi_coverage.rs) checks each one against its schema.

use serde_json::{Value, json};
use utoipa::openapi::{Content, OpenApi, RefOr, Schema, schema::ArrayItems};

/// One type's example.
pub struct Example {
    /// The component name, e.g. `Tenant`.
    pub schema: &'static str,
    /// What a 2xx answer with this body means, e.g. "The tenant".
    pub answer: &'static str,
    pub value: Value,
}

const PAGE_ANSWER: &str =
    "One page of the list, in its order; pass `next_cursor` (null on the last page) as `cursor` for the next";

/// Sets the example of every request body and 2xx response whose schema is
/// one of `examples` (or a page or list of one), and the description of a
/// 2xx response that has none. An example set by the handler wins.
pub fn attach(openapi: &mut OpenApi, examples: &[Example]) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if let Some(body) = operation.request_body.as_mut() {
                body.content.values_mut().for_each(|c| {
                    fill(c, examples);
                });
            }
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else { continue };
                if !status.starts_with('2') {
                    continue;
                }
                for content in response.content.values_mut() {
                    if let Some(answer) = fill(content, examples)
                        && response.description.is_empty()
                    {
                        response.description = answer.to_owned();
                    }
                }
            }
        }
    }
}

/// The answer's meaning when an example was found for `content`.
fn fill(content: &mut Content, examples: &[Example]) -> Option<&'static str> {
    let (value, answer) = example_of(content.schema.as_ref()?, examples)?;
    if content.example.is_none() && content.examples.is_empty() {
        content.example = Some(value);
    }
    Some(answer)
}

fn example_of(schema: &RefOr<Schema>, examples: &[Example]) -> Option<(Value, &'static str)> {
    let find = |name: &str| examples.iter().find(|e| e.schema == name);
    match schema {
        RefOr::Ref(r) => {
            let name = r.ref_location.strip_prefix("#/components/schemas/")?;
            if let Some(found) = find(name) {
                return Some((found.value.clone(), found.answer));
            }
            let item = find(name.strip_prefix("Page_")?)?;
            Some((json!({"data": [item.value], "next_cursor": null}), PAGE_ANSWER))
        }
        RefOr::T(Schema::Array(array)) => {
            let ArrayItems::RefOrSchema(items) = &array.items else {
                return None;
            };
            let (item, answer) = example_of(items, examples)?;
            Some((json!([item]), answer))
        }
        RefOr::T(_) => None,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use utoipa::openapi::{
        ContentBuilder, OpenApiBuilder, PathItem, Ref, ResponseBuilder,
        path::{HttpMethod, OperationBuilder},
        schema::ArrayBuilder,
    };

    use super::*;

    fn answering(schema: RefOr<Schema>) -> OpenApi {
        let response = ResponseBuilder::new()
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .build();
        let operation = OperationBuilder::new().response("200", response).build();
        let mut doc = OpenApiBuilder::new().build();
        doc.paths
            .paths
            .insert("/x".into(), PathItem::new(HttpMethod::Get, operation));
        doc
    }

    fn example_and_answer(doc: &OpenApi) -> (Value, String) {
        let op = doc.paths.paths["/x"].get.as_ref().unwrap();
        let RefOr::T(response) = &op.responses.responses["200"] else {
            panic!()
        };
        let content = &response.content["application/json"];
        (content.example.clone().unwrap(), response.description.clone())
    }

    #[test]
    fn a_type_its_page_and_its_list_each_get_the_types_example() {
        let examples = [Example {
            schema: "Thing",
            answer: "The thing",
            value: json!({"id": "t1"}),
        }];
        let mut one = answering(Ref::from_schema_name("Thing").into());
        attach(&mut one, &examples);
        assert_eq!(
            example_and_answer(&one),
            (json!({"id": "t1"}), "The thing".into())
        );
        let mut page = answering(Ref::from_schema_name("Page_Thing").into());
        attach(&mut page, &examples);
        let (value, answer) = example_and_answer(&page);
        assert_eq!(value, json!({"data": [{"id": "t1"}], "next_cursor": null}));
        assert!(answer.starts_with("One page"));
        let list = ArrayBuilder::new().items(Ref::from_schema_name("Thing")).build();
        let mut list = answering(Schema::Array(list).into());
        attach(&mut list, &examples);
        assert_eq!(example_and_answer(&list).0, json!([{"id": "t1"}]));
    }
}
