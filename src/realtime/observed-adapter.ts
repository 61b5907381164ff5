import type { Tracing } from '../observability/tracing.js';

interface BroadcastOptions {
  rooms: Set<string>;
}

/** A broadcast packet as the adapter sees it, with what we add to it. */
interface ObservedPacket {
  data?: unknown[];
  /** When the emitting instance broadcast it (ms since the epoch). */
  sentAt?: number;
  /** The emitting request's or event's trace context, when tracing is on. */
  traceparent?: string;
}

/** The parts of socket.io-adapter's Adapter wrapped here (`_encode` and `apply` are private in its types, public in its code). */
interface DeliveringAdapter {
  broadcast(packet: ObservedPacket, opts: BroadcastOptions): void;
  _encode(packet: ObservedPacket, packetOpts: Record<string, unknown>): unknown;
  apply(opts: BroadcastOptions, callback: (socket: never) => void): void;
}

export interface AdapterObservers {
  /** Seconds from a broadcast on another instance to its delivery here (socketio_fanout_delay_seconds). */
  fanoutDelay?: ((seconds: number) => void) | undefined;
  tracing?: Tracing | undefined;
}

/**
 * Wraps the Redis adapter's factory so a broadcast can be followed across the cluster. The
 * emitting instance adds to the packet when it was sent and, with tracing on, the active trace
 * context (`traceparent`); the Redis adapter publishes the packet whole (msgpack) to every
 * instance, and Socket.IO's encoder writes only the packet's own fields to clients. On each
 * instance the local delivery (the in-memory adapter's broadcast: `_encode`, then `apply`, both
 * called on the adapter) is then measured: the delay of a packet from another instance, and a
 * span continuing the emitter's trace with the number of sockets reached. Delivery is
 * synchronous, so the packet seen by `_encode` is the one `apply` delivers next. Packets from
 * the worker's emitter carry neither and are delivered untouched.
 */
export function observedAdapter<N, A extends object>(factory: (nsp: N) => A, observers: AdapterObservers): (nsp: N) => A {
  const { tracing, fanoutDelay } = observers;
  // A plain function: Socket.IO calls `new` on the adapter factory.
  return function (nsp: N) {
    const wrapped = factory(nsp);
    const adapter = wrapped as unknown as DeliveringAdapter;
    const broadcast = adapter.broadcast.bind(adapter);
    const encode = adapter._encode.bind(adapter);
    const apply = adapter.apply.bind(adapter);
    let delivering: ObservedPacket | undefined;
    let emittingHere = false;
    adapter.broadcast = (packet, opts) => {
      packet.sentAt = Date.now();
      const carrier = tracing?.carrier();
      if (carrier) packet.traceparent = carrier;
      emittingHere = true;
      try {
        broadcast(packet, opts);
      } finally {
        emittingHere = false;
      }
    };
    adapter._encode = (packet, packetOpts) => {
      delivering = packet;
      return encode(packet, packetOpts);
    };
    adapter.apply = (opts, callback) => {
      const packet = delivering;
      delivering = undefined;
      if (packet?.sentAt !== undefined && !emittingHere) fanoutDelay?.((Date.now() - packet.sentAt) / 1000);
      if (!tracing || !packet?.traceparent) {
        apply(opts, callback);
        return;
      }
      const event = typeof packet.data?.[0] === 'string' ? packet.data[0] : 'packet';
      tracing.delivered(packet.traceparent, `socket.io emit ${event}`, { 'app.socket_event': event, 'app.rooms': [...opts.rooms].join(',') }, () => {
        let sockets = 0;
        apply(opts, (socket) => {
          sockets += 1;
          callback(socket);
        });
        return sockets;
      });
    };
    return wrapped;
  };
}
