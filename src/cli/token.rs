//! `flux token …`: scoped tokens for `/_flux/` (create, list, revoke, rotate), through the
//! server's API with the admin token; `list` reads the store when no server runs.

use super::source::{needs_server, read_or_store};
use super::{print_json, print_list, CliError, ErrorKind, Format, GlobalArgs, TokenCommand};
use crate::api::{CreatedToken, NewToken, Revoked, Rotate, Tokens};
use crate::client::{self, Answer, Target};
use crate::output::print_line;
use crate::record::{short_text, ExecId};
use crate::render::{escape, Column};
use crate::store::tokens::TokenRow;
use crate::timefmt::rfc3339;
use crate::token::Scope;

pub fn run(command: &TokenCommand, global: &GlobalArgs) -> Result<(), CliError> {
    let target = global.target();
    match command {
        TokenCommand::Create { scope, name } => create(&target, global, scope, name.clone()),
        TokenCommand::List => list(&target, global),
        TokenCommand::Revoke { id } => revoke(&target, global, id),
        TokenCommand::Rotate { id, grace } => rotate(&target, global, id, grace.as_deref()),
    }
}

/// The server's answer to a change of the tokens, or why there is none: a refusal with what
/// to do about the usual ones, or no server (only a running one writes its store).
fn answered<T>(target: &Target, answer: Answer<T>) -> Result<T, CliError> {
    match answer {
        Answer::Ok(body) => Ok(body),
        Answer::Status(status, message, _) => {
            let error = CliError::refused(status, message).with_hint_if(
                ErrorKind::NotFound,
                "'flux token list' shows the ids of tokens",
            );
            Err(if status == 403 {
                error.with_hint(
                    "managing tokens needs the server's own token (flux dev --token, FLUX_TOKEN)",
                )
            } else {
                error
            })
        }
        Answer::Unreachable => Err(needs_server(target, "the tokens")),
    }
}

/// The new token on stdout, alone on its line (for `$(…)`), and what it is on stderr.
fn print_created(
    global: &GlobalArgs,
    created: &CreatedToken<TokenRow>,
    what: String,
) -> Result<(), CliError> {
    if global.format() == Format::Json {
        return print_json(created);
    }
    print_line(&created.token)?;
    eprintln!("{what}");
    eprintln!("it is shown this once: flux keeps only its hash");
    Ok(())
}

fn create(
    target: &Target,
    global: &GlobalArgs,
    scope: &str,
    name: Option<String>,
) -> Result<(), CliError> {
    let scope = Scope::parse(scope).ok_or_else(|| {
        CliError::usage(format!(
            "--scope {scope}: expected read, operate, deploy or admin"
        ))
    })?;
    let body = NewToken { scope, name };
    let created: CreatedToken<TokenRow> = answered(
        target,
        client::post_json(target, "/_flux/api/tokens", &body)?,
    )?;
    let row = &created.row;
    let what = format!(
        "Created token {} ({}, scope {}: {})",
        short_text(&row.id),
        escape(&row.name),
        row.scope,
        row.scope.describe()
    );
    print_created(global, &created, what)
}

fn list(target: &Target, global: &GlobalArgs) -> Result<(), CliError> {
    let tokens: Vec<TokenRow> = read_or_store(
        target,
        "/_flux/api/tokens",
        |body: Tokens<TokenRow>| body.tokens,
        |store| store.tokens(),
    )?;
    let columns = [
        Column::whole("ID"),
        Column::shrink("NAME"),
        Column::whole("SCOPE"),
        Column::whole("CREATED"),
        Column::whole("LAST USED"),
        Column::whole("REVOKED"),
    ];
    let time = |at: Option<i64>| at.map_or_else(|| "-".to_string(), rfc3339);
    print_list(
        global,
        &tokens,
        "no scoped tokens yet: flux token create --scope read",
        &columns,
        |t| {
            vec![
                short_text(&t.id).to_string(),
                escape(&t.name).into_owned(),
                t.scope.to_string(),
                rfc3339(t.created_at_us),
                time(t.last_used_at_us),
                time(t.revoked_at_us),
            ]
        },
    )
}

fn revoke(target: &Target, global: &GlobalArgs, id: &str) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(id)?;
    let path = format!("/_flux/api/tokens/{prefix}/revoke");
    let answer: Revoked<TokenRow> = answered(target, client::post(target, &path)?)?;
    if global.format() == Format::Json {
        return print_json(&answer.revoked);
    }
    let row = &answer.revoked;
    Ok(print_line(&format!(
        "Revoked token {} ({}, scope {}): it is refused from now on",
        short_text(&row.id),
        escape(&row.name),
        row.scope
    ))?)
}

fn rotate(
    target: &Target,
    global: &GlobalArgs,
    id: &str,
    grace: Option<&str>,
) -> Result<(), CliError> {
    let prefix = ExecId::parse_prefix(id)?;
    if let Some(grace) = grace {
        crate::timefmt::parse_delay(grace).map_err(|e| {
            CliError::usage(format!("--grace {e}"))
                .with_hint("for example: flux token rotate 0a1b2c3d --grace 10m")
        })?;
    }
    let body = Rotate {
        grace: grace.map(String::from),
    };
    let path = format!("/_flux/api/tokens/{prefix}/rotate");
    let created: CreatedToken<TokenRow> =
        answered(target, client::post_json(target, &path, &body)?)?;
    let old = created.replaces.as_ref();
    let until = match (grace, old.and_then(|o| o.revoked_at_us)) {
        (Some(_), Some(at)) => format!("keeps working until {}", rfc3339(at)),
        _ => "is refused from now on".to_string(),
    };
    let what = format!(
        "Rotated {} (scope {}): new token {}; the old one, {}, {until}",
        escape(&created.row.name),
        created.row.scope,
        short_text(&created.row.id),
        old.map_or("", |o| short_text(&o.id)),
    );
    print_created(global, &created, what)
}
