//! `ctx.email.send`: templates from `emails/<name>.html`, captured in the store.

use std::path::Path;

use serde_json::Value;

/// Renders `{{ key }}` and `{{ a.b }}` placeholders, HTML-escaped; missing keys render empty.
pub fn render(template: &str, data: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        let value = key.split('.').try_fold(data, |value, part| value.get(part));
        match value {
            Some(Value::String(s)) => out.push_str(&escape_html(s)),
            Some(Value::Null) | None => {}
            Some(other) => out.push_str(&escape_html(&other.to_string())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The `<title>` of a rendered page, used as the subject when none is given.
pub fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = lower[start..].find("</title>")? + start;
    Some(html[start..end].trim().to_string()).filter(|t| !t.is_empty())
}

/// The template file for `name`, refusing names that would leave `emails/`.
pub fn template_path(emails_dir: &Path, name: &str) -> Result<std::path::PathBuf, String> {
    let valid = !name.is_empty()
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    if !valid {
        return Err(format!(
            "email template name '{name}' is not valid: use a name such as 'welcome'"
        ));
    }
    Ok(emails_dir.join(format!("{name}.html")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_filled_and_escaped() {
        let html = render(
            "<p>Hi {{ name }}, {{user.plan}}{{missing}}</p>",
            &json!({"name": "<Ada>", "user": {"plan": 3}}),
        );
        assert_eq!(html, "<p>Hi &lt;Ada&gt;, 3</p>");
    }

    #[test]
    fn names_cannot_escape_the_folder() {
        assert!(template_path(Path::new("emails"), "../secret").is_err());
        assert!(template_path(Path::new("emails"), "welcome").is_ok());
    }
}
