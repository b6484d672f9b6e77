/** Public entry points of the legacy WebSocket bridge. */
export { startBridge, DEFAULT_BRIDGE_PORT, DEFAULT_TOKEN_ONLY_SCOPES, type BridgeOptions, type RunningBridge } from './bridge-server';
export { startStandaloneBridge } from './standalone';
export { DEFAULT_BRIDGE_POLICY, type BridgePolicy } from './policy';
export { PROTOCOL_VERSION } from './frames';
