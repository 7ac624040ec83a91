// Server certificate, key and CA files, loaded for a TLS / WSS listener and reloaded without a
// restart: when a file changes on disk (debounced) and on `reloadCertificates()` (SIGHUP).
// A reload that fails (unreadable file, bad PEM, key not matching the certificate) keeps the
// context in use and logs why.

import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { watchFile, type FileWatch } from '../auth/watch-file.js';
import type { ListenerConfig } from '../config/schema.js';

/** Anything with tls.Server's setSecureContext (tls.Server, https.Server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface CertificateReloaderOptions {
  /** Reload when a file changes (default true). */
  watch?: boolean;
  debounceMs?: number;
}

export type ReloadOutcome = 'reloaded' | 'unchanged' | 'failed';

interface LoadedFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
}

function sameFiles(left: LoadedFiles, right: LoadedFiles): boolean {
  const sameCa = left.ca === undefined || right.ca === undefined ? left.ca === right.ca : left.ca.equals(right.ca);
  return sameCa && left.cert.equals(right.cert) && left.key.equals(right.key);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Every reloader of a started listener, for the process-wide SIGHUP reload. */
const active = new Set<CertificateReloader>();

export class CertificateReloader {
  private readonly config: ListenerConfig;
  private readonly listener: string;
  private readonly logger: Logger;
  private readonly options: CertificateReloaderOptions;
  private files: LoadedFiles;
  private target: SecureContextTarget | undefined;
  private watches: FileWatch[] = [];

  /** Loads and checks the files now: a listener with unusable certificates does not start. */
  constructor(config: ListenerConfig, listener: string, logger: Logger, options: CertificateReloaderOptions = {}) {
    if (config.cert === undefined || config.key === undefined) throw new Error(`listener ${listener}: a TLS listener needs cert and key`);
    this.config = config;
    this.listener = listener;
    this.logger = logger;
    this.options = options;
    try {
      this.files = this.load();
    } catch (error) {
      throw new Error(`listener ${listener}: unusable TLS files: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** Options for tls.createServer / https.createServer / setSecureContext, from the current files. */
  get secureContextOptions(): SecureContextOptions {
    return this.contextOptions(this.files);
  }

  /** SHA-256 fingerprint of the certificate in use (for logs and tests). */
  get fingerprint256(): string {
    return new X509Certificate(this.files.cert).fingerprint256;
  }

  /** Starts applying reloads to `target` and watching the files. */
  attach(target: SecureContextTarget): void {
    this.target = target;
    active.add(this);
    if (this.options.watch === false) return;
    const paths = [this.config.cert, this.config.key, this.config.ca].filter((path): path is string => path !== undefined);
    this.watches = paths.map((path) => watchFile(path, () => this.reload(), this.options.debounceMs));
  }

  /** Re-reads the files; a new, valid set replaces the context for new connections. */
  reload(): ReloadOutcome {
    let files: LoadedFiles;
    try {
      files = this.load();
    } catch (error) {
      this.logger.warn({ listener: this.listener, reason: errorMessage(error) }, 'TLS certificate reload failed, keeping the previous certificate');
      return 'failed';
    }
    if (sameFiles(files, this.files)) return 'unchanged';
    this.files = files;
    this.target?.setSecureContext(this.contextOptions(files));
    this.logger.info({ listener: this.listener, fingerprint256: this.fingerprint256 }, 'TLS certificate reloaded');
    return 'reloaded';
  }

  close(): void {
    active.delete(this);
    for (const watch of this.watches) watch.close();
    this.watches = [];
    this.target = undefined;
  }

  /** Reads the files and proves they make a secure context (throws with the cause otherwise). */
  private load(): LoadedFiles {
    const files: LoadedFiles = {
      cert: readFileSync(this.config.cert!),
      key: readFileSync(this.config.key!),
      ca: this.config.ca === undefined ? undefined : readFileSync(this.config.ca),
    };
    // Throws on bad PEM and on a key that does not belong to the certificate.
    createSecureContext(this.contextOptions(files));
    return files;
  }

  private contextOptions(files: LoadedFiles): SecureContextOptions {
    return {
      cert: files.cert,
      key: files.key,
      ...(files.ca === undefined ? {} : { ca: files.ca }),
      minVersion: this.config.minVersion,
      ...(this.config.ciphers === undefined ? {} : { ciphers: this.config.ciphers }),
    };
  }
}

/** Reloads every started TLS / WSS listener's files (what SIGHUP does). */
export function reloadCertificates(): Record<ReloadOutcome, number> {
  const counts: Record<ReloadOutcome, number> = { reloaded: 0, unchanged: 0, failed: 0 };
  for (const reloader of active) counts[reloader.reload()]++;
  return counts;
}
