/**
 * The page `GET /` answers when no Control UI root is configured: what the endpoint is
 * and how to serve the legacy Control UI from it.
 */
export const NO_ROOT_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>OpenClaw gateway (legacy bridge)</title></head>
<body>
<h1>OpenClaw gateway: legacy WebSocket bridge</h1>
<p>This port speaks the OpenClaw gateway protocol v4 over WebSocket. No Control UI is configured.</p>
<p>To serve the legacy Control UI here, start the gateway with
<code>--control-ui-root DIR</code> (or set <code>OPENCLAW_CONTROL_UI_ROOT=DIR</code>), where DIR is the
<code>dist/control-ui</code> folder of an installed <code>openclaw</code> npm package, for example:</p>
<pre>npm install --prefix ~/openclaw-ui --ignore-scripts openclaw@2026.9.6
openclaw-gateway start --control-ui-root ~/openclaw-ui/node_modules/openclaw/dist/control-ui</pre>
<p>Then open this address, give the UI the gateway token, and approve the browser with
<code>openclaw-cli devices approve &lt;requestId&gt;</code>.</p>
</body>
</html>
`;
