/**
 * A binary min-heap of timers ordered by (deadline, arm order), with O(log n) insert, remove and
 * re-key. One heap serves every timer of a clock, so 100,000 armed machine timeouts cost 100,000
 * small heap entries and a single OS timer, not 100,000 OS timers.
 *
 * Re-arming a timer to a *later* deadline is O(1): the entry keeps its old, earlier heap key and is
 * re-positioned when that key comes due (the trick Node's own timer lists use). An event timeout
 * re-armed on every event therefore costs a few field writes.
 *
 * @module
 */

/** A heap entry. Created by {@link TimerHeap.create}; fields are managed by the heap. */
export class HeapTimer {
  /** Logical deadline (ms) of the current arm. */
  deadline = 0;
  /** Key the entry is filed under in the heap; `<= deadline` (lazy re-arm). */
  key = 0;
  /** Arm order, the tie-breaker between equal deadlines. */
  seq = 0;
  /** Position in the heap array; -1 when not in the heap. */
  index = -1;
  /** True between `arm()` and expiry or `disarm()`. */
  armed = false;
  readonly onExpire: (arg?: unknown) => void;
  /** Passed to `onExpire`: one shared function can serve many timers, without a closure each. */
  readonly arg: unknown;

  constructor(onExpire: (arg?: unknown) => void, arg?: unknown) {
    this.onExpire = onExpire;
    this.arg = arg;
  }
}

/** The heap. Not a public API: clocks own one each. */
export class TimerHeap {
  readonly #items: HeapTimer[] = [];
  #seq = 0;

  /** Number of entries in the heap (armed timers, plus disarmed ones never: disarm removes). */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest heap key, or `Infinity` when empty. */
  peekKey(): number {
    const top = this.#items[0];
    return top === undefined ? Infinity : top.key;
  }

  /**
   * Arms `t` for `deadline`. Returns true when the heap's earliest key got earlier (the owner may
   * need to wake up sooner).
   */
  arm(t: HeapTimer, deadline: number): boolean {
    t.armed = true;
    t.deadline = deadline;
    t.seq = ++this.#seq;
    if (t.index >= 0) {
      if (t.key < deadline) return false; // lazy: re-filed when the old key comes due
      t.key = deadline;
      this.#siftUp(t.index);
      this.#siftDown(t.index);
      return t.index === 0;
    }
    t.key = deadline;
    t.index = this.#items.length;
    this.#items.push(t);
    this.#siftUp(t.index);
    return t.index === 0;
  }

  /** Disarms `t` and removes it from the heap. No-op when not armed. */
  disarm(t: HeapTimer): void {
    t.armed = false;
    if (t.index >= 0) this.#removeAt(t.index);
  }

  /**
   * Pops the next timer due at or before `now` and returns it disarmed (the caller runs
   * `onExpire`), or returns undefined when nothing is due. Lazily re-armed entries are re-filed.
   */
  popDue(now: number): HeapTimer | undefined {
    for (;;) {
      const top = this.#items[0];
      if (top === undefined || top.key > now) return undefined;
      if (top.deadline > top.key) {
        top.key = top.deadline;
        this.#siftDown(0);
        continue;
      }
      this.#removeAt(0);
      top.armed = false;
      return top;
    }
  }

  #less(a: HeapTimer, b: HeapTimer): boolean {
    return a.key < b.key || (a.key === b.key && a.seq < b.seq);
  }

  #removeAt(i: number): void {
    const items = this.#items;
    const t = items[i] as HeapTimer;
    const last = items.pop() as HeapTimer;
    t.index = -1;
    if (last === t) return;
    items[i] = last;
    last.index = i;
    this.#siftUp(i);
    this.#siftDown(last.index);
  }

  #siftUp(i: number): void {
    const items = this.#items;
    const t = items[i] as HeapTimer;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as HeapTimer;
      if (!this.#less(t, parent)) break;
      items[i] = parent;
      parent.index = i;
      i = p;
    }
    items[i] = t;
    t.index = i;
  }

  #siftDown(i: number): void {
    const items = this.#items;
    const n = items.length;
    const t = items[i] as HeapTimer;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.#less(items[r] as HeapTimer, items[l] as HeapTimer)) c = r;
      const child = items[c] as HeapTimer;
      if (!this.#less(child, t)) break;
      items[i] = child;
      child.index = i;
      i = c;
    }
    items[i] = t;
    t.index = i;
  }
}
