/** Serving the legacy Control UI bundle from the bridge's own origin. */
export { controlUiRoutes, type BearerCheck, type ControlUiRoutesOptions } from './control-ui-routes';
export { ControlUiRoot } from './ui-root';
export { BOOTSTRAP_CONFIG_PATHS, UNAUTHORIZED_BODY } from './bootstrap-config';
