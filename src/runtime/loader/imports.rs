//! The static imports and exports of a module, read with swc's parser: what the loader needs to
//! report an import of a missing file or of a name a module does not export at the import's
//! line, with the names the module does export.

use swc_common::sync::Lrc;
use swc_common::{FileName, Globals, SourceMap, Spanned, GLOBALS};
use swc_ecma_ast::{
    Decl, ExportSpecifier, ImportSpecifier, ModuleDecl, ModuleExportName, ModuleItem,
    ObjectPatProp, Pat, Str,
};
use swc_ecma_parser::{EsSyntax, Parser, StringInput, Syntax};

/// One `import … from '…'` or `export … from '…'`.
#[derive(Debug, PartialEq, Eq)]
pub struct Import {
    pub specifier: String,
    /// The names it takes from the module (`default` for a default import); none for
    /// `import './x'` and `import * as x`.
    pub names: Vec<String>,
    /// 1-based.
    pub line: usize,
}

/// A module's static imports and exports.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ModuleSyntax {
    pub imports: Vec<Import>,
    /// The names it exports itself (`default` included).
    pub exports: Vec<String>,
    /// The modules whose names it re-exports with `export * from '…'`.
    pub star_exports: Vec<String>,
}

/// Reads `code` (JavaScript: types already stripped). `None` when swc cannot parse it: then
/// QuickJS reports what is wrong, or accepts what swc does not.
pub fn read(code: &str) -> Option<ModuleSyntax> {
    GLOBALS.set(&Globals::new(), || {
        let cm: Lrc<SourceMap> = Default::default();
        let file = cm.new_source_file(Lrc::new(FileName::Anon), code.to_string());
        let syntax = Syntax::Es(EsSyntax {
            import_attributes: true,
            explicit_resource_management: true,
            ..Default::default()
        });
        let mut parser = Parser::new(syntax, StringInput::from(&*file), None);
        let module = parser.parse_module().ok()?;
        if !parser.take_errors().is_empty() {
            return None;
        }
        let mut syntax = ModuleSyntax::default();
        for item in &module.body {
            let ModuleItem::ModuleDecl(decl) = item else {
                continue;
            };
            let line = cm.lookup_char_pos(decl.span().lo).line;
            syntax.add(decl, line);
        }
        Some(syntax)
    })
}

impl ModuleSyntax {
    fn add(&mut self, decl: &ModuleDecl, line: usize) {
        match decl {
            ModuleDecl::Import(import) if !import.type_only => {
                let names = import
                    .specifiers
                    .iter()
                    .filter_map(|specifier| match specifier {
                        ImportSpecifier::Named(named) if !named.is_type_only => Some(
                            named
                                .imported
                                .as_ref()
                                .map_or_else(|| named.local.sym.to_string(), export_name),
                        ),
                        ImportSpecifier::Default(_) => Some("default".to_string()),
                        _ => None,
                    })
                    .collect();
                self.imports.push(Import {
                    specifier: text(&import.src),
                    names,
                    line,
                });
            }
            ModuleDecl::ExportDecl(export) => match &export.decl {
                Decl::Class(class) => self.exports.push(class.ident.sym.to_string()),
                Decl::Fn(function) => self.exports.push(function.ident.sym.to_string()),
                Decl::Var(var) => {
                    for declarator in &var.decls {
                        bound_names(&declarator.name, &mut self.exports);
                    }
                }
                _ => {}
            },
            ModuleDecl::ExportNamed(named) if !named.type_only => {
                let mut taken = Vec::new();
                for specifier in &named.specifiers {
                    match specifier {
                        ExportSpecifier::Named(s) if !s.is_type_only => {
                            taken.push(export_name(&s.orig));
                            let exported = s.exported.as_ref().unwrap_or(&s.orig);
                            self.exports.push(export_name(exported));
                        }
                        ExportSpecifier::Namespace(s) => self.exports.push(export_name(&s.name)),
                        ExportSpecifier::Default(s) => {
                            self.exports.push(s.exported.sym.to_string())
                        }
                        ExportSpecifier::Named(_) => {}
                    }
                }
                // `export { x } from './y'` takes `x` from './y' as an import does.
                if let Some(src) = &named.src {
                    self.imports.push(Import {
                        specifier: text(src),
                        names: taken,
                        line,
                    });
                }
            }
            ModuleDecl::ExportDefaultDecl(_) | ModuleDecl::ExportDefaultExpr(_) => {
                self.exports.push("default".to_string());
            }
            ModuleDecl::ExportAll(all) if !all.type_only => {
                let specifier = text(&all.src);
                self.imports.push(Import {
                    specifier: specifier.clone(),
                    names: Vec::new(),
                    line,
                });
                self.star_exports.push(specifier);
            }
            _ => {}
        }
    }
}

fn export_name(name: &ModuleExportName) -> String {
    match name {
        ModuleExportName::Ident(ident) => ident.sym.to_string(),
        ModuleExportName::Str(s) => text(s),
    }
}

fn text(literal: &Str) -> String {
    literal.value.to_string_lossy().into_owned()
}

/// The names a declaration binds: `a` for `a = …`, `a, b` for `{ a, b: [b] } = …`.
fn bound_names(pattern: &Pat, names: &mut Vec<String>) {
    match pattern {
        Pat::Ident(binding) => names.push(binding.id.sym.to_string()),
        Pat::Array(array) => {
            for element in array.elems.iter().flatten() {
                bound_names(element, names);
            }
        }
        Pat::Object(object) => {
            for prop in &object.props {
                match prop {
                    ObjectPatProp::KeyValue(kv) => bound_names(&kv.value, names),
                    ObjectPatProp::Assign(assign) => names.push(assign.key.id.sym.to_string()),
                    ObjectPatProp::Rest(rest) => bound_names(&rest.arg, names),
                }
            }
        }
        Pat::Rest(rest) => bound_names(&rest.arg, names),
        Pat::Assign(assign) => bound_names(&assign.left, names),
        Pat::Invalid(_) | Pat::Expr(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_and_exports_are_read_with_their_lines() {
        let code = "import a, { b, c as d } from './x.ts'\n\
                    import * as ns from '../y'\n\
                    import './side'\n\
                    export function f() {}\n\
                    export const { g, h: [i] } = obj, j = 1\n\
                    export class K {}\n\
                    export { d as e, b }\n\
                    export { m } from './z'\n\
                    export * from './all'\n\
                    export default 1\n";
        let syntax = read(code).expect("parses");
        let imports: Vec<(&str, Vec<&str>, usize)> = syntax
            .imports
            .iter()
            .map(|i| {
                let names = i.names.iter().map(String::as_str).collect();
                (i.specifier.as_str(), names, i.line)
            })
            .collect();
        assert_eq!(
            imports,
            [
                ("./x.ts", vec!["default", "b", "c"], 1),
                ("../y", vec![], 2),
                ("./side", vec![], 3),
                ("./z", vec!["m"], 8),
                ("./all", vec![], 9),
            ]
        );
        assert_eq!(
            syntax.exports,
            ["f", "g", "i", "j", "K", "e", "b", "m", "default"]
        );
        assert_eq!(syntax.star_exports, ["./all"]);
    }

    #[test]
    fn what_does_not_parse_is_left_to_quickjs() {
        assert_eq!(read("export const = 1"), None);
    }
}
