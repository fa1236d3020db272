/** Stops a listener receiving events. */
export type Disconnect = () => void;

/**
 * A typed observer list. Listeners run synchronously, in order; a listener that throws is
 * skipped, never breaking the unit of work that emitted the event.
 * @publicApi
 */
export class Signal<E> {
  private listeners: ReadonlyArray<(event: E) => void> = [];

  connect(listener: (event: E) => void): Disconnect {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  get connected(): boolean {
    return this.listeners.length > 0;
  }

  emit(event: E): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // Observability must never change the outcome of the work it observes.
      }
    }
  }
}
