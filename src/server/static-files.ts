/**
 * Static pages served by the server (the chat page, the inspector app): plain files under one
 * directory, with no directory listings, no dotfiles, no path escapes and a short list of types.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Serves files from one directory. */
export interface StaticFiles {
  /** The directory served, or undefined when none was found. */
  readonly dir: string | undefined;
  /**
   * Answers `req` with the file at `relativePath` (URL-decoded, `/`-separated) and resolves true,
   * or resolves false without touching `res` when there is no such servable file.
   */
  serve(req: IncomingMessage, res: ServerResponse, relativePath: string, headers?: Readonly<Record<string, string>>): Promise<boolean>;
}

/**
 * Finds the package's `inspector/web` directory by walking up from this module, so the same code
 * works from `src/` (tests) and from `dist/src/` (the installed package).
 *
 * @example
 * ```ts
 * defaultStaticDir(); // '/usr/lib/node_modules/keel/inspector/web'
 * ```
 */
export function defaultStaticDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'inspector', 'web');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/**
 * Creates a static file server over `dir`.
 *
 * @example
 * ```ts
 * const files = createStaticFiles({ dir: defaultStaticDir() });
 * if (!(await files.serve(req, res, 'chat.html'))) notFound(res);
 * ```
 */
export function createStaticFiles(options: { readonly dir: string | undefined }): StaticFiles {
  const root = options.dir === undefined ? undefined : resolve(options.dir);
  return {
    dir: root,
    async serve(req, res, relativePath, headers = {}) {
      if (root === undefined) return false;
      const file = safeJoin(root, relativePath);
      const type = file === undefined ? undefined : CONTENT_TYPES[extname(file).toLowerCase()];
      if (file === undefined || type === undefined) return false;
      let body: Buffer;
      let etag: string;
      try {
        const st = await stat(file);
        if (!st.isFile()) return false;
        etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { ETag: etag }).end();
          return true;
        }
        body = await readFile(file);
      } catch {
        return false;
      }
      res.writeHead(200, {
        'Content-Type': type,
        'Content-Length': String(body.length),
        'Cache-Control': 'no-cache',
        ETag: etag,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        ...headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    },
  };
}

/** `root/relativePath` when it stays inside `root` and names no hidden file; undefined otherwise. */
function safeJoin(root: string, relativePath: string): string | undefined {
  if (relativePath.includes('\0') || relativePath.includes('\\')) return undefined;
  const segments = relativePath.split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.some((s) => s.startsWith('.'))) return undefined;
  const full = resolve(root, ...segments);
  return full.startsWith(root + sep) ? full : undefined;
}
