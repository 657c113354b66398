//! `ctx.email.send`: templates from `emails/<name>.html`, captured in the store.

use std::path::Path;

use serde_json::Value;

/// A template filled with its data.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    /// Placeholders the data has no value for, in order, each once. They stay in the HTML as
    /// written (`{{ name }}`), so the gap shows instead of "Welcome, !".
    pub missing: Vec<String>,
}

/// Renders `{{ key }}` and `{{ a.b }}` placeholders, HTML-escaped. A key the data lacks (or
/// holds `null` for) is left as written and named in `missing`.
pub fn render(template: &str, data: &Value) -> Rendered {
    let mut missing: Vec<String> = Vec::new();
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return Rendered { html: out, missing };
        };
        let key = after[..end].trim();
        let value = key.split('.').try_fold(data, |value, part| value.get(part));
        match value {
            Some(Value::String(s)) => out.push_str(&escape_html(s)),
            Some(Value::Null) | None => {
                // The template's own text, as written.
                out.push_str(&rest[start..start + 2 + end + 2]);
                if !missing.iter().any(|m| m == key) {
                    missing.push(key.to_string());
                }
            }
            Some(other) => out.push_str(&escape_html(&other.to_string())),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Rendered { html: out, missing }
}

/// What a console line says of placeholders the data had no value for.
pub fn missing_warning(template: &str, missing: &[String], data: &Value) -> String {
    let names = missing
        .iter()
        .map(|key| format!("{{{{ {key} }}}}"))
        .collect::<Vec<_>>()
        .join(", ");
    let has = match data.as_object() {
        Some(map) if !map.is_empty() => format!(
            "data has {}",
            map.keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "data is empty".to_string(),
    };
    format!("email '{template}': no value for {names} ({has}); left as written in the email")
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
        let rendered = render(
            "<p>Hi {{ name }}, {{user.plan}}</p>",
            &json!({"name": "<Ada>", "user": {"plan": 3}}),
        );
        assert_eq!(rendered.html, "<p>Hi &lt;Ada&gt;, 3</p>");
        assert!(rendered.missing.is_empty());
    }

    #[test]
    fn a_placeholder_without_a_value_stays_visible_and_is_named_once() {
        let data = json!({"userId": "u_1", "nick": null});
        let rendered = render("<p>Welcome, {{ name }}! {{nick}} {{ name }}</p>", &data);
        assert_eq!(
            rendered.html,
            "<p>Welcome, {{ name }}! {{nick}} {{ name }}</p>"
        );
        assert_eq!(rendered.missing, ["name", "nick"]);
        assert_eq!(
            missing_warning("welcome", &rendered.missing, &data),
            "email 'welcome': no value for {{ name }}, {{ nick }} (data has userId, nick); left as written in the email"
        );
    }

    #[test]
    fn names_cannot_escape_the_folder() {
        assert!(template_path(Path::new("emails"), "../secret").is_err());
        assert!(template_path(Path::new("emails"), "welcome").is_ok());
    }
}
