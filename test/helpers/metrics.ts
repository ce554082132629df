/** Reading a Prometheus text exposition in tests: scrape /metrics, look series up, compare two scrapes. */

/** Series → value of a Prometheus text exposition, e.g. `oidc_sspr_logins_total{result="success"}` → 1. */
export function parse(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

/** GET `${url}/metrics` with the bearer token (none when undefined); anything but a 200 throws. */
export async function scrape(url: string, token: string | undefined): Promise<{ text: string; series: Map<string, number> }> {
  const response = await fetch(`${url}/metrics`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const text = await response.text();
  return { text, series: parse(text) };
}

export const value = (series: Map<string, number>, key: string) => series.get(key) ?? 0;

/** How much each series moved between two scrapes. */
export function moved(before: Map<string, number>, after: Map<string, number>, keys: string[]): Record<string, number> {
  return Object.fromEntries(keys.map((k) => [k, value(after, k) - value(before, k)]));
}

/** Every label value of a scrape. */
export function labelValues(text: string): string[] {
  return [...text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => m[2]!);
}

/** The summed `_count` of the latency histogram over the series whose labels include every one of `labels` (e.g. `route="/token"`). */
export function requests(series: Map<string, number>, ...labels: string[]): number {
  return [...series].filter(([k]) => k.startsWith('oidc_sspr_http_request_duration_seconds_count{') && labels.every((l) => k.includes(l))).reduce((n, [, v]) => n + v, 0);
}
