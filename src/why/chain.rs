//! The call chain beside a LOCATION: the frames of the error, innermost first, one line each.

use crate::record::{ErrorInfo, Frame};

/// `helper.ts:4 in sendMail`, `node_modules/zod/lib/index.js:12 in parse (package)`, one per
/// frame; empty when the chain has a single frame (the LOCATION says it all).
pub fn call_chain(error: &ErrorInfo) -> Vec<String> {
    if error.frames.len() < 2 {
        return Vec::new();
    }
    error.frames.iter().map(frame_line).collect()
}

fn frame_line(frame: &Frame) -> String {
    let mut line = format!("{}:{}", frame.file, frame.line);
    if let Some(function) = &frame.function {
        line.push_str(&format!(" in {function}"));
    }
    if frame.package {
        line.push_str(" (package)");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::flux_error;

    fn frame(function: Option<&str>, file: &str, line: u32, package: bool) -> Frame {
        Frame {
            function: function.map(String::from),
            file: file.into(),
            line,
            column: Some(1),
            package,
        }
    }

    #[test]
    fn a_chain_names_each_frame_and_marks_packages() {
        let mut error = flux_error("Error", "boom".into());
        error.frames = vec![
            frame(Some("parse"), "node_modules/zod/lib/index.js", 12, true),
            frame(Some("sendMail"), "helper.ts", 4, false),
            frame(None, "create_user.ts", 9, false),
        ];
        assert_eq!(
            call_chain(&error),
            [
                "node_modules/zod/lib/index.js:12 in parse (package)",
                "helper.ts:4 in sendMail",
                "create_user.ts:9",
            ]
        );
        error.frames.truncate(1);
        assert!(call_chain(&error).is_empty());
    }
}
