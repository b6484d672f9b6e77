/**
 * Client presence: clients that describe themselves on their event streams are listed
 * while a stream of theirs is open, then as disconnected for five minutes (as the
 * legacy gateway keeps them); every connect and disconnect bumps the version and
 * publishes the whole list.
 */
import { ManualClock } from '../../../src/clock';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { ClientPresence, type ClientDescription, type PresenceEvent } from '../../../src/services/presence/client-presence';

const SELF = { host: 'gw-host', version: '9.9.9', platform: 'linux 6.1', deviceFamily: 'Linux' };

function describe_(key: string, over: Partial<ClientDescription> = {}): ClientDescription {
  return { instanceKey: key, clientId: 'openclaw-control-ui', mode: 'webchat', displayName: '', version: '1', platform: 'linux', deviceFamily: '', modelIdentifier: '', instanceId: '', role: 'operator', scopes: ['operator.read'], ...over };
}

let clock: ManualClock;
let events: RecordingPublisher;
let presence: ClientPresence;
beforeEach(() => {
  clock = new ManualClock(1_700_000_000_000);
  events = new RecordingPublisher();
  presence = new ClientPresence(clock, SELF, events, { keepDisconnectedMs: 300_000, maxEntries: 3 });
});

const published = () => events.events.filter((e) => e.type === 'presence').map((e) => e.payload as PresenceEvent);

test('connect and disconnect each publish the whole list with the next version; several streams of one client count once', () => {
  const leaveA = presence.open('token', describe_('a', { displayName: 'laptop' }));
  expect(presence.version).toBe(1);
  expect(published()).toEqual([{ version: 1, gateway: SELF, clients: [expect.objectContaining({ principal: 'token', displayName: 'laptop', connected: true, connectedAtMs: clock.now(), changedAtMs: clock.now() })] }]);
  expect(published()[0].clients[0]).not.toHaveProperty('instanceKey');

  // A second stream of the same client (a resumed subscription) changes nothing.
  const leaveA2 = presence.open('token', describe_('a', { displayName: 'laptop' }));
  leaveA();
  leaveA();
  expect(presence.version).toBe(1);
  clock.advance(1000);
  leaveA2();
  expect(presence.version).toBe(2);
  expect(published()[1].clients).toEqual([expect.objectContaining({ connected: false, changedAtMs: clock.now() })]);

  // The same key under another principal is another client.
  clock.advance(1000);
  presence.open('device-1', describe_('a'));
  expect(presence.list().map((c) => [c.principal, c.connected])).toEqual([
    ['device-1', true],
    ['token', false],
  ]);
});

test('disconnected clients stay listed for five minutes; the list is bounded, dropping the oldest disconnected first', () => {
  presence.open('token', describe_('gone'))();
  clock.advance(300_000);
  expect(presence.list().map((c) => c.instanceKey)).toEqual(['gone']);
  clock.advance(1);
  expect(presence.list()).toEqual([]);

  const leaveOld = presence.open('token', describe_('old'));
  clock.advance(10);
  presence.open('token', describe_('b'));
  clock.advance(10);
  leaveOld();
  clock.advance(10);
  presence.open('token', describe_('c'));
  clock.advance(10);
  presence.open('token', describe_('d'));
  // Four entries, at most three: the only disconnected one goes; connected ones stay.
  expect(presence.list().map((c) => c.instanceKey)).toEqual(['d', 'c', 'b']);
});
