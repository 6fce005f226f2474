// What a Docker authorization-plugin request asks for. dockerd sends every API call it serves
// (RequestMethod, RequestUri with or without its /v1.NN prefix, RequestBody in base64 when it
// is JSON of 1 byte to 1 MiB); this reads it into one of the actions imagetrust decides on.
// Anything it cannot read is `malformed`, which is refused: a hostile or broken request never
// becomes an allowed one.

export type Action =
  | 'read'
  | 'container-create'
  | 'container-start'
  | 'container-update'
  | 'commit'
  | 'build'
  | 'exec-start'
  | 'service-create'
  | 'plugin-pull'
  | 'other-write'
  | 'malformed';

export const ACTIONS: readonly Action[] = [
  'read',
  'container-create',
  'container-start',
  'container-update',
  'commit',
  'build',
  'exec-start',
  'service-create',
  'plugin-pull',
  'other-write',
  'malformed',
];

export interface AuthzRequest {
  user: string;
  method: string;
  uri: string;
  action: Action;
  /** The container a start or update names. */
  container?: string;
  /** The image reference a create or service-create asks for. */
  image?: string;
  /** Why the request could not be read (action `malformed`). */
  problem?: string;
}

/** The most of a request body imagetrust reads (dockerd forwards at most 1 MiB). */
export const MAX_BODY = 1024 * 1024;
const MAX_URI = 8192;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,253}$/;

function malformed(base: Omit<AuthzRequest, 'action'>, problem: string): AuthzRequest {
  return { ...base, action: 'malformed', problem };
}

/** The JSON body of a body-dependent call; undefined (with why) when it was not forwarded or is not JSON. */
function bodyOf(raw: unknown): { doc?: Record<string, unknown>; problem?: string } {
  if (typeof raw !== 'string' || raw.length === 0)
    return {
      problem:
        'the engine did not forward the request body (it forwards only JSON bodies of 1 byte to 1 MiB)',
    };
  if (raw.length > Math.ceil((MAX_BODY * 4) / 3) + 4) return { problem: 'the request body is over 1 MiB' };
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return { problem: 'the request body is not JSON' };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    return { problem: 'the request body is not a JSON object' };
  return { doc: doc as Record<string, unknown> };
}

/** Reads dockerd's AuthZReq document. */
export function readRequest(doc: unknown): AuthzRequest {
  const o = (doc && typeof doc === 'object' ? doc : {}) as Record<string, unknown>;
  const user = typeof o.User === 'string' ? o.User.slice(0, 256) : '';
  const method = typeof o.RequestMethod === 'string' ? o.RequestMethod.toUpperCase() : '';
  const rawUri = typeof o.RequestUri === 'string' ? o.RequestUri : '';
  const base = { user, method, uri: rawUri.slice(0, 512) };
  if (!method || !rawUri) return malformed(base, 'no request method or URI');
  if (rawUri.length > MAX_URI) return malformed(base, 'request URI too long');
  // Segments are decoded one by one, so an encoded slash cannot make new ones; a segment that
  // still holds a slash, a dot segment, whitespace or a control character after decoding, and
  // an empty segment, are not what dockerd sends: refused rather than read as another route.
  let parts: string[];
  try {
    // Not WHATWG URL parsing: it would resolve dot segments (also %2e%2e) before we see them.
    const raw = (rawUri.split(/[?#]/, 1)[0] as string).replace(/\/+$/, '');
    if (raw !== '' && !raw.startsWith('/')) throw new Error('not a path');
    parts = raw
      .split('/')
      .slice(1)
      .map((seg) => decodeURIComponent(seg));
  } catch {
    return malformed(base, 'request URI does not parse');
  }
  if (parts.some((seg) => seg === '' || seg === '.' || seg === '..' || /[/\\\s\0-\x1f\x7f]/.test(seg)))
    return malformed(base, 'request URI has an empty, dot, encoded-slash or whitespace segment');
  if (/^v\d+(\.\d+)?$/.test(parts[0] ?? '')) parts = parts.slice(1);
  if (method === 'GET' || method === 'HEAD') return { ...base, action: 'read' };
  const [first, second, third] = parts;
  if (method === 'POST' && first === 'containers' && second === 'create' && parts.length === 2) {
    const { doc: body, problem } = bodyOf(o.RequestBody);
    if (!body) return malformed(base, problem as string);
    if (typeof body.Image !== 'string' || body.Image.length === 0 || body.Image.length > 1024)
      return malformed(base, 'the create request names no image');
    return { ...base, action: 'container-create', image: body.Image };
  }
  if (method === 'POST' && first === 'containers' && second !== undefined && parts.length === 3) {
    if (!CONTAINER_ID.test(second)) return malformed(base, 'not a container id or name');
    if (third === 'start' || third === 'restart' || third === 'unpause')
      return { ...base, action: 'container-start', container: second };
    if (third === 'update') return { ...base, action: 'container-update', container: second };
  }
  if (method === 'POST' && first === 'commit' && parts.length === 1) return { ...base, action: 'commit' };
  if (method === 'POST' && first === 'build' && parts.length === 1) return { ...base, action: 'build' };
  if (method === 'POST' && first === 'exec' && third === 'start' && parts.length === 3)
    return { ...base, action: 'exec-start' };
  if (method === 'POST' && first === 'services' && second === 'create' && parts.length === 2) {
    const { doc: body, problem } = bodyOf(o.RequestBody);
    if (!body) return malformed(base, problem as string);
    const spec = (body.TaskTemplate as { ContainerSpec?: { Image?: unknown } } | undefined)?.ContainerSpec;
    if (typeof spec?.Image !== 'string' || spec.Image.length === 0 || spec.Image.length > 1024)
      return malformed(base, 'the service names no image');
    return { ...base, action: 'service-create', image: spec.Image };
  }
  if (method === 'POST' && first === 'plugins' && second === 'pull')
    return { ...base, action: 'plugin-pull' };
  return { ...base, action: 'other-write' };
}
