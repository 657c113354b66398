//! TypeScript to JavaScript by erasing types in place, so that lines and columns in stack
//! traces point at the `.ts` source without a source map; JSX compiled on its lines (jsx.rs).

mod jsx;

pub use jsx::JsxOptions;

use std::sync::{Arc, Mutex};

use swc_common::errors::{DiagnosticBuilder, Emitter, Handler};
use swc_common::sync::Lrc;
use swc_common::{Globals, SourceMap, GLOBALS};
use swc_ecma_parser::TsSyntax;
use swc_ts_fast_strip::{operate, ErrorCode, Mode, Options};

/// A syntax error at a 1-based line and column of the source file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct SyntaxError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Diagnostics as (message, position) pairs, shared with the emitter the handler owns.
type Diagnostics = Arc<Mutex<Vec<(String, Option<swc_common::BytePos>)>>>;

#[derive(Clone, Default)]
struct Collected(Diagnostics);

struct CollectingEmitter(Collected);

impl Emitter for CollectingEmitter {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let position = db.span.primary_span().map(|span| span.lo);
        if let Ok(mut all) = self.0 .0.lock() {
            all.push((db.message(), position));
        }
    }
}

/// Strips the types from `source`; `file` names it in errors.
pub fn strip_types(file: &str, source: &str) -> Result<String, SyntaxError> {
    strip(file, source, false)
}

/// Whether module `name` is JSX (`.tsx`, `.jsx`), compiled by [`compile_jsx`].
pub fn is_jsx(name: &str) -> bool {
    name.ends_with(".tsx") || name.ends_with(".jsx")
}

/// A `.tsx` or `.jsx` module as JavaScript: types erased in place, then its JSX compiled as
/// `options` and the file's pragmas say, each element kept on its line.
pub fn compile_jsx(file: &str, source: &str, options: &JsxOptions) -> Result<String, SyntaxError> {
    if file.ends_with(".tsx") {
        jsx::compile(file, &strip(file, source, true)?, options)
    } else {
        jsx::compile(file, source, options)
    }
}

/// Module `file` as JavaScript if it is TypeScript or JSX, as the loader compiles it: types
/// erased from `.ts` and `.mts`, `.tsx` and `.jsx` compiled as `jsx` says; `None` for any other
/// file (JavaScript runs as written).
pub fn compile(file: &str, source: &str, jsx: &JsxOptions) -> Option<Result<String, SyntaxError>> {
    if is_jsx(file) {
        Some(compile_jsx(file, source, jsx))
    } else if file.ends_with(".ts") || file.ends_with(".mts") {
        Some(strip_types(file, source))
    } else {
        None
    }
}

/// Module `file` as JavaScript, for the syntax check of a changed file: as [`compile`] has it,
/// and JavaScript parsed by the same parser (there are no types to erase).
pub fn to_javascript(file: &str, source: &str, jsx: &JsxOptions) -> Result<String, SyntaxError> {
    compile(file, source, jsx).unwrap_or_else(|| strip_types(file, source))
}

fn strip(file: &str, source: &str, tsx: bool) -> Result<String, SyntaxError> {
    match run(file, source, Mode::StripOnly, tsx) {
        // enums, namespaces and parameter properties need code, not just blanks.
        Err((ErrorCode::UnsupportedSyntax, _)) => {
            run(file, source, Mode::Transform, tsx).map_err(|(_, error)| error)
        }
        other => other.map_err(|(_, error)| error),
    }
}

fn run(
    file: &str,
    source: &str,
    mode: Mode,
    tsx: bool,
) -> Result<String, (ErrorCode, SyntaxError)> {
    let collected = Collected::default();
    let cm: Lrc<SourceMap> = Default::default();
    let handler =
        Handler::with_emitter(true, false, Box::new(CollectingEmitter(collected.clone())));
    let options = Options {
        module: Some(true),
        filename: Some(file.to_string()),
        parser: TsSyntax {
            tsx,
            ..Default::default()
        },
        mode,
        ..Default::default()
    };
    let result = GLOBALS.set(&Globals::new(), || {
        operate(&cm, &handler, source.to_string(), options)
    });
    match result {
        Ok(output) => Ok(output.code),
        Err(error) => {
            let first = collected.0.lock().ok().and_then(|all| all.first().cloned());
            let (message, position) = first.unwrap_or((error.message.clone(), None));
            let (line, column) = position
                .map(|pos| {
                    let loc = cm.lookup_char_pos(pos);
                    (loc.line, loc.col_display + 1)
                })
                .unwrap_or((1, 1));
            Err((
                error.code,
                SyntaxError {
                    file: file.to_string(),
                    line,
                    column,
                    message,
                },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_blanked_in_place() {
        let js = strip_types(
            "a.ts",
            "const x: number = 1;\nexport default function f(a: string) { return a }",
        )
        .expect("strips");
        assert!(js.starts_with("const x         = 1;\n"), "{js}");
        assert_eq!(js.lines().count(), 2);
    }

    #[test]
    fn enums_are_transformed() {
        let js =
            strip_types("a.ts", "enum Color { Red }\nexport const c = Color.Red;").expect("strips");
        assert!(js.contains("Color"), "{js}");
    }

    #[test]
    fn tsx_has_its_types_erased_and_its_jsx_compiled() {
        let options = JsxOptions {
            classic: true,
            factory: Some("h".into()),
            ..Default::default()
        };
        let js = compile_jsx(
            "a.tsx",
            "const n: number = 1;\nexport default (p: { x: string }) =>\n  <b id={p.x}>{n}</b>;\n",
            &options,
        )
        .expect("compiles");
        assert_eq!(js.lines().count(), 3, "{js}");
        assert!(
            js.lines().nth(2).is_some_and(|l| l.starts_with("h(\"b\"")),
            "{js}"
        );
        // An enum needs swc's TypeScript transform, which keeps the JSX for the next step.
        let js = compile_jsx(
            "e.tsx",
            "enum Size { S }\nexport default () => <i>{Size.S}</i>;\n",
            &options,
        )
        .expect("compiles");
        assert!(js.contains("h(\"i\"") && js.contains("Size"), "{js}");
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let error = strip_types(
            "bad.ts",
            "export default function f() {\n  return 1 +;\n}\n",
        )
        .expect_err("fails");
        assert_eq!((error.file.as_str(), error.line), ("bad.ts", 2), "{error}");
        assert!(error.column > 1, "{error}");
    }
}
