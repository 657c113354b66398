//! Tables (`flux queue stats`, `flux queue list`): a header and aligned columns, no borders.
//!
//! A cell is never wrapped: wrapping would break an id, a time or a function name in the
//! middle. When the rows are wider than the terminal, the columns marked [`Column::shrink`]
//! (names, errors) give up width, widest first, and their cells are cut with `…`; the others
//! (ids, times, counts) are always whole.

use unicode_width::UnicodeWidthChar;

use super::width::{pad_right, width};

/// Spaces between two columns.
const GAP: usize = 2;
/// A shrinking column keeps at least this many display columns (or its natural width).
const MIN_SHRUNK: usize = 8;

/// One column: its header, and whether its cells may be cut to fit.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub shrink: bool,
}

impl Column {
    /// A column whose cells are always shown whole (ids, times, counts).
    pub const fn whole(header: &'static str) -> Column {
        Column {
            header,
            shrink: false,
        }
    }

    /// A column whose cells are cut with `…` when the table is too wide.
    pub const fn shrink(header: &'static str) -> Column {
        Column {
            header,
            shrink: true,
        }
    }
}

/// `rows` under the columns' headers, aligned by display width; with `max_width` (a
/// terminal's width), shrinking columns are cut so that each line fits if it can.
pub fn render_table(columns: &[Column], rows: &[Vec<String>], max_width: Option<usize>) -> String {
    let natural: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(|cell| width(cell))
                .chain([width(column.header)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = match max_width {
        Some(limit) => fit(columns, natural, limit),
        None => natural,
    };
    let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| line(row, &widths))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Narrows the shrinking columns until the line fits in `limit` or none can give more: the
/// rightmost first (an error message gives up its tail before a function name does).
fn fit(columns: &[Column], natural: Vec<usize>, limit: usize) -> Vec<usize> {
    let total = natural.iter().sum::<usize>() + GAP * natural.len().saturating_sub(1);
    let mut excess = total.saturating_sub(limit);
    let mut widths = natural;
    for (i, column) in columns.iter().enumerate().rev() {
        if excess == 0 {
            break;
        }
        if column.shrink {
            let give = widths[i].saturating_sub(MIN_SHRUNK).min(excess);
            widths[i] -= give;
            excess -= give;
        }
    }
    widths
}

/// One row: each cell cut to its column's width if it must be, padded, the last one not.
fn line(row: &[String], widths: &[usize]) -> String {
    let last = widths.len().saturating_sub(1);
    let cells: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let cell = cut(row.get(i).map_or("", String::as_str), w);
            if i == last {
                cell
            } else {
                pad_right(&cell, w)
            }
        })
        .collect();
    cells.join(&" ".repeat(GAP)).trim_end().to_string()
}

/// `text` as it fits in `columns` display columns: whole, or cut with `…` at the end.
fn cut(text: &str, columns: usize) -> String {
    if width(text) <= columns {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > columns {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn columns_align_by_display_width() {
        let columns = [Column::shrink("FUNCTION"), Column::whole("DONE")];
        let text = render_table(&columns, &cells(&[&["名前", "1"], &["f", "22"]]), None);
        assert_eq!(text, "FUNCTION  DONE\n名前      1\nf         22");
    }

    #[test]
    fn a_narrow_terminal_cuts_names_and_errors_never_ids_or_times() {
        let columns = [
            Column::whole("JOB"),
            Column::shrink("FUNCTION"),
            Column::whole("RUN AT"),
            Column::shrink("LAST ERROR"),
        ];
        let rows = cells(&[&[
            "4d5e1baa",
            "send_welcome_email",
            "2026-11-30T07:11:22.790Z",
            "user not found: u_99 (looked up in users)",
        ]]);
        // The error gives up its tail first…
        let text = render_table(&columns, &rows, Some(70));
        assert_eq!(
            text,
            "JOB       FUNCTION            RUN AT                    LAST ERROR\n\
             4d5e1baa  send_welcome_email  2026-11-30T07:11:22.790Z  user not foun…"
        );
        // …then the function name; the id and the time stay whole.
        let text = render_table(&columns, &rows, Some(60));
        assert_eq!(
            text,
            "JOB       FUNCTION        RUN AT                    LAST ER…\n\
             4d5e1baa  send_welcome_…  2026-11-30T07:11:22.790Z  user no…"
        );
        assert!(text.lines().all(|l| width(l) <= 60), "{text}");
        // Wide enough: nothing is cut.
        let text = render_table(&columns, &rows, Some(200));
        assert!(text.contains("send_welcome_email") && text.contains("(looked up in users)"));
    }

    #[test]
    fn what_cannot_fit_overflows_rather_than_breaking_a_cell() {
        let columns = [Column::whole("JOB"), Column::whole("RUN AT")];
        let rows = cells(&[&["4d5e1baa", "2026-11-30T07:11:22.790Z"]]);
        let text = render_table(&columns, &rows, Some(10));
        assert_eq!(
            text.lines().nth(1),
            Some("4d5e1baa  2026-11-30T07:11:22.790Z")
        );
    }

    #[test]
    fn cutting_counts_wide_characters_as_shown() {
        assert_eq!(cut("日本語のテキスト", 7), "日本語…");
        assert_eq!(cut("short", 8), "short");
        assert_eq!(cut("exactly8", 8), "exactly8");
        assert_eq!(cut("ninechars", 8), "ninecha…");
    }
}
