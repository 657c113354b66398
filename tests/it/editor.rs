//! The editor set-up `flux init` writes: `tsc --noEmit` (TypeScript from the npm fixture) passes
//! on the example and on a hono/jsx function, and reports a type error in a function; an npm project's own package.json and
//! tsconfig.json are kept.

use std::process::Command;

use crate::support::Project;

/// A fresh `flux init .` in a folder whose `node_modules` has the fixture's packages (as after
/// `npm install`), typescript among them.
fn initialised_with_typescript() -> Project {
    let project = Project::with_npm(&[]);
    std::fs::remove_dir(project.path().join("functions")).expect("remove the empty functions/");
    let (code, _, stderr) = project.run(&["init", "."]);
    assert_eq!(code, 0, "flux init . beside node_modules: {stderr}");
    assert_eq!(stderr, "", "nothing of the project was there to keep");
    project
}

/// `tsc --noEmit -p .` in the project: (exit code, its report).
fn tsc(project: &Project) -> (i32, String) {
    let output = Command::new("node")
        .args(["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."])
        .current_dir(project.path())
        .output()
        .expect("run node: the editor tests need Node.js on PATH");
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), report)
}

#[test]
fn tsc_passes_on_a_fresh_init() {
    let project = initialised_with_typescript();
    let (code, report) = tsc(&project);
    assert_eq!(code, 0, "tsc --noEmit on the example:\n{report}");
}

#[test]
fn tsc_checks_a_hono_jsx_function_as_flux_compiles_it() {
    let project = initialised_with_typescript();
    // The pragma flux's JSX transform honours is the one tsc reads: the same import source.
    project.write(
        "functions/hello.tsx",
        "/** @jsxImportSource hono/jsx */\n\
         export default function handler(req: FluxRequest) {\n\
         \x20 const page = <h1 class=\"title\">Hello {req.query.name ?? 'world'}</h1>\n\
         \x20 return new Response(page.toString(), { headers: { 'content-type': 'text/html' } })\n\
         }\n",
    );
    let (code, report) = tsc(&project);
    assert_eq!(code, 0, "tsc --noEmit with a .tsx function:\n{report}");
}

#[test]
fn tsc_reports_a_type_error_a_missing_global_and_an_untyped_import_in_a_function() {
    let project = initialised_with_typescript();
    project.write(
        "functions/_lib/plans.ts",
        "export interface Plan { name: string }\nexport const plans: Plan[] = [{ name: 'free' }]\n",
    );
    project.write(
        "functions/price.ts",
        "import { plans, Plan } from './_lib/plans.ts'\n\
         export default async function handler(req: FluxRequest<{ plan: string }>, ctx: FluxContext) {\n\
         \x20 const count: number = req.body.plan\n\
         \x20 const home = process.env.HOME\n\
         \x20 const first: Plan = plans[0]\n\
         \x20 return { count, home, first, id: ctx.requestId }\n\
         }\n",
    );
    let (code, report) = tsc(&project);
    assert_eq!(code, 2, "{report}");
    // Each is a mistake flux would show at run time only: a string where a number was meant,
    // Node's `process` (flux has `ctx.env`), and a type imported as a value (flux erases types
    // file by file, so the import would fail).
    insta::assert_snapshot!(report.trim_end(), @r"
    functions/price.ts(1,17): error TS1484: 'Plan' is a type and must be imported using a type-only import when 'verbatimModuleSyntax' is enabled.
    functions/price.ts(3,9): error TS2322: Type 'string' is not assignable to type 'number'.
    functions/price.ts(4,16): error TS2591: Cannot find name 'process'. Do you need to install type definitions for node? Try `npm i --save-dev @types/node` and then add 'node' to the types field in your tsconfig.
    ");
}

#[test]
fn init_keeps_an_npm_projects_package_json_and_tsconfig_json() {
    let project = Project::with_files(&[]);
    std::fs::remove_dir(project.path().join("functions")).expect("remove the empty functions/");
    let package = "{ \"name\": \"mine\", \"dependencies\": { \"zod\": \"^3\" } }\n";
    let tsconfig = "{ \"compilerOptions\": { \"strict\": false } }\n";
    project.write("package.json", package);
    project.write("tsconfig.json", tsconfig);
    let (code, stdout, stderr) = project.run(&["init", "."]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("Created a flux project in ."),
        "{stdout}"
    );
    insta::assert_snapshot!(stderr, @r#"
    note: kept the existing package.json: flux's sets "type": "module", a dev dependency on typescript and "typecheck": "tsc --noEmit"
    note: kept the existing tsconfig.json: flux's sets lib ["ESNext"] (no DOM), types [], module and moduleResolution NodeNext, allowImportingTsExtensions, verbatimModuleSyntax, noEmit, and includes flux.d.ts
    "#);
    let read = |file: &str| std::fs::read_to_string(project.path().join(file)).expect("read");
    assert_eq!(read("package.json"), package);
    assert_eq!(read("tsconfig.json"), tsconfig);
    assert!(project.path().join("functions/create_user.ts").exists());
    assert!(project.path().join("flux.d.ts").exists());
}
