// The slice of a pino logger the auth modules use, so they can be tested with a plain object.

export interface AuthLogger {
  info(details: object, message?: string): void;
  warn(details: object, message?: string): void;
  error(details: object, message?: string): void;
}

export const silentLogger: AuthLogger = {
  info() {},
  warn() {},
  error() {},
};
