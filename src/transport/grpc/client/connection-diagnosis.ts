/**
 * Why a connection to the gateway failed, in words a user can act on. grpc-js reports
 * every connection failure as UNAVAILABLE with free text; a plain TLS handshake with the
 * same material gives Node's structured error codes instead. Runs only after a failure.
 */
import { checkServerIdentity, connect } from 'node:tls';
import { isIP } from 'node:net';
import { errors, type GatewayError } from '../../../errors';

/** What the probe needs to know about the connection. */
export interface ProbeTarget {
  host: string;
  port: number;
  address: string;
  sourceLabel: string;
  caFile?: string;
}

const CERT_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** Performs a TLS handshake like grpc-js would and names the failure. */
export function diagnoseConnection(target: ProbeTarget, tls: { caPem: string; keyPem?: string; certPem?: string; serverName?: string }, timeoutMs = 3000): Promise<GatewayError> {
  const where = `${target.address} (gateway from ${target.sourceLabel})`;
  const caFrom = target.caFile ? ` in ${target.caFile}` : '';
  return new Promise<GatewayError>((resolve) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      ca: tls.caPem,
      key: tls.keyPem,
      cert: tls.certPem,
      ALPNProtocols: ['h2'],
      servername: tls.serverName ?? (isIP(target.host) ? undefined : target.host),
      checkServerIdentity: (host, cert) => checkServerIdentity(tls.serverName ?? host, cert),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at ${where}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.destroy();
      // The handshake works now: the gateway was briefly away, or it closed the HTTP/2 session.
      resolve(errors.unavailable('GATEWAY_UNAVAILABLE', `the gateway at ${where} closed the connection; try again`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const code = err.code ?? '';
      if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' && tls.serverName) {
        resolve(
          errors.unavailable(
            'GATEWAY_NAME_MISMATCH',
            `the gateway at ${where} has a certificate from the right CA without the name ${tls.serverName}; restart the gateway so it re-issues its server certificate`,
          ),
        );
      } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        resolve(
          errors.unavailable(
            'GATEWAY_NAME_MISMATCH',
            `the gateway at ${where} has a certificate that does not cover the name "${target.host}"; connect by a name it covers or restart the gateway with --san ${target.host}`,
          ),
        );
      } else if (CERT_VERIFY_CODES.has(code)) {
        resolve(
          errors.unavailable(
            'GATEWAY_CERT_UNTRUSTED',
            `the gateway at ${where} presented a certificate that does not verify against the CA${caFrom} (${code}): wrong gateway, or its CA was re-created; use certificates issued by this gateway`,
          ),
        );
      } else if (code === 'CERT_HAS_EXPIRED') {
        resolve(errors.unavailable('GATEWAY_CERT_EXPIRED', `the gateway at ${where} presented an expired server certificate; restart the gateway so it re-issues it`));
      } else if (code === 'ECONNREFUSED') {
        resolve(errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at ${where}: connection refused; is it running and listening there?`));
      } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
        resolve(errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at ${where}: host "${target.host}" not found`));
      } else if (/^ERR_SSL_|^EPROTO$/.test(code)) {
        resolve(errors.unavailable('GATEWAY_NOT_TLS', `the service at ${where} does not speak TLS like the gateway's gRPC port (${code}); check the port (the gRPC port is 18790 by default, 18789 is the legacy WS bridge)`));
      } else {
        resolve(errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at ${where}: ${code || err.message}`));
      }
    });
  });
}
