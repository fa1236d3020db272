import { Signal } from './signal.js';

/** @publicApi */
export interface SessionStartedEvent {
  readonly pool: string;
  readonly sessionId: string;
}

/** @publicApi */
export interface SessionEndedEvent extends SessionStartedEvent {
  readonly outcome: 'completed' | 'failed';
  readonly durationMs: number;
}

/** @publicApi */
export interface AtomicStartedEvent extends SessionStartedEvent {
  /** 1 for the outermost atomic scope, 2 for one nested in it, … */
  readonly depth: number;
}

/** @publicApi */
export interface AtomicEndedEvent extends AtomicStartedEvent {
  readonly outcome: 'committed' | 'rolled-back';
  readonly durationMs: number;
}

/** Method and URL path only: never a body, a header or a query string. @publicApi */
export interface RequestStartedEvent {
  readonly pool: string;
  readonly method: string;
  readonly path: string;
}

/** @publicApi */
export interface RequestEndedEvent extends RequestStartedEvent {
  /** HTTP status, absent when no answer arrived (network error, timeout). */
  readonly status?: number;
  /** Node/axios error code when no answer arrived, e.g. `ECONNREFUSED`. */
  readonly errorCode?: string;
  readonly durationMs: number;
}

/** The observability signals of a session pool. @publicApi */
export interface SessionSignals {
  readonly sessionStarted: Signal<SessionStartedEvent>;
  readonly sessionEnded: Signal<SessionEndedEvent>;
  readonly atomicStarted: Signal<AtomicStartedEvent>;
  readonly atomicEnded: Signal<AtomicEndedEvent>;
  readonly requestStarted: Signal<RequestStartedEvent>;
  readonly requestEnded: Signal<RequestEndedEvent>;
}

export function createSessionSignals(): SessionSignals {
  return {
    sessionStarted: new Signal(),
    sessionEnded: new Signal(),
    atomicStarted: new Signal(),
    atomicEnded: new Signal(),
    requestStarted: new Signal(),
    requestEnded: new Signal(),
  };
}
