/** What domain services need to announce a change: a type name and a JSON-able payload. */
export interface EventPublisher {
  publish(type: string, payload: unknown): void;
}

/** An EventPublisher that remembers what was published (tests). */
export class RecordingPublisher implements EventPublisher {
  readonly events: { type: string; payload: unknown }[] = [];
  publish(type: string, payload: unknown): void {
    this.events.push({ type, payload });
  }
}
