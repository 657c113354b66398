// Emails: what ctx.email.send captured, each shown in a sandboxed frame (no script, no
// requests, not this origin: /_flux/email/<id> is served with a sandbox CSP too).
import { get } from './api.js';
import { h, idLink, time, failure } from './util.js';

export function render(main, id) {
  const list = h('div', { class: 'email-list' });
  const view = h('div', { class: 'email-view' });
  main.append(h('h1', {}, 'Emails'), h('div', { class: 'two' }, list, view));
  let alive = true;
  get('emails', { limit: 100 }).then(({ emails }) => {
    if (!alive) return;
    list.replaceChildren(emails.length ? h('ul', { class: 'emails' }, emails.map((e) =>
      h('li', { class: String(e.id) === id ? 'current' : null },
        h('a', { href: `#/emails/${e.id}` }, h('strong', {}, e.subject || '(no subject)')),
        h('div', { class: 'muted' }, `to ${e.to} · ${e.template || ''} · ${time(e.sent_at_us)}`)))) : h('p', { class: 'muted' }, 'No email captured yet.'));
    const shown = emails.find((e) => String(e.id) === id) || (!id && emails[0]);
    if (shown) {
      view.replaceChildren(
        h('p', {}, h('strong', {}, shown.subject || ''), h('br'), `to ${shown.to}, sent by `, idLink(shown.record_id)),
        h('iframe', { src: `/_flux/email/${shown.id}`, sandbox: '', referrerpolicy: 'no-referrer', title: `email ${shown.id}`, class: 'email-frame' }));
    }
  }, (error) => list.replaceChildren(failure(error)));
  return () => { alive = false; };
}
