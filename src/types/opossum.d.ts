// The part of opossum's API Tandem uses (opossum ships no type declarations).
declare module 'opossum' {
  import type { EventEmitter } from 'node:events';

  interface CircuitBreakerOptions {
    timeout?: number | false;
    errorThresholdPercentage?: number;
    volumeThreshold?: number;
    resetTimeout?: number;
    rollingCountTimeout?: number;
    rollingCountBuckets?: number;
    rotateBucketController?: EventEmitter;
    enableSnapshots?: boolean;
    rollingPercentilesEnabled?: boolean;
    allowWarmUp?: boolean;
    capacity?: number;
    name?: string;
  }

  interface Stats {
    fires: number;
    failures: number;
    successes: number;
    rejects: number;
  }

  class CircuitBreaker<A extends unknown[] = unknown[], R = unknown> extends EventEmitter {
    constructor(action: (...args: A) => Promise<R>, options?: CircuitBreakerOptions);
    fire(...args: A): Promise<R>;
    open(): void;
    close(): void;
    shutdown(): void;
    readonly opened: boolean;
    readonly closed: boolean;
    readonly halfOpen: boolean;
    readonly stats: Stats;
  }
  export default CircuitBreaker;
}
