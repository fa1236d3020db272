/**
 * Holds a piece of work until the test opens it: `pass()` resolves once the gate is open, and
 * `reached` resolves when the first caller arrived — to act while work is provably in flight.
 */
export class Gate {
  readonly reached: Promise<void>;
  private arrive!: () => void;
  private release!: () => void;
  private readonly opened = new Promise<void>((resolve) => {
    this.release = resolve;
  });

  constructor() {
    this.reached = new Promise<void>((resolve) => {
      this.arrive = resolve;
    });
  }

  /** Called by the gated work: waits until the gate opens. */
  pass(): Promise<void> {
    this.arrive();
    return this.opened;
  }

  open(): void {
    this.release();
  }
}
