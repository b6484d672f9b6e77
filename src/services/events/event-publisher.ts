import type { EventStaging } from '../../store/collection';

/** What domain services need to announce something: a type name and a JSON-able payload. */
export interface EventPublisher {
  /** An event not tied to a stored change (e.g. agent output): appended on its own, asynchronously. */
  publish(type: string, payload: unknown): void;
  /**
   * An event announcing the change the transaction `tx` makes: stored with that change
   * (if and only if it commits). Every event that announces a stored change goes here.
   */
  stage(tx: EventStaging, type: string, payload: unknown): void;
}

/** An EventPublisher that remembers what was published or staged (tests; staged events are recorded when staged). */
export class RecordingPublisher implements EventPublisher {
  readonly events: { type: string; payload: unknown }[] = [];
  publish(type: string, payload: unknown): void {
    this.events.push({ type, payload });
  }
  stage(_tx: EventStaging, type: string, payload: unknown): void {
    this.events.push({ type, payload });
  }
}
