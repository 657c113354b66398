//! Tables (`flux queue stats`, `flux queue list`): a header and aligned columns, no borders.

use comfy_table::{presets, ContentArrangement, Table};

/// `rows` under `header`, columns aligned by display width; `fit` wraps cells to the
/// terminal's width (for a terminal; piped output keeps each row on one line).
pub fn render_table(header: &[&str], rows: Vec<Vec<String>>, fit: bool) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::NOTHING)
        .set_header(header.iter().copied());
    if fit {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_by_display_width() {
        let text = render_table(
            &["FUNCTION", "DONE"],
            vec![
                vec!["名前".into(), "1".into()],
                vec!["f".into(), "22".into()],
            ],
            false,
        );
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines, [" FUNCTION  DONE", " 名前      1", " f         22"]);
    }
}
