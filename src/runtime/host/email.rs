//! `ctx.email.send`: renders a template from `emails/` and captures the email in the store
//! (flux sends nothing).

use rquickjs::{Ctx, Function, Object};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{site, Answer, Bridge, HostError, HostState, JsonArg, Token};
use crate::clock::now_us;
use crate::record::{attr, SpanKind, SpanStatus};
use crate::runtime::{email, Echo};
use crate::store::{NewEmail, TxControl};

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("ctx.email.send({{ to, template, data }}) takes an object")]
    Arguments,
    #[error("ctx.email.send({{ to, template, data }}): `to` and `template` must be strings")]
    NotText,
    /// The template's name is not a relative path under `emails/`.
    #[error("{0}")]
    TemplateName(String),
    #[error("email template '{0}' not found: create emails/{0}.html")]
    TemplateNotFound(String),
    #[error("cannot read emails/{template}.html: {source}")]
    TemplateUnreadable {
        template: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(String),
}

/// `ctx.email.send`'s one argument.
#[derive(Deserialize)]
struct Message {
    to: Value,
    template: Value,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    subject: Option<String>,
}

pub(super) fn install<'js>(ctx: &Ctx<'js>, bridge: &Bridge) -> rquickjs::Result<Object<'js>> {
    let email = Object::new(ctx.clone())?;
    let b = bridge.clone();
    email.set(
        "send",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, token: f64, message: JsonArg, at: Option<String>| {
                b.run(&ctx, |state| {
                    state.send_email(token as Token, message, site(at))
                })
            },
        )?,
    )?;
    Ok(email)
}

impl HostState {
    fn send_email(
        &mut self,
        token: Token,
        message: JsonArg,
        site: Option<String>,
    ) -> Result<Answer, HostError> {
        self.running(token)?;
        let message: Message = message
            .0
            .and_then(|message| serde_json::from_value(message).ok())
            .ok_or(EmailError::Arguments)?;
        let (Value::String(to), Value::String(template)) = (message.to, message.template) else {
            return Err(EmailError::NotText.into());
        };
        let mut attrs = Map::new();
        attrs.insert(attr::TO.into(), Value::String(to.clone()));
        attrs.insert(attr::TEMPLATE.into(), Value::String(template.clone()));
        let exec = self.running(token)?;
        let span = exec.recorder.open(SpanKind::EmailSend, site, attrs);
        let record_id = exec.id.to_string();
        let rendered = self.render_email(&template, &message.data, message.subject.as_deref());
        let (html, subject) = match rendered {
            Ok((rendered, subject)) => {
                if !rendered.missing.is_empty() {
                    let warning =
                        email::missing_warning(&template, &rendered.missing, &message.data);
                    self.log_for(token, "warn", warning);
                }
                (rendered.html, subject)
            }
            Err(error) => {
                let recorder = &mut self.running(token)?.recorder;
                recorder.close(span, SpanStatus::Error, Some(error.to_string()), Map::new());
                return Err(error.into());
            }
        };
        let row = (
            record_id,
            to.clone(),
            subject.clone(),
            template.clone(),
            html,
        );
        self.later(
            token,
            TxControl::None,
            false,
            move |session| {
                let (record_id, to, subject, template, html) = row;
                session.store_email(&NewEmail {
                    record_id,
                    to,
                    subject,
                    template,
                    html,
                    created_at_us: now_us(),
                })
            },
            move |state, token, stored| {
                let echo = std::sync::Arc::clone(&state.shared);
                let recorder = &mut state.exec_mut(token)?.recorder;
                match stored {
                    Ok(id) => {
                        let mut done = Map::new();
                        done.insert(attr::SUBJECT.into(), Value::String(subject.clone()));
                        done.insert(attr::EMAIL_ID.into(), Value::from(id));
                        recorder.close(span, SpanStatus::Ok, None, done);
                        (echo.echo)(Echo::Email {
                            to,
                            template,
                            subject,
                        });
                        Ok(json!({ "id": id }))
                    }
                    Err(message) => {
                        let error = EmailError::Store(message);
                        recorder.close(
                            span,
                            SpanStatus::Error,
                            Some(error.to_string()),
                            Map::new(),
                        );
                        Err(error.into())
                    }
                }
            },
        )
    }

    /// Renders the email from its template; returns its HTML and subject.
    fn render_email(
        &self,
        template: &str,
        data: &Value,
        subject: Option<&str>,
    ) -> Result<(email::Rendered, String), EmailError> {
        let path = email::template_path(&self.shared.layout.emails_dir(), template)
            .map_err(EmailError::TemplateName)?;
        let source = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EmailError::TemplateNotFound(template.to_string()),
            _ => EmailError::TemplateUnreadable {
                template: template.to_string(),
                source: e,
            },
        })?;
        let rendered = email::render(&source, data);
        let subject = subject
            .map(String::from)
            .or_else(|| email::title(&rendered.html))
            .unwrap_or_else(|| template.to_string());
        Ok((rendered, subject))
    }
}
