/**
 * The `.env` file OpenClaw reads from its state folder (KEY=VALUE lines, as dotenv parses
 * them): where an install may keep the value of a `${VAR}` in `openclaw.json`, or its
 * `OPENCLAW_GATEWAY_TOKEN`.
 */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const line = /^\s*(?:export\s+)?([\w.-]+)\s*[=:]\s*("(?:\\.|[^"\\])*"|'[^']*'|`[^`]*`|[^#\r\n]*)?\s*(?:#.*)?$/;
  for (const raw of text.replace(/\r\n?/g, '\n').split('\n')) {
    const m = line.exec(raw);
    if (!m) continue;
    let v = (m[2] ?? '').trim();
    const q = v[0];
    if ((q === '"' || q === "'" || q === '`') && v.endsWith(q) && v.length >= 2) {
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    }
    out[m[1]] = v;
  }
  return out;
}
