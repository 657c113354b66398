// The /_flux/api/ calls the pages make: the same API the CLI reads.
import { query } from './util.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function send(method, path, body) {
  const init = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`/_flux/api/${path}`, init);
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: said below */ }
  if (response.status === 401) {
    // The session cookie is gone (a new token, another browser profile): the token form.
    location.replace('/_flux/');
  }
  if (!response.ok) {
    throw new ApiError(response.status, (json && json.error) || `${response.status} ${response.statusText}`, json);
  }
  return json;
}

/** GET path?params (params without empty values). */
export function get(path, params = {}) {
  return send('GET', `${path}${query(params)}`);
}

export function post(path, body) {
  return send('POST', path, body);
}

/** The websocket URL of the tail with these filters. */
export function tailUrl(params) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/_flux/api/tail${query(params)}`;
}
