/**
 * The parts of Go's net/http and of Vault's HTTP layer (http/handler.go, http/logical.go) the dev
 * server mirrors byte for byte: request-target parsing, ServeMux path cleaning, query and form
 * parsing, JSON body decoding, and which statuses a Go server can write.
 */

/** A request target as Go's `url.ParseRequestURI` reads it. */
export interface RequestTarget {
  /** `r.URL.Path`: percent-decoded, what Vault routes on. */
  readonly path: string;
  /** `r.URL.EscapedPath()`: what ServeMux cleans (Go ≥ 1.22). */
  readonly escapedPath: string;
  /** `r.URL.RawQuery`. */
  readonly rawQuery: string;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+\-.]*:/;
const HOST_CHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:<>"]|%[0-9A-Fa-f]{2})*$/;
const IP_LITERAL = /^\[(?:[0-9A-Za-z\-._~:]|%[0-9A-Fa-f]{2})*\](?::\d*)?$/;
const USERINFO = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/;
const BAD_ESCAPE = /%(?![0-9A-Fa-f]{2})/;

/**
 * Parses the request target like Go's server does; undefined when Go refuses it (its server then
 * answers a bare `400 Bad Request` before any handler runs). A `#` is part of the path, as in Go.
 */
export function parseRequestTarget(target: string): RequestTarget | undefined {
  if (target === '*') return { path: '*', escapedPath: '*', rawQuery: '' };
  const question = target.indexOf('?');
  let rest = question < 0 ? target : target.slice(0, question);
  const rawQuery = question < 0 ? '' : target.slice(question + 1);
  if (rest.startsWith(':')) return undefined; // "missing protocol scheme"
  const scheme = SCHEME.exec(rest);
  if (scheme) {
    rest = rest.slice(scheme[0].length);
    // `scheme:opaque` has an empty path.
    if (!rest.startsWith('/')) return { path: '', escapedPath: '', rawQuery };
    if (rest.startsWith('//')) {
      const slash = rest.indexOf('/', 2);
      if (!validAuthority(slash < 0 ? rest.slice(2) : rest.slice(2, slash))) return undefined;
      rest = slash < 0 ? '' : rest.slice(slash);
    }
  } else if (!rest.startsWith('/')) {
    return undefined; // "invalid URI for request"
  }
  const bytes = unescape(rest, false);
  if (!bytes) return undefined;
  const path = bytes.toString('utf8');
  const escapedPath = validEncodedPath(rest) ? rest : escapePath(bytes);
  return { path, escapedPath, rawQuery };
}

function validAuthority(authority: string): boolean {
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const host = at < 0 ? authority : authority.slice(at + 1);
  if (!USERINFO.test(userinfo) || BAD_ESCAPE.test(userinfo)) return false;
  if (host.startsWith('[')) return IP_LITERAL.test(host);
  const colon = host.lastIndexOf(':');
  if (colon >= 0 && !/^:\d*$/.test(host.slice(colon))) return false;
  return HOST_CHARS.test(host);
}

/** Go's `url.unescape`; `+` means a space only in a query. Undefined on a malformed escape. */
function unescape(text: string, query: boolean): Buffer | undefined {
  if (BAD_ESCAPE.test(text)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === 0x2b && query) bytes.push(0x20);
    else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes);
}

const isUnreserved = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) ||
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x61 && c <= 0x7a) ||
  c === 0x2d || // -
  c === 0x2e || // .
  c === 0x5f || // _
  c === 0x7e; // ~

// Go's shouldEscape(c, encodePath) is false for these besides the unreserved characters.
const PATH_SAFE = new Set([...'$&+,/:;=@'].map((c) => c.charCodeAt(0)));
// validEncoded(s, encodePath) also lets these stand unescaped.
const PATH_VALID = new Set([...`!$&'()*+,;=:@[]%`].map((c) => c.charCodeAt(0)));

function validEncodedPath(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!isUnreserved(c) && !PATH_SAFE.has(c) && !PATH_VALID.has(c)) return false;
  }
  return true;
}

