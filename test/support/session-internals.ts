// Internal building blocks tests use to build their own session kinds.
export {
  BaseSession,
  newSessionId,
  runInSession,
  type SessionScope,
} from '../../lib/session/base-session.js';
export { createSessionSignals } from '../../lib/session/session-signals.js';
