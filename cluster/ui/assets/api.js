// Fetching the controller's JSON API (same origin, paths relative to /ui/).

const TIMEOUT_MS = 4000;

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
    const res = await fetch(`..${path}`, { signal: ctl.signal, headers: { Accept: 'application/json' }, cache: 'no-store' });
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
