// Fetching the controller's JSON API (same origin, paths relative to /ui/).

const TIMEOUT_MS = 4000;
const TOKEN_KEY = 'aas-acl-token';

/** token is the ACL token of this tab ('' for none). */
export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

/** setToken stores (or, with '', forgets) the tab's ACL token. */
export function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts until reload */ }
}

function headers(accept) {
  const hd = { Accept: accept };
  const t = token();
  if (t) hd['X-Aas-Token'] = t;
  return hd;
}

/**
 * download saves path as a file. With a token the link cannot carry the
 * header, so the file is fetched and handed over as a blob.
 */
export async function download(path, filename) {
  const res = await fetch(`..${path}`, { headers: headers('text/csv'), cache: 'no-store' });
  if (!res.ok) throw new ApiError(path, res.status, res.statusText);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** ApiError carries the path and status of a failed request. */
export class ApiError extends Error {
  constructor(path, status, message) {
    super(`${path}: ${status ? status + ' ' : ''}${message}`);
    this.path = path;
    this.status = status;
  }
}

/** get fetches path ("/v1/...") and decodes JSON; rejects with ApiError. */
export async function get(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(`..${path}`, { signal: ctl.signal, headers: headers('application/json'), cache: 'no-store' });
    const text = await res.text();
    let body = null;
    if (text) {
      try { body = JSON.parse(text); } catch { body = null; }
    }
    if (!res.ok) throw new ApiError(path, res.status, (body && body.error) || res.statusText);
    return body;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(path, 0, err.name === 'AbortError' ? 'timed out' : err.message);
  } finally {
    clearTimeout(timer);
  }
}

/** settle runs the named requests in parallel: {name: value|undefined}, errors. */
export async function fetchAll(requests) {
  const names = Object.keys(requests);
  const results = await Promise.allSettled(names.map((n) => get(requests[n])));
  const data = {};
  const errors = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') data[names[i]] = r.value;
    else errors.push({ name: names[i], error: r.reason });
  });
  return { data, errors };
}
