/** Metadata key with which the bridge names the legacy principal it acts for. */
export const PRINCIPAL_KEY = 'x-openclaw-principal';
/** Metadata key with the scopes a legacy client asked for (narrows, never widens; empty = none). */
export const SCOPES_KEY = 'x-openclaw-scopes';
/** Principal name for legacy clients authenticated by the shared token only (no device). */
export const TOKEN_PRINCIPAL = 'token';
