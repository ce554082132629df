/**
 * The bench's HTTP client: a `fetch` replacement over node:http with a keep-alive agent, for the
 * test browser and openid-client (`customFetch`). The relying party shares the machine's CPUs with
 * the server, so what it spends per request is taken from the figures: undici's fetch costs about
 * five times what node:http does per request here (measured 580 vs 115 µs CPU, client and a
 * trivial server together, on the bench machine). Plain HTTP to loopback only; redirects are never
 * followed (the browser follows them itself), bodies are strings or URLSearchParams.
 */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface FetchInit {
  method?: string;
  headers?: Record<string, string> | Headers;
  body?: unknown;
  signal?: AbortSignal | null;
}

function bodyText(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  throw new TypeError(`keepAliveFetch: unsupported body ${Object.prototype.toString.call(body)}`);
}

export async function keepAliveFetch(input: string | URL, init: FetchInit = {}): Promise<Response> {
  const url = new URL(input);
  if (url.protocol !== 'http:') throw new TypeError(`keepAliveFetch: ${url.protocol} is not supported`);
  const headers: Record<string, string> = {};
  if (init.headers instanceof Headers) init.headers.forEach((value, name) => (headers[name] = value));
  else Object.assign(headers, init.headers);
  const body = bodyText(init.body);
  if (body !== undefined) {
    headers['content-length'] = String(Buffer.byteLength(body));
    if (init.body instanceof URLSearchParams && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
  }
  return new Promise<Response>((resolve, reject) => {
    const req = http.request(url, { agent, method: init.method ?? 'GET', headers, signal: init.signal ?? undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const out = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const status = res.statusCode ?? 0;
        const noBody = status === 204 || status === 304 || init.method === 'HEAD';
        resolve(new Response(noBody ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers: out }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function closeKeepAlive(): void {
  agent.destroy();
}
