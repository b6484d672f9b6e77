/** Public entry points of the identity module (the only user of node-forge). */
export { CertificateAuthority, BACKDATE_MS, type IssuedCertificate, type SigningMode } from './certificate-authority';
export { loadCa, loadOrCreateCa } from './ca-files';
export { ensureServerCert, ensureServerCertAsync, serverCertFolder, serverNames, SERVER_CERT_LIFETIME_MS, type ServerCertPaths } from './server-cert-files';
export { gatewayServerName } from './gateway-name';
export { writeCertsDir, readCertsDir, readCertificateOf, hasCertsDir, assertWritableDir, checkExistingKey, CERTS_DIR_FILES, type CertsDir, type IdentityMeta } from './certs-dir';
export { createCsr, verifyCsr, verificationCode, MIN_RSA_BITS, MAX_RSA_BITS, MAX_CSR_BYTES, type VerifiedCsr } from './csr';
export { deviceIdFromCertificate, deviceIdFromPublicKeyPem, certificateFingerprint, normalizeFingerprint, normalizeSerial } from './device-id';
export { DeviceRegistry, writeIssuedIdentity, certIdentity, hashToken, DEFAULT_CERT_POLICY, type CertPolicy, type CertIdentity, type IssuedIdentity, type CsrIssuedIdentity } from './device-registry';
export {
  generateKeyPair,
  generateKeyPairAsync,
  generateRsaKeyPair,
  parseKeyType,
  keyTypeOf,
  describeKey,
  signData,
  verifyData,
  KEY_TYPES,
  KEY_TYPE_NAMES,
  DEFAULT_KEY_TYPE,
  type KeyPairPem,
  type KeyType,
} from './keys';
export { ROLES, SCOPES, DEFAULT_SCOPES, parseRole, parseScopes, scopeSatisfied, intersectScopes, type Role, type Scope } from './roles';
export { parseSpiffeId, formatSpiffeId, type SpiffeId } from './spiffe';
export { statePaths, defaultStateDir, type StatePaths } from './state-layout';
