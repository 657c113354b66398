//! `flux email list|show`: the emails `ctx.email.send` captured instead of sending.

use super::source::read_or_store;
use super::{CliError, EmailCommand, Format, GlobalArgs};
use crate::api::Emails;
use crate::client::Target;
use crate::output::{print_line, terminal_width};
use crate::record::short_text;
use crate::render::{escape, render_table, Column};
use crate::store::{write_private, Email};
use crate::timefmt::rfc3339;

/// Columns of the text rendering of an email's HTML.
const TEXT_WIDTH: usize = 78;

pub fn run(command: &EmailCommand, global: &GlobalArgs) -> Result<(), CliError> {
    let target = global.target();
    match command {
        EmailCommand::List { limit } => list(&target, global, *limit),
        EmailCommand::Show { id, html, open } => show(&target, global, *id, *html, *open),
    }
}

fn list(target: &Target, global: &GlobalArgs, limit: usize) -> Result<(), CliError> {
    if !(1..=crate::server::MAX_EMAILS_LISTED).contains(&limit) {
        return Err(CliError::usage(format!(
            "--limit must be from 1 to {}",
            crate::server::MAX_EMAILS_LISTED
        )));
    }
    let emails = read_or_store(
        target,
        &format!("/_flux/api/emails?limit={limit}"),
        |body: Emails<Email>| body.emails,
        |store| store.emails(limit),
    )?;
    if global.format() == Format::Json {
        return Ok(print_line(&serde_json::to_string_pretty(&emails)?)?);
    }
    if emails.is_empty() {
        eprintln!("no emails captured yet: each ctx.email.send is kept here instead of sent");
        return Ok(());
    }
    let style = global.style();
    let rows = emails
        .iter()
        .map(|email| {
            vec![
                email.id.to_string(),
                style.dim(&rfc3339(email.sent_at_us)),
                escape(&email.to).into_owned(),
                escape(&email.subject).into_owned(),
                style.dim(&format!("req:{}", short_text(&email.record_id))),
            ]
        })
        .collect::<Vec<_>>();
    let columns = [
        Column::whole("ID"),
        Column::whole("SENT"),
        Column::shrink("TO"),
        Column::shrink("SUBJECT"),
        Column::whole("SENT BY"),
    ];
    print_line(&render_table(&columns, &rows, terminal_width()))?;
    Ok(())
}

fn show(
    target: &Target,
    global: &GlobalArgs,
    id: i64,
    html: bool,
    open: bool,
) -> Result<(), CliError> {
    let email = read_or_store(
        target,
        &format!("/_flux/api/emails/{id}"),
        |email: Email| Some(email),
        |store| store.email(id),
    )?
    .ok_or_else(|| {
        CliError::not_found(format!("no email {id}"))
            .with_hint("flux email list shows the captured ones")
    })?;
    let body = email.html.clone().unwrap_or_default();
    if open {
        let path = std::env::temp_dir().join(format!("flux-email-{id}.html"));
        // Emails carry users' data: only the owner may read the copy.
        write_private(&path, body.as_bytes()).map_err(|e| CliError::failure(e.to_string()))?;
        webbrowser::open(&format!("file://{}", path.display())).map_err(|e| {
            CliError::failure(format!("could not open a browser: {e}")).with_hint(format!(
                "open {} yourself, or set BROWSER to the browser's command",
                path.display()
            ))
        })?;
        eprintln!("opened {}", path.display());
        return Ok(());
    }
    if global.format() == Format::Json {
        return Ok(print_line(&serde_json::to_string_pretty(&email)?)?);
    }
    if html {
        return Ok(print_line(&body)?);
    }
    let style = global.style();
    let text = html2text::from_read(body.as_bytes(), TEXT_WIDTH)
        .map_err(|e| CliError::failure(format!("email {id}'s HTML cannot be read: {e}")))?;
    let lines = [
        format!(
            "{} {id}  {}  {}",
            style.bold("EMAIL"),
            style.dim(&rfc3339(email.sent_at_us)),
            style.dim(&format!("req:{}", short_text(&email.record_id)))
        ),
        format!("{} {}", style.bold("To:      "), escape(&email.to)),
        format!("{} {}", style.bold("Subject: "), escape(&email.subject)),
        format!("{} {}", style.bold("Template:"), escape(&email.template)),
        String::new(),
        escape_text(text.trim_end()),
    ];
    Ok(print_line(&lines.join("\n"))?)
}

/// The text of an email, each line escaped like any other output of user data.
fn escape_text(text: &str) -> String {
    text.lines().map(escape).collect::<Vec<_>>().join("\n")
}
