// What the ledger store and the fleet store share on PostgreSQL (pg): a pool for a
// `postgres://` URL, PostgreSQL's errors turned into typed ones, and versioned schema
// migrations. Each store keeps its tables in a schema of its own (`imagetrust_ledger`,
// `imagetrust_fleet`; `?schema=` picks another), so one database can hold both, and a
// schema that holds anything but imagetrust's tables is refused before anything is written.

import pg from 'pg';
import { ImagetrustError } from '../errors';
import { redactUrl } from './url';
import { readSecretFile } from '../net/files';

export { isPostgresLocation, redactUrl } from './url';

export interface Migration {
  version: number;
  sql: string;
}

export interface DatabaseOptions {
  /** `postgres://user[:password]@host:port/database[?schema=NAME&…]`. */
  url: string;
  /** Used when the URL names none. */
  defaultSchema: string;
  /** What the schema holds, for messages ("ledger", "fleet store"). */
  product: string;
  migrations: readonly Migration[];
  /** Whether this process may create and migrate the schema; a reader only checks it. */
  migrate?: boolean;
  /** Connections in the pool. */
  max?: number;
  /** Called when an idle connection fails (the server restarted); the pool replaces it. */
  onIdleError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Splits imagetrust's own `schema` parameter from what pg reads. pg itself reads the password
 * from PGPASSWORD, and TLS from `sslmode` (verify-full; require and verify-ca are read as
 * verify-full by this pg) and `sslrootcert=FILE` in the URL.
 */
function parseUrl(url: string, fallback: string): { connectionString: string; schema: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ImagetrustError('USAGE', `${redactUrl(url)} is not a PostgreSQL URL`);
  }
  const schema = u.searchParams.get('schema') ?? fallback;
  u.searchParams.delete('schema');
  // The password from a private file (never a command line or a logged URL), unless the URL has one.
  const passwordFile = process.env.IMAGETRUST_PG_PASSWORD_FILE;
  if (passwordFile && !u.password)
    u.password = encodeURIComponent(readSecretFile(passwordFile, 'IMAGETRUST_PG_PASSWORD_FILE'));
  if (!SCHEMA_NAME.test(schema))
    throw new ImagetrustError('USAGE', `schema ${JSON.stringify(schema)}: expected a lower-case SQL name`);
  return { connectionString: u.toString(), schema };
}

// bigint columns (tree sizes, times in ms) come back as numbers: they stay below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** PostgreSQL's SQLSTATE classes that mean something to an operator. */
export function dbError(what: string, err: unknown, url?: string): ImagetrustError {
  if (err instanceof ImagetrustError) return err;
  const e = err as { code?: string; message?: string };
  const where = url ? ` (${redactUrl(url)})` : '';
  const message = `${what}${where}: ${e.message ?? String(err)}`;
  const code = e.code ?? '';
  if (code === '28P01' || code === '28000')
    return new ImagetrustError('UNAUTHORIZED', `${what}${where}: the database refused the credentials`, {
      cause: err,
    });
  if (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ENOTFOUND',
      'ETIMEDOUT',
      'EHOSTUNREACH',
      '57P01',
      '57P02',
      '57P03',
    ].includes(code) ||
    code.startsWith('08') ||
    /timeout|terminat|Connection ended|not queryable/i.test(e.message ?? '')
  )
    return new ImagetrustError('STORE_UNREACHABLE', message, { cause: err });
  if (code === '3D000') return new ImagetrustError('CONFIG_INVALID', message, { cause: err });
  if (code === 'XX001' || code === 'XX002')
    return new ImagetrustError('LEDGER_TAMPERED', `${what}${where}: the database reports corrupted data`, {
      cause: err,
    });
  return new ImagetrustError('IO', message, { cause: err });
}

export class Database {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly location: string;
  private readonly config: pg.ClientConfig;

  private constructor(pool: pg.Pool, schema: string, location: string, config: pg.ClientConfig) {
    this.pool = pool;
    this.schema = schema;
    this.location = location;
    this.config = config;
  }

  /** A connection of its own, outside the pool (for LISTEN); the caller ends it. */
  async connectAlone(): Promise<pg.Client> {
    const client = new pg.Client(this.config);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw dbError('cannot connect', err, this.location);
    }
    return client;
  }

  /** Connects, checks the schema is imagetrust's and brings it to the newest version. */
  static async open(options: DatabaseOptions): Promise<Database> {
    const { connectionString, schema } = parseUrl(options.url, options.defaultSchema);
    const config: pg.ClientConfig = {
      connectionString,
      connectionTimeoutMillis: 10_000,
      application_name: `imagetrust ${options.product}`,
      options: `-c search_path=${schema}`,
      types,
    };
    const pool = new pg.Pool({ ...config, max: options.max ?? 8, idleTimeoutMillis: 30_000 });
    pool.on('error', (err) => options.onIdleError?.(err));
    const db = new Database(pool, schema, redactUrl(options.url), config);
    try {
      await db.migrate(options);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw dbError(`cannot open ${options.product}`, err, options.url);
    }
    return db;
  }

  private async migrate(options: DatabaseOptions): Promise<void> {
    const client = await this.pool.connect();
    const migrate = options.migrate ?? true;
    try {
      // A reader (verify, audit, search) only checks the schema, in a read-only transaction, so a
      // read-only database role is enough for it and it can never create or change anything.
      await client.query(migrate ? 'BEGIN' : 'BEGIN READ ONLY');
      // Two servers starting at once: one migrates, the other waits and finds it done.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`imagetrust:migrate:${this.schema}`]);
      const tables = (
        await client.query<{ table_name: string }>(
          'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
          [this.schema],
        )
      ).rows.map((r) => r.table_name);
      if (tables.length > 0 && !tables.includes('schema_migrations')) {
        throw new ImagetrustError(
          'CONFIG_INVALID',
          `schema ${this.schema} of ${this.location} holds tables that are not imagetrust's (${tables.slice(0, 5).join(', ')}): choose another with ?schema=NAME`,
        );
      }
      if (!migrate && tables.length === 0) {
        throw new ImagetrustError(
          'NOT_FOUND',
          `${this.location} holds no imagetrust ${options.product} (schema ${this.schema})`,
        );
      }
      if (migrate) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await client.query(
          'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, product text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
        );
      }
      const applied = await client.query<{ version: number; product: string }>(
        'SELECT version, product FROM schema_migrations ORDER BY version',
      );
      const other = applied.rows.find((r) => r.product !== options.product);
      if (other) {
        throw new ImagetrustError(
          'CONFIG_INVALID',
          `schema ${this.schema} of ${this.location} holds an imagetrust ${other.product}, not a ${options.product}: choose another with ?schema=NAME`,
        );
      }
      const current = applied.rows.at(-1)?.version ?? 0;
      const newest = options.migrations.at(-1)?.version ?? 0;
      if (current > newest) {
        throw new ImagetrustError(
          'STORE_VERSION',
          `${options.product} ${this.location} (schema ${this.schema}) has schema version ${current}, written by a newer imagetrust; this one knows up to ${newest}: upgrade imagetrust`,
        );
      }
      if (!migrate && current < newest) {
        throw new ImagetrustError(
          'STORE_VERSION',
          `${options.product} ${this.location} (schema ${this.schema}) has schema version ${current}; this imagetrust needs ${newest}: start a server of this version once to migrate it`,
        );
      }
      for (const m of options.migrations) {
        if (m.version <= current) continue;
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, product) VALUES ($1, $2)', [
          m.version,
          options.product,
        ]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, mode = 'BEGIN'): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(mode);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A connection that cannot even roll back is dropped, not returned to the pool.
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
