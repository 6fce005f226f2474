// The Docker Engine API, read-only. imagetrust lists, inspects and follows events; it never
// creates, starts, stops or changes anything. Mounting docker.sock read-only does not
// restrict API calls, so the guard is here: every request that is not a GET or HEAD is
// refused before it leaves the process.

import Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ImagetrustError } from '../errors';

export interface EngineOptions {
  /** DOCKER_HOST-style address: unix:///path, tcp://host:port; the local socket by default. */
  dockerHost?: string;
  /** DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, read for tcp:// hosts. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

const READ_METHODS = new Set(['GET', 'HEAD']);
export const DEFAULT_SOCKET = '/var/run/docker.sock';

export function engineAddress(options: EngineOptions = {}): Docker.DockerOptions {
  const env = options.env ?? process.env;
  const host = options.dockerHost ?? env.DOCKER_HOST ?? `unix://${DEFAULT_SOCKET}`;
  const timeout = options.timeoutMs ?? 15_000;
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length), timeout };
  if (host.startsWith('/')) return { socketPath: host, timeout };
  const m = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (!m)
    throw new ImagetrustError(
      'CONFIG_INVALID',
      `DOCKER_HOST ${JSON.stringify(host)} is not unix:// or tcp://`,
    );
  const tls =
    m[1] === 'https' ||
    (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '' && env.DOCKER_TLS_VERIFY !== '0');
  const opts: Docker.DockerOptions = {
    host: m[2],
    port: Number(m[3] ?? (tls ? 2376 : 2375)),
    protocol: tls ? 'https' : 'http',
    timeout,
  };
  if (tls && env.DOCKER_CERT_PATH) {
    const read = (name: string): Buffer => {
      try {
        return readFileSync(join(env.DOCKER_CERT_PATH as string, name));
      } catch (err) {
        throw new ImagetrustError('CONFIG_INVALID', `cannot read ${name} from DOCKER_CERT_PATH`, {
          cause: err,
        });
      }
    };
    return { ...opts, ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
  }
  return opts;
}

/** Maps what dockerode throws to typed errors, by status code and errno, never by message. */
export function dockerError(err: unknown, what: string): ImagetrustError {
  if (err instanceof ImagetrustError) return err;
  const e = err as { statusCode?: number; code?: string };
  if (e.statusCode === 404) return new ImagetrustError('NOT_FOUND', `${what}: not found`, { cause: err });
  const unreachable = [
    'ECONNREFUSED',
    'ENOENT',
    'EACCES',
    'ETIMEDOUT',
    'ECONNRESET',
    'EPIPE',
    'EHOSTUNREACH',
    'ESOCKETTIMEDOUT',
  ];
  if (e.code !== undefined && unreachable.includes(e.code)) {
    return new ImagetrustError(
      'DOCKER_UNREACHABLE',
      `Docker engine is unreachable (${e.code}) while trying to ${what}`,
      { cause: err },
    );
  }
  // A request the client gave up on (docker-modem's timeout destroys it) ends as ECONNRESET
  // above; some agents report their own timeout codes.
  if (/timeout/i.test(e.code ?? '')) {
    return new ImagetrustError('DOCKER_UNREACHABLE', `Docker engine did not answer while trying to ${what}`, {
      cause: err,
    });
  }
  const status = e.statusCode === undefined ? '' : ` (HTTP ${e.statusCode})`;
  return new ImagetrustError('DOCKER_ERROR', `Docker engine refused to ${what}${status}`, { cause: err });
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Labels: Record<string, string>;
  State: string;
  Status: string;
  Created: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Architecture?: string;
  Variant?: string;
  Os?: string;
  Size?: number;
  Created?: string;
  Comment?: string;
  Author?: string;
  DockerVersion?: string;
  Config?: { Labels?: Record<string, string> | null } | null;
}

/** Refuses, inside the client, every request that is not a read. */
function guard(docker: Docker): Docker {
  type Dial = (o: { method?: string; path?: string }, cb: (err: unknown, data?: unknown) => void) => unknown;
  const modem = (docker as unknown as { modem: { dial: Dial } }).modem;
  const dial = modem.dial.bind(modem);
  modem.dial = (o, cb) => {
    const method = (o.method ?? 'GET').toUpperCase();
    if (!READ_METHODS.has(method)) {
      cb(
        new ImagetrustError(
          'DOCKER_WRITE_REFUSED',
          `refusing ${method} ${o.path ?? ''}: imagetrust only reads from Docker`,
        ),
      );
      return undefined;
    }
    return dial(o, cb);
  };
  return docker;
}

/** The reads imagetrust makes of an engine. */
export interface DockerReader {
  readonly address: string;
  ping(): Promise<void>;
  version(): Promise<{ Version: string; ApiVersion: string }>;
  listContainers(): Promise<ContainerSummary[]>;
  inspectImage(ref: string): Promise<ImageInspect>;
  /** The reference a container was created with (`Config.Image`). */
  containerImageRef(id: string): Promise<string | undefined>;
  containerEvents(since?: number): Promise<Readable>;
}

/** A Docker client that can only read. */
export class ReadOnlyDocker implements DockerReader {
  readonly address: string;
  private readonly docker: Docker;

