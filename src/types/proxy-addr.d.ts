// proxy-addr (jshttp, what Express's req.ip is built on) ships no types; this is the part of
// its API the project uses.
declare module 'proxy-addr' {
  import type { IncomingMessage } from 'node:http';
  type Trust = (address: string, hop: number) => boolean;
  function proxyaddr(req: IncomingMessage, trust: Trust): string;
  namespace proxyaddr {
    function compile(addresses: string[]): Trust;
  }
  export default proxyaddr;
}
