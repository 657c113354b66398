//! Whether a module holds only types (`export type`, `interface`, `import type` …): such a
//! file under `functions/` is shared declarations, not a route or a worker.

use swc_common::BytePos;
use swc_ecma_ast::{Decl, ModuleDecl, ModuleItem, Stmt};
use swc_ecma_parser::{Parser, StringInput, Syntax, TsSyntax};

/// True when `source` parses as TypeScript and declares nothing but types. A handler needs a
/// default export, so a source without the word `default` is the only one worth parsing; a
/// file that does not parse is left a route, so that its requests report the syntax error.
pub fn is_type_only(source: &str) -> bool {
    if source.contains("default") {
        return false;
    }
    let end = BytePos(1 + source.len() as u32);
    let input = StringInput::new(source, BytePos(1), end);
    let Ok(module) =
        Parser::new(Syntax::Typescript(TsSyntax::default()), input, None).parse_module()
    else {
        return false;
    };
    module.body.iter().all(|item| match item {
        ModuleItem::ModuleDecl(ModuleDecl::Import(import)) => import.type_only,
        ModuleItem::ModuleDecl(ModuleDecl::ExportNamed(export)) => export.type_only,
        ModuleItem::ModuleDecl(ModuleDecl::ExportAll(export)) => export.type_only,
        ModuleItem::ModuleDecl(ModuleDecl::ExportDecl(export)) => is_type_decl(&export.decl),
        ModuleItem::ModuleDecl(_) => false,
        ModuleItem::Stmt(Stmt::Decl(decl)) => is_type_decl(decl),
        ModuleItem::Stmt(Stmt::Empty(_)) => true,
        ModuleItem::Stmt(_) => false,
    })
}

fn is_type_decl(decl: &Decl) -> bool {
    match decl {
        Decl::TsInterface(_) | Decl::TsTypeAlias(_) => true,
        Decl::Class(class) => class.declare,
        Decl::Fn(function) => function.declare,
        Decl::Var(var) => var.declare,
        Decl::TsEnum(e) => e.declare,
        Decl::TsModule(m) => m.declare,
        Decl::Using(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_type_only;

    #[test]
    fn only_declarations_of_types_make_a_type_file() {
        assert!(is_type_only(
            "// shared\nexport type User = { id: string }\nexport interface Job { n: number }\nimport type { X } from './x.ts'\n"
        ));
        assert!(is_type_only("declare const VERSION: string;\n"));
        assert!(!is_type_only("export default () => 1"));
        assert!(!is_type_only(
            "export type A = string\nexport const b = 1\n"
        ));
        assert!(!is_type_only("export enum Color { Red }\n"));
        assert!(
            !is_type_only("export type A = \n"),
            "a syntax error stays a route"
        );
    }
}
