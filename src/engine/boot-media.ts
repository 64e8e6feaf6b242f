// Boot media from the admin API: the builder port (src/media behind it, wired in src/bin) and the background build job, one at a time.

import { randomUUID } from 'node:crypto';
import { DeployrError } from '../domain/errors.js';
import type { AuditStore } from './ports.js';

/** What a build is asked for; everything else is the service's (its certificate, this Node.js, the client bundle). */
export interface BootMediaBuildOptions {
  /** The URL the media look for (https://HOST[:PORT]), or several separated by commas (tried in order). */
  server: string;
  /** SHA-256 of the certificate the media pin (the running service's). */
  fingerprint: string;
  /** No menu on the ISO. */
  noprompt?: boolean;
  /** Debian's signed shim → GRUB chain (default true; false = `--no-secure-boot`). */
  secureBoot?: boolean;
  /** zstd level of the initrd (1 fast … 19 small; default 10). */
  zstdLevel?: number;
}

/** One published file. */
export interface BootMediaFile {
  name: string;
  size: number;
  sha256: string;
  /** The file is there and still has the hash it was built with. */
  intact: boolean;
}

/** What is published (the same facts as `deployr media status --json`). */
export interface BootMediaPublished {
  published: boolean;
  builtAt: string | null;
  kernelVersion: string | null;
  nodeVersion: string | null;
  server: string | null;
  fingerprint: string | null;
  currentFingerprint: string | null;
  /** Whether the media pin the service's current certificate (null when that cannot be told). */
  matchesCertificate: boolean | null;
  secureBoot: boolean | null;
  files: BootMediaFile[];
}

/** The port: builds media into the folder the service publishes, and reads what is there. */
export interface BootMediaBuilder {
  /** Builds every medium; `say` gets the progress lines. Resolves when media.json is written. */
  build(options: BootMediaBuildOptions, say: (line: string) => void): Promise<void>;
  /** What is published now, checked against `currentFingerprint`. */
  published(currentFingerprint: string | null): Promise<BootMediaPublished>;
}

/** A build started from the admin API. */
export interface BootMediaJob {
  id: string;
  state: 'running' | 'succeeded' | 'failed';
  by: string;
  startedAt: string;
  finishedAt: string | null;
  server: string;
  secureBoot: boolean;
  /** The last progress lines (at most 200). */
  lines: string[];
  /** Why it failed (a one-line reason, never a secret: the media hold none). */
  error: string | null;
}

const MAX_LINES = 200;

/**
 * Runs boot media builds in the background, one at a time (a second start while one runs is
 * CONFLICT), and remembers the last one for its status. Start and end are audited with who started it.
 * The job lives in this process: with `serve --workers` another worker answers only what is published.
 */
export class BootMediaJobs {
  private last: BootMediaJob | null = null;
  private running: Promise<void> | null = null;

  constructor(private readonly builder: BootMediaBuilder, private readonly audit: AuditStore, private readonly now: () => Date = () => new Date()) {}

  /** Starts a build; returns the job at once (state `running`). */
  async start(options: BootMediaBuildOptions, actor: { subject: string; source: string }): Promise<BootMediaJob> {
    if (this.last?.state === 'running') throw new DeployrError('CONFLICT', `A boot media build is already running (job ${this.last.id}, started by ${this.last.by} at ${this.last.startedAt}).`);
    const level = options.zstdLevel ?? 10;
    if (!Number.isInteger(level) || level < 1 || level > 19) throw new DeployrError('INVALID_INPUT', 'zstdLevel must be a whole number from 1 to 19.');
    const job: BootMediaJob = {
      id: randomUUID(), state: 'running', by: actor.subject, startedAt: this.now().toISOString(), finishedAt: null,
      server: options.server, secureBoot: options.secureBoot !== false, lines: [], error: null,
    };
    this.last = job;
    const event = (result: string, reason: string, detail: Record<string, unknown>) => ({
      kind: 'settings' as const, method: 'media-build', result, reason, subject: actor.subject, source: actor.source, device: null,
      detail: { job: job.id, server: job.server, secureBoot: job.secureBoot, ...detail },
    });
    await this.audit.append(event('started', 'ok', {}));
    const say = (line: string): void => {
      job.lines.push(line);
      if (job.lines.length > MAX_LINES) job.lines.splice(0, job.lines.length - MAX_LINES);
    };
    this.running = this.builder.build({ ...options, zstdLevel: level }, say).then(
      () => { job.state = 'succeeded'; },
      (err: unknown) => { job.state = 'failed'; job.error = err instanceof Error ? err.message.split('\n')[0] ?? 'failed' : 'failed'; },
    ).then(async () => {
      job.finishedAt = this.now().toISOString();
      await this.audit.append(event(job.state, job.state === 'succeeded' ? 'ok' : 'build_failed', job.error ? { error: job.error } : {}));
    }).catch(() => { /* the audit row could not be written: the job's state still tells */ }).finally(() => { this.running = null; });
    return { ...job, lines: [...job.lines] };
  }

  /** The last build started here (a copy), or null. */
  lastJob(): BootMediaJob | null {
    return this.last ? { ...this.last, lines: [...this.last.lines] } : null;
  }

  /** What is published now. */
  published(currentFingerprint: string | null): Promise<BootMediaPublished> {
    return this.builder.published(currentFingerprint);
  }

  /** Resolves once a build that is running has ended (used when the service stops, and by tests). */
  async idle(): Promise<void> {
    await this.running;
  }
}
