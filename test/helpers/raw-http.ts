/** Requests with a raw request target, as an attacker's client can send them (fetch would normalise the path). */
import { request } from 'node:http';

/** GETs `target` exactly as given (e.g. `//evil.example/x`) from the server at `origin`, asking for HTML. */
export function rawGet(origin: string, target: string): Promise<{ status: number; html: string }> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: target, headers: { Accept: 'text/html' } }, (res) => {
      let html = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (html += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, html }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The language switcher's links on a page (each `href` ending in `?lang=xx`), without the query. */
export const languageLinks = (html: string) => [...html.matchAll(/href="([^"]*)\?lang=(en|nl)"/g)].map((m) => m[1]!);