  /** For the event stream: a long-lived request that must not time out while the engine is quiet. */
  private readonly streams: Docker;

  constructor(options: EngineOptions = {}) {
    const opts = engineAddress(options);
    this.address = opts.socketPath
      ? `unix://${opts.socketPath}`
      : `${opts.protocol}://${opts.host}:${opts.port}`;
    this.docker = guard(new Docker(opts));
    this.streams = guard(new Docker({ ...opts, timeout: undefined }));
  }

  /** The underlying client, for tests that prove the guard holds. */
  get raw(): Docker {
    return this.docker;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw dockerError(err, 'ping');
    }
  }

  async version(): Promise<{ Version: string; ApiVersion: string }> {
    try {
      return (await this.docker.version()) as { Version: string; ApiVersion: string };
    } catch (err) {
      throw dockerError(err, 'read its version');
    }
  }

  async listContainers(): Promise<ContainerSummary[]> {
    try {
      return (await this.docker.listContainers({ all: false })) as unknown as ContainerSummary[];
    } catch (err) {
      throw dockerError(err, 'list containers');
    }
  }

  async inspectImage(ref: string): Promise<ImageInspect> {
    try {
      return (await this.docker.getImage(ref).inspect()) as unknown as ImageInspect;
    } catch (err) {
      const e = dockerError(err, `inspect image ${ref}`);
      if (e.code === 'NOT_FOUND')
        throw new ImagetrustError('IMAGE_NOT_FOUND', `no image ${ref} on this Docker engine`, { cause: err });
      throw e;
    }
  }

  async containerImageRef(id: string): Promise<string | undefined> {
    try {
      const info = (await this.docker.getContainer(id).inspect()) as unknown as {
        Config?: { Image?: unknown };
      };
      return typeof info.Config?.Image === 'string' ? info.Config.Image : undefined;
    } catch (err) {
      throw dockerError(err, `inspect container ${id.slice(0, 12)}`);
    }
  }

  /** The image a container was created from, fixed at create (`Image`, a sha256 ID). */
  async containerImageId(id: string): Promise<string | undefined> {
    try {
      const info = (await this.docker.getContainer(id).inspect()) as unknown as { Image?: unknown };
      return typeof info.Image === 'string' ? info.Image : undefined;
    } catch (err) {
      throw dockerError(err, `inspect container ${id.slice(0, 12)}`);
    }
  }

  /** The container and image event stream; the caller owns it and must handle its 'error' and 'end'. */
  async containerEvents(since?: number): Promise<Readable> {
    try {
      const filters = { type: ['container' as const, 'image' as const] };
      const opts: Docker.GetEventsOptions = since === undefined ? { filters } : { filters, since };
      return (await this.streams.getEvents(opts)) as unknown as Readable;
    } catch (err) {
      throw dockerError(err, 'follow events');
    }
  }
}
