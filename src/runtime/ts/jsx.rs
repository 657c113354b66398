//! JSX to JavaScript for `.tsx`/`.jsx` modules, by swc's React transform, configured as the
//! project's tsconfig.json configures `tsc` (and overridden per file by the usual pragmas,
//! `/** @jsxImportSource hono/jsx */`, `/** @jsx h */`), so that editor and runtime agree.
//!
//! The transform rewrites elements into calls, which moves code. So that stack traces and
//! `flux why` still name the line the user wrote, the generated code is printed compactly and
//! then broken into lines again: before each token that came from a later source line, as many
//! line breaks as bring it back to that line. Columns are not kept.

use std::collections::HashMap;
use std::path::Path;

use swc_common::comments::SingleThreadedComments;
use swc_common::sync::Lrc;
use swc_common::{BytePos, FileName, Globals, LineCol, Mark, SourceMap, Spanned, GLOBALS};
use swc_ecma_ast::{EsVersion, Expr, Lit, Program, Prop, PropName, PropOrSpread};
use swc_ecma_codegen::text_writer::JsWriter;
use swc_ecma_codegen::{Config, Emitter};
use swc_ecma_parser::lexer::Lexer;
use swc_ecma_parser::unstable::{Capturing, Token};
use swc_ecma_parser::{EsSyntax, Parser, StringInput, Syntax};
use swc_ecma_transforms_base::{fixer::fixer, hygiene::hygiene, resolver};
use swc_ecma_transforms_react::{jsx, Runtime};

use super::SyntaxError;

/// How JSX compiles: tsconfig.json's `jsx`, `jsxImportSource`, `jsxFactory` and
/// `jsxFragmentFactory` (its `extends` is not followed). Without them, as TypeScript's
/// `"jsx": "react-jsx"`: the automatic runtime, imported from `react/jsx-runtime`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsxOptions {
    /// `"jsx": "react"`: calls to the factory (`React.createElement` unless `jsxFactory` names
    /// another) instead of imports from `<jsxImportSource>/jsx-runtime`.
    pub classic: bool,
    pub import_source: Option<String>,
    pub factory: Option<String>,
    pub fragment: Option<String>,
}

impl JsxOptions {
    /// The options of the project at `root` (the defaults when it has no readable tsconfig.json).
    pub fn of_project(root: &Path) -> JsxOptions {
        std::fs::read_to_string(root.join("tsconfig.json"))
            .map(|text| JsxOptions::from_tsconfig(&text))
            .unwrap_or_default()
    }

    /// tsconfig.json is JSON with comments and trailing commas: a JavaScript expression, which
    /// swc's parser reads.
    fn from_tsconfig(text: &str) -> JsxOptions {
        let cm: Lrc<SourceMap> = Default::default();
        let fm = cm.new_source_file(FileName::Anon.into(), format!("({text}\n)"));
        let parsed = Parser::new(
            Syntax::Es(EsSyntax::default()),
            StringInput::from(&*fm),
            None,
        )
        .parse_expr();
        let Ok(config) = parsed else {
            return JsxOptions::default();
        };
        let compiler = property(&config, "compilerOptions");
        let text = |key: &str| {
            compiler
                .and_then(|options| property(options, key))
                .and_then(string)
        };
        JsxOptions {
            classic: text("jsx").is_some_and(|jsx| jsx == "react"),
            import_source: text("jsxImportSource"),
            factory: text("jsxFactory"),
            fragment: text("jsxFragmentFactory"),
        }
    }
}

/// The value of property `key` of an object literal.
fn property<'a>(object: &'a Expr, key: &str) -> Option<&'a Expr> {
    let object = match object {
        Expr::Paren(inner) => &*inner.expr,
        other => other,
    };
    let Expr::Object(object) = object else {
        return None;
    };
    object.props.iter().find_map(|prop| match prop {
        PropOrSpread::Prop(prop) => match &**prop {
            Prop::KeyValue(pair) => {
                let name = match &pair.key {
                    PropName::Str(text) => text.value.to_atom_lossy().to_string(),
                    PropName::Ident(ident) => ident.sym.to_string(),
                    _ => return None,
                };
                (name == key).then_some(&*pair.value)
            }
            _ => None,
        },
        PropOrSpread::Spread(_) => None,
    })
}

fn string(value: &Expr) -> Option<String> {
    match value {
        Expr::Lit(Lit::Str(text)) => Some(text.value.to_atom_lossy().to_string()),
        _ => None,
    }
}

