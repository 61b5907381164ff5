// What the app adds to Node's request and response (observability/requests.ts, http/error-handler.ts).
import 'node:http';

declare module 'node:http' {
  interface IncomingMessage {
    /** Set by the first middleware: the caller's X-Request-Id if well-formed, else a UUID. */
    id: string;
  }
  interface ServerResponse {
    /** The error a failed request ended with, for the access log line. */
    err?: Error | undefined;
  }
}
