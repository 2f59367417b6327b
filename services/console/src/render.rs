//! The templates, embedded in the binary (`include_str!`) and rendered with
//! minijinja, which escapes everything in `.html` templates by default.

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use minijinja::Environment;
use serde_json::{Value, json};

use crate::session::Session;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("sign_in.html", include_str!("../templates/sign_in.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("models.html", include_str!("../templates/models.html")),
    ("playground.html", include_str!("../templates/playground.html")),
    ("users.html", include_str!("../templates/users.html")),
    ("api_keys.html", include_str!("../templates/api_keys.html")),
    ("byok.html", include_str!("../templates/byok.html")),
    ("limits.html", include_str!("../templates/limits.html")),
    ("webhooks.html", include_str!("../templates/webhooks.html")),
    ("usage.html", include_str!("../templates/usage.html")),
    ("tenants.html", include_str!("../templates/tenants.html")),
];

pub(crate) struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and covered by the
            // tests: one that fails to parse is a build defect, shown as a
            // 500 on the page that uses it rather than a crash at start.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        Self { env }
    }

    /// Renders `name` with `context` plus, when signed in, who is signed
    /// in, their CSRF token and the notices waiting for them.
    pub(crate) fn page(&self, name: &str, session: Option<&Session>, context: Value) -> Response {
        self.page_with_status(StatusCode::OK, name, session, context)
    }

    pub(crate) fn page_with_status(
        &self,
        status: StatusCode,
        name: &str,
        session: Option<&Session>,
        mut context: Value,
    ) -> Response {
        if let (Some(session), Some(map)) = (session, context.as_object_mut()) {
            map.insert("me".into(), me(session));
            map.insert("csrf".into(), json!(session.csrf));
            map.insert("flash".into(), json!(session.take_flash()));
        }
        let rendered = self
            .env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from_serialize(&context)));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "console template failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response()
            }
        }
    }
}

fn me(session: &Session) -> Value {
    use keyway_auth::Role;
    json!({
        "label": session.label,
        "tenant_id": session.tenant_id,
        "user_id": session.user_id,
        "role": session.role.as_str(),
        "is_member": session.is(Role::Member),
        "is_tenant_admin": session.is(Role::TenantAdmin),
        "is_platform_admin": session.is(Role::PlatformAdmin),
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes_what_it_shows() {
        let templates = Templates::new();
        for (name, _) in TEMPLATES {
            assert!(templates.env.get_template(name).is_ok(), "{name} does not parse");
        }
        let page = templates.page(
            "error.html",
            None,
            json!({"title": "Refused", "message": "<script>alert(1)</script>", "code": ""}),
        );
        assert_eq!(page.status(), StatusCode::OK);
        let body = futures::executor::block_on(http_body_util::BodyExt::collect(page.into_body())).unwrap();
        let html = String::from_utf8(body.to_bytes().to_vec()).unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>alert"));
    }
}
