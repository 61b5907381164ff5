import type { Tracing } from '../observability/tracing.js';

interface BroadcastOptions {
  rooms: Set<string>;
}

/** The parts of socket.io-adapter's Adapter wrapped here (`_encode` and `apply` are private in its types, public in its code). */
interface DeliveringAdapter {
  broadcast(packet: TracedPacket, opts: BroadcastOptions): void;
  _encode(packet: TracedPacket, packetOpts: Record<string, unknown>): unknown;
  apply(opts: BroadcastOptions, callback: (socket: never) => void): void;
}


/** A broadcast packet as the adapter sees it, with the trace context we add to it. */
interface TracedPacket {
  data?: unknown[];
  traceparent?: string;
}

/**
 * Wraps an adapter (the Redis adapter's factory) so one trace follows a broadcast across the
 * cluster. On the emitting instance the active trace context is added to the packet as
 * `traceparent`; the Redis adapter publishes the packet whole (msgpack), so every instance
 * receives it, and Socket.IO's encoder writes only the packet's own fields to clients. On each
 * instance, this one included, the local delivery (the in-memory adapter's broadcast: `_encode`
 * then `apply`, both called on the adapter) becomes a span continuing that trace, with the
 * number of sockets it reached. Delivery is synchronous, so the packet seen by `_encode` is the
 * one `apply` delivers next.
 */
export function tracedAdapter<N, A extends object>(factory: (nsp: N) => A, tracing: Tracing): (nsp: N) => A {
  // A plain function: Socket.IO calls `new` on the adapter factory.
  return function (nsp: N) {
    const wrapped = factory(nsp);
    const adapter = wrapped as unknown as DeliveringAdapter;
    const broadcast = adapter.broadcast.bind(adapter);
    const encode = adapter._encode.bind(adapter);
    const apply = adapter.apply.bind(adapter);
    let delivering: TracedPacket | undefined;
    adapter.broadcast = (packet: TracedPacket, opts: BroadcastOptions) => {
      const carrier = tracing.carrier();
      if (carrier) packet.traceparent = carrier;
      broadcast(packet, opts);
    };
    adapter._encode = (packet: TracedPacket, packetOpts: Record<string, unknown>) => {
      delivering = packet;
      return encode(packet, packetOpts);
    };
    adapter.apply = (opts: BroadcastOptions, callback: (socket: never) => void) => {
      const packet = delivering;
      delivering = undefined;
      if (!packet?.traceparent) {
        apply(opts, callback);
        return;
      }
      const event = typeof packet.data?.[0] === 'string' ? packet.data[0] : 'packet';
      tracing.delivered(packet.traceparent, `socket.io emit ${event}`, { 'app.socket_event': event, 'app.rooms': [...opts.rooms].join(',') }, () => {
        let sockets = 0;
        apply(opts, (socket: never) => {
          sockets += 1;
          callback(socket);
        });
        return sockets;
      });
    };
    return wrapped;
  };
}
