//! The web globals behave as the standards (and the web-platform-tests, scripts/wpt/) say, in
//! the cases where flux used to differ: URL setters, URLSearchParams and Headers built from
//! records and iterables, live iteration, events fired by the platform, DOMException's codes.

use crate::support::Project;

#[test]
fn url_setters_and_form_lists_follow_the_url_standard() {
    let project = Project::with_files(&[(
        "functions/urls.ts",
        "export default () => {\n\
           const url = new URL('https://user@example.com:8080/a/b?x=1#top')\n\
           url.port = '443'            // the scheme's default: dropped\n\
           url.hostname = 'EXAMPLE.org'\n\
           url.pathname = '/c d'\n\
           url.searchParams.append('q', 'a+b c')\n\
           url.hash = ''\n\
           const kept = new URL('http://a.com/')\n\
           kept.port = '99999'         // invalid: the URL stays as it was\n\
           let invalidHref = ''\n\
           try { kept.href = 'not a url' } catch (e) { invalidHref = e.constructor.name }\n\
           const record = new URLSearchParams({ '\\uD835x': '1', xx: '2', '\\uD83Dx': '3' })\n\
           return {\n\
             href: url.href,\n\
             origin: new URL('blob:https://example.com:8/uuid').origin,\n\
             fileHost: new URL('/c:/foo/bar', 'file://host/path').href,\n\
             kept: kept.href,\n\
             invalidHref,\n\
             form: [...new URLSearchParams('a=%zz&b=%C2&+c+=1&&')],\n\
             record: [...record],\n\
             serialized: new URLSearchParams([['a b', '*-._~&=+']]).toString(),\n\
             domException: new URLSearchParams(DOMException).get('TIMEOUT_ERR'),\n\
           }\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/urls");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "href": "https://user@example.org/c%20d?x=1&q=a%2Bb+c",
            "origin": "https://example.com:8",
            // A file: URL keeps its host before a drive letter (the current standard).
            "fileHost": "file://host/c:/foo/bar",
            "kept": "http://a.com/",
            "invalidHref": "TypeError",
            "form": [["a", "%zz"], ["b", "\u{FFFD}"], [" c ", "1"]],
            "record": [["\u{FFFD}x", "3"], ["xx", "2"]],
            "serialized": "a+b=*-._%7E%26%3D%2B",
            "domException": "23",
        })
    );
}

#[test]
fn headers_and_events_follow_fetch_and_dom() {
    let project = Project::with_files(&[(
        "functions/headers.ts",
        "export default () => {\n\
           const headers = new Headers({ b: '2', a: '1' })\n\
           const seen = []\n\
           for (const [name] of headers) { seen.push(name); if (name === 'a') headers.append('c', '3') }\n\
           const it = headers.keys()\n\
           const next = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(it), 'next')\n\
           let nullInit = ''\n\
           try { new Headers(null) } catch (e) { nullInit = e.constructor.name }\n\
           let notByteString = ''\n\
           try { new Headers({ a: '\\u0100' }) } catch (e) { notByteString = e.constructor.name }\n\
           const controller = new AbortController()\n\
           let trusted = null\n\
           controller.signal.addEventListener('abort', (e) => { trusted = e.isTrusted })\n\
           controller.abort()\n\
           const target = new EventTarget()\n\
           let detail = null\n\
           target.addEventListener('ping', (e) => { detail = e.detail })\n\
           target.dispatchEvent(new CustomEvent('ping', { detail: { n: 1 } }))\n\
           let nullSignal = ''\n\
           try { target.addEventListener('x', null, { signal: null }) } catch (e) { nullSignal = e.constructor.name }\n\
           return {\n\
             seen, nullInit, notByteString, trusted, detail, nullSignal,\n\
             iteratorNext: [next.writable, next.enumerable, next.configurable],\n\
             syntheticTrusted: new Event('x').isTrusted,\n\
             codes: [DOMException.ABORT_ERR, new DOMException('m', 'TimeoutError').code],\n\
           }\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/headers");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({
            // Iteration is live: a header added while iterating is reached.
            "seen": ["a", "b", "c"],
            "nullInit": "TypeError",
            "notByteString": "TypeError",
            "trusted": true,
            "detail": { "n": 1 },
            "nullSignal": "TypeError",
            "iteratorNext": [true, true, true],
            "syntheticTrusted": false,
            "codes": [20, 23],
        })
    );
}

#[test]
fn signals_from_abort_signal_any_abort_with_their_sources_in_order() {
    let project = Project::with_files(&[(
        "functions/signals.ts",
        "export default () => {\n\
           const controller = new AbortController()\n\
           const signals = [controller.signal]\n\
           signals.push(AbortSignal.any([controller.signal]))\n\
           signals.push(AbortSignal.any([controller.signal]))\n\
           signals.push(AbortSignal.any([signals[0]]))\n\
           signals.push(AbortSignal.any([signals[1]]))\n\
           let order = ''\n\
           const seenInFirst = []\n\
           signals.forEach((signal, i) => signal.addEventListener('abort', () => {\n\
             order += i\n\
             if (i === 0) seenInFirst.push(...signals.map((s) => s.aborted))\n\
           }))\n\
           controller.abort('why')\n\
           const done = AbortSignal.abort('early')\n\
           let fired = false\n\
           const already = AbortSignal.any([new AbortController().signal, done])\n\
           already.onabort = () => { fired = true }\n\
           let notASignal = ''\n\
           try { AbortSignal.any([{ aborted: false }]) } catch (e) { notASignal = e.constructor.name }\n\
           return {\n\
             order, seenInFirst,\n\
             reasons: signals.map((s) => s.reason),\n\
             already: [already.aborted, already.reason, fired],\n\
             notASignal,\n\
           }\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/signals");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({
            // The source's event first, then its dependents' in the order they were made: a
            // signal made from another dependent one follows that one's source, not it.
            "order": "01234",
            // Every signal is aborted before the first abort event fires.
            "seenInFirst": [true, true, true, true, true],
            "reasons": ["why", "why", "why", "why", "why"],
            "already": [true, "early", false],
            "notASignal": "TypeError",
        })
    );
}

#[test]
fn listener_options_are_read_in_webidl_order_even_for_a_null_listener() {
    let project = Project::with_files(&[(
        "functions/options.ts",
        "export default () => {\n\
           const read = []\n\
           const options = {}\n\
           for (const name of ['signal', 'passive', 'once', 'capture', 'other']) {\n\
             Object.defineProperty(options, name, { get() { read.push(name); return undefined } })\n\
           }\n\
           const target = new EventTarget()\n\
           target.addEventListener('x', null, options)\n\
           const added = read.splice(0)\n\
           target.removeEventListener('x', null, options)\n\
           return { added, removed: read }\n\
         }",
    )]);
    let server = project.start();
    let reply = server.get("/options");
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Feature detection (`get passive() { supported = true }`) works: every member is read, a
    // dictionary's in order, before the null listener is ignored; remove reads only capture.
    assert_eq!(
        reply.json(),
        serde_json::json!({ "added": ["capture", "once", "passive", "signal"], "removed": ["capture"] })
    );
}
