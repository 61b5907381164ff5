// tx2 (PM2's own metrics library, a dependency of pm2 itself) ships no types; this is the
// part of its API the project uses.
declare module 'tx2' {
  interface Tx2 {
    metric(options: { name: string; unit?: string; value: () => number }): void;
    meter(options: { name: string; unit?: string; samples?: number; timeframe?: number }): { mark(n?: number): void };
    histogram(options: { name: string; unit?: string; measurement: 'p95' | 'p99' | 'mean' | 'median' | 'max' }): { update(value: number): void };
  }
  const tx2: Tx2;
  export default tx2;
}