/// Compiles the JSX in `js` (JavaScript: a `.tsx` file's types are erased before); `file`
/// names it in errors.
pub fn compile(file: &str, js: &str, options: &JsxOptions) -> Result<String, SyntaxError> {
    let cm: Lrc<SourceMap> = Default::default();
    let fm = cm.new_source_file(FileName::Real(file.into()).into(), js.to_string());
    let comments = SingleThreadedComments::default();
    let syntax = Syntax::Es(EsSyntax {
        jsx: true,
        ..Default::default()
    });
    let mut parser = Parser::new(syntax, StringInput::from(&*fm), Some(&comments));
    let syntax_error = |error: swc_ecma_parser::error::Error| {
        let loc = cm.lookup_char_pos(error.span().lo);
        SyntaxError {
            file: file.to_string(),
            line: loc.line,
            column: loc.col_display + 1,
            message: error.kind().msg().to_string(),
        }
    };
    let module = parser.parse_module().map_err(syntax_error)?;
    if let Some(error) = parser.take_errors().into_iter().next() {
        return Err(syntax_error(error));
    }
    let mut program = Program::Module(module);
    let react = swc_ecma_transforms_react::Options {
        runtime: Some(if options.classic {
            Runtime::Classic
        } else {
            Runtime::Automatic
        }),
        import_source: options.import_source.as_deref().map(Into::into),
        pragma: options.factory.clone().map(Into::into),
        pragma_frag: options.fragment.clone().map(Into::into),
        ..Default::default()
    };
    let (code, map) = GLOBALS.set(&Globals::new(), || {
        let unresolved_mark = Mark::new();
        let top_level_mark = Mark::new();
        program.mutate(&mut resolver(unresolved_mark, top_level_mark, false));
        program.mutate(&mut jsx(
            cm.clone(),
            Some(comments.clone()),
            react,
            top_level_mark,
            unresolved_mark,
        ));
        program.mutate(&mut hygiene());
        program.mutate(&mut fixer(None));
        emit(&cm, &program)
    });
    Ok(retain_lines(&cm, &code, &map))
}

/// The program as compact JavaScript, with where each piece came from in the source.
fn emit(cm: &Lrc<SourceMap>, program: &Program) -> (String, Vec<(BytePos, LineCol)>) {
    let mut code = Vec::new();
    let mut map = Vec::new();
    {
        let mut emitter = Emitter {
            cfg: Config::default()
                .with_minify(true)
                .with_target(EsVersion::latest()),
            comments: None,
            cm: cm.clone(),
            wr: JsWriter::new(cm.clone(), "\n", &mut code, Some(&mut map)),
        };
        // Writing to a Vec cannot fail.
        let _ = emitter.emit_program(program);
    }
    (String::from_utf8_lossy(&code).into_owned(), map)
}

/// `code` with line breaks added so that each token from source line N is on line N, where
/// a line break cannot change the meaning: not inside a template literal, nor where
/// JavaScript forbids one (after `return`, `throw`, `break`, `continue`, `yield`, `async`;
/// before `++`, `--`, `=>`).
fn retain_lines(cm: &SourceMap, code: &str, map: &[(BytePos, LineCol)]) -> String {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(code.match_indices('\n').map(|(at, _)| at + 1))
        .collect();
    // The source line of the code at each mapped offset: the first line when several nodes
    // start there.
    let mut source_line: HashMap<usize, usize> = HashMap::new();
    for (pos, generated) in map {
        if pos.is_dummy() || pos.is_reserved_for_comments() {
            continue;
        }
        let Some(&start) = line_starts.get(generated.line as usize) else {
            continue;
        };
        let offset = start + utf16_to_bytes(&code[start..], generated.col as usize);
        let line = cm.lookup_char_pos(*pos).line;
        source_line
            .entry(offset)
            .and_modify(|known| *known = (*known).min(line))
            .or_insert(line);
    }
    let generated: Lrc<SourceMap> = Default::default();
    let fm = generated.new_source_file(FileName::Anon.into(), code.to_string());
    let lexer = Capturing::new(Lexer::new(
        Syntax::Es(EsSyntax::default()),
        EsVersion::latest(),
        StringInput::from(&*fm),
        None,
    ));
    let mut parser = Parser::new_from(lexer);
    if parser.parse_module().is_err() {
        // swc printed code it cannot read back: keep it as printed, lines lost.
        return code.to_string();
    }
    let tokens = parser.input_mut().iter_mut().take();
    let mut out = String::with_capacity(code.len() + 256);
    let (mut line, mut last, mut previous) = (1, 0, None);
    for token in tokens {
        let at = (token.span.lo - fm.start_pos).0 as usize;
        let Some(text) = code.get(last..at) else {
            continue;
        };
        line += text.matches('\n').count();
        out.push_str(text);
        last = at;
        if let Some(&wanted) = source_line.get(&at) {
            if wanted > line && breakable(previous, token.token) {
                out.extend(std::iter::repeat_n('\n', wanted - line));
                line = wanted;
            }
        }
        previous = Some(token.token);
    }
    out.push_str(&code[last..]);
    out
}

