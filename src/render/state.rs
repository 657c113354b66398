//! `flux state history` and `flux state blame` for the terminal.

use serde_json::{Map, Value};

use super::width::{max_width, pad_right};
use super::{escape, inspect, Style};
use crate::record::{short_text, Blame, RowChange};
use crate::timefmt::rfc3339;

fn show_pk(pk: &Value) -> String {
    let text = pk.as_str().map_or_else(|| pk.to_string(), String::from);
    escape(&text).into_owned()
}

/// One change: who made it and when, then each column it changed, old → new.
pub fn render_change(change: &RowChange, style: Style) -> String {
    let fate = if change.committed {
        String::new()
    } else {
        format!(" {}", style.yellow("(rolled back)"))
    };
    let mut lines = vec![format!(
        "{} {} {} {} {} {}{fate}",
        style.dim(&rfc3339(change.at_us)),
        style.dim(&format!("req:{}", short_text(&change.record_id))),
        escape(change.function.as_deref().unwrap_or("?")),
        escape(&change.op),
        escape(&change.table),
        show_pk(&change.pk),
    )];
    let empty = Map::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let mut columns: Vec<&String> = after
        .keys()
        .chain(before.keys().filter(|k| !after.contains_key(*k)))
        .collect();
    columns.dedup();
    let columns: Vec<(&String, String)> = columns
        .into_iter()
        .map(|c| (c, escape(c).into_owned()))
        .collect();
    let width = max_width(columns.iter().map(|(_, shown)| shown.as_str()));
    for (column, shown) in columns {
        let (old, new) = (before.get(column), after.get(column));
        if change.op == "update" && old == new {
            continue;
        }
        let show = |v: Option<&Value>| v.map_or("∅".to_string(), inspect);
        lines.push(format!(
            "    {}  {} → {}",
            pad_right(&shown, width),
            show(old),
            show(new)
        ));
    }
    lines.join("\n")
}

/// Each column of a row: its value, and the execution that set it, and when.
pub fn render_blame(columns: &[Blame], style: Style) -> String {
    let names: Vec<String> = columns
        .iter()
        .map(|c| escape(&c.column).into_owned())
        .collect();
    let width = max_width(names.iter().map(String::as_str));
    columns
        .iter()
        .zip(&names)
        .map(|(column, name)| {
            format!(
                "{}  {}  {} {} {}",
                pad_right(name, width),
                inspect(&column.value),
                style.dim(&format!("req:{}", short_text(&column.record_id))),
                escape(column.function.as_deref().unwrap_or("?")),
                style.dim(&rfc3339(column.at_us)),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_by_display_width() {
        let blame = |column: &str| Blame {
            column: column.into(),
            value: json!(1),
            record_id: "0123456789abcdef".into(),
            function: Some("f".into()),
            at_us: 0,
        };
        let text = render_blame(&[blame("名前"), blame("name")], Style::plain());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("名前  1  req:01234567 f "), "{text}");
        assert!(lines[1].starts_with("name  1  req:01234567 f "), "{text}");
    }
}
