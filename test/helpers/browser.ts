/**
 * A minimal browser for tests: a cookie jar honouring path and expiry, manual redirects,
 * and form handling read from the real HTML (hidden fields such as the CSRF token included).
 */
export interface Page {
  url: string;
  status: number;
  html: string;
  headers: Headers;
}

interface Cookie {
  name: string;
  value: string;
  path: string;
  host: string;
  expires: number | null;
}

const decode = (s: string) =>
  s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_m, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

export interface FormInfo {
  action: string;
  method: string;
  fields: Record<string, string>;
}

/**
 * Every <form> of a page with its action and the values a browser would send as it stands: text
 * and hidden inputs, checked radios and checkboxes, each <select>'s selected option (else its first)
 * and textareas.
 */
export function forms(page: Page): FormInfo[] {
  const found: FormInfo[] = [];
  for (const m of page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = m[1] ?? '';
    const action = decode(/action="([^"]*)"/i.exec(attrs)?.[1] ?? page.url);
    const method = (/method="([^"]*)"/i.exec(attrs)?.[1] ?? 'get').toLowerCase();
    const fields: Record<string, string> = {};
    const body = m[2] ?? '';
    for (const input of body.matchAll(/<input\b([^>]*)>/gi)) {
      const a = input[1] ?? '';
      const name = /name="([^"]*)"/i.exec(a)?.[1];
      if (!name) continue;
      const type = (/type="([^"]*)"/i.exec(a)?.[1] ?? 'text').toLowerCase();
      if ((type === 'radio' || type === 'checkbox') && !/\schecked\b/i.test(a)) continue;
      if (type === 'submit' || type === 'button' || type === 'reset' || type === 'image' || type === 'file') continue;
      fields[decode(name)] = decode(/value="([^"]*)"/i.exec(a)?.[1] ?? (type === 'checkbox' || type === 'radio' ? 'on' : ''));
    }
    for (const select of body.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/gi)) {
      const name = /name="([^"]*)"/i.exec(select[1] ?? '')?.[1];
      if (!name) continue;
      const options = [...(select[2] ?? '').matchAll(/<option\b([^>]*)>([\s\S]*?)(?=<option\b|$)/gi)];
      const chosen = options.find((o) => /\sselected\b/i.test(o[1] ?? '')) ?? options[0];
      if (chosen) fields[decode(name)] = decode(/value="([^"]*)"/i.exec(chosen[1] ?? '')?.[1] ?? (chosen[2] ?? '').replace(/<\/option>[\s\S]*$/i, '').trim());
    }
    for (const area of body.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/gi)) {
      const name = /name="([^"]*)"/i.exec(area[1] ?? '')?.[1];
      if (name) fields[decode(name)] = decode(area[2] ?? '');
    }
    found.push({ action: new URL(action, page.url).href, method, fields });
  }
  return found;
}

export function formWith(page: Page, actionEndsWith: string): FormInfo {
  const form = forms(page).find((f) => new URL(f.action).pathname.endsWith(actionEndsWith));
  if (!form) throw new Error(`no form posting to …${actionEndsWith} on ${page.url} (status ${page.status}):\n${page.html.slice(0, 2000)}`);
  return form;
}

export class Browser {
  readonly #cookies: Cookie[] = [];
  readonly #seen = new Set<string>();
  /** Requests to these origins are not made: the URL is returned as the end of the journey. */
  readonly stopAt: string[];

  constructor(stopAt: string[] = []) {
    this.stopAt = stopAt;
  }

  #store(url: URL, header: string): void {
    const [pair = '', ...attrs] = header.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = '/';
    let expires: number | null = null;
    for (const attr of attrs) {
      const [k = '', v = ''] = attr.split('=').map((s) => s.trim());
      if (k.toLowerCase() === 'path') path = v || '/';
      if (k.toLowerCase() === 'expires') expires = Date.parse(v);
      if (k.toLowerCase() === 'max-age') expires = Date.now() + Number(v) * 1000;
    }
    if (value) this.#seen.add(value);
    const index = this.#cookies.findIndex((c) => c.name === name && c.path === path && c.host === url.hostname);
    if (index >= 0) this.#cookies.splice(index, 1);
    if (expires === null || expires > Date.now()) this.#cookies.push({ name, value, path, host: url.hostname, expires });
  }

  /** Cookies belong to a host name, not a port (RFC 6265), as in a real browser. */
  cookieHeader(url: URL): string {
    const now = Date.now();
    return this.#cookies
      .filter((c) => c.host === url.hostname && (c.expires === null || c.expires > now))
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** Sets a cookie as a Set-Cookie header from `url` would (e.g. one copied from another browser). */
  setCookie(url: string, header: string): void {
    this.#store(new URL(url), header);
  }

  cookieNames(): string[] {
    return this.#cookies.map((c) => c.name);
  }

  /** The current value of a cookie (the longest path first when several have the name). */
  cookie(name: string): string | undefined {
    return this.#cookies.filter((c) => c.name === name).sort((a, b) => b.path.length - a.path.length)[0]?.value;
  }

  /** Every cookie value this browser was ever given, including ones since replaced or expired. */
  cookieValuesSeen(): string[] {
    return [...this.#seen];
  }

  /** The network call of `request` (never following redirects): fetch, unless a subclass brings its own client. */
  protected send(target: URL, init: { method: string; headers: Record<string, string>; body: string | undefined }): Promise<Response> {
    return fetch(target, { ...init, redirect: 'manual' });
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string>; body?: string } = {}): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = { Accept: 'text/html', ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.Cookie = cookie;
    let body = init.body;
    if (init.form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await this.send(target, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body });
    for (const setCookie of response.headers.getSetCookie()) this.#store(target, setCookie);
    return { url: target.href, status: response.status, html: await response.text(), headers: response.headers };
  }

  /** Follows redirects until a page is shown or a stop origin is reached (returned unfetched, status 0). */
  async navigate(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 20 && page.status >= 300 && page.status < 400; hops += 1) {
      const next = new URL(page.headers.get('location')!, page.url).href;
      if (this.stopAt.some((origin) => next.startsWith(origin))) return { url: next, status: 0, html: '', headers: new Headers() };
      page = await this.request(next);
    }
    return page;
  }

  /** Follows the first link whose href path ends with `hrefEndsWith`. */
  async follow(page: Page, hrefEndsWith: string): Promise<Page> {
    for (const m of page.html.matchAll(/<a\b[^>]*href="([^"]*)"/gi)) {
      const href = new URL(decode(m[1]!), page.url);
      if (href.pathname.endsWith(hrefEndsWith)) return this.navigate(href.href);
    }
    throw new Error(`no link to …${hrefEndsWith} on ${page.url} (status ${page.status}):\n${page.html.slice(0, 2000)}`);
  }

  async submit(page: Page, actionEndsWith: string, values: Record<string, string> = {}): Promise<Page> {
    const form = formWith(page, actionEndsWith);
    return this.navigate(form.action, { form: { ...form.fields, ...values } });
  }
}
