/**
 * Token buckets by key (pure; the caller passes the time). A key starts with a
 * full bucket of `burst` tokens, which refills evenly at `perMinute`; each
 * admitted event takes one. At most `maxKeys` buckets are kept, the least
 * recently used forgotten first, so keys an attacker picks cannot grow memory.
 *
 * A forgotten key comes back with a full bucket: limits keyed by free things
 * (peer ids, authors) bound what one key does, and a separate bucket for *new*
 * keys bounds how fast fresh keys arrive at all.
 *
 * @example
 * ```ts
 * const perPeer = new TokenBuckets({ burst: 20, perMinute: 60 }, 4096)
 * if (!perPeer.take(peerId)) refuse()
 * ```
 */

export interface BucketRate {
  /** Tokens a fresh bucket holds, and the most it ever holds. */
  burst: number
  /** Refill per minute, spread evenly. */
  perMinute: number
}

interface Bucket { tokens: number, at: number }

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>()

  constructor (readonly rate: BucketRate, readonly maxKeys = 4096) {
    if (!(rate.burst >= 1) || !(rate.perMinute >= 0)) throw new RangeError(`a token bucket needs burst >= 1 and perMinute >= 0, got ${rate.burst}, ${rate.perMinute}`)
    if (!(maxKeys >= 1)) throw new RangeError(`maxKeys must be >= 1, got ${maxKeys}`)
  }

  /** Takes `cost` tokens from `key`'s bucket if it has them; false (and nothing taken) if not. */
  take (key: string, now = Date.now(), cost = 1): boolean {
    const b = this.refilled(key, now)
    if (b.tokens < cost) return false
    b.tokens -= cost
    return true
  }

  /** Whether `take` would succeed, without taking. */
  has (key: string, now = Date.now(), cost = 1): boolean {
    return this.level(key, now) >= cost
  }

  /** Tokens `key` has now (a full bucket for a key not seen or forgotten). */
  level (key: string, now = Date.now()): number {
    const b = this.buckets.get(key)
    return b == null ? this.rate.burst : Math.min(this.rate.burst, b.tokens + Math.max(0, now - b.at) * this.rate.perMinute / 60_000)
  }

  /** Keys remembered now (at most `maxKeys`). */
  get size (): number { return this.buckets.size }

  private refilled (key: string, now: number): Bucket {
    const b = { tokens: this.level(key, now), at: now }
    // Re-inserted so the Map's order is least recently used first.
    this.buckets.delete(key)
    this.buckets.set(key, b)
    if (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string)
    return b
  }
}