fn breakable(previous: Option<Token>, next: Token) -> bool {
    let restricted_after = matches!(
        previous,
        Some(
            Token::Return
                | Token::Throw
                | Token::Break
                | Token::Continue
                | Token::Yield
                | Token::Async
        )
    );
    let restricted_before = matches!(
        next,
        Token::PlusPlus
            | Token::MinusMinus
            | Token::Arrow
            // The parts of a template literal after its start.
            | Token::BackQuote
            | Token::Template
            | Token::DollarLBrace
            | Token::TemplateMiddle
            | Token::TemplateTail
    );
    !restricted_after && !restricted_before
}

/// The byte length of the first `units` UTF-16 code units of `text`.
fn utf16_to_bytes(text: &str, units: usize) -> usize {
    let mut counted = 0;
    for (at, c) in text.char_indices() {
        if counted >= units {
            return at;
        }
        counted += c.len_utf16();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classic() -> JsxOptions {
        JsxOptions {
            classic: true,
            factory: Some("h".into()),
            fragment: Some("Fragment".into()),
            ..Default::default()
        }
    }

    #[test]
    fn elements_become_factory_calls_on_their_lines() {
        let source = "const page = (items) => (\n  <ul class=\"list\">\n    {items.map((i) => (\n      <li>{i.name}</li>\n    ))}\n  </ul>\n)\nfunction fail() {\n  throw new Error(`at ${\n1}`)\n}\nexport default page\n";
        let js = compile("page.jsx", source, &classic()).expect("compiles");
        assert!(js.contains("h(\"ul\""), "{js}");
        assert!(!js.contains('<'), "{js}");
        let lines: Vec<&str> = js.lines().collect();
        assert_eq!(lines.len(), 12, "{js}");
        assert!(lines[3].starts_with("h(\"li\""), "{js}");
        assert!(lines[8].starts_with("throw new Error(`at ${"), "{js}");
        assert_eq!(lines[9], "1}`);", "{js}");
        assert!(lines[11].starts_with("export default page"), "{js}");
    }

    #[test]
    fn the_automatic_runtime_imports_from_the_import_source_a_pragma_names() {
        let source = "/** @jsxImportSource hono/jsx */\nexport default () =>\n  <p>hi</p>\n";
        let js = compile("p.jsx", source, &JsxOptions::default()).expect("compiles");
        assert!(js.contains("from\"hono/jsx/jsx-runtime\""), "{js}");
        assert_eq!(js.lines().count(), 3, "{js}");
        assert!(
            js.lines().nth(2).is_some_and(|l| l.contains("\"p\"")),
            "{js}"
        );
    }

    #[test]
    fn a_return_keeps_its_value_on_its_line() {
        let source = "export default function f() {\n  return (\n    <p>\n      hi</p>)\n}\n";
        let js = compile("r.jsx", source, &classic()).expect("compiles");
        assert!(js.contains("return h(") || js.contains("return(h("), "{js}");
    }

    #[test]
    fn tsconfig_with_comments_and_trailing_commas_is_read() {
        let options = JsxOptions::from_tsconfig(
            "{\n  // editor\n  \"compilerOptions\": { \"jsx\": \"react\", \"jsxFactory\": \"h\", },\n}",
        );
        assert_eq!(
            options,
            JsxOptions {
                classic: true,
                factory: Some("h".into()),
                ..Default::default()
            }
        );
        let automatic = JsxOptions::from_tsconfig(
            r#"{ "compilerOptions": { "jsx": "react-jsx", "jsxImportSource": "hono/jsx" } }"#,
        );
        assert_eq!(automatic.import_source.as_deref(), Some("hono/jsx"));
        assert!(!automatic.classic);
    }

    #[test]
    fn a_jsx_syntax_error_has_its_line() {
        let error =
            compile("bad.jsx", "const a = 1\nconst b = <p></q>\n", &classic()).expect_err("fails");
        assert_eq!(error.line, 2, "{error}");
    }
}
