/**
 * A growable ring-buffer deque: O(1) push/pop at both ends, no per-item allocation and no array
 * shifting. The mailbox and the internal event queue of every machine are ring buffers.
 *
 * Starts with no storage at all, so an idle machine pays nothing for an empty queue.
 *
 * @module
 */
export class RingBuffer<T> {
  #items: (T | undefined)[] = EMPTY as (T | undefined)[];
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Appends `item` at the back. */
  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    const items = this.#items;
    items[(this.#head + this.#length) & (items.length - 1)] = item;
    this.#length++;
  }

  /** Prepends `item` at the front. */
  unshift(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    const items = this.#items;
    this.#head = (this.#head - 1) & (items.length - 1);
    items[this.#head] = item;
    this.#length++;
  }

  /** Removes and returns the front item; undefined when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const items = this.#items;
    const item = items[this.#head];
    items[this.#head] = undefined;
    this.#head = (this.#head + 1) & (items.length - 1);
    if (--this.#length === 0 && items.length <= RELEASE_CAPACITY) {
      // Drained: a small array goes (a machine that waits long, e.g. a SIP transaction for 32 s,
      // then holds no storage for its queues); a large one stays for the next burst.
      this.#items = EMPTY as (T | undefined)[];
      this.#head = 0;
    }
    return item;
  }

  /** Prepends `list` in its order (list[0] becomes the front). */
  unshiftAll(list: readonly T[]): void {
    for (let i = list.length - 1; i >= 0; i--) this.unshift(list[i] as T);
  }

  /** Removes every item and releases the storage. */
  clear(): void {
    this.#items = EMPTY as (T | undefined)[];
    this.#head = 0;
    this.#length = 0;
  }

  /** Items front to back, without removing them. */
  toArray(): T[] {
    const out: T[] = [];
    const items = this.#items;
    for (let i = 0; i < this.#length; i++) out.push(items[(this.#head + i) & (items.length - 1)] as T);
    return out;
  }

  #grow(): void {
    const old = this.#items;
    const capacity = old.length === 0 ? 4 : old.length * 2;
    const items = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.#length; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}

const EMPTY: readonly unknown[] = [];
/** Capacity up to which a drained buffer releases its array. */
const RELEASE_CAPACITY = 8;
