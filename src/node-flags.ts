/**
 * The V8 flags Tandem runs with (the `tandem` bin, `npm start`, the container image).
 *
 * `--max-semi-space-size=4` caps V8's young generation at 12 MiB (3 × 4 MiB). A proxy streams bodies as
 * short-lived 64 KiB buffers; with V8's default (up to 3 × 16 MiB) those dead buffers pile up between
 * scavenges and the resident set swings by tens of MiB with GC timing. Capped, memory stays flat under
 * large streamed bodies (a 50 MiB response grows RSS by ~10–15 MiB, test/gateway/streaming.test.ts) for a
 * few percent of throughput. Run `node dist/cli.js start` without it to trade memory for throughput.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
