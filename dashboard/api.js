// The JSON API as the page calls it: the session cookie goes along by itself (same origin); every
// request carries the CSRF token the login handed back, which also tells the server not to ask for
// a browser login dialog.
let csrfToken = sessionStorage.getItem('switchyard.csrf') ?? '';

export class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

export function setCsrf(token) {
  csrfToken = token;
  sessionStorage.setItem('switchyard.csrf', token);
}

/** Paths are built from parts, each URL-encoded (a vhost `/` is `%2F`). */
export function path(...parts) {
  return `/api/${parts.map((part) => encodeURIComponent(part)).join('/')}`;
}

export async function api(method, url, body) {
  const headers = { 'x-switchyard-csrf': csrfToken };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    credentials: 'same-origin',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, json?.reason ?? `${res.status} ${res.statusText}`);
  return json;
}

export const get = (url) => api('GET', url);
