export { ErrorCode, GatewayError, errors, toGatewayError } from './gateway-error';
