// Reports a run to the server: registration, each step's start and result, the end, the log; a lost report never stops the run.

import {
  RUN_PATHS, type CreateRunRequest, type FinishRunRequest, type RunSummary, type ServerScriptResponse, type StepReport,
} from '../../api/contract.js';
import type { ApiClient } from '../api-client.js';
import type { TokenKeeper } from './token-keeper.js';

/**
 * The run's side of the API, with the current token. A step report (stored by its key), a
 * heartbeat, a resume and the end may reach the server twice without harm, so they are marked
 * idempotent: after a connection reset they are sent again, to the same server or the next one.
 */
export class RunReporter {
  private warned = false;

  constructor(private readonly api: ApiClient, private readonly tokens: TokenKeeper, private warn: (line: string) => void) {}

  /** Sends later warnings elsewhere (the terminal view while steps run). */
  setWarn(warn: (line: string) => void): void {
    this.warn = warn;
  }

  /** Registers a run; failures are thrown (a run is not started unregistered). */
  async register(input: CreateRunRequest): Promise<RunSummary> {
    return this.tokens.use((t) => this.api.call<RunSummary>('POST', RUN_PATHS.runs, input, t));
  }

  /** The run continues after a restart; failures are thrown. */
  async resume(runId: string): Promise<RunSummary> {
    return this.tokens.use((t) => this.api.call<RunSummary>('POST', RUN_PATHS.resume(runId), undefined, t, { idempotent: true }));
  }

  /** A step started or ended. */
  async step(runId: string, report: StepReport): Promise<void> {
    await this.quietly(() => this.tokens.use((t) => this.api.call('POST', RUN_PATHS.steps(runId), report, t, { idempotent: true })));
  }

  /** Tells the server the client is still there; failures are ignored (the next report tells it anyway). */
  async heartbeat(runId: string): Promise<void> {
    await this.tokens.use((t) => this.api.call('POST', RUN_PATHS.heartbeat(runId), undefined, t, { patient: false, idempotent: true })).catch(() => undefined);
  }

  /** The run ended, waits for a restart, or was interrupted. */
  async finish(runId: string, input: FinishRunRequest): Promise<void> {
    await this.quietly(() => this.tokens.use((t) => this.api.call('POST', RUN_PATHS.finish(runId), input, t, { idempotent: true })));
  }

  /** Appends a piece of the log. Throws, so the caller keeps its upload offset. */
  async log(runId: string, text: string): Promise<void> {
    await this.tokens.use((t) => this.api.call('POST', RUN_PATHS.log(runId), { text }, t));
  }

  /** Runs a server-side script; failures are thrown. */
  async serverScript(runId: string, script: string, args: string[], timeoutSeconds?: number): Promise<ServerScriptResponse> {
    return this.tokens.use((t) => this.api.call<ServerScriptResponse>('POST', RUN_PATHS.serverScript(runId), { script, arguments: args, ...(timeoutSeconds ? { timeoutSeconds } : {}) }, t));
  }

  private async quietly(body: () => Promise<unknown>): Promise<void> {
    try {
      await body();
    } catch (err) {
      if (!this.warned) {
        this.warned = true;
        this.warn(`Could not report progress to the server (${(err as Error).message.split('\n')[0]}); the run goes on, and its log is kept on this machine.`);
      }
    }
  }
}
