//! `.tsx`/`.jsx` functions: JSX compiled as the project's tsconfig.json says (or a file's
//! pragma), and errors inside JSX placed on the line the user wrote.

use crate::support::Project;

/// A classic-runtime factory building HTML strings, as a project might write its own.
const HTML: &str = r#"export class Html {
  readonly html: string
  constructor(html: string) { this.html = html }
}
const text = (child: unknown): string =>
  child instanceof Html ? child.html
  : Array.isArray(child) ? child.map(text).join('')
  : child === null || child === undefined || child === false ? ''
  : String(child).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)
export function h(tag: string | ((props: any) => Html), props: Record<string, unknown> | null, ...children: unknown[]): Html {
  if (typeof tag === 'function') return tag({ ...props, children })
  const attributes = Object.entries(props ?? {}).map(([k, v]) => ` ${k}="${text(v)}"`).join('')
  return new Html(`<${tag}${attributes}>${text(children)}</${tag}>`)
}
export function Fragment(props: { children?: unknown }): Html {
  return new Html(text(props.children))
}
"#;

const TSCONFIG: &str = r#"{
  // The classic runtime with the project's own factory.
  "compilerOptions": { "jsx": "react", "jsxFactory": "h", "jsxFragmentFactory": "Fragment", },
}
"#;

const MENU: &str = r#"import { h, Fragment } from './_lib/html.ts'

type Item = { name: string; price: number }

function Row({ item }: { item: Item }) {
  return <li class="item">{item.name}: {item.price.toFixed(2)}</li>
}

export default function handler(req: FluxRequest) {
  const items: Item[] = [{ name: 'Tea & cake', price: 3.5 }, { name: '<b>Scone</b>', price: 2 }]
  const page = (
    <>
      <h1>Menu for {req.query.who ?? 'you'}</h1>
      <ul>
        {items.map((item) => <Row item={item} />)}
      </ul>
    </>
  )
  return new Response(page.html, { headers: { 'content-type': 'text/html' } })
}
"#;

const BROKEN: &str = r#"import { h } from './_lib/html.ts'

export default function handler() {
  const items: { name: string; price?: number }[] = [{ name: 'tea', price: 1 }, { name: 'scone' }]
  return new Response((
    <ul>
      {items.map((item) => {
        if (item.price === undefined) throw new Error(`no price for ${item.name}`)
        return <li>{item.name}</li>
      })}
    </ul>
  ).html)
}
"#;

#[test]
fn a_tsx_handler_renders_html_with_the_projects_own_factory() {
    let project = Project::with_files(&[
        ("tsconfig.json", TSCONFIG),
        ("functions/_lib/html.ts", HTML),
        ("functions/menu.tsx", MENU),
    ]);
    let server = project.start();
    let reply = server.get("/menu?who=Ada");
    assert_eq!(reply.status, 200, "{}", reply.body);
    insta::assert_snapshot!(reply.body, @r#"<h1>Menu for Ada</h1><ul><li class="item">Tea &#38; cake: 3.50</li><li class="item">&#60;b&#62;Scone&#60;/b&#62;: 2.00</li></ul>"#);
}

#[test]
fn an_error_thrown_inside_jsx_is_placed_at_its_line() {
    let project = Project::with_files(&[
        ("tsconfig.json", TSCONFIG),
        ("functions/_lib/html.ts", HTML),
        ("functions/broken.tsx", BROKEN),
    ]);
    let server = project.start();
    let reply = server.get("/broken");
    assert_eq!(reply.status, 500, "{}", reply.body);
    let id = reply.request_id();
    let record = server.record(&id);
    assert_eq!(record["error"]["message"], "no price for scone", "{record}");
    let (code, stdout, stderr) = project.run(&["why", &id, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let finding: serde_json::Value = serde_json::from_str(&stdout).expect("why's json");
    // Line 8 is the `throw`, inside the `<ul>` that the transform turned into calls.
    assert_eq!(finding["finding"]["location"], "broken.tsx:8", "{stdout}");
}

#[test]
fn a_hono_jsx_handler_renders_with_the_import_source_its_pragma_names() {
    let project = Project::with_npm(&[(
        "functions/hello.tsx",
        "/** @jsxImportSource hono/jsx */\n\
         export default function handler(req: FluxRequest) {\n\
         \x20 const name = req.query.name ?? 'world'\n\
         \x20 const page = <html><body><h1 class=\"title\">Hello {name}</h1></body></html>\n\
         \x20 return new Response(page.toString(), { headers: { 'content-type': 'text/html' } })\n\
         }\n",
    )]);
    let server = project.start();
    let reply = server.get("/hello?name=%3Cflux%3E");
    assert_eq!(reply.status, 200, "{}", reply.body);
    insta::assert_snapshot!(reply.body, @r#"<html><body><h1 class="title">Hello &lt;flux&gt;</h1></body></html>"#);
}