function escapePath(bytes: Buffer): string {
  let out = '';
  for (const c of bytes) {
    out +=
      isUnreserved(c) || PATH_SAFE.has(c)
        ? String.fromCharCode(c)
        : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's ServeMux `cleanPath`: `path.Clean`, keeping a trailing slash. */
export function cleanPath(path: string): string {
  if (path === '') return '/';
  const rooted = path.startsWith('/') ? path : `/${path}`;
  const segments: string[] = [];
  for (const segment of rooted.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const cleaned = `/${segments.join('/')}`;
  return rooted.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
  "'": '&#39;',
};

/** Go's `htmlEscape`, which `http.Redirect` applies to the link in its body. */
export function htmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** What Go's `url.ParseQuery` returns: every value of every key, and whether a pair was bad. */
export interface GoQuery {
  readonly values: ReadonlyMap<string, readonly string[]>;
  readonly error: boolean;
}

/**
 * Go's `url.ParseQuery` on raw bytes (latin1 string, one char per byte): `&`-separated pairs, `+`
 * is a space, a pair with `;` or a malformed escape is skipped and reported.
 */
export function parseGoQuery(raw: string): GoQuery {
  const values = new Map<string, string[]>();
  let error = false;
  for (const pair of raw.split('&')) {
    if (pair.includes(';')) {
      error = true;
      continue;
    }
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const key = unescape(equals < 0 ? pair : pair.slice(0, equals), true);
    const value = unescape(equals < 0 ? '' : pair.slice(equals + 1), true);
    if (!key || !value) {
      error = true;
      continue;
    }
    const name = key.toString('utf8');
    const list = values.get(name);
    if (list) list.push(value.toString('utf8'));
    else values.set(name, [value.toString('utf8')]);
  }
  return { values, error };
}

/** Vault's `parseQuery` (http/logical.go): one value as a string, several as a list, no `help`. */
export function queryData(query: GoQuery, omit?: string): Record<string, unknown> {
  const data = dataObject();
  for (const [key, list] of query.values) {
    if (key === 'help' || key === omit) continue;
    data[key] = list.length === 1 ? list[0] : [...list];
  }
  return data;
}

/** Like Go's map: `__proto__` or `constructor` are keys like any other. */
function dataObject(): Record<string, unknown> {
  return Object.create(null) as Record<string, unknown>;
}

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const MEDIA_PARAM = new RegExp(
  `^[ \\t]*${TOKEN}[ \\t]*=[ \\t]*(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*")[ \\t]*$`,
);

/** Go's `mime.ParseMediaType`: the lower-cased media type, or the error Go reports. */
export function parseMediaType(value: string | undefined): { type: string } | { error: string } {
  const [base = '', ...params] = (value ?? '').split(';');
  const type = base.trim().toLowerCase();
  const match = new RegExp(`^(${TOKEN})?(.*)$`, 's').exec(type) as RegExpExecArray;
  if (!match[1]) return { error: 'mime: no media type' };
  const rest = match[2] as string;
  if (rest !== '') {
    if (!rest.startsWith('/')) return { error: 'mime: expected slash after first token' };
    const subtype = new RegExp(`^/(${TOKEN})(.*)$`, 's').exec(rest);
    if (!subtype) return { error: 'mime: expected token after slash' };
    if (subtype[2] !== '') return { error: 'mime: unexpected content after media subtype' };
  }
  for (const [index, param] of params.entries()) {
    if (param.trim() === '' && index === params.length - 1) break; // a trailing `;` is ignored
    if (!MEDIA_PARAM.test(param)) return { error: 'mime: invalid media parameter' };
  }
  return { type };
}

const FORM_TYPE = 'application/x-www-form-urlencoded';
// Go's ParseForm reads at most 10 MiB of a form body that is not behind a MaxBytesReader.
const MAX_FORM_BYTES = 10 * 1024 * 1024;

/** Vault's `isForm`: a form Content-Type and a first non-space byte (of 512) that opens no JSON. */
export function isForm(body: Buffer, contentType: string | undefined): boolean {
  const media = parseMediaType(contentType);
  if (!('type' in media) || media.type !== FORM_TYPE) return false;
  for (const c of body.subarray(0, 512)) {
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c !== 0x7b && c !== 0x5b; // { [
  }
  return true;
}

/** The result of reading a request body as Vault does; `undefined` data means none (Go's nil). */
export type ParsedBody =
  | { readonly data: Record<string, unknown> | undefined }
  | { readonly error: 'error parsing JSON' | 'error parsing form data' };

/**
 * Vault's `parseFormRequest`: the body's pairs (several values of a key joined with `,`); an
 * error in the body or in the URL query (`ParseForm` parses both) fails the request.
 */
export function parseFormBody(body: Buffer, rawQuery: string): ParsedBody {
  if (body.length > MAX_FORM_BYTES) return { error: 'error parsing form data' };
  const form = parseGoQuery(body.toString('latin1'));
  if (form.error || parseGoQuery(rawQuery).error) return { error: 'error parsing form data' };
  if (form.values.size === 0) return { data: undefined };
  const data = dataObject();
  for (const [key, list] of form.values) data[key] = list.join(',');
  return { data };
}

const isJsonSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r';

/**
 * Vault's `parseJSONRequest` (a `json.Decoder` into a map): only the first JSON value is read and
 * anything after it is ignored; an empty or all-space body and `null` are no data; any value other
 * than an object is an error.
 */
export function parseJsonBody(body: Buffer): ParsedBody {
  const text = body.toString('utf8');
  let start = 0;
  while (isJsonSpace(text[start])) start++;
  if (start === text.length) return { data: undefined };
  // The decoder stops at the end of the literal: `null` followed by anything is still null.
  if (text.startsWith('null', start)) return { data: undefined };
  if (text[start] !== '{') return { error: 'error parsing JSON' };
  const end = endOfObject(text, start);
  if (end === undefined) return { error: 'error parsing JSON' };
  try {
    const parsed: unknown = JSON.parse(text.slice(start, end));
    return { data: parsed as Record<string, unknown> };
  } catch {
    return { error: 'error parsing JSON' };
  }
}

/** Index just past the bracket closing the object opened at `start` (JSON.parse validates). */
function endOfObject(text: string, start: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return undefined;
}

/**
 * The status a Go server puts on the wire for `WriteHeader(status)` followed by a body, or
 * undefined where Go panics (`invalid WriteHeader code`, status < 100 or > 999). Go sends a 1xx
 * as an interim response and the body then goes out under an implicit 200.
 */
export function writtenStatus(status: number): number | undefined {
  if (!Number.isInteger(status) || status < 100 || status > 999) return undefined;
  return status < 200 ? 200 : status;
}

/** Go's `strconv.Atoi` on a query value (64-bit ints). */
export function parseGoInt(value: string): number | undefined {
  if (!/^[+-]?\d+$/.test(value)) return undefined;
  const parsed = BigInt(value);
  if (parsed > 9223372036854775807n || parsed < -9223372036854775808n) return undefined;
  return Number(parsed);
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** Whole seconds the way Vault's TTL warnings print them: `2h`, `1h30m`, `1h0m30s`, `45s`. */
export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const hours = h > 0 ? `${h}h` : '';
  if (s !== 0) return h > 0 || m > 0 ? `${hours}${m}m${s}s` : `${s}s`;
  if (m !== 0) return `${hours}${m}m`;
  return h > 0 ? hours : '0s';
}
