//! Colour: whether to use it is decided once per stream, by anstream's rules; how each
//! part looks is here.

use anstyle::{AnsiColor, Effects};

/// Whether to colour output, and the colours of its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn plain() -> Style {
        Style { color: false }
    }

    /// Colour when `stream` takes it, as anstream decides for every stream of the process:
    /// its global choice (the cli sets it once from `--color`), else `NO_COLOR`, then
    /// `CLICOLOR_FORCE`, then whether the stream is a terminal.
    pub fn for_stream(stream: &impl anstream::stream::RawStream) -> Style {
        Style {
            color: anstream::AutoStream::choice(stream) != anstream::ColorChoice::Never,
        }
    }

    /// For stdout.
    pub fn stdout() -> Style {
        Style::for_stream(&std::io::stdout())
    }

    /// For stderr.
    pub fn stderr() -> Style {
        Style::for_stream(&std::io::stderr())
    }

    fn paint(&self, look: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{look}{text}{look:#}")
        } else {
            text.to_string()
        }
    }

    pub fn red(&self, text: &str) -> String {
        self.paint(AnsiColor::Red.on_default(), text)
    }

    pub fn green(&self, text: &str) -> String {
        self.paint(AnsiColor::Green.on_default(), text)
    }

    pub fn yellow(&self, text: &str) -> String {
        self.paint(AnsiColor::Yellow.on_default(), text)
    }

    pub fn cyan(&self, text: &str) -> String {
        self.paint(AnsiColor::Cyan.on_default(), text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().effects(Effects::DIMMED), text)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().effects(Effects::BOLD), text)
    }

    /// `error:`'s look: red and bold.
    pub fn error(&self, text: &str) -> String {
        self.paint(AnsiColor::Red.on_default().effects(Effects::BOLD), text)
    }

    pub(super) fn status(&self, ok: bool, text: &str) -> String {
        if ok {
            self.green(text)
        } else {
            self.red(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_sgr_sequences_and_plain_is_untouched() {
        let colour = Style { color: true };
        assert_eq!(colour.red("x"), "\u{1b}[31mx\u{1b}[0m");
        assert_eq!(colour.error("error:"), "\u{1b}[1m\u{1b}[31merror:\u{1b}[0m");
        assert_eq!(Style::plain().bold("x"), "x");
    }
}
