/**
 * A first-in, first-out queue with O(1) `shift` (an `Array.prototype.shift` of a long array
 * copies it: a host staging thousands of one-transition jobs spent 15 % of its time there).
 * @internal
 */
export class JobQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** The last item, `undefined` when empty. */
  last(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.items.length - 1];
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const all = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return all;
  }

  /** Every item, oldest first, without removing them. */
  toArray(): T[] {
    return this.items.slice(this.head) as T[];
  }
}
